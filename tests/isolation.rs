//! Every isolation control, applied by `svcd run` on this machine's kernel and checked from
//! inside the service and from the host. Needs root.

mod common;

use common::{Background, Ran, TempDir, eventually, has_shm_segment, require_root, svcd_run};

/// Run `unit` and return what it printed; it must exit 0.
fn ok(dir: &TempDir, name: &str, unit: &str) -> String {
    require_root();
    let ran = svcd_run(dir, name, unit);
    assert_eq!(
        ran.code, 0,
        "{name} failed:\n{}\n{}",
        ran.stdout, ran.stderr
    );
    ran.stdout
}

/// A `/proc/self/status` field of the service, e.g. `CapEff`.
fn status_field(out: &str, field: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in:\n{out}"))
        .trim()
        .to_owned()
}

const STATUS: &str = "command: [cat, /proc/self/status]\n";

/// A Python probe: runs `code` and prints what it prints.
fn python(code: &str) -> String {
    format!(
        "command: [python3, -c, {}]\n",
        serde_json::to_string(code).unwrap()
    )
}

/// `syscall(nr, args…)` from Python, printing `ok` or the errno's name.
fn syscall_probe(nr_and_args: &str) -> String {
    python(&format!(
        "import ctypes, errno\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.syscall({nr_and_args})\n\
         print('ok' if r >= 0 else errno.errorcode[ctypes.get_errno()])"
    ))
}

#[test]
fn default_capabilities_are_dockers_and_no_new_privs_and_seccomp_are_on() {
    let dir = TempDir::new("caps-default");
    let out = ok(&dir, "caps-default", STATUS);
    // Docker's 14 default capabilities.
    assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&out, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&out, "CapPrm"), "00000000a80425fb");
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
    assert_eq!(status_field(&out, "Seccomp"), "2");
}

#[test]
fn cap_add_and_cap_drop() {
    let dir = TempDir::new("caps");
    let out = ok(
        &dir,
        "caps-some",
        &format!("{STATUS}cap_add: [net_admin]\ncap_drop: [CAP_CHOWN, KILL]\n"),
    );
    // Default minus CHOWN (bit 0) and KILL (bit 5), plus NET_ADMIN (bit 12).
    assert_eq!(
        status_field(&out, "CapEff"),
        format!("{:016x}", (0xa80425fbu64 & !1 & !(1 << 5)) | 1 << 12)
    );
    let out = ok(&dir, "caps-none", &format!("{STATUS}cap_drop: [ALL]\n"));
    assert_eq!(status_field(&out, "CapBnd"), "0000000000000000");
    let out = ok(
        &dir,
        "caps-only",
        &format!("{STATUS}cap_drop: [ALL]\ncap_add: [SYS_TIME]\n"),
    );
    assert_eq!(status_field(&out, "CapBnd"), format!("{:016x}", 1u64 << 25));
}

#[test]
fn cap_drop_net_raw_makes_raw_sockets_fail_with_eperm() {
    let dir = TempDir::new("netraw");
    let probe = python(
        "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)\n    print('ok')\n\
         except OSError as e:\n    print(e.errno)",
    );
    assert_eq!(ok(&dir, "raw-default", &probe).trim(), "ok");
    assert_eq!(
        ok(
            &dir,
            "raw-dropped",
            &format!("{probe}cap_drop: [NET_RAW]\n")
        )
        .trim(),
        "1"
    );
}

#[test]
fn a_non_root_user_gets_added_capabilities_as_ambient() {
    let dir = TempDir::new("ambient");
    let out = ok(&dir, "ambient-none", &format!("{STATUS}user: nobody\n"));
    assert_eq!(status_field(&out, "Uid"), "65534\t65534\t65534\t65534");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb");
    let out = ok(
        &dir,
        "ambient-bind",
        &format!("{STATUS}user: nobody\ncap_add: [NET_BIND_SERVICE]\n"),
    );
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000400");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000400");
    // The capability works after exec: binding port 80 as nobody.
    let bind =
        python("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 80))\nprint('bound')");
    let unit = format!("{bind}user: nobody\ncap_add: [NET_BIND_SERVICE]\nnetwork_mode: none\n");
    assert_eq!(ok(&dir, "ambient-port", &unit).trim(), "bound");
}

