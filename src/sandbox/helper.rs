//! The spawn helper: a fresh, single-threaded process (svcd re-executed) that receives a
//! SpawnPlan, clones the service's process into its namespaces, writes its id maps, and
//! reports the service's pid or the step that failed.
//!
//! The service's process applies the rest of the plan itself, in the order of DESIGN §4, and
//! reports a failure over a close-on-exec pipe: end of file means `execve` succeeded.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork};

use super::plan::SpawnPlan;
use super::stage::{Stage, StartError};
use super::{caps, mounts, namespaces, seccomp, userns};

/// The argument that makes svcd act as the helper.
pub const HELPER_ARG: &str = "__svcd-spawn-helper";
/// The descriptor on which the helper gets its plan and answers.
pub const CHANNEL_FD: i32 = 3;

/// What the helper answers.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// The service runs: its pid in the helper's (and the daemon's) PID namespace.
    Started {
        pid: i32,
    },
    Failed(StartError),
}

/// The helper's `main`: read the plan, start the service, answer, exit.
pub fn helper_main() -> ! {
    // SAFETY: the daemon hands the helper this descriptor, open and owned by no one else.
    let mut channel = unsafe { UnixStream::from_raw_fd(CHANNEL_FD) };
    // The service must not inherit it: the daemon reads the answer up to end of file.
    let _ = nix::fcntl::fcntl(
        &channel,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let mut text = String::new();
    let outcome = match channel.read_to_string(&mut text) {
        Ok(_) => match serde_json::from_str::<SpawnPlan>(&text) {
            Ok(plan) => match start(&plan) {
                Ok(pid) => Outcome::Started { pid: pid.as_raw() },
                Err(e) => Outcome::Failed(e),
            },
            Err(e) => Outcome::Failed(StartError::other(
                Stage::SpawnHelper,
                format!("bad plan: {e}"),
            )),
        },
        Err(e) => Outcome::Failed(StartError::other(
            Stage::SpawnHelper,
            format!("reading the plan: {e}"),
        )),
    };
    let answer = serde_json::to_string(&outcome).unwrap_or_default();
    let code = i32::from(channel.write_all(answer.as_bytes()).is_err());
    std::process::exit(code)
}

/// Steps that run in the helper, then the clone.
fn start(plan: &SpawnPlan) -> Result<Pid, StartError> {
    // First the cgroup: before the service can allocate, and before a user namespace would
    // take away the right to write cgroupfs. On v1 the helper moves in and the clone is born
    // there; on v2 the clone is born in it directly (CLONE_INTO_CGROUP).
    for procs in &plan.cgroup_procs {
        join_cgroup(procs)?;
    }
    let cgroup_dir = match &plan.cgroup_dir {
        Some(dir) => Some(
            std::fs::File::open(dir)
                .map_err(|e| StartError::io(Stage::JoinCgroup, &e, dir.display().to_string()))?,
        ),
        None => None,
    };
    // Limits and the OOM score are inherited by the clone; here the helper still has the
    // host's privileges to raise them, which a service in a user namespace would not.
    for &(resource, soft, hard) in &plan.rlimits {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: `limit` is valid for the call; an unknown resource number is EINVAL.
        let rc = unsafe { libc::setrlimit(resource as libc::__rlimit_resource_t, &limit) };
        Errno::result(rc)
            .map_err(|e| StartError::sys(Stage::Rlimits, e, format!("resource {resource}")))?;
    }
    if let Some(score) = plan.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .map_err(|e| StartError::io(Stage::OomScoreAdj, &e, score.to_string()))?;
    }
    namespaces::join(&plan.joins)?;

    let (sync_read, sync_write) = pipe()?;
    let (report_read, report_write) = pipe()?;
    let flags = CloneFlags::from_bits_retain(plan.clone_flags);
    let child = || {
        drop_fd(&sync_write);
        drop_fd(&report_read);
        // The daemon waits for the channel's end of file; an init never execs to close it.
        let _ = nix::unistd::close(CHANNEL_FD);
        service_main(plan, &sync_read, &report_write)
    };
    let pid = match clone3(flags, cgroup_dir.as_ref().map(|f| f.as_fd())) {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            let code = child() as i32;
            // SAFETY: _exit ends this child without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        // No clone3 (an old kernel, or a seccomp filter around svcd): join, then clone(2).
        Err(Errno::ENOSYS) => {
            if let Some(dir) = &plan.cgroup_dir {
                join_cgroup(&dir.join("cgroup.procs"))?;
            }
            let mut stack = vec![0u8; 1 << 20];
            // SAFETY: the helper is single-threaded, so the child may run any code; the
            // closure only uses the plan and descriptors that the child owns its copy of.
            unsafe { nix::sched::clone(Box::new(child), &mut stack, flags, Some(libc::SIGCHLD)) }
                .map_err(|e| StartError::sys(Stage::Clone, e, ""))?
        }
        Err(e) => return Err(StartError::sys(Stage::Clone, e, "")),
    };
    drop(sync_read);
    drop(report_write);
    let fail = |e: StartError| {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        e
    };
    if let Some(maps) = &plan.id_maps {
        userns::write_maps(pid.as_raw(), maps).map_err(fail)?;
    }
    let mut sync = std::fs::File::from(sync_write);
    sync.write_all(b"1")
        .map_err(|e| fail(StartError::io(Stage::Clone, &e, "resuming the service")))?;
    drop(sync);
    let mut report = Vec::new();
    let _ = std::fs::File::from(report_read).read_to_end(&mut report);
    if report.is_empty() {
        return Ok(pid);
    }
    let _ = waitpid(pid, None);
    Err(decode_report(&report))
}

