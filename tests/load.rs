//! Rules that span units, checked when a directory of unit files loads.

mod common;

use common::TempDir;
use svcd::unit::Severity;
use svcd::unit::load::{UnitSet, load_paths};

fn load(dir: &TempDir) -> UnitSet {
    load_paths(&[dir.path().to_path_buf()]).expect("load the units directory")
}

/// Every diagnostic as `FILE:LINE:COLUMN: message` with the file name only.
fn messages(set: &UnitSet) -> Vec<String> {
    set.diagnostics
        .iter()
        .map(|d| {
            let file = d.path.file_name().unwrap().to_string_lossy();
            let kind = if d.severity == Severity::Warning {
                "warning: "
            } else {
                ""
            };
            format!("{file}:{}: {kind}{}", d.pos, d.message)
        })
        .collect()
}

fn names(set: &UnitSet) -> Vec<&str> {
    set.units.keys().map(|n| n.as_str()).collect()
}

#[test]
fn two_files_for_one_name_are_both_refused() {
    let dir = TempDir::new("dup");
    dir.write("web.yaml", "command: [true]\n");
    dir.write("web.yml", "command: [false]\n");
    dir.write("db.yaml", "command: [true]\n");
    let set = load(&dir);
    let web_yaml = dir.path().join("web.yaml");
    assert_eq!(
        messages(&set),
        [format!(
            "web.yml:1:1: unit `web` is also defined by {}",
            web_yaml.display()
        )]
    );
    assert_eq!(names(&set), ["db"]);
}

#[test]
fn references_to_missing_units_are_errors_where_written() {
    let dir = TempDir::new("missing");
    dir.write("web.yaml", "command: [true]\ndepends_on: [db, cache]\n");
    dir.write("db.yaml", "command: [true]\n");
    dir.write(
        "probe.yaml",
        "command: [true]\nnetwork_mode: service:ghost\n",
    );
    dir.write(
        "opt.yaml",
        "command: [true]\ndepends_on:\n  ghost:\n    required: false\n",
    );
    let set = load(&dir);
    assert_eq!(
        messages(&set),
        [
            "opt.yaml:3:3: warning: optional dependency `ghost` has no unit file",
            "probe.yaml:2:15: unit `ghost` does not exist (no ghost.yaml)",
            "web.yaml:2:18: unit `cache` does not exist (no cache.yaml)",
        ]
    );
    assert_eq!(names(&set), ["db", "opt"]);
}

#[test]
fn a_reference_to_a_broken_unit_is_not_called_missing() {
    let dir = TempDir::new("broken-dep");
    dir.write("web.yaml", "command: [true]\ndepends_on: [db]\n");
    dir.write("db.yaml", "command: [true]\nmem_limit: lots\n");
    let set = load(&dir);
    assert_eq!(
        messages(&set),
        [
            "db.yaml:2:12: `lots` is not a size: use a number of bytes with an optional unit b, k, m, g, t or p (for example `256m`)"
        ]
    );
    assert_eq!(names(&set), ["web"]);
}

#[test]
fn joining_an_ipc_namespace_needs_a_shareable_one() {
    let dir = TempDir::new("ipc");
    dir.write("producer.yaml", "command: [true]\n");
    dir.write("consumer.yaml", "command: [true]\nipc: service:producer\n");
    dir.write("shared.yaml", "command: [true]\nipc: shareable\n");
    dir.write("reader.yaml", "command: [true]\nipc: service:shared\n");
    let set = load(&dir);
    assert_eq!(
        messages(&set),
        ["consumer.yaml:2:6: `ipc: service:producer` needs `producer` to have `ipc: shareable`"]
    );
    assert_eq!(names(&set), ["producer", "reader", "shared"]);
}

#[test]
fn dependency_cycles_are_printed_and_their_units_dropped() {
    let dir = TempDir::new("cycle");
    dir.write("a.yaml", "command: [true]\ndepends_on: [b]\n");
    dir.write("b.yaml", "command: [true]\ndepends_on: [c]\n");
    dir.write("c.yaml", "command: [true]\npid: service:a\n");
    dir.write("d.yaml", "command: [true]\ndepends_on: [a]\n");
    dir.write("e.yaml", "command: [true]\n");
    let set = load(&dir);
    assert_eq!(
        messages(&set),
        ["a.yaml:2:14: dependency cycle: a -> b -> c -> a"]
    );
    assert_eq!(names(&set), ["d", "e"]);
}

#[test]
fn a_broken_file_never_stops_the_others() {
    let dir = TempDir::new("broken");
    dir.write("bad.yaml", "command: [true\n");
    dir.write("worse.yaml", b"\xff\xfe");
    dir.write("good.yaml", "command: [true]\n");
    std::fs::create_dir(dir.path().join("dir.yaml")).unwrap();
    dir.write("README.md", "not a unit");
    dir.write(".hidden.yaml", "not: [a unit");
    dir.write("bad name!.yaml", "command: [true]\n");
    let set = load(&dir);
    let msgs = messages(&set);
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(
        msgs[0].starts_with("bad name!.yaml:1:1: `bad name!` is not a valid unit name"),
        "{msgs:#?}"
    );
    assert!(
        msgs[1].starts_with("bad.yaml:1:10: invalid YAML"),
        "{msgs:#?}"
    );
    assert_eq!(
        msgs[2],
        "dir.yaml:1:1: this is a directory, not a unit file"
    );
    assert_eq!(msgs[3], "worse.yaml:1:1: the file is not valid UTF-8 text");
    assert_eq!(names(&set), ["good"]);
}

#[test]
fn start_order_puts_what_a_unit_needs_first() {
    let dir = TempDir::new("order");
    dir.write("a-web.yaml", "command: [true]\ndepends_on: [m-db]\n");
    dir.write(
        "b-sidecar.yaml",
        "command: [true]\nnetwork_mode: service:a-web\n",
    );
    dir.write("m-db.yaml", "command: [true]\ndepends_on: [z-disk]\n");
    dir.write("z-disk.yaml", "command: [true]\n");
    let set = load(&dir);
    assert!(!set.has_errors());
    let order: Vec<&str> = set.start_order().iter().map(|u| u.name.as_str()).collect();
    assert_eq!(order, ["z-disk", "m-db", "a-web", "b-sidecar"]);
}
