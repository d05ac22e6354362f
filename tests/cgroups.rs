//! Cgroup limits, statistics, OOM kills and device control on this host's cgroup layout.
//! Needs root.

mod common;

use std::path::PathBuf;

use common::{Background, TempDir, eventually, require_root, svcd_run};

/// The service's cgroup directory for a v1 controller (or the cgroup2 one), from the host.
fn cgroup_dir(pid: i32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let layout = svcd::cgroup::Layout::detect().unwrap();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, list, path) = (f.next(), f.next().unwrap(), f.next().unwrap());
        match &layout {
            svcd::cgroup::Layout::V2 { root } if list.is_empty() => {
                return root.join(path.trim_start_matches('/'));
            }
            svcd::cgroup::Layout::V1 { controllers, .. }
                if list.split(',').any(|c| c == controller) =>
            {
                return controllers[controller].join(path.trim_start_matches('/'));
            }
            _ => {}
        }
    }
    panic!("no {controller} cgroup for {pid}:\n{text}");
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_owned()
}

fn v1_only() {
    let layout = svcd::cgroup::Layout::detect().unwrap();
    assert!(
        matches!(layout, svcd::cgroup::Layout::V1 { .. }),
        "these host tests cover cgroup v1 and hybrid; v2 runs in the VM"
    );
}

