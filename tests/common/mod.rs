//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A directory removed when dropped, even when the test fails.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("svcd-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `name` in the directory and return its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The result of a bounded run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Run `BIN ARGS` with its address space capped at `max_memory` bytes, and fail the test if
/// it takes longer than `max_time` or dies of a signal (a crash, or the memory cap).
pub fn run_bounded(bin: &str, args: &[&str], max_time: Duration, max_memory: u64) -> Run {
    // `ulimit -v` takes KiB; exec keeps the limit on svcctl itself.
    let script = format!("ulimit -v {} && exec \"$0\" \"$@\"", max_memory / 1024);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let start = Instant::now();
    while child.try_wait().expect("wait for the binary").is_none() {
        if start.elapsed() > max_time {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} {args:?} took longer than {max_time:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("collect the output");
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        run.code.is_some(),
        "{bin} {args:?} was killed by a signal ({status}); stderr:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked"),
        "svcctl {args:?} panicked:\n{}",
        run.stderr
    );
    run
}

/// Fail loudly unless the tests run as root: they make namespaces, mounts and cgroups.
pub fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root (it starts services in namespaces); run the suite as root"
    );
}

/// The output of `svcd run` on a unit, after it ended.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Write `unit` as `NAME.yaml` in `dir` and run it with `svcd run`, failing the test if it
/// takes longer than a minute.
pub fn svcd_run(dir: &TempDir, name: &str, unit: &str) -> Ran {
    let path = dir.write(&format!("{name}.yaml"), unit);
    let run = run_bounded(
        env!("CARGO_BIN_EXE_svcd"),
        &["run", path.to_str().unwrap()],
        Duration::from_secs(60),
        u64::MAX / 2,
    );
    Ran {
        code: run.code.unwrap(),
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

/// A unit running in the background under `svcd run`, stopped and reaped when dropped.
pub struct Background {
    child: Option<std::process::Child>,
    pub name: String,
}

impl Background {
    /// Write `unit` as `NAME.yaml` in `dir` and start it.
    pub fn start(dir: &TempDir, name: &str, unit: &str) -> Background {
        Background::start_file(&dir.write(&format!("{name}.yaml"), unit), name)
    }

    /// Start the unit file `path` (named `name`) and wait until its service runs.
    pub fn start_file(path: &Path, name: &str) -> Background {
        // A state file left by a run that was killed would name a pid that is gone.
        let _ = std::fs::remove_file(format!("/run/svcd/run/{name}"));
        let child = Command::new(env!("CARGO_BIN_EXE_svcd"))
            .args(["run", path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start svcd run");
        let mut bg = Background {
            child: Some(child),
            name: name.to_owned(),
        };
        let start = Instant::now();
        while bg.pid().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{name} did not start"
            );
            let child = bg.child.as_mut().unwrap();
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("{name} ended before it started ({status}): {err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bg
    }

    /// The service's pid in the host's PID namespace, once it runs.
    pub fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(format!("/run/svcd/run/{}", self.name)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("pid="))?
            .parse()
            .ok()
    }

    fn signal_run(&self, signal: nix::sys::signal::Signal) {
        if let Some(child) = &self.child {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
        }
    }

    fn collect(&mut self) -> Ran {
        let out = self
            .child
            .take()
            .expect("running")
            .wait_with_output()
            .expect("wait for svcd run");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Stop it as Ctrl-C would and collect what it printed.
    pub fn stop(mut self) -> Ran {
        self.signal_run(nix::sys::signal::Signal::SIGINT);
        self.collect()
    }

    /// Stop it without waiting for the service: a stop request (so that no restart policy
    /// starts it again), then SIGKILL for the service; collect what it printed.
    pub fn kill(mut self) -> Ran {
        self.end();
        self.collect()
    }

    fn end(&mut self) {
        self.signal_run(nix::sys::signal::Signal::SIGINT);
        std::thread::sleep(Duration::from_millis(50));
        if let Some(pid) = self.pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.end();
            let _ = self.child.take().map(|mut c| c.wait());
        }
    }
}

/// Wait until `cond` holds, polling; fail the test naming `what` after 20 seconds.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the IPC namespace of process `pid` holds a shared memory segment of `size` bytes.
pub fn has_shm_segment(pid: i32, size: u64) -> bool {
    Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-i", "ipcs", "-m"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().nth(4) == Some(&size.to_string()))
        })
}