#[test]
fn users_and_groups() {
    let dir = TempDir::new("users");
    let out = ok(
        &dir,
        "users-names",
        "command: [id]\nuser: nobody:nogroup\ngroup_add: [users, 4242]\n",
    );
    assert_eq!(
        out.trim(),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup),100(users),4242"
    );
    let out = ok(
        &dir,
        "users-ids",
        "command: [id, -u]\nuser: \"1234:5678\"\n",
    );
    assert_eq!(out.trim(), "1234");
    require_root();
    let ran = svcd_run(&dir, "users-ghost", "command: [id]\nuser: ghost\n");
    assert_eq!(ran.code, 125);
    assert_eq!(
        ran.stderr.trim(),
        "users-ghost: start failed at step resolve_user: user `ghost` is not in /etc/passwd"
    );
}

#[test]
fn no_new_privileges_can_be_turned_off() {
    let dir = TempDir::new("nnp");
    let out = ok(
        &dir,
        "nnp-off",
        &format!("{STATUS}security_opt: [\"no-new-privileges:false\"]\n"),
    );
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
    assert_eq!(status_field(&out, "Seccomp"), "2");
}

#[test]
fn pid_namespace_private_and_host() {
    let dir = TempDir::new("pid");
    assert_eq!(
        ok(&dir, "pid-private", "command: [sh, -c, 'echo $$']\n").trim(),
        "1"
    );
    let host = ok(
        &dir,
        "pid-host",
        "command: [sh, -c, 'echo $$']\npid: host\n",
    );
    assert_ne!(host.trim(), "1");
    let own = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let out = ok(&dir, "pid-ns", "command: [readlink, /proc/self/ns/pid]\n");
    assert_ne!(out.trim(), own.to_str().unwrap());
}

#[test]
fn uts_namespace_hostname_and_domainname() {
    let dir = TempDir::new("uts");
    let before = nix::unistd::gethostname().unwrap();
    let out = ok(
        &dir,
        "uts-named",
        "command: [sh, -c, 'hostname; cat /proc/sys/kernel/domainname']\nhostname: box1\ndomainname: example\n",
    );
    assert_eq!(out, "box1\nexample\n");
    assert_eq!(
        ok(&dir, "uts-default", "command: [hostname]\n").trim(),
        "uts-default"
    );
    assert_eq!(
        nix::unistd::gethostname().unwrap(),
        before,
        "the host's hostname changed"
    );
    let host = ok(&dir, "uts-host", "command: [hostname]\nuts: host\n");
    assert_eq!(host.trim(), before.to_str().unwrap());
}

#[test]
fn network_none_has_only_loopback_up_and_host_sees_the_hosts() {
    let dir = TempDir::new("net");
    let out = ok(
        &dir,
        "net-none",
        "command: [cat, /proc/net/dev]\nnetwork_mode: none\n",
    );
    let interfaces: Vec<&str> = out
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(interfaces, ["lo"]);
    let flags = ok(&dir, "net-lo", "command: [cat, /sys/class/net/lo/flags]\n");
    assert_eq!(
        u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap() & 1,
        1,
        "lo is down"
    );
    let host_devs = std::fs::read_to_string("/proc/net/dev").unwrap();
    let out = ok(
        &dir,
        "net-host",
        "command: [cat, /proc/net/dev]\nnetwork_mode: host\n",
    );
    assert_eq!(out.lines().count(), host_devs.lines().count());
}

#[test]
fn ipc_shareable_and_joined() {
    require_root();
    let dir = TempDir::new("ipc");
    let producer = Background::start(
        &dir,
        "ipc-prod",
        "command: [sh, -c, 'ipcmk -M 4096 -p 0600 >/dev/null && exec sleep 60']\nipc: shareable\ninit: true\n",
    );
    let pid = producer.pid().unwrap();
    eventually("the producer's segment", || has_shm_segment(pid, 4096));
    let seen = ok(
        &dir,
        "ipc-cons",
        "command: [sh, -c, 'ipcs -m | grep -c 4096']\nipc: service:ipc-prod\n",
    );
    assert_eq!(seen.trim(), "1");
    let private = svcd_run(
        &dir,
        "ipc-other",
        "command: [sh, -c, 'ipcs -m | grep -c 4096']\n",
    );
    assert_eq!(private.stdout.trim(), "0");
    drop(producer);
    let refuser = Background::start(&dir, "ipc-closed", "command: [sleep, 60]\ninit: true\n");
    let refused = svcd_run(
        &dir,
        "ipc-want",
        "command: [true]\nipc: service:ipc-closed\n",
    );
    assert_eq!(refused.code, 125);
    assert!(
        refused
            .stderr
            .contains("`ipc-closed` does not share its IPC namespace"),
        "{}",
        refused.stderr
    );
    drop(refuser);
}

