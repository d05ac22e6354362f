//! svcctl: control svcd, and check unit files offline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use svcd::unit::Severity;
use svcd::unit::load::load_paths;

/// Control svcd and check unit files.
#[derive(Parser)]
#[command(name = "svcctl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check unit files and directories without a running daemon. Exits 0 when every unit is
    /// valid and 1 otherwise.
    Validate {
        /// Unit files or directories of them.
        #[arg(default_value = "/etc/svcd/units")]
        paths: Vec<PathBuf>,
        /// Treat warnings about risky settings as errors.
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { paths, strict } => validate(&paths, strict),
    }
}

fn validate(paths: &[PathBuf], strict: bool) -> ExitCode {
    let set = match load_paths(paths) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("svcctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report: String = set.diagnostics.iter().map(|d| format!("{d}\n")).collect();
    let count = |s: Severity| set.diagnostics.iter().filter(|d| d.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let summary = format!(
        "{} valid unit{}, {errors} error{}, {warnings} warning{}\n",
        set.units.len(),
        plural(set.units.len()),
        plural(errors),
        plural(warnings)
    );
    // A reader that stops early (`| head`) is no reason to fail or panic.
    let _ = std::io::stderr().write_all(report.as_bytes());
    let _ = std::io::stdout().write_all(summary.as_bytes());
    if errors > 0 || (strict && warnings > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
