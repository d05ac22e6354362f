//! Hostile unit files: each gets a clear error or a correct result, within a time and memory
//! bound, and never a panic or a crash. svcctl runs under `ulimit -v`, so a blow-up in memory
//! kills it and fails the test.

mod common;

use std::time::Duration;

use common::{Run, TempDir, run_bounded};

const TIME: Duration = Duration::from_secs(30);
const MEMORY: u64 = 256 << 20;

fn validate(path: &std::path::Path) -> Run {
    let args = ["validate", path.to_str().unwrap()];
    run_bounded(env!("CARGO_BIN_EXE_svcctl"), &args, TIME, MEMORY)
}

/// The run failed validation with exactly `expected` as its one diagnostic line.
fn assert_refused(run: &Run, expected: &str) {
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert_eq!(run.stderr.trim_end(), expected);
}

#[test]
fn billion_laughs_alias_bomb() {
    let dir = TempDir::new("bomb");
    let mut text = String::from(
        "x-lol: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("x-{name}: &{name} [{refs}]\n"));
    }
    text.push_str("command: [true]\n");
    let path = dir.write("bomb.yaml", &text);
    let run = validate(&path);
    assert_eq!(run.code, Some(1));
    let line = run.stderr.trim_end();
    assert!(line.starts_with(&format!("{}:", path.display())), "{line}");
    assert!(
        line.contains("invalid YAML") && line.contains("alias bomb"),
        "{line}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn hundred_megabyte_file() {
    let dir = TempDir::new("huge");
    let path = dir.path().join("huge.yaml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(100 << 20).unwrap();
    let run = validate(&path);
    assert_refused(
        &run,
        &format!(
            "{}:1:1: the file is 100.0 MiB; unit files are limited to 1 MiB",
            path.display()
        ),
    );
}

#[test]
fn ten_thousand_levels_of_nesting() {
    let dir = TempDir::new("deep");
    let flow = dir.write(
        "flow.yaml",
        format!("command: {}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
    );
    // Block sequences nest on one line: `- - - x`.
    let block = dir.write(
        "block.yaml",
        format!("command: [true]\nx:\n{}x\n", "- ".repeat(10_000)),
    );
    for path in [flow, block] {
        let run = validate(&path);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains("invalid YAML"), "{}", run.stderr);
        assert!(run.stderr.contains("limit"), "{}", run.stderr);
    }
}

#[test]
fn invalid_utf8_is_located() {
    let dir = TempDir::new("utf8");
    let path = dir.write("bad.yaml", b"command: [true]\ndescription: caf\xe9\n");
    assert_refused(
        &validate(&path),
        &format!("{}:2:17: the file is not valid UTF-8 text", path.display()),
    );
}

#[test]
fn nul_bytes_are_located() {
    let dir = TempDir::new("nul");
    let path = dir.write("nul.yaml", b"command: [true]\nhostname: a\0b\n");
    assert_refused(
        &validate(&path),
        &format!(
            "{}:2:12: the file holds a NUL byte; unit files are text",
            path.display()
        ),
    );
}

#[test]
fn empty_file() {
    let dir = TempDir::new("empty");
    let path = dir.write("empty.yaml", "");
    assert_refused(
        &validate(&path),
        &format!(
            "{}:1:1: the file is empty: a unit needs at least a `command`",
            path.display()
        ),
    );
}

#[test]
fn a_directory_named_like_a_unit() {
    let dir = TempDir::new("dir");
    let path = dir.path().join("web.yaml");
    std::fs::create_dir(&path).unwrap();
    // Given directly, a directory is a units directory (holding nothing here) ...
    let run = validate(&path);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with("0 valid units"), "{}", run.stdout);
    // ... and inside a units directory, it is an error that names it.
    let run = validate(dir.path());
    assert_refused(
        &run,
        &format!(
            "{}:1:1: this is a directory, not a unit file",
            path.display()
        ),
    );
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = TempDir::new("fifo");
    let path = dir.path().join("pipe.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    assert_refused(
        &validate(dir.path()),
        &format!("{}:1:1: this is not a regular file", path.display()),
    );
}

#[test]
fn ten_thousand_unit_files() {
    let dir = TempDir::new("many");
    for i in 0..10_000 {
        let deps = if i > 0 {
            format!("depends_on: [u{}]\n", i - 1)
        } else {
            String::new()
        };
        dir.write(
            &format!("u{i}.yaml"),
            format!("command: [sleep, \"{i}\"]\nmem_limit: 64m\n{deps}"),
        );
    }
    let run = validate(dir.path());
    assert_eq!(
        run.code,
        Some(0),
        "{}",
        &run.stderr[..run.stderr.len().min(2000)]
    );
    assert_eq!(
        run.stdout.trim_end(),
        "10000 valid units, 0 errors, 0 warnings"
    );
}