#[test]
fn joining_a_network_namespace() {
    require_root();
    let dir = TempDir::new("join");
    let first = Background::start(&dir, "join-net", "command: [sleep, 60]\ninit: true\n");
    let pid = first.pid().unwrap();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let out = ok(
        &dir,
        "join-side",
        "command: [readlink, /proc/self/ns/net]\nnetwork_mode: service:join-net\n",
    );
    assert_eq!(out.trim(), theirs.to_str().unwrap());
    drop(first);
    let gone = svcd_run(
        &dir,
        "join-late",
        "command: [true]\npid: service:join-net\n",
    );
    assert_eq!(gone.code, 125);
    assert!(
        gone.stderr.contains("`join-net` is not running"),
        "{}",
        gone.stderr
    );
}

#[test]
fn user_namespace_maps_seen_inside_and_from_the_host() {
    require_root();
    let dir = TempDir::new("userns");
    let unit = "command: [sh, -c, 'cat /proc/self/uid_map /proc/self/gid_map; id -u; exec sleep 60']\n\
                init: true\nuser_namespace:\n  uid_map: [{container_id: 0, host_id: 200000, size: 65536}]\n  \
                gid_map: [{container_id: 0, host_id: 300000, size: 65536}]\n";
    let bg = Background::start(&dir, "userns-map", unit);
    let pid = bg.pid().unwrap();
    // The shell has printed once it has become `sleep`, the init's child.
    let child_comm = || {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let child = children.split_whitespace().next().unwrap_or("0").to_owned();
        std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default()
    };
    eventually("the service to print its maps", || {
        child_comm().trim() == "sleep"
    });
    // The host sees the service's init as the mapped ids.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(
        status_field(&status, "Uid"),
        "200000\t200000\t200000\t200000"
    );
    assert_eq!(
        status_field(&status, "Gid"),
        "300000\t300000\t300000\t300000"
    );
    let ran = bg.stop();
    let lines: Vec<Vec<&str>> = ran
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["0", "200000", "65536"],
            vec!["0", "300000", "65536"],
            vec!["0"]
        ]
    );
}

#[test]
fn read_only_root_volumes_and_tmpfs() {
    let dir = TempDir::new("mounts");
    let data = TempDir::new("mounts-data");
    data.write("hello", "from the host\n");
    let unit = format!(
        "command: [sh, -c, 'touch /probe 2>&1; cat /data/hello; echo x > /data/new && echo rw-ok; \
         (echo x > /conf/new) 2>&1; echo t > /scratch/t && echo tmpfs-ok; grep \" /scratch \" /proc/mounts']\n\
         read_only: true\nvolumes:\n  - {0}:/data\n  - {0}:/conf:ro\ntmpfs: [\"/scratch:size=16m,mode=1777\"]\n",
        data.path().display()
    );
    let out = ok(&dir, "mounts-ro", &unit);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("Read-only file system"), "{out}");
    assert_eq!(lines[1], "from the host");
    assert_eq!(lines[2], "rw-ok");
    assert!(lines[3].contains("Read-only file system"), "{out}");
    assert_eq!(lines[4], "tmpfs-ok");
    assert!(
        lines[5].starts_with("tmpfs /scratch tmpfs rw") && lines[5].contains("size=16384k"),
        "{out}"
    );
    assert!(
        data.path().join("new").exists(),
        "the rw volume write did not reach the host"
    );
    assert!(!std::path::Path::new("/probe").exists());
}

