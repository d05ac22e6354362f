//! svcctl: control svcd, and check unit files offline.

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
    for d in &set.diagnostics {
        eprintln!("{d}");
    }
    let count = |s: Severity| set.diagnostics.iter().filter(|d| d.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    println!(
        "{} valid unit{}, {errors} error{}, {warnings} warning{}",
        set.units.len(),
        plural(set.units.len()),
        plural(errors),
        plural(warnings)
    );
    if errors > 0 || (strict && warnings > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
