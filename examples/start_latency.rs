//! Start latency of a fully isolated service: svcd against bubblewrap, crun and the raw floor
//! (one clone with the same namespace flags, then exec), measured in the same run.
//!
//! `start_latency SVCD_BINARY RESULTS_FILE [ROUNDS]`, as root; `contrib/bench/start-latency.sh`
//! installs the peers and runs it. Each contender starts `/bin/true` in new user (mapped),
//! PID, network, mount, UTS, IPC and cgroup namespaces with every capability dropped and
//! Docker's default seccomp filter, and is timed from the start request until the service has
//! exited. Rounds interleave the contenders so that a noisy moment hits all of them.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use serde_json::{Value, json};
use svcd::cgroup::{Layout, UnitCgroup};
use svcd::sandbox::caps::CapMask;
use svcd::sandbox::plan::{self, PlanContext};
use svcd::sandbox::seccomp::profile::{ActionKind, OpKind, Resolved};
use svcd::sandbox::seccomp::{compile, default, target};
use svcd::sandbox::spawn::spawn_with;
use svcd::sandbox::userns::SubidFiles;
use svcd::unit::validate::parse_unit;

const UNIT: &str = "command: [/bin/true]\ncap_drop: [ALL]\nmem_limit: 256m\npids_limit: 100\ncpus: 1\n\
                    user_namespace:\n  uid_map: [{container_id: 0, host_id: 100000, size: 65536}]\n";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The default profile for a service without capabilities, in the OCI runtime spec's form.
fn oci_seccomp(r: &Resolved) -> Value {
    let action = |a: ActionKind| match a {
        ActionKind::Allow => "SCMP_ACT_ALLOW",
        ActionKind::Errno => "SCMP_ACT_ERRNO",
        ActionKind::KillThread => "SCMP_ACT_KILL",
        ActionKind::KillProcess => "SCMP_ACT_KILL_PROCESS",
        ActionKind::Trap => "SCMP_ACT_TRAP",
        ActionKind::Trace => "SCMP_ACT_TRACE",
        ActionKind::Log => "SCMP_ACT_LOG",
        ActionKind::Notify => "SCMP_ACT_NOTIFY",
    };
    let op = |o: OpKind| match o {
        OpKind::Ne => "SCMP_CMP_NE",
        OpKind::Lt => "SCMP_CMP_LT",
        OpKind::Le => "SCMP_CMP_LE",
        OpKind::Eq => "SCMP_CMP_EQ",
        OpKind::Ge => "SCMP_CMP_GE",
        OpKind::Gt => "SCMP_CMP_GT",
        OpKind::MaskedEq => "SCMP_CMP_MASKED_EQ",
    };
    let syscalls: Vec<Value> = r
        .rules
        .iter()
        .map(|rule| {
            let args: Vec<Value> =
                rule.args.iter().map(|&(i, o, v, v2)| json!({"index": i, "value": v, "valueTwo": v2, "op": op(o)})).collect();
            let mut entry = json!({"names": [rule.syscall], "action": action(rule.verdict.action), "args": args});
            if rule.verdict.action == ActionKind::Errno {
                entry["errnoRet"] = json!(rule.verdict.value);
            }
            entry
        })
        .collect();
    json!({"defaultAction": action(r.default.action), "defaultErrnoRet": r.default.value,
           "architectures": r.architectures, "syscalls": syscalls})
}

