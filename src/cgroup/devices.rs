//! Which devices a unit may use: Docker's default allow list, the unit's `devices` and
//! `device_cgroup_rules`, or everything when privileged.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use crate::unit::Unit;
use crate::unit::value::{DeviceAccess, DeviceRule, DeviceType};

/// Docker's default rules: mknod of any node, and the nodes of a minimal /dev.
pub const DEFAULT_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",    // null
    "c 1:5 rwm",    // zero
    "c 1:7 rwm",    // full
    "c 1:8 rwm",    // random
    "c 1:9 rwm",    // urandom
    "c 5:0 rwm",    // tty
    "c 5:2 rwm",    // ptmx
    "c 136:* rwm",  // pts
    "c 10:200 rwm", // tun
];

fn access_text(a: DeviceAccess) -> String {
    [(a.read, 'r'), (a.write, 'w'), (a.mknod, 'm')]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect()
}

/// A rule in the syntax of v1's `devices.allow`.
pub fn rule_text(r: &DeviceRule) -> String {
    let kind = match r.kind {
        DeviceType::All => 'a',
        DeviceType::Char => 'c',
        DeviceType::Block => 'b',
    };
    let num = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
    format!(
        "{kind} {}:{} {}",
        num(r.major),
        num(r.minor),
        access_text(r.access)
    )
}

/// The rule for a host device node, with the access the unit gives it.
pub fn node_rule(host: &str, access: DeviceAccess) -> Option<DeviceRule> {
    let meta = std::fs::metadata(host).ok()?;
    let kind = if meta.file_type().is_char_device() {
        DeviceType::Char
    } else if meta.file_type().is_block_device() {
        DeviceType::Block
    } else {
        return None;
    };
    let rdev = meta.rdev();
    Some(DeviceRule {
        kind,
        major: Some(nix::sys::stat::major(rdev) as u32),
        minor: Some(nix::sys::stat::minor(rdev) as u32),
        access,
    })
}

/// Every rule to allow, in v1 syntax, after denying everything.
pub fn v1_rules(unit: &Unit) -> Vec<String> {
    if unit.security.privileged {
        return vec!["a *:* rwm".into()];
    }
    let mut rules: Vec<String> = DEFAULT_RULES.iter().map(|r| r.to_string()).collect();
    for d in &unit.filesystem.devices {
        if let Some(rule) = node_rule(&d.host, d.access) {
            rules.push(rule_text(&rule));
        }
    }
    rules.extend(unit.resources.device_cgroup_rules.iter().map(rule_text));
    rules
}