fn join_cgroup(procs: &std::path::Path) -> Result<(), StartError> {
    std::fs::write(procs, "0")
        .map_err(|e| StartError::io(Stage::JoinCgroup, &e, procs.display().to_string()))
}

/// `clone3(2)` on the helper's own stack: it returns in both processes, as `fork` does
/// (`None` in the child). With `cgroup`, the child is born in that cgroup2 directory.
fn clone3(
    flags: CloneFlags,
    cgroup: Option<std::os::fd::BorrowedFd>,
) -> Result<Option<Pid>, Errno> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: u64::from(flags.bits() as u32),
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: `args` is valid for the call; without a new stack the child continues on a copy
    // of this one, as after fork, which is sound in this single-threaded process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match Errno::result(rc)? {
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StartError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| StartError::sys(Stage::Clone, e, "pipe"))
}

/// Close the child's copy of a descriptor that belongs to the helper.
fn drop_fd(fd: &OwnedFd) {
    let _ = nix::unistd::close(fd.as_raw_fd());
}

/// A failure report: stage, errno (0 for none), detail; one write, so it arrives whole.
fn encode_report(e: &StartError) -> Vec<u8> {
    let mut bytes = vec![e.stage as u8];
    bytes.extend_from_slice(&e.errno.unwrap_or(0).to_ne_bytes());
    bytes.extend_from_slice(
        e.detail
            .as_bytes()
            .get(..1024)
            .unwrap_or(e.detail.as_bytes()),
    );
    bytes
}

fn decode_report(bytes: &[u8]) -> StartError {
    let stage = Stage::from_u8(bytes[0]).unwrap_or(Stage::Exec);
    let errno = bytes
        .get(1..5)
        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    StartError {
        stage,
        errno: (errno != 0).then_some(errno),
        detail: String::from_utf8_lossy(bytes.get(5..).unwrap_or_default()).into_owned(),
    }
}

/// The service's process: wait for the id maps, apply the plan, exec. Returns only on failure.
fn service_main(plan: &SpawnPlan, sync: &OwnedFd, report: &OwnedFd) -> isize {
    let mut byte = [0u8];
    // End of file: the helper died before resuming us.
    if !matches!(nix::unistd::read(sync, &mut byte), Ok(1)) {
        return 1;
    }
    let Err(e) = setup_and_exec(plan, report) else {
        return 0;
    };
    let _ = nix::unistd::write(report, &encode_report(&e));
    127
}

fn sys(stage: Stage) -> impl Fn(Errno) -> StartError {
    move |e| StartError::sys(stage, e, "")
}

