//! `svcd run UNIT.yaml`: start one unit in the foreground with the isolation a daemon would
//! give it, stream its output, stop it on SIGTERM or SIGINT as a stop would, and exit with
//! its exit status (what `docker run --rm` is to Docker).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::cgroup::oom::OomWatch;
use crate::cgroup::{Layout, UnitCgroup};
use crate::sandbox::plan::{self, PlanContext};
use crate::sandbox::spawn::spawn;
use crate::sandbox::stage::{Stage, StartError};
use crate::sandbox::userns::SubidFiles;
use crate::supervisor::restart::{Decision, Ended, RestartState};
use crate::unit::validate::parse_unit;
use crate::unit::value::signal_name;
use crate::unit::{Ipc, OomPolicy, Unit, UnitName};

/// Where `svcd run` records running units, so that others can join their namespaces.
pub const RUN_STATE_DIR: &str = "/run/svcd/run";

/// Exit codes of `svcd run` itself, as `docker run` has them.
const EXIT_SVCD: i32 = 125;
const EXIT_CANNOT_EXEC: i32 = 126;
const EXIT_NOT_FOUND: i32 = 127;

/// Run the unit in `path`, with `command` in place of its `command` when not empty.
pub fn run(path: &Path, command: Vec<String>, subids: SubidFiles) -> i32 {
    let mut unit = match load(path) {
        Ok(u) => u,
        Err(code) => return code,
    };
    // As `docker run IMAGE COMMAND…`: the entrypoint stays, the command is replaced.
    if !command.is_empty() {
        unit.process.command = command;
    }
    let name = unit.name.clone();
    match supervise(&unit, subids) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            // A limit the host cannot apply is a lack of resources, as systemd calls it.
            if e.stage == Stage::Cgroup {
                eprintln!("{name}: Result: resources");
            }
            match (e.stage, e.errno) {
                (Stage::Exec, Some(libc::ENOENT)) => EXIT_NOT_FOUND,
                (Stage::Exec, Some(_)) => EXIT_CANNOT_EXEC,
                _ => EXIT_SVCD,
            }
        }
    }
}

fn load(path: &Path) -> Result<Unit, i32> {
    let bytes = std::fs::read(path).map_err(|e| {
        eprintln!("svcd: {}: {e}", path.display());
        EXIT_SVCD
    })?;
    let parsed = parse_unit(path, &bytes);
    for d in &parsed.diagnostics {
        eprintln!("{d}");
    }
    parsed.valid().cloned().ok_or(EXIT_SVCD)
}

/// The state file of a running unit.
fn state_file(name: &UnitName) -> PathBuf {
    Path::new(RUN_STATE_DIR).join(name.as_str())
}

/// The main pid of a unit started by another `svcd run`, if it still runs.
fn running_pid(name: &UnitName) -> Option<i32> {
    let text = std::fs::read_to_string(state_file(name)).ok()?;
    let pid: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("pid="))?
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

fn shares_ipc(name: &UnitName) -> bool {
    std::fs::read_to_string(state_file(name)).is_ok_and(|t| t.lines().any(|l| l == "ipc=shareable"))
}

/// Kills what is left in the unit's cgroup and removes it when the run ends.
struct CgroupGuard(UnitCgroup);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.remove() {
            eprintln!("svcd: cannot remove the unit's cgroup: {e}");
        }
    }
}

/// Removes the unit's state file when the run ends, however it ends.
struct StateFile(PathBuf);

