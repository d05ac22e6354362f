//! Malformed unit files: each case asserts every error reported, with line, column and message.

use std::path::Path;

use svcd::unit::Severity;
use svcd::unit::validate::parse_unit;

/// (file text, expected errors as `LINE:COLUMN` and a part of the message). Every error the
/// validator reports must be listed, in order.
const CASES: &[(&str, &[(&str, &str)])] = &[
    // --- the file as a whole ---
    ("", &[("1:1", "the file is empty")]),
    ("# only a comment\n", &[("1:1", "the file is empty")]),
    (
        "- sleep\n- 10\n",
        &[("1:1", "expected a mapping of unit keys")],
    ),
    (
        "command: [sleep, 1]\n---\ncommand: [sleep, 2]\n",
        &[("3:1", "a second YAML document")],
    ),
    (
        "command: [sleep, 1\n",
        &[("1:10", "invalid YAML: unclosed bracket")],
    ),
    (
        "command: [sleep, 1]\n  bad: indent\n",
        &[(
            "2:3",
            "invalid YAML: while parsing a block mapping, did not find expected key",
        )],
    ),
    (
        "description: hi\n",
        &[("1:1", "nothing to run: give it a `command`")],
    ),
    // --- keys ---
    (
        "command: [true]\nmem_limt: 256m\n",
        &[("2:1", "unknown key `mem_limt`; did you mean `mem_limit`?")],
    ),
    (
        "command: [true]\nCPUS: 1\n",
        &[("2:1", "unknown key `CPUS`; did you mean `cpus`?")],
    ),
    (
        "command: [true]\nzzzz: 1\n",
        &[("2:1", "unknown key `zzzz`")],
    ),
    (
        "command: [true]\nimage: nginx\n",
        &[("2:1", "`image` is not supported by svcd")],
    ),
    (
        "command: [true]\nports: [\"80:80\"]\n",
        &[("2:1", "`ports` is not supported by svcd")],
    ),
    (
        "command: [true]\ninit: true\ninit: false\n",
        &[("3:1", "duplicate key `init` (first given at 2:1)")],
    ),
    (
        "command: [true]\n1: x\n",
        &[("2:1", "keys in the unit must be strings")],
    ),
    // --- process ---
    (
        "command: \"echo 'open\"\n",
        &[("1:10", "a single quote is not closed")],
    ),
    ("command: []\n", &[("1:10", "the command is empty")]),
    ("entrypoint: []\n", &[("1:1", "nothing to run")]),
    (
        "command: {a: 1}\n",
        &[(
            "1:10",
            "expected a list of arguments or a command string, found a mapping",
        )],
    ),
    (
        "command: [true]\nenvironment: [\"=x\"]\n",
        &[("2:15", "`` is not a valid environment variable name")],
    ),
    (
        "command: [true]\nenvironment: 3\n",
        &[(
            "2:14",
            "expected a mapping or a list of `KEY=value`, found a number",
        )],
    ),
    (
        "command: [true]\nenv_file: ./no/such.env\n",
        &[("2:11", "env_file `./no/such.env` does not exist")],
    ),
    (
        "command: [true]\nworking_dir: srv\n",
        &[("2:14", "working_dir `srv` must be an absolute path")],
    ),
    (
        "command: [true]\nuser: \"a b\"\n",
        &[("2:7", "`a b` is not a valid user name")],
    ),
    (
        "command: [true]\nuser: \"1000:\"\n",
        &[("2:7", "the group is empty")],
    ),
    (
        "command: [true]\nuser: 4294967295\n",
        &[("2:7", "user id 4294967295 is out of range")],
    ),
    (
        "command: [true]\ngroup_add: [\"-x\"]\n",
        &[("2:13", "`-x` is not a valid group name")],
    ),
    (
        "command: [true]\ninit: yes\n",
        &[("2:7", "expected `true` or `false`, found a string")],
    ),
    (
        "command: [true]\nstop_signal: SIGTREM\n",
        &[("2:14", "`SIGTREM` is not a signal; did you mean `SIGTERM`?")],
    ),
    (
        "command: [true]\nstop_signal: 99\n",
        &[("2:14", "99 is out of range (1 to 64)")],
    ),
    (
        "command: [true]\nstop_grace_period: 10\n",
        &[(
            "2:20",
            "`10` is not a duration: it has no unit (write `10s`",
        )],
    ),
    (
        "command: [true]\nstop_grace_period: 10y\n",
        &[("2:20", "`y` is not a unit of time")],
    ),
    (
        "command: [true]\nulimits:\n  nofiles: 10\n",
        &[(
            "3:3",
            "`nofiles` is not a resource limit; did you mean `nofile`?",
        )],
    ),
    (
        "command: [true]\nulimits:\n  nofile: {soft: 20, hard: 10}\n",
        &[("3:11", "soft limit 20 exceeds hard limit 10")],
    ),
    (
        "command: [true]\nulimits:\n  nofile: {soft: 20}\n",
        &[("3:11", "ulimits.nofile needs both `soft` and `hard`")],
    ),
    // --- file system ---
    (
        "command: [true]\nrootfs: /no/such/rootfs\n",
        &[("2:9", "rootfs `/no/such/rootfs` does not exist")],
    ),
    (
        "command: [true]\nvolumes: [\"data:/data\"]\n",
        &[("2:11", "`data` is a named volume")],
    ),
    (
        "command: [true]\nvolumes: [\"/data\"]\n",
        &[("2:11", "names no host path")],
    ),
    (
        "command: [true]\nvolumes: [\"/a:/b:rx\"]\n",
        &[("2:11", "`rx` is not a volume option")],
    ),
    (
        "command: [true]\nvolumes: [\"/a:b\"]\n",
        &[("2:11", "volume target `b` must be an absolute path")],
    ),
    (
        "command: [true]\nvolumes:\n  - type: volume\n    source: x\n    target: /x\n",
        &[("3:11", "named volumes are not supported")],
    ),
    (
        "command: [true]\nvolumes:\n  - type: bind\n    source: /a\n    target: /b\n    readonly: true\n",
        &[(
            "6:5",
            "unknown key `readonly` in a volume; did you mean `read_only`?",
        )],
    ),
    (
        "command: [true]\nvolumes:\n  - type: bind\n    target: /b\n",
        &[("3:5", "a bind volume needs a `source`")],
    ),
    (
        "command: [true]\ntmpfs: /run:size=lots\n",
        &[("2:8", "`lots` is not a size")],
    ),
    (
        "command: [true]\ntmpfs: [\"/run:exe\"]\n",
        &[("2:9", "`exe` is not a tmpfs option")],
    ),
    (
        "command: [true]\nshm_size: -1\n",
        &[("2:11", "a size cannot be negative")],
    ),
    (
        "command: [true]\ndevices: [\"ttyUSB0\"]\n",
        &[("2:11", "device path `ttyUSB0` must be absolute")],
    ),
    (
        "command: [true]\ndevices: [\"/dev/a:/dev/b:rwx\"]\n",
        &[("2:11", "`rwx` is not a device access")],
    ),
    // --- namespaces ---
    (
        "command: [true]\npid: container:db\n",
        &[(
            "2:6",
            "svcd has services, not containers: write `service:db`",
        )],
    ),
    (
        "command: [true]\nnetwork_mode: bridge\n",
        &[("2:15", "`bridge` is not a valid network_mode")],
    ),
    (
        "command: [true]\nipc: sharable\n",
        &[("2:6", "did you mean `shareable`?")],
    ),
    (
        "command: [true]\nipc: \"service:\"\n",
        &[("2:6", "`` is not a valid unit name")],
    ),
    (
        "command: [true]\nuts: host\nhostname: web\n",
        &[("3:1", "`hostname` needs a private UTS namespace")],
    ),
    (
        "command: [true]\nhostname: -web\n",
        &[("2:11", "`-web` is not a valid hostname")],
    ),
    (
        "command: [true]\nuserns_mode: host\nuser_namespace: auto\n",
        &[("2:1", "`userns_mode: host` conflicts with `user_namespace`")],
    ),
    (
        "command: [true]\nuser_namespace: automatic\n",
        &[("2:17", "`automatic` is not a user_namespace")],
    ),
    (
        "command: [true]\nuser_namespace:\n  uid_map:\n    - {container_id: 0, host_id: 100000}\n",
        &[(
            "4:7",
            "each uid_map entry needs `container_id`, `host_id` and `size`",
        )],
    ),
    (
        "command: [true]\nuser_namespace:\n  uid_map:\n    - {container_id: 0, host_id: 100000, size: 10}\n    - {container_id: 5, host_id: 200000, size: 10}\n",
        &[("4:5", "uid_map entries overlap in container ids at 5")],
    ),
    (
        "command: [true]\nuser_namespace:\n  uid_map:\n    - {container_id: 0, host_id: 100000, size: 0}\n",
        &[("4:48", "0 is out of range (1 to 4294967294)")],
    ),
    (
        "command: [true]\nsysctls:\n  vm.swappiness: 10\n",
        &[("3:3", "sysctl `vm.swappiness` is not namespaced")],
    ),
    (
        "command: [true]\nsysctls: [\"kernel.hostname=x\"]\n",
        &[("2:11", "set `hostname` with the `hostname` key")],
    ),
    (
        "command: [true]\nnetwork_mode: host\nsysctls:\n  net.ipv4.ip_forward: 1\n",
        &[(
            "3:1",
            "sysctl `net.ipv4.ip_forward` needs a private namespace, but `network_mode` shares another's",
        )],
    ),
    // --- resources ---
    (
        "command: [true]\nmem_limit: 256q\n",
        &[("2:12", "`256q` is not a size")],
    ),
    (
        "command: [true]\nmem_limit: 1m\n",
        &[("2:1", "mem_limit must be at least 6m")],
    ),
    (
        "command: [true]\nmem_limit: 64m\nmem_reservation: 128m\n",
        &[("3:1", "mem_reservation must not exceed mem_limit")],
    ),
    (
        "command: [true]\nmemswap_limit: 1g\n",
        &[("2:1", "memswap_limit needs mem_limit")],
    ),
    (
        "command: [true]\nmem_limit: 1g\nmemswap_limit: 512m\n",
        &[("3:1", "memswap_limit must be at least mem_limit")],
    ),
    (
        "command: [true]\ncpu_shares: 1\n",
        &[("2:13", "1 is out of range (2 to 262144)")],
    ),
    (
        "command: [true]\ncpus: 0\n",
        &[("2:7", "cpus 0 is out of range")],
    ),
    (
        "command: [true]\ncpus: lots\n",
        &[(
            "2:7",
            "`lots` is not a number of CPUs (write it like `1.5`)",
        )],
    ),
    (
        "command: [true]\ncpus: 1.5\ncpu_quota: 50000\n",
        &[("3:1", "`cpus` conflicts with `cpu_quota` and `cpu_period`")],
    ),
    (
        "command: [true]\ncpu_period: 10\n",
        &[("2:13", "cpu_period must be between 1000us and 1000000us")],
    ),
    (
        "command: [true]\ncpuset: 3-1\n",
        &[("2:9", "`3-1` is a descending range; write `1-3`")],
    ),
    (
        "command: [true]\ncpuset: \"0,x\"\n",
        &[("2:9", "`x` is not a CPU number")],
    ),
    (
        "command: [true]\npids_limit: 0\n",
        &[("2:13", "pids_limit must be at least 1, or -1 for no limit")],
    ),
    (
        "command: [true]\noom_score_adj: 2000\n",
        &[("2:16", "2000 is out of range (-1000 to 1000)")],
    ),
    (
        "command: [true]\nblkio_config:\n  weight: 5\n",
        &[("3:11", "5 is out of range (10 to 1000)")],
    ),
    (
        "command: [true]\nblkio_config:\n  device_read_bps: []\n",
        &[(
            "3:3",
            "`blkio_config.device_read_bps` is not supported by svcd",
        )],
    ),
    (
        "command: [true]\ndevice_cgroup_rules: [\"c 1:3\"]\n",
        &[("2:23", "`c 1:3` is not a device cgroup rule")],
    ),
    (
        "command: [true]\ndevice_cgroup_rules: [\"x 1:3 r\"]\n",
        &[("2:23", "`x` is not a device type")],
    ),
    // --- security ---
    (
        "command: [true]\ncap_add: [NET_RAWW]\n",
        &[(
            "2:11",
            "`NET_RAWW` is not a capability; did you mean `NET_RAW`?",
        )],
    ),
    (
        "command: [true]\ncap_drop: NET_RAW\n",
        &[("2:11", "expected a list, found a string")],
    ),
    (
        "command: [true]\nprivileged: 1\n",
        &[("2:13", "expected `true` or `false`, found a number")],
    ),
    (
        "command: [true]\nsecurity_opt: [\"no-new-privileges:maybe\"]\n",
        &[("2:16", "`no-new-privileges:maybe` is not valid")],
    ),
    (
        "command: [true]\nsecurity_opt: [\"seccomp=/no/such.json\"]\n",
        &[("2:16", "seccomp profile `/no/such.json` does not exist")],
    ),
    (
        "command: [true]\nsecurity_opt: [\"secomp=unconfined\"]\n",
        &[("2:16", "is not a security option; did you mean `seccomp`?")],
    ),
    (
        "command: [true]\nsecurity_opt: [\"label=disable\", \"label=type:x_t\"]\n",
        &[(
            "2:15",
            "`label=disable` conflicts with the other `label=` options",
        )],
    ),
    (
        "command: [true]\nsecurity_opt: [\"label=kind:x\"]\n",
        &[("2:16", "`label=kind:x` is not a label option")],
    ),
    (
        "command: [true]\nsecurity_opt: [\"seccomp=unconfined\", \"seccomp=unconfined\"]\n",
        &[("2:38", "`seccomp` is given twice")],
    ),
    // --- supervision ---
    (
        "command: [true]\nrestart: alway\n",
        &[("2:10", "did you mean `always`?")],
    ),
    (
        "command: [true]\nrestart: on-failure:x\n",
        &[("2:10", "`x` in `on-failure:x` is not a number of retries")],
    ),
    (
        "command: [true]\nrestart: false\n",
        &[("2:10", "expected a string, found a boolean")],
    ),
    (
        "command: [true]\noom_policy: ignore\n",
        &[(
            "2:13",
            "`ignore` is not one of `restart`, `stop` or `continue`",
        )],
    ),
    (
        "command: [true]\nrestart_backoff: {initial: 10s, max: 1s}\n",
        &[("2:18", "`initial` must not exceed `max`")],
    ),
    (
        "command: [true]\nstart_limit: {burst: 0}\n",
        &[("2:22", "0 is out of range (1 to 10000)")],
    ),
    (
        "command: [true]\ndepends_on: [case]\n",
        &[("2:14", "a unit cannot depend on itself")],
    ),
    (
        "command: [true]\ndepends_on:\n  db:\n    condition: service_ready\n",
        &[("4:16", "did you mean `service_healthy`?")],
    ),
    (
        "command: [true]\nhealthcheck:\n  test: [CMD]\n",
        &[
            ("3:9", "healthcheck test must be"),
            ("2:1", "healthcheck needs a `test`"),
        ],
    ),
    (
        "command: [true]\nhealthcheck:\n  test: [CMD, true]\n  intervall: 5s\n",
        &[(
            "4:3",
            "unknown key `intervall` in healthcheck; did you mean `interval`?",
        )],
    ),
    (
        "command: [true]\nlog: {max_files: 0}\n",
        &[("2:18", "0 is out of range (1 to 1000)")],
    ),
    (
        "command: [true]\nlabels: [\"team\"]\n",
        &[("2:10", "`team` in labels has no value")],
    ),
    (
        "command: [true]\nautostart: \"no\"\n",
        &[("2:12", "expected `true` or `false`, found a string")],
    ),
    // --- several problems in one file are all reported ---
    (
        "command: [true]\nmem_limit: lots\ncpus: -1\nrestart: sometimes\nfoo: bar\n",
        &[
            ("2:12", "`lots` is not a size"),
            ("3:7", "cpus -1 is out of range"),
            ("4:10", "`sometimes` is not a restart policy"),
            ("5:1", "unknown key `foo`"),
        ],
    ),
];

