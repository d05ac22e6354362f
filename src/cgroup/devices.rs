//! Which devices a unit may use: Docker's default allow list, the unit's `devices` and
//! `device_cgroup_rules`, or everything when privileged.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use crate::unit::Unit;
use crate::unit::value::{DeviceAccess, DeviceRule, DeviceType, parse_device_rule};

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

/// Every rule that allows a device, after everything is denied.
pub fn rules(unit: &Unit) -> Vec<DeviceRule> {
    let texts: &[&str] = if unit.security.privileged {
        &["a *:* rwm"]
    } else {
        DEFAULT_RULES
    };
    let mut rules: Vec<DeviceRule> = texts
        .iter()
        .filter_map(|r| parse_device_rule(r).ok())
        .collect();
    if !unit.security.privileged {
        rules.extend(
            unit.filesystem
                .devices
                .iter()
                .filter_map(|d| node_rule(&d.host, d.access)),
        );
        rules.extend(unit.resources.device_cgroup_rules.iter().cloned());
    }
    rules
}