#[test]
fn every_limit_is_written_and_reads_back() {
    require_root();
    v1_only();
    let dir = TempDir::new("cg-limits");
    let unit = "command: [sleep, 60]\ninit: true\nmem_limit: 64m\nmem_reservation: 32m\nmemswap_limit: 96m\n\
                cpu_shares: 512\ncpus: 0.5\ncpuset: \"0\"\npids_limit: 50\n";
    let bg = Background::start(&dir, "cg-limits", unit);
    let pid = bg.pid().unwrap();
    let mem = cgroup_dir(pid, "memory");
    assert!(mem.ends_with("svcd/cg-limits"), "{}", mem.display());
    assert_eq!(
        read(&mem, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        read(&mem, "memory.soft_limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(
        read(&mem, "memory.memsw.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    let cpu = cgroup_dir(pid, "cpu");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(
        (
            read(&cpu, "cpu.cfs_quota_us"),
            read(&cpu, "cpu.cfs_period_us")
        ),
        ("50000".into(), "100000".into())
    );
    assert_eq!(read(&cgroup_dir(pid, "cpuset"), "cpuset.cpus"), "0");
    assert_eq!(read(&cgroup_dir(pid, "pids"), "pids.max"), "50");
    // Statistics of the running unit.
    let layout = svcd::cgroup::Layout::detect().unwrap();
    let stats = svcd::cgroup::UnitCgroup::locate(&layout, "cg-limits")
        .unwrap()
        .stats();
    assert!(
        stats.memory_current.unwrap() > 0
            && stats.memory_peak.unwrap() >= stats.memory_current.unwrap(),
        "{stats:?}"
    );
    assert!(stats.cpu_usage_ns.unwrap() > 0, "{stats:?}");
    assert_eq!(
        (stats.tasks, stats.oom_kills),
        (Some(2), 0),
        "init and sleep"
    );
    let devices = read(&cgroup_dir(pid, "devices"), "devices.list");
    assert!(
        devices.contains("c 1:3 rwm") && !devices.contains("a *:* rwm"),
        "{devices}"
    );
    bg.stop();
    // The unit's cgroup is gone after the run.
    assert!(!mem.exists(), "{} is left behind", mem.display());
}

#[test]
fn a_memory_hog_is_oom_killed_said_so_and_restarted() {
    require_root();
    let dir = TempDir::new("cg-oom");
    let hog = "command: [python3, -c, 'x = bytearray(200 << 20); print(len(x))']\nmem_limit: 32m\n";
    // The default `oom_policy: restart` restarts it, with growing delays, until the start
    // limit (5 starts in 10 s) gives up.
    let ran = svcd_run(
        &dir,
        "cg-oom",
        &format!("{hog}restart_backoff: {{initial: 10ms}}\n"),
    );
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(ran.code, 137, "{}", ran.stderr);
    assert_eq!(
        lines,
        [
            "cg-oom: the OOM killer killed 1 process(es) of the unit",
            "cg-oom: Result: oom-kill; restarting in 10ms",
            "cg-oom: the OOM killer killed 1 process(es) of the unit",
            "cg-oom: Result: oom-kill; restarting in 20ms",
            "cg-oom: the OOM killer killed 1 process(es) of the unit",
            "cg-oom: Result: oom-kill; restarting in 40ms",
            "cg-oom: the OOM killer killed 1 process(es) of the unit",
            "cg-oom: Result: oom-kill; restarting in 80ms",
            "cg-oom: the OOM killer killed 1 process(es) of the unit",
            "cg-oom: Result: start-limit-hit",
        ]
    );
    assert_eq!(ran.stdout, "");
    // `oom_policy: stop` leaves it failed.
    let ran = svcd_run(
        &dir,
        "cg-oom-stop",
        &format!("{hog}oom_policy: stop\nrestart: always\n"),
    );
    assert_eq!(ran.code, 137);
    assert_eq!(
        ran.stderr.lines().collect::<Vec<_>>(),
        [
            "cg-oom-stop: the OOM killer killed 1 process(es) of the unit",
            "cg-oom-stop: Result: oom-kill"
        ]
    );
}

#[test]
fn oom_policy_continue_keeps_a_unit_whose_main_process_survives() {
    require_root();
    let dir = TempDir::new("cg-oom-cont");
    // A child hogs memory and is killed; the main process lives on and exits 0 by itself.
    let main = "import subprocess, sys\nr = subprocess.run([sys.executable, '-c', 'x = bytearray(200 << 20)'])\nprint('child', r.returncode)";
    let unit = format!(
        "command: [python3, -c, {}]\nmem_limit: 32m\noom_policy: continue\n",
        serde_json::to_string(main).unwrap()
    );
    let ran = svcd_run(&dir, "cg-oom-cont", &unit);
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (0, "child -9\n"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        ran.stderr.trim(),
        "cg-oom-cont: the OOM killer killed 1 process(es) of the unit"
    );
}

#[test]
fn a_fork_bomb_is_held_by_pids_limit() {
    require_root();
    v1_only();
    let dir = TempDir::new("cg-pids");
    let bomb = "import os, sys, time\nfailed = 0\nfor i in range(40):\n    try:\n        if os.fork() == 0:\n            time.sleep(30)\n            os._exit(0)\n    except OSError:\n        failed += 1\nprint(failed, flush=True)\ntime.sleep(30)";
    let unit = format!(
        "command: [python3, -c, {}]\ninit: true\npids_limit: 10\n",
        serde_json::to_string(bomb).unwrap()
    );
    let bg = Background::start(&dir, "cg-pids", &unit);
    let pids = cgroup_dir(bg.pid().unwrap(), "pids");
    // The limit holds: init, python and 8 children make 10 tasks; the other 32 forks are
    // refused.
    let refused = || {
        read(&pids, "pids.events")
            .trim_start_matches("max ")
            .parse::<u32>()
            .unwrap()
    };
    eventually("the fork bomb to end", || refused() == 32);
    assert_eq!(read(&pids, "pids.current"), "10");
}

#[test]
fn a_busy_loop_with_half_a_cpu_is_throttled() {
    require_root();
    v1_only();
    let dir = TempDir::new("cg-cpu");
    let bg = Background::start(
        &dir,
        "cg-cpu",
        "command: [sh, -c, 'while :; do :; done']\ninit: true\ncpus: 0.5\n",
    );
    let cpu = cgroup_dir(bg.pid().unwrap(), "cpu");
    let throttled = || -> u64 {
        let stat = read(&cpu, "cpu.stat");
        stat.lines()
            .find_map(|l| l.strip_prefix("nr_throttled "))
            .unwrap()
            .parse()
            .unwrap()
    };
    eventually("the busy loop to be throttled", || throttled() > 0);
}

#[test]
fn nothing_a_service_forked_survives_its_stop() {
    require_root();
    let dir = TempDir::new("cg-fork");
    // With the host's PID namespace, killing the main process would not end its children;
    // the cgroup does.
    let unit = "command: [sh, -c, 'setsid sleep 300 & setsid sleep 301 & exec sleep 302']\npid: host\nstop_grace_period: 200ms\n";
    let bg = Background::start(&dir, "cg-fork", unit);
    let procs = cgroup_dir(bg.pid().unwrap(), "pids").join("cgroup.procs");
    let count = || std::fs::read_to_string(&procs).unwrap().lines().count();
    eventually("the service's children", || count() == 3);
    let pids: Vec<i32> = std::fs::read_to_string(&procs)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "{pids:?}");
    bg.stop();
    for pid in pids {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.split_whitespace().nth(2) == Some("Z"),
            "{pid} survived: {state}"
        );
    }
}

#[test]
fn devices_outside_the_allow_list_cannot_be_opened() {
    require_root();
    let dir = TempDir::new("cg-dev");
    // mknod works (Docker allows `m` on every node), but only listed devices open.
    let unit = "command: [sh, -c, 'mknod /t/null c 1 3 && mknod /t/kmsg c 1 11 && echo x > /t/null && echo null-ok; \
                (echo x > /t/kmsg) 2>&1']\ntmpfs: [\"/t:dev\"]\n";
    let ran = svcd_run(&dir, "cg-dev", unit);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines[0], "null-ok", "{}{}", ran.stdout, ran.stderr);
    assert!(
        lines[1].contains("Operation not permitted"),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_limit_the_host_cannot_apply_fails_the_start() {
    require_root();
    let dir = TempDir::new("cg-blkio");
    let has_weight = svcd::cgroup::Layout::detect().map(|l| match l {
        svcd::cgroup::Layout::V1 { controllers, .. } => controllers
            .get("blkio")
            .is_some_and(|d| d.join("blkio.weight").exists()),
        svcd::cgroup::Layout::V2 { .. } => true,
    });
    assert!(
        !has_weight.unwrap(),
        "this test expects a host whose I/O scheduler has no blkio weights"
    );
    let ran = svcd_run(
        &dir,
        "cg-blkio",
        "command: [true]
blkio_config: {weight: 300}
",
    );
    assert_eq!(ran.code, 125);
    assert_eq!(
        ran.stderr.lines().collect::<Vec<_>>(),
        [
            "cg-blkio: start failed at step cgroup: `blkio_config` cannot be applied: this host's cgroups have no `blkio.weight`",
            "cg-blkio: Result: resources"
        ]
    );
}

#[test]
fn a_missing_controller_fails_the_start_and_names_it() {
    // The error a host without the memory controller gets, from the cgroup module itself.
    let layout = svcd::cgroup::Layout::V1 {
        controllers: Default::default(),
        hybrid: false,
    };
    let cg = svcd::cgroup::UnitCgroup {
        layout,
        dirs: Default::default(),
    };
    let err = cg.dir_for("memory", "mem_limit").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the `memory` cgroup controller, needed for `mem_limit`, is not available on this host"
    );
}

#[test]
fn the_v2_device_filter_allows_listed_devices_only() {
    require_root();
    // A cgroup2 hierarchy: the host's own on v2, the one beside the v1 controllers on hybrid.
    let root = match svcd::cgroup::Layout::detect().unwrap() {
        svcd::cgroup::Layout::V2 { root } => root,
        svcd::cgroup::Layout::V1 { hybrid: true, .. } => PathBuf::from("/sys/fs/cgroup/unified"),
        svcd::cgroup::Layout::V1 { hybrid: false, .. } => {
            panic!("this test needs a cgroup2 hierarchy")
        }
    };
    let dir = root.join(format!("svcd-test-bpf-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _cleanup = Remove(dir.clone());
    let rules = ["c 1:3 rwm", "c 1:5 r"].map(|r| svcd::unit::value::parse_device_rule(r).unwrap());
    svcd::cgroup::bpf_devices::attach(&dir, &rules).unwrap();
    let procs = dir.join("cgroup.procs");
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        "echo x > /dev/null && echo null-rw; head -c1 /dev/zero >/dev/null && echo zero-r; \
                     (echo x > /dev/zero) 2>&1; (head -c1 /dev/urandom) 2>&1",
    ]);
    // SAFETY: only a write(2) to a cgroup file, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || std::fs::write(&procs, "0"));
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "null-rw", "{text}");
    assert_eq!(lines[1], "zero-r", "{text}");
    assert!(lines[2].contains("Operation not permitted"), "{text}");
    assert!(lines[3].contains("Operation not permitted"), "{text}");
}