#[test]
fn every_malformed_unit_reports_each_error_at_its_place() {
    assert!(CASES.len() >= 40);
    let mut failures = Vec::new();
    for (text, expected) in CASES {
        let parsed = parse_unit(Path::new("case.yaml"), text.as_bytes());
        let (unit, diags) = (parsed.valid(), &parsed.diagnostics);
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| format!("{}: {}", d.pos, d.message))
            .collect();
        let matches = errors.len() == expected.len()
            && errors
                .iter()
                .zip(expected.iter())
                .all(|(got, (pos, msg))| got.starts_with(&format!("{pos}: ")) && got.contains(msg));
        if unit.is_some() || !matches {
            failures.push(format!(
                "--- unit file:\n{text}--- expected: {expected:?}\n--- got: {errors:#?}\n"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn diagnostics_print_file_line_column_and_message() {
    let diags = &parse_unit(
        Path::new("units/web.yaml"),
        b"command: [true]\nmem_limt: 1g\n",
    )
    .diagnostics;
    assert_eq!(
        diags[0].to_string(),
        "units/web.yaml:2:1: unknown key `mem_limt`; did you mean `mem_limit`?"
    );
}

#[test]
fn risky_settings_are_warnings_not_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "privileged: true",
            "privileged: true gives the service every capability",
        ),
        (
            "cap_add: [ALL]",
            "cap_add: ALL gives the service every capability",
        ),
        ("cap_add: [sys_admin]", "SYS_ADMIN is close to full root"),
        (
            "security_opt: [seccomp=unconfined]",
            "without a system call filter",
        ),
        ("userns_mode: host", "runs as root with the host's user ids"),
        (
            "devices: [/dev/mem]",
            "gives raw access to the host's memory",
        ),
        (
            "devices: [\"/dev/sda:/dev/disk:r\"]",
            "gives raw access to a host disk",
        ),
    ];
    for (line, warning) in cases {
        let text = format!("command: [true]\n{line}\n");
        let parsed = parse_unit(Path::new("risky.yaml"), text.as_bytes());
        let (unit, diags) = (parsed.valid(), &parsed.diagnostics);
        assert!(unit.is_some(), "{line}: {diags:?}");
        assert_eq!(diags.len(), 1, "{line}: {diags:?}");
        assert_eq!(diags[0].severity, Severity::Warning, "{line}");
        assert_eq!(diags[0].pos.line, 2, "{line}");
        assert!(
            diags[0].message.contains(warning),
            "{line}: {}",
            diags[0].message
        );
    }
    // A non-root user with the host's ids is not worth a warning.
    let diags = &parse_unit(
        Path::new("ok.yaml"),
        b"command: [true]\nuserns_mode: host\nuser: nobody\n",
    )
    .diagnostics;
    assert!(diags.is_empty(), "{diags:?}");
}