impl Drop for StateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn supervise(unit: &Unit, subids: SubidFiles) -> Result<i32, StartError> {
    if let Ipc::Service(r) = &unit.namespaces.ipc
        && running_pid(&r.name).is_some()
        && !shares_ipc(&r.name)
    {
        return Err(StartError::other(
            Stage::JoinTarget,
            format!(
                "`{}` does not share its IPC namespace: it needs `ipc: shareable`",
                r.name
            ),
        ));
    }
    let ctx = PlanContext {
        running_pid: &running_pid,
        subids,
    };
    let layout = Layout::detect().map_err(cgroup_fail)?;
    let sys = |e| StartError::sys(Stage::SpawnHelper, e, "");
    // Services become our children when their helper exits.
    nix::sys::prctl::set_child_subreaper(true).map_err(sys)?;
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        mask.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).map_err(sys)?;
    let mut signals =
        SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(sys)?;
    let mut history = RestartState::default();
    loop {
        let end = run_once(unit, &ctx, &layout, &mut signals, &mut history)?;
        let decision = match end.ended() {
            Ended::Stopped => Decision::Stay { result: "success" },
            ended => history.decide(&unit.supervision, ended, Instant::now()),
        };
        match decision {
            Decision::Stay { result } => return Ok(report(unit, end, result)),
            Decision::Restart { after } => {
                eprintln!(
                    "{}: Result: {}; restarting in {after:?}",
                    unit.name,
                    end.ended().result()
                );
                if stop_requested_within(&mut signals, after) {
                    return Ok(0);
                }
            }
        }
    }
}

fn cgroup_fail(e: crate::cgroup::CgroupError) -> StartError {
    StartError::other(Stage::Cgroup, e.to_string())
}

/// Start the unit once and wait for its main process to end.
fn run_once(
    unit: &Unit,
    ctx: &PlanContext,
    layout: &Layout,
    signals: &mut SignalFd,
    history: &mut RestartState,
) -> Result<End, StartError> {
    let mut plan = plan::build(unit, ctx)?;
    // The unit's cgroup, with its limits written before anything runs in it; removed (with
    // whatever still runs there) however the run ends.
    let cgroup = CgroupGuard(UnitCgroup::locate(layout, unit.name.as_str()).map_err(cgroup_fail)?);
    cgroup.0.create(unit).map_err(cgroup_fail)?;
    (plan.cgroup_procs, plan.cgroup_dir) = cgroup.0.entry();
    let mut oom = match unit.resources.mem_limit {
        Some(_) => Some(OomWatch::new(&cgroup.0).map_err(cgroup_fail)?),
        None => None,
    };
    let pid = spawn(&plan, Stdio::inherit(), Stdio::inherit())?;
    history.started(Instant::now());
    std::fs::create_dir_all(RUN_STATE_DIR)
        .map_err(|e| StartError::other(Stage::SpawnHelper, e.to_string()))?;
    let ipc_line = if unit.namespaces.ipc == Ipc::Shareable {
        "ipc=shareable\n"
    } else {
        ""
    };
    let state = StateFile(state_file(&unit.name));
    std::fs::write(&state.0, format!("pid={pid}\n{ipc_line}"))
        .map_err(|e| StartError::other(Stage::SpawnHelper, e.to_string()))?;
    let mut end = wait_for(unit, pid, signals, oom.as_mut());
    // Killed with SIGKILL while the cgroup's OOM counter rose: the kernel's OOM killer did it.
    let oom_kills = oom.as_mut().map_or(0, |o| {
        o.new_kills();
        o.total()
    });
    if matches!(end, End::Signaled(Signal::SIGKILL)) && oom_kills > 0 {
        end = End::OomKilled;
    }
    Ok(end)
}

/// Wait out a restart delay; true when a stop was asked for meanwhile.
fn stop_requested_within(signals: &mut SignalFd, delay: Duration) -> bool {
    let until = Instant::now() + delay;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left == Duration::ZERO {
            return false;
        }
        let mut fds = [nix::poll::PollFd::new(
            signals.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        let _ = nix::poll::poll(
            &mut fds,
            nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::NONE),
        );
        while let Ok(Some(info)) = signals.read_signal() {
            if info.ssi_signo as i32 != Signal::SIGCHLD as i32 {
                return true;
            }
        }
    }
}

/// How the service's main process ended.
enum End {
    Exited(i32),
    Signaled(Signal),
    /// Stopped on request and gone within the grace period.
    Stopped,
    /// Still running when the grace period ran out, and killed.
    TimedOut,
    /// Killed by the kernel's OOM killer, or stopped after an OOM kill under
    /// `oom_policy: stop` or `restart`.
    OomKilled,
}

