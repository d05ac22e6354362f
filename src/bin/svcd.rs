//! svcd: the service supervisor.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use svcd::unit::load::{load_files, unit_files};
use svcd::unit::{Ipc, Share, Unit, UserNamespace};

/// Supervise the services described by the unit files of a directory.
#[derive(Parser)]
#[command(name = "svcd", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Directory of unit files.
    #[arg(long, default_value = "/etc/svcd/units")]
    units: PathBuf,
    /// Load and check the units, print what would start and in which order, and exit.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Start one unit in the foreground with the isolation svcd gives it, stream its output,
    /// and exit with its exit status. SIGTERM or SIGINT stop it as `svcctl stop` would.
    Run {
        /// The unit file.
        unit: PathBuf,
        /// A command to run in place of the unit's `command` (its `entrypoint` stays).
        #[arg(last = true)]
        command: Vec<String>,
        /// Subordinate uids that `user_namespace: auto` divides among units (user `svcd`).
        #[arg(long, default_value = "/etc/subuid")]
        subuid: PathBuf,
        /// Subordinate gids, likewise.
        #[arg(long, default_value = "/etc/subgid")]
        subgid: PathBuf,
        /// Where the range each unit got is kept, so that it gets the same one every time.
        #[arg(long, default_value = "/var/lib/svcd/userns-ranges")]
        userns_ranges: PathBuf,
    },
}

fn main() -> ExitCode {
    // svcd re-executes itself as the spawn helper of each service start.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == svcd::sandbox::helper::HELPER_ARG)
    {
        svcd::sandbox::helper::helper_main();
    }
    let args = Args::parse();
    if let Some(Command::Run {
        unit,
        command,
        subuid,
        subgid,
        userns_ranges,
    }) = args.command
    {
        let subids = svcd::sandbox::userns::SubidFiles {
            subuid,
            subgid,
            assignments: userns_ranges,
        };
        let code = svcd::run::run(&unit, command, subids);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("svcd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    let files = unit_files(&args.units).context("cannot load the units")?;
    let set = load_files(&files);
    for d in &set.diagnostics {
        eprintln!("{d}");
    }
    if !args.dry_run {
        anyhow::bail!("supervising services is not available in this version yet; use --dry-run");
    }
    let mut out = String::from("would start, in this order:\n");
    for unit in set.start_order().into_iter().filter(|u| u.autostart) {
        out += &format!("  {:<16} {}\n", unit.name.as_str(), summary(unit));
    }
    let on_request: Vec<&str> = set
        .units
        .values()
        .filter(|u| !u.autostart)
        .map(|u| u.name.as_str())
        .collect();
    if !on_request.is_empty() {
        out += &format!("on request only: {}\n", on_request.join(", "));
    }
    // A reader that stops early (`| head`) is not an error.
    match std::io::stdout().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// One line that tells what a unit runs and how it is isolated.
fn summary(unit: &Unit) -> String {
    let ns = &unit.namespaces;
    let share = |key: &str, s: &Share| match s {
        Share::Private => None,
        Share::Host => Some(format!("{key}=host")),
        Share::Service(r) => Some(format!("{key}=service:{}", r.name)),
    };
    let mut notes: Vec<String> = [
        share("pid", &ns.pid),
        share("net", &ns.network),
        share("uts", &ns.uts),
        match &ns.ipc {
            Ipc::Private => None,
            Ipc::Shareable => Some("ipc=shareable".into()),
            Ipc::Host => Some("ipc=host".into()),
            Ipc::Service(r) => Some(format!("ipc=service:{}", r.name)),
        },
    ]
    .into_iter()
    .flatten()
    .collect();
    match &ns.user {
        UserNamespace::Auto => notes.push("userns=auto".into()),
        UserNamespace::Map { .. } => notes.push("userns=map".into()),
        UserNamespace::Host { .. } => {}
    }
    if unit.security.privileged {
        notes.push("privileged".into());
    }
    if let Some(m) = unit.resources.mem_limit {
        notes.push(format!("mem={}m", m >> 20));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("  [{}]", notes.join(" "))
    };
    let argv: Vec<String> = unit.process.argv().iter().map(|a| shell_quote(a)).collect();
    format!("{}{notes}", argv.join(" "))
}

/// A word as a shell would need it written: as is when plain, else in single quotes.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
