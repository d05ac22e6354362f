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