#[test]
fn proc_and_sys_are_masked_and_read_only_and_dev_is_minimal() {
    let dir = TempDir::new("masks");
    let unit = "command: [sh, -c, 'stat -c %t:%T /proc/keys; ls /proc/acpi 2>/dev/null | wc -l; \
                (echo 1 > /proc/sys/kernel/domainname) 2>&1; grep -c \" /sys sysfs ro\" /proc/mounts; ls /dev | tr \"\\n\" \" \"']\n";
    let out = ok(&dir, "masks", unit);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1:3", "/proc/keys is not /dev/null: {out}");
    assert_eq!(lines[1], "0");
    assert!(lines[2].contains("Read-only file system"), "{out}");
    assert_eq!(lines[3], "1");
    assert_eq!(
        lines[4].trim(),
        "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"
    );
}

#[test]
fn devices_appear_with_type_numbers_and_mode() {
    let dir = TempDir::new("devices");
    let out = ok(
        &dir,
        "devices",
        "command: [stat, -c, '%F %t:%T %a', /dev/hwrng]\ndevices: [\"/dev/urandom:/dev/hwrng:r\"]\n",
    );
    assert_eq!(out.trim(), "character special file 1:9 666");
}

#[test]
fn privileged_gets_everything() {
    let dir = TempDir::new("privileged");
    let unit = "command: [sh, -c, 'cat /proc/self/status; ls /dev | wc -l; grep -c \" /sys sysfs rw\" /proc/mounts']\nprivileged: true\n";
    let out = ok(&dir, "privileged", unit);
    // Every capability the host has to give.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(status_field(&out, "CapEff"), status_field(&host, "CapBnd"));
    assert_eq!(status_field(&out, "Seccomp"), "0");
    let lines: Vec<&str> = out.lines().rev().take(2).collect();
    assert!(
        lines[0].parse::<u32>().unwrap() >= 1,
        "/sys is not writable"
    );
    assert!(
        lines[1].parse::<u32>().unwrap() > 20,
        "/dev is not the host's"
    );
}

#[test]
fn default_seccomp_profile_denies_as_docker_does() {
    let dir = TempDir::new("seccomp");
    // add_key (248 on x86_64) and keyctl are denied outright; unshare needs CAP_SYS_ADMIN.
    assert_eq!(
        ok(
            &dir,
            "sc-addkey",
            &syscall_probe("248, b'user', b'k', b'v', 1, -2")
        )
        .trim(),
        "EPERM"
    );
    assert_eq!(
        ok(&dir, "sc-unshare", &syscall_probe("272, 0x10000000")).trim(),
        "EPERM"
    );
    // clone3 (435) pretends not to exist without CAP_SYS_ADMIN.
    assert_eq!(
        ok(&dir, "sc-clone3", &syscall_probe("435, 0, 0")).trim(),
        "ENOSYS"
    );
    // personality (135): the query is allowed, ADDR_NO_RANDOMIZE is not.
    assert_eq!(
        ok(
            &dir,
            "sc-pers-q",
            &syscall_probe("135, ctypes.c_ulong(0xffffffff)")
        )
        .trim(),
        "ok"
    );
    assert_eq!(
        ok(&dir, "sc-pers-x", &syscall_probe("135, 0x0040000")).trim(),
        "EPERM"
    );
    // With SYS_ADMIN the namespace calls are allowed (clone3 then fails on its bad arguments).
    let admin = "cap_add: [SYS_ADMIN]\n";
    assert_eq!(
        ok(
            &dir,
            "sc-admin",
            &format!("{}{admin}", syscall_probe("435, 0, 0"))
        )
        .trim(),
        "EINVAL"
    );
    let out = ok(
        &dir,
        "sc-unconf",
        &format!("{STATUS}security_opt: [seccomp=unconfined]\n"),
    );
    assert_eq!(status_field(&out, "Seccomp"), "0");
}

