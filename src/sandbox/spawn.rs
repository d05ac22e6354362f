//! The daemon's side of a start: hand the plan to a fresh helper and learn the service's pid.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::unistd::Pid;

use super::helper::{CHANNEL_FD, HELPER_ARG, Outcome};
use super::plan::{STAGING_DIR, SpawnPlan};
use super::stage::{Stage, StartError};

fn io_fail(what: &str) -> impl Fn(std::io::Error) -> StartError + '_ {
    move |e| StartError::io(Stage::SpawnHelper, &e, what)
}

/// Start the service of `plan`. Its stdout and stderr are `stdout` and `stderr`; its stdin is
/// /dev/null. Returns its pid once `execve` has succeeded; the caller reaps it (svcd is a
/// child subreaper, so the service becomes its child when the helper exits).
pub fn spawn(plan: &SpawnPlan, stdout: Stdio, stderr: Stdio) -> Result<Pid, StartError> {
    spawn_with(Path::new("/proc/self/exe"), plan, stdout, stderr)
}

/// [`spawn`] with `helper` as the svcd binary that acts as the helper.
pub fn spawn_with(
    helper: &Path,
    plan: &SpawnPlan,
    stdout: Stdio,
    stderr: Stdio,
) -> Result<Pid, StartError> {
    std::fs::create_dir_all(STAGING_DIR).map_err(io_fail(STAGING_DIR))?;
    // Like `docker run -v`, the short volume form makes a missing source directory.
    for bind in plan
        .mounts
        .binds
        .iter()
        .filter(|b| b.create_source && !b.source.exists())
    {
        std::fs::create_dir_all(&bind.source)
            .map_err(|e| StartError::io(Stage::Volumes, &e, bind.source.display().to_string()))?;
    }
    let (mut ours, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(io_fail("socketpair"))?;
    let theirs_fd = theirs.as_raw_fd();
    let mut command = Command::new(helper);
    command
        .arg(HELPER_ARG)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // SAFETY: dup2 is async-signal-safe, and this closure touches nothing else.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(theirs_fd, CHANNEL_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut helper = command.spawn().map_err(io_fail("starting the helper"))?;
    drop(theirs);
    let plan_text = serde_json::to_vec(plan)
        .map_err(|e| StartError::other(Stage::SpawnHelper, e.to_string()))?;
    let sent = ours
        .write_all(&plan_text)
        .and_then(|_| ours.shutdown(std::net::Shutdown::Write));
    let mut answer = String::new();
    let received = sent.and_then(|_| ours.read_to_string(&mut answer));
    let status = helper.wait().map_err(io_fail("waiting for the helper"))?;
    received.map_err(io_fail("talking to the helper"))?;
    match serde_json::from_str::<Outcome>(&answer) {
        Ok(Outcome::Started { pid }) => Ok(Pid::from_raw(pid)),
        Ok(Outcome::Failed(e)) => Err(e),
        Err(_) => Err(StartError::other(
            Stage::SpawnHelper,
            format!("the helper ended without an answer ({status})"),
        )),
    }
}