#[test]
fn leftovers_of_a_previous_svcd_are_killed_and_removed() {
    require_root();
    v1_only();
    // A unit cgroup with a process in it, as a crashed svcd would leave it.
    let layout = svcd::cgroup::Layout::detect().unwrap();
    // A subtree of the test's own, so that units of other tests are not touched.
    let subtree = format!("svcd-test-leftovers-{}", std::process::id());
    let name = "leftover".to_owned();
    let cg = svcd::cgroup::UnitCgroup::locate_in(&layout, &subtree, &name).unwrap();
    let unit = svcd::unit::validate::parse_unit(
        std::path::Path::new("leftover.yaml"),
        b"command: [sleep, 300]\n",
    );
    cg.create(unit.valid().unwrap()).unwrap();
    let (procs, _) = cg.entry();
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("300");
    // SAFETY: only write(2)s to cgroup files, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            for p in &procs {
                std::fs::write(p, "0")?;
            }
            Ok(())
        });
    }
    let mut orphan = cmd.spawn().unwrap();
    assert_eq!(cg.pids(), [orphan.id() as i32]);
    let removed = svcd::cgroup::remove_leftovers(&layout, &subtree).unwrap();
    assert_eq!(removed, [name]);
    let status = orphan.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(cg.all_dirs().iter().all(|d| !d.exists()));
}