fn setup_and_exec(plan: &SpawnPlan, report: &OwnedFd) -> Result<(), StartError> {
    // The service gets stdin, stdout and stderr, and no other descriptor of svcd's or of
    // whoever started svcd. (Done first: a seccomp profile may not allow close_range.)
    // SAFETY: close_range only changes descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(rc).map_err(sys(Stage::Exec))?;
    let flags = CloneFlags::from_bits_retain(plan.clone_flags);
    if flags.contains(CloneFlags::CLONE_NEWUSER) {
        // The maps give the namespace a root, but this process still has the host's ids,
        // which the namespace cannot name: become its root to create files and mounts.
        let root_missing = |_| {
            StartError::other(
                Stage::UidMap,
                "the user namespace must map id 0 (container_id: 0)",
            )
        };
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(root_missing)?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(root_missing)?;
    }
    mounts::setup(
        &plan.mounts,
        flags.contains(CloneFlags::CLONE_NEWIPC),
        &plan.sysctls,
    )?;
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name)
            .map_err(|e| StartError::sys(Stage::Hostname, e, name.clone()))?;
    }
    if let Some(name) = &plan.domainname {
        // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        Errno::result(rc).map_err(|e| StartError::sys(Stage::Domainname, e, name.clone()))?;
    }
    if plan.loopback {
        namespaces::loopback_up().map_err(sys(Stage::Loopback))?;
    }
    let cwd = plan.cwd.as_deref().unwrap_or(std::path::Path::new("/"));
    nix::unistd::chdir(cwd)
        .map_err(|e| StartError::sys(Stage::Chdir, e, cwd.display().to_string()))?;
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the ids change below
    // may take away: load it now (the filter then sees the rest of the setup).
    if !plan.no_new_privs {
        load_seccomp(plan)?;
    }
    caps::apply_bounding(&plan.caps)
        .map_err(|e| StartError::other(Stage::CapBounding, e.to_string()))?;
    nix::sys::prctl::set_keepcaps(true).map_err(sys(Stage::Setuid))?;
    let groups: Vec<Gid> = plan.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(sys(Stage::Setgroups))?;
    let gid = Gid::from_raw(plan.gid);
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| StartError::sys(Stage::Setgid, e, plan.gid.to_string()))?;
    let uid = Uid::from_raw(plan.uid);
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| StartError::sys(Stage::Setuid, e, plan.uid.to_string()))?;
    nix::sys::prctl::set_keepcaps(false).map_err(sys(Stage::Setuid))?;
    caps::apply_sets(&plan.caps)
        .map_err(|e| StartError::other(Stage::Capabilities, e.to_string()))?;
    if let Some(label) = &plan.lsm_label {
        let (path, value) = label.exec_attr();
        std::fs::write(path, value).map_err(|e| StartError::io(Stage::LsmLabel, &e, path))?;
    }
    if plan.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(sys(Stage::NoNewPrivs))?;
        load_seccomp(plan)?;
    }
    if plan.init {
        return init(plan, report);
    }
    exec(plan)
}

fn load_seccomp(plan: &SpawnPlan) -> Result<(), StartError> {
    match &plan.seccomp {
        Some(bpf) => seccomp::compile::load(bpf).map_err(sys(Stage::SeccompLoad)),
        None => Ok(()),
    }
}

/// The program's path: as given when it has a `/`, else the first match in the service's PATH.
fn find_program(plan: &SpawnPlan) -> String {
    let program = &plan.argv[0];
    if program.contains('/') {
        return program.clone();
    }
    let path = plan
        .env
        .iter()
        .find_map(|v| v.strip_prefix("PATH="))
        .unwrap_or("/usr/bin:/bin");
    path.split(':')
        .map(|dir| format!("{dir}/{program}"))
        .find(|candidate| {
            nix::unistd::access(candidate.as_str(), nix::unistd::AccessFlags::X_OK).is_ok()
        })
        .unwrap_or_else(|| program.clone())
}

fn exec(plan: &SpawnPlan) -> Result<(), StartError> {
    let program = find_program(plan);
    let c = |s: &str| {
        CString::new(s).map_err(|_| StartError::sys(Stage::Exec, Errno::EINVAL, s.to_owned()))
    };
    let path = c(&program)?;
    let argv = plan
        .argv
        .iter()
        .map(|a| c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let env = plan
        .env
        .iter()
        .map(|a| c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Err(e) = nix::unistd::execve(&path, &argv, &env);
    Err(StartError::sys(Stage::Exec, e, program))
}

/// `init: true`: stay as PID 1 of the service's namespace, run the program as a child, pass it
/// every signal, reap every zombie, and exit as it exits.
fn init(plan: &SpawnPlan, report: &OwnedFd) -> Result<(), StartError> {
    let all = SigSet::all();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None).map_err(sys(Stage::Init))?;
    // SAFETY: this process is single-threaded (a clone of the single-threaded helper).
    let program = match unsafe { fork() }.map_err(sys(Stage::Init))? {
        ForkResult::Child => {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(sys(Stage::Init))?;
            return exec(plan);
        }
        ForkResult::Parent { child } => child,
    };
    // Only the program's copy of the report pipe may hold it open until its exec.
    drop_fd(report);
    loop {
        let Ok(signal) = all.wait() else { continue };
        if signal != Signal::SIGCHLD {
            let _ = kill(program, signal);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == program => std::process::exit(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == program => {
                    std::process::exit(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