#[test]
fn custom_seccomp_profiles_in_both_formats() {
    let dir = TempDir::new("seccomp-custom");
    dir.write(
        "new.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
              {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
              {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
               "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
              {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]}"#,
    );
    dir.write(
        "old.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"name": "mkdirat", "action": "SCMP_ACT_ERRNO", "errnoRet": 12345, "args": []},
                         {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 12345, "args": []}]}"#,
    );
    let mkdir = python(
        "import os\ntry:\n    os.mkdir('/tmp/x-svcd-probe')\n    print('made')\nexcept OSError as e:\n    print(e.errno)",
    );
    let out = ok(
        &dir,
        "sc-new",
        &format!("{mkdir}security_opt: [seccomp=new.json]\n"),
    );
    assert_eq!(out.trim(), "13");
    // Errnos past what libseccomp takes (below the kernel's MAX_ERRNO) are capped.
    let out = ok(
        &dir,
        "sc-old",
        &format!("{mkdir}security_opt: [seccomp=old.json]\n"),
    );
    assert_eq!(out.trim(), "4094");
    // The argument comparison: getpriority(PRIO_PROCESS=0, 0) is denied, (PRIO_PGRP=1, 0) not.
    let prio = syscall_probe("140, 0, 0");
    assert_eq!(
        ok(
            &dir,
            "sc-arg0",
            &format!("{prio}security_opt: [seccomp=new.json]\n")
        )
        .trim(),
        "EINVAL"
    );
    let prio = syscall_probe("140, 1, 0");
    assert_eq!(
        ok(
            &dir,
            "sc-arg1",
            &format!("{prio}security_opt: [seccomp=new.json]\n")
        )
        .trim(),
        "ok"
    );
    // `includes.caps`: the uname rule applies only with CAP_SYS_ADMIN.
    let uname = "command: [uname]\nsecurity_opt: [seccomp=new.json]\n";
    assert_eq!(ok(&dir, "sc-inc-no", uname).trim(), "Linux");
    require_root();
    let ran = svcd_run(
        &dir,
        "sc-inc-yes",
        &format!("{uname}cap_add: [SYS_ADMIN]\n"),
    );
    assert_ne!(ran.code, 0);
}

#[test]
fn apparmor_on_a_host_without_it_refuses_to_start() {
    require_root();
    let dir = TempDir::new("apparmor");
    assert!(
        !std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists()
            || std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .unwrap()
                .trim()
                != "Y",
        "this test expects a host without AppArmor"
    );
    let ran = svcd_run(
        &dir,
        "aa",
        "command: [true]\nsecurity_opt: [apparmor=svcd-default]\n",
    );
    assert_eq!(ran.code, 125);
    assert_eq!(
        ran.stderr.trim(),
        "aa: start failed at step lsm: AppArmor is not enabled on this host"
    );
}

#[test]
fn ulimits_sysctls_environment_and_working_dir() {
    let dir = TempDir::new("process");
    dir.write("app.env", "FROM_FILE=yes\nSHARED=file\n");
    let unit = "entrypoint: [sh, -c]\ncommand: ['ulimit -n; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; \
                echo $FROM_FILE $SHARED $GREETING; pwd']\nulimits: {nofile: {soft: 321, hard: 654}}\n\
                sysctls: {net.ipv4.ip_unprivileged_port_start: 80}\nenv_file: app.env\n\
                environment: {SHARED: unit, GREETING: hi}\nworking_dir: /usr/share\n";
    let out = ok(&dir, "process", unit);
    assert_eq!(out, "321\n80\nyes unit hi\n/usr/share\n");
    let host_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_ne!(host_start.trim(), "80", "the sysctl leaked to the host");
}

#[test]
fn init_reaps_zombies_and_passes_the_exit_status() {
    let dir = TempDir::new("init");
    // An orphan ends while its parent (the shell) is gone: only an init can reap it.
    let unit = "command: [sh, -c, '(sleep 0.2 &); sleep 0.6; grep -l \"^State:.*Z\" /proc/[0-9]*/status | wc -l; exit 3']\ninit: true\n";
    require_root();
    let ran = svcd_run(&dir, "init-reap", unit);
    assert_eq!(ran.stdout.trim(), "0", "zombies were left");
    assert_eq!(ran.code, 3);
    assert_eq!(ran.stderr.trim(), "init-reap: Result: exit-code (status 3)");
}

#[test]
fn exec_failures_name_the_program_and_errno() {
    require_root();
    let dir = TempDir::new("exec");
    let ran = svcd_run(&dir, "exec-missing", "command: [/no/such/program]\n");
    assert_eq!(ran.code, 127);
    assert_eq!(
        ran.stderr.trim(),
        "exec-missing: exec /no/such/program: ENOENT"
    );
    let ran = svcd_run(&dir, "exec-path", "command: [no-such-program-anywhere]\n");
    assert_eq!(
        ran.stderr.trim(),
        "exec-path: exec no-such-program-anywhere: ENOENT"
    );
    let ran = svcd_run(&dir, "exec-dir", "command: [/etc]\n");
    assert_eq!(
        (ran.code, ran.stderr.trim()),
        (126, "exec-dir: exec /etc: EACCES")
    );
}

