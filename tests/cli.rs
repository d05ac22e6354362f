//! `svcctl validate` and `svcd --dry-run` as a user runs them.

mod common;

use std::process::Command;

use common::TempDir;

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().expect("run binary");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn svcctl(args: &[&str]) -> (i32, String, String) {
    run(env!("CARGO_BIN_EXE_svcctl"), args)
}

const UNITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/units");

#[test]
fn every_example_unit_validates() {
    let (code, stdout, stderr) = svcctl(&["validate", "--strict", UNITS]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
    let count = std::fs::read_dir(UNITS)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count();
    assert!(count >= 8);
    assert_eq!(
        stdout,
        format!("{count} valid units, 0 errors, 0 warnings\n")
    );
}

#[test]
fn a_directory_of_broken_units_lists_every_error_and_exits_1() {
    let dir = TempDir::new("cli-broken");
    dir.write(
        "web.yaml",
        "command: [true]\nmem_limt: 1g\nrestart: alway\n",
    );
    dir.write(
        "db.yaml",
        "command: [true]\ncap_add: [NET_RAWW]\ndepends_on: [cache]\n",
    );
    dir.write("ok.yaml", "command: [true]\n");
    let (code, stdout, stderr) = svcctl(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    let d = dir.path().display();
    let expected = [
        format!("{d}/db.yaml:2:11: `NET_RAWW` is not a capability; did you mean `NET_RAW`?"),
        format!("{d}/db.yaml:3:14: unit `cache` does not exist (no cache.yaml)"),
        format!("{d}/web.yaml:2:1: unknown key `mem_limt`; did you mean `mem_limit`?"),
        format!(
            "{d}/web.yaml:3:10: `alway` is not a restart policy: use `no`, `always`, \
             `on-failure`, `on-failure:N` or `unless-stopped`; did you mean `always`?"
        ),
    ];
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected);
    assert_eq!(stdout, "1 valid unit, 4 errors, 0 warnings\n");
}

#[test]
fn warnings_fail_only_with_strict() {
    let dir = TempDir::new("cli-strict");
    let path = dir.write("risky.yaml", "command: [true]\nprivileged: true\n");
    let path = path.to_str().unwrap();
    let (code, _, stderr) = svcctl(&["validate", path]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{path}:2:1: warning: privileged: true")),
        "{stderr}"
    );
    let (code, stdout, _) = svcctl(&["validate", "--strict", path]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "1 valid unit, 0 errors, 1 warning\n");
}

#[test]
fn a_missing_path_is_an_error() {
    let (code, _, stderr) = svcctl(&["validate", "/no/such/units"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "svcctl: /no/such/units: No such file or directory (os error 2)\n"
    );
}

#[test]
fn svcd_dry_run_prints_the_start_order() {
    let (code, stdout, stderr) = run(env!("CARGO_BIN_EXE_svcd"), &["--units", UNITS, "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let position = |name: &str| {
        stdout
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{stdout}"))
    };
    assert!(position("db") < position("web"), "{stdout}");
    assert!(
        position("ipc-producer") < position("ipc-consumer"),
        "{stdout}"
    );
    assert!(stdout.contains("on request only: batch"), "{stdout}");
}