impl End {
    fn ended(&self) -> Ended {
        match *self {
            End::Exited(0) => Ended::Success,
            End::Exited(code) => Ended::ExitCode(code),
            End::Signaled(sig) => Ended::Signal(sig as i32),
            End::Stopped | End::TimedOut => Ended::Stopped,
            End::OomKilled => Ended::OomKill,
        }
    }
}

/// Wait for the main process to end, stopping it on SIGTERM, SIGINT or SIGHUP, and, under
/// `oom_policy` other than `continue`, when the OOM killer takes any process of the unit.
fn wait_for(unit: &Unit, pid: Pid, signals: &mut SignalFd, mut oom: Option<&mut OomWatch>) -> End {
    let mut deadline: Option<Instant> = None;
    let mut after_oom = false;
    let stop = |deadline: &mut Option<Instant>| {
        if deadline.is_none() {
            let signal = Signal::try_from(unit.process.stop_signal).unwrap_or(Signal::SIGTERM);
            let _ = kill(pid, signal);
            *deadline = Some(Instant::now() + unit.process.stop_grace_period);
        }
    };
    loop {
        if let Some(end) = reap(pid, deadline.is_some(), unit.process.stop_signal) {
            return if after_oom && matches!(end, End::Stopped) {
                End::OomKilled
            } else {
                end
            };
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return if after_oom {
                End::OomKilled
            } else {
                End::TimedOut
            };
        }
        let mut fds = vec![nix::poll::PollFd::new(
            signals.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if let Some(o) = oom.as_deref() {
            fds.push(nix::poll::PollFd::new(o.fd(), nix::poll::PollFlags::POLLIN));
        }
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        let _ = nix::poll::poll(
            &mut fds,
            nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::NONE),
        );
        drop(fds);
        while let Ok(Some(info)) = signals.read_signal() {
            if info.ssi_signo as i32 != Signal::SIGCHLD as i32 {
                stop(&mut deadline);
            }
        }
        let kills = oom.as_deref_mut().map_or(0, OomWatch::new_kills);
        if kills > 0 {
            eprintln!(
                "{}: the OOM killer killed {kills} process(es) of the unit",
                unit.name
            );
            if unit.supervision.oom_policy != OomPolicy::Continue {
                after_oom = true;
                stop(&mut deadline);
            }
        }
    }
}

/// Reap every child that has ended (helpers, orphans); the service's end if it is among them.
/// While stopping, death by a signal is the stop working, and so is an init's exit status
/// for its program's death by the stop signal (128 + the signal).
fn reap(pid: Pid, stopping: bool, stop_signal: i32) -> Option<End> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code))
                if p == pid && stopping && code == 128 + stop_signal =>
            {
                return Some(End::Stopped);
            }
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Some(End::Exited(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => {
                return Some(if stopping {
                    End::Stopped
                } else {
                    End::Signaled(sig)
                });
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Print the unit's Result when it is not `success`; return `svcd run`'s exit code.
fn report(unit: &Unit, end: End, result: &str) -> i32 {
    let name = &unit.name;
    let (code, detail) = match end {
        End::Exited(code) => (code, format!("status {code}")),
        End::Signaled(sig) => (128 + sig as i32, signal_name(sig as i32)),
        End::Stopped => (0, String::new()),
        End::TimedOut => (
            128 + Signal::SIGKILL as i32,
            format!(
                "still running {:?} after the stop signal; killed",
                unit.process.stop_grace_period
            ),
        ),
        End::OomKilled => (128 + Signal::SIGKILL as i32, String::new()),
    };
    let result = if matches!(end, End::TimedOut) {
        "timeout"
    } else {
        result
    };
    match (result, detail.is_empty()) {
        ("success", _) => {}
        (r, true) => eprintln!("{name}: Result: {r}"),
        (r, false) => eprintln!("{name}: Result: {r} ({detail})"),
    }
    code
}
