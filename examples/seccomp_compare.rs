//! Compare svcd's default seccomp profile with a profile in Docker's JSON format, for many
//! capability sets: `cargo run --example seccomp_compare -- PROFILE.json`. Prints every
//! system call whose rules differ and exits 1 if any do.

use std::collections::BTreeMap;
use std::process::ExitCode;

use svcd::sandbox::caps::{CapMask, DOCKER_DEFAULT};
use svcd::sandbox::seccomp::profile::{Profile, Resolved, Rule};
use svcd::sandbox::seccomp::{default, read_profile, target};
use svcd::unit::Capability;

/// Rules by system call, in a canonical order.
fn by_syscall(r: &Resolved) -> BTreeMap<String, Vec<Rule>> {
    let mut map: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
    for rule in &r.rules {
        map.entry(rule.syscall.clone())
            .or_default()
            .push(rule.clone());
    }
    for rules in map.values_mut() {
        rules.sort();
        rules.dedup();
    }
    map
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: seccomp_compare PROFILE.json");
        return ExitCode::from(2);
    };
    let theirs: Profile = match read_profile(std::path::Path::new(&path)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let ours = default::profile();
    let docker_default: CapMask = Capability::all()
        .filter(|c| DOCKER_DEFAULT.contains(&c.name()))
        .collect();
    // The default set, nothing, everything, and the default set plus each capability.
    let mut sets = vec![
        ("default".to_owned(), docker_default),
        ("none".into(), CapMask(0)),
        ("all".into(), CapMask::all()),
    ];
    for cap in Capability::all() {
        sets.push((
            format!("default+{}", cap.name()),
            CapMask(docker_default.0 | 1 << cap.0),
        ));
    }
    let mut differences = 0;
    for (label, caps) in &sets {
        let t = target(*caps);
        let (a, b) = (ours.resolve(&t), theirs.resolve(&t));
        if a.default != b.default || a.architectures != b.architectures {
            println!(
                "{label}: default or architectures differ: {:?} {:?} / {:?} {:?}",
                a.default, a.architectures, b.default, b.architectures
            );
            differences += 1;
        }
        let (a, b) = (by_syscall(&a), by_syscall(&b));
        for name in a
            .keys()
            .chain(b.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if a.get(name) != b.get(name) {
                println!(
                    "{label}: {name}: svcd {:?} / profile {:?}",
                    a.get(name),
                    b.get(name)
                );
                differences += 1;
            }
        }
    }
    println!(
        "{} capability sets compared, {differences} differences",
        sets.len()
    );
    if differences == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