#[test]
fn stopping_sends_the_stop_signal_then_kills_after_the_grace_period() {
    require_root();
    let dir = TempDir::new("stop");
    // With an init, SIGTERM reaches the program, which ends: a clean stop.
    let bg = Background::start(&dir, "stop-clean", "command: [sleep, 60]\ninit: true\n");
    let Ran { code, stderr, .. } = bg.stop();
    assert_eq!((code, stderr.as_str()), (0, ""));
    // sleep as PID 1 ignores SIGTERM: killed after the grace period.
    let bg = Background::start(
        &dir,
        "stop-stuck",
        "command: [sleep, 60]\nstop_grace_period: 300ms\n",
    );
    let ran = bg.stop();
    assert_eq!(ran.code, 137);
    assert!(
        ran.stderr.contains("stop-stuck: Result: timeout"),
        "{}",
        ran.stderr
    );
    assert!(
        !std::path::Path::new("/run/svcd/run/stop-stuck").exists(),
        "state file left behind"
    );
}

#[test]
fn user_namespace_auto_gives_each_unit_its_own_stable_range() {
    require_root();
    let dir = TempDir::new("userns-auto");
    dir.write("subuid", "svcd:500000:196608\n");
    dir.write("subgid", "svcd:700000:196608\n");
    let ranges = dir.path().join("state/ranges");
    let run = |name: &str| {
        let path = dir.write(
            &format!("{name}.yaml"),
            "command: [cat, /proc/self/uid_map, /proc/self/gid_map]\nuser_namespace: auto\n",
        );
        let d = dir.path();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_svcd"))
            .args(["run", path.to_str().unwrap()])
            .args([
                "--subuid",
                d.join("subuid").to_str().unwrap(),
                "--subgid",
                d.join("subgid").to_str().unwrap(),
            ])
            .args(["--userns-ranges", ranges.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(run("auto-a"), ["0 500000 65536", "0 700000 65536"]);
    assert_eq!(run("auto-b"), ["0 565536 65536", "0 765536 65536"]);
    // The same range again for the same unit.
    assert_eq!(run("auto-a"), ["0 500000 65536", "0 700000 65536"]);
}

#[test]
fn the_example_units_run() {
    require_root();
    let units = concat!(env!("CARGO_MANIFEST_DIR"), "/units");
    // What each example prints once it runs.
    let expected: &[(&str, &str)] = &[
        ("db", "ready"),
        (
            "nobody",
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup),100(users)",
        ),
        ("hwrng", " "),
        ("no-sockets", "no sockets here"),
        ("remapped", "100000"),
        ("ipc-producer", ""),
        ("web", ""),
    ];
    for (name, line) in expected {
        let bg =
            Background::start_file(std::path::Path::new(&format!("{units}/{name}.yaml")), name);
        // Each prints its line at start, then idles.
        std::thread::sleep(std::time::Duration::from_millis(1000));
        assert!(bg.pid().is_some(), "{name} stopped by itself");
        // The examples idle as PID 1, which ignores the stop signal: end them outright.
        let stdout = bg.kill().stdout;
        assert!(
            stdout.contains(line),
            "{name} printed {stdout:?}, not {line:?}"
        );
    }
    let _ = std::fs::remove_dir_all("/var/lib/svcd-example");
    // The batch example runs to its end.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_svcd"))
        .args(["run", &format!("{units}/batch.yaml")])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "job 42 starting in /tmp\n"
    );
}

#[test]
fn the_book_ipc_producer_and_consumer_share_memory() {
    require_root();
    let units = concat!(env!("CARGO_MANIFEST_DIR"), "/units");
    let start = |name: &str| {
        Background::start_file(std::path::Path::new(&format!("{units}/{name}.yaml")), name)
    };
    let producer = start("ipc-producer");
    let pid = producer.pid().unwrap();
    eventually("the producer's segment", || has_shm_segment(pid, 4096));
    let consumer = start("ipc-consumer");
    // The consumer lists segments at start, then idles.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let seen = consumer.kill().stdout;
    drop(producer);
    // `ipcs -m` in the consumer lists the producer's 4096-byte segment.
    assert!(
        seen.lines()
            .any(|l| l.split_whitespace().nth(4) == Some("4096")),
        "{seen}"
    );
}

#[test]
fn cgroup_namespace_ipc_host_and_ptys() {
    let dir = TempDir::new("misc-ns");
    let own = |ns: &str| {
        std::fs::read_link(format!("/proc/self/ns/{ns}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let out = ok(
        &dir,
        "cgns-private",
        "command: [readlink, /proc/self/ns/cgroup, /proc/self/ns/ipc]\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], own("cgroup"));
    assert_ne!(lines[1], own("ipc"));
    let out = ok(
        &dir,
        "cgns-host",
        "command: [readlink, /proc/self/ns/cgroup, /proc/self/ns/ipc]\ncgroup: host\nipc: host\n",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), [own("cgroup"), own("ipc")]);
    // /dev/ptmx and a private /dev/pts give working pseudo-terminals.
    let pty = python("import os\nm, s = os.openpty()\nprint(os.ttyname(s))");
    assert_eq!(ok(&dir, "pty", &pty).trim(), "/dev/pts/0");
}

#[test]
fn selinux_labels_on_a_host_without_selinux_refuse_to_start() {
    require_root();
    assert!(
        !std::path::Path::new("/sys/fs/selinux/enforce").exists(),
        "this test expects a host without SELinux"
    );
    let dir = TempDir::new("selinux");
    let ran = svcd_run(
        &dir,
        "se",
        "command: [true]\nsecurity_opt: [\"label=type:svc_t\"]\n",
    );
    assert_eq!(ran.code, 125);
    assert_eq!(
        ran.stderr.trim(),
        "se: start failed at step lsm: SELinux is not enabled on this host"
    );
    // `label=disable` asks for no label, which any host can give.
    assert_eq!(
        svcd_run(
            &dir,
            "se-off",
            "command: [true]\nsecurity_opt: [\"label=disable\"]\n"
        )
        .code,
        0
    );
}

#[test]
fn joining_a_pid_namespace_and_replacing_the_command() {
    require_root();
    let dir = TempDir::new("pid-join");
    let first = Background::start(&dir, "pid-first", "command: [sleep, 60]\ninit: true\n");
    let pid = first.pid().unwrap();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    let out = ok(
        &dir,
        "pid-second",
        "command: [sh, -c, 'readlink /proc/self/ns/pid; echo $$']\npid: service:pid-first\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], theirs.to_str().unwrap());
    assert_ne!(
        lines[1], "1",
        "the joining service is not the namespace's first process"
    );
    // `svcd run UNIT -- COMMAND` keeps the entrypoint and replaces the command.
    let path = dir.write(
        "override.yaml",
        "entrypoint: [echo, from-entrypoint]\ncommand: [from-command]\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_svcd"))
        .args(["run", path.to_str().unwrap(), "--", "replaced", "words"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from-entrypoint replaced words\n"
    );
}

#[test]
fn seccomp_denies_mount_and_keyctl_even_to_root_with_caps_added_elsewhere() {
    let dir = TempDir::new("seccomp-mount");
    // mount(2) (165) needs CAP_SYS_ADMIN for the filter; keyctl (250) is never allowed.
    let probe = syscall_probe("165, b'none', b'/mnt', b'tmpfs', 0, 0");
    assert_eq!(
        ok(&dir, "sc-mount", &format!("{probe}cap_add: [NET_ADMIN]\n")).trim(),
        "EPERM"
    );
    assert_eq!(
        ok(&dir, "sc-keyctl", &syscall_probe("250, 0, 0")).trim(),
        "EPERM"
    );
}

#[test]
fn without_clone3_the_helper_falls_back_to_clone() {
    require_root();
    // svcd run inside a privileged unit whose filter makes clone3 fail with ENOSYS, as a
    // container runtime's default filter does.
    let dir = TempDir::new("nested");
    dir.write("no-clone3.json", r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}"#);
    let inner = dir.write(
        "inner.yaml",
        "command: [sh, -c, 'echo inner pid $$']\nmem_limit: 64m\n",
    );
    let outer = format!(
        "command: [{}, run, {}]\nprivileged: true\nsecurity_opt: [seccomp=no-clone3.json]\n",
        env!("CARGO_BIN_EXE_svcd"),
        inner.display()
    );
    assert_eq!(ok(&dir, "nested", &outer), "inner pid 1\n");
}