/// An OCI bundle for crun: the host's root read-only, the same namespaces, map and filter.
fn crun_bundle(dir: &Path, root: &Path, seccomp: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    let config = json!({
        "ociVersion": "1.0.2",
        "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "env": ["PATH=/usr/bin:/bin"], "noNewPrivileges": true,
                    "capabilities": {"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []}},
        "root": {"path": root, "readonly": true},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "seccomp": seccomp,
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
}

/// Run `command` to its end; fail loudly if it fails.
fn run_to_end(command: &mut Command) -> Duration {
    let start = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .output()
        .expect("start a contender");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// The benchmark works in a mount namespace of its own, so that nothing it mounts reaches the
/// host. There it gives crun what crun needs: the host's root bound at `root` (crun cannot
/// pivot to the namespace's own root), and, on a hybrid cgroup host, no cgroup2 mount beside
/// the v1 controllers (crun refuses hybrid hosts).
fn private_mounts(root: &Path) {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).expect("private mount namespace");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make / private");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/cgroup/unified"))
    {
        umount2("/sys/fs/cgroup/unified", MntFlags::MNT_DETACH).expect("detach cgroup2 here");
    }
    std::fs::create_dir_all(root).unwrap();
    mount(
        Some("/"),
        root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .expect("bind the root for crun");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let svcd_bin = PathBuf::from(
        args.next()
            .expect("usage: start_latency SVCD RESULTS [ROUNDS]"),
    );
    let results = PathBuf::from(
        args.next()
            .expect("usage: start_latency SVCD RESULTS [ROUNDS]"),
    );
    let rounds: usize = args
        .next()
        .map_or(200, |r| r.parse().expect("ROUNDS is a number"));
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the benchmark needs root"
    );
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let crun_root = std::env::temp_dir().join(format!("svcd-bench-root-{}", std::process::id()));
    private_mounts(&crun_root);

    let layout = Layout::detect().expect("cgroup layout");
    let unit = parse_unit(Path::new("bench.yaml"), UNIT.as_bytes())
        .valid()
        .cloned()
        .expect("bench unit");
    let ctx = PlanContext {
        running_pid: &|_| None,
        subids: SubidFiles::default(),
    };
    let resolved = default::profile().resolve(&target(CapMask(0)));
    let bpf = compile::to_bpf(&resolved).unwrap();
    let bpf_file =
        nix::sys::memfd::memfd_create(c"bench-seccomp", nix::sys::memfd::MFdFlags::empty())
            .unwrap();
    let mut f = std::fs::File::from(bpf_file);
    f.write_all(&bpf).unwrap();
    let bundle = std::env::temp_dir().join(format!("svcd-bench-bundle-{}", std::process::id()));
    crun_bundle(&bundle, &crun_root, &oci_seccomp(&resolved));

    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    let mut stack = vec![0u8; 64 << 10];
    let (mut svcd_t, mut bwrap_t, mut crun_t, mut floor_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut plan_t = Vec::new();
    let mut cgroup_t = Vec::new();
    let mut svcd_no_cgroup_t = Vec::new();
    // What re-executing svcd as the helper costs, against the smallest program: the most a
    // dedicated helper binary could save.
    let (mut svcd_exec_t, mut true_exec_t) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // svcd: the request builds the plan (ids, filter, mounts) and starts the service.
        let start = Instant::now();
        let mut plan = plan::build(&unit, &ctx).expect("plan");
        plan_t.push(start.elapsed());
        let cgroup_start = Instant::now();
        let cgroup = UnitCgroup::locate(&layout, "bench").unwrap();
        cgroup.create(&unit).expect("cgroup");
        cgroup_t.push(cgroup_start.elapsed());
        (plan.cgroup_procs, plan.cgroup_dir) = cgroup.entry();
        let pid =
            spawn_with(&svcd_bin, &plan, Stdio::null(), Stdio::inherit()).expect("svcd start");
        waitpid(pid, None).unwrap();
        svcd_t.push(start.elapsed());
        cgroup.remove().unwrap();

        // The same start without the cgroup step, as the peers run here.
        let start = Instant::now();
        let plan = plan::build(&unit, &ctx).expect("plan");
        let pid =
            spawn_with(&svcd_bin, &plan, Stdio::null(), Stdio::inherit()).expect("svcd start");
        waitpid(pid, None).unwrap();
        svcd_no_cgroup_t.push(start.elapsed());

        let fd = f.as_raw_fd();
        let mut bwrap = Command::new("bwrap");
        bwrap.args([
            "--unshare-all",
            "--die-with-parent",
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]);
        bwrap.args(["--cap-drop", "ALL", "--seccomp", "10", "/bin/true"]);
        // SAFETY: dup2 is async-signal-safe; the memfd stays open in this process.
        unsafe {
            bwrap.pre_exec(move || {
                nix::unistd::lseek(
                    std::os::fd::BorrowedFd::borrow_raw(fd),
                    0,
                    nix::unistd::Whence::SeekSet,
                )?;
                if libc::dup2(fd, 10) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        bwrap_t.push(run_to_end(&mut bwrap));

        let id = format!("svcd-bench-{}-{round}", std::process::id());
        crun_t.push(run_to_end(Command::new("crun").args([
            "--cgroup-manager=disabled",
            "run",
            "--bundle",
            bundle.to_str().unwrap(),
            &id,
        ])));

        let start = Instant::now();
        let child = Box::new(|| {
            let _ = nix::unistd::execv(c"/bin/true", &[c"/bin/true"]);
            127
        });
        // SAFETY: the clone only calls execv, and this process runs no other threads.
        let pid =
            unsafe { nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }.unwrap();
        waitpid(pid, None).unwrap();
        floor_t.push(start.elapsed());

        svcd_exec_t.push(run_to_end(
            Command::new(&svcd_bin)
                .arg("--version")
                .stdout(Stdio::null()),
        ));
        true_exec_t.push(run_to_end(&mut Command::new("/bin/true")));
    }
    let _ = std::fs::remove_dir_all(&bundle);
    let _ = nix::mount::umount2(&crun_root, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(&crun_root);

    let (s, b, c, fl) = (
        median(svcd_t),
        median(bwrap_t),
        median(crun_t),
        median(floor_t),
    );
    // The first plan compiles the unit's filter; later ones find it compiled.
    let first_plan = plan_t[0];
    let p = median(plan_t);
    let cg = median(cgroup_t);
    let no_cg = median(svcd_no_cgroup_t);
    let helper_extra = median(svcd_exec_t).saturating_sub(median(true_exec_t));
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let version = |bin: &str| {
        Command::new(bin)
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default()
    };
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    let ratio = |d: Duration| format!("{:.2}", d.as_secs_f64() / s.as_secs_f64());
    let report = format!(
        "# Start latency\n\n\
         `/bin/true` in new user (mapped), PID, network, mount, UTS, IPC and cgroup namespaces, \
         every capability dropped, Docker's default seccomp filter; svcd also puts it in a new \
         cgroup with memory, pids and CPU limits (crun cannot manage cgroups on this hybrid host, \
         bwrap makes none). Timed from the start request until the service exited. Median of {rounds} interleaved rounds; kernel {kernel}; \
         {} and {}.\n\n\
         | contender | median ms | ratio to svcd |\n|---|---|---|\n\
         | svcd (plan + cgroup + helper + service) | {} | 1.00 |\n\
         | of which svcd's plan (ids, filter, mounts) | {} | {} |\n\
         | of which making the cgroup and writing its limits | {} | {} |\n\
         | svcd's first plan of the unit (filter compiled) | {} | {} |\n\
         | svcd without the cgroup step (as the peers run here) | {} | {} |\n\
         | bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev --cap-drop ALL --seccomp | {} | {} |\n\
         | crun run (same namespaces, id map, filter, mounts; no cgroup) | {} | {} |\n\
         | floor: one clone with the same flags, then exec | {} | {} |\n\n\
         On cgroup v1 the helper's move into the new cgroup waits for an RCU grace period \
         (the kernel's cgroup migration lock): most of the gap between svcd with and without its \
         cgroup. On cgroup v2 svcd clones the service straight into its cgroup \
         (`CLONE_INTO_CGROUP`): nothing moves.\n\n\
         Starting the svcd binary costs {} ms more than starting `/bin/true`: the most a \
         dedicated helper binary, instead of svcd re-executed, could save per start.\n",
        version("bwrap"),
        version("crun"),
        ms(s),
        ms(p),
        ratio(p),
        ms(cg),
        ratio(cg),
        ms(first_plan),
        ratio(first_plan),
        ms(no_cg),
        ratio(no_cg),
        ms(b),
        ratio(b),
        ms(c),
        ratio(c),
        ms(fl),
        ratio(fl),
        ms(helper_extra)
    );
    std::fs::write(&results, &report).unwrap();
    print!("{report}");
}
