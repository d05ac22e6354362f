//! Namespaces: which are private, shared or joined, ids, hostnames and sysctls.

use super::ctx::{Ctx, quote_list};
use super::process::key_value_entries;
use crate::unit::file::{Node, Value};
use crate::unit::value::did_you_mean;
use crate::unit::*;

/// The name after `service:`, checked as a unit name.
pub(super) fn service_ref(ctx: &mut Ctx, node: &Node, name: &str) -> Option<UnitRef> {
    match UnitName::new(name) {
        Ok(n) if n.as_str() == ctx.unit_stem() => {
            ctx.error(node.pos, "a unit cannot join its own namespace");
            None
        }
        Ok(name) => Some(UnitRef {
            name,
            pos: node.pos,
        }),
        Err(msg) => {
            ctx.error(node.pos, msg);
            None
        }
    }
}

/// A namespace setting: one of a key's own words, or `service:NAME`.
enum Mode<'w> {
    Word(&'w str),
    Service(UnitRef),
}

fn mode<'w>(ctx: &mut Ctx, node: &Node, key: &str, words: &[&'w str]) -> Option<Mode<'w>> {
    let text = ctx.string(node)?;
    if let Some(word) = words.iter().find(|w| **w == text) {
        return Some(Mode::Word(word));
    }
    if let Some(name) = text.strip_prefix("service:") {
        return service_ref(ctx, node, name).map(Mode::Service);
    }
    let mut all = words.to_vec();
    all.push("service:NAME");
    let hint = match text.strip_prefix("container:") {
        Some(name) => format!("; svcd has services, not containers: write `service:{name}`"),
        None => did_you_mean(&text, all.iter().copied()),
    };
    let msg = format!(
        "`{text}` is not a valid {key}: use {}{hint}",
        quote_list(&all)
    );
    ctx.error(node.pos, msg);
    None
}

/// `private`, `host` or `service:NAME` (and `none` for the network: a private one).
pub(super) fn share(ctx: &mut Ctx, node: &Node, key: &str, is_network: bool) -> Option<Share> {
    let words: &[&str] = if is_network {
        &["none", "private", "host"]
    } else {
        &["private", "host"]
    };
    Some(match mode(ctx, node, key, words)? {
        Mode::Word("host") => Share::Host,
        Mode::Word(_) => Share::Private,
        Mode::Service(r) => Share::Service(r),
    })
}

pub(super) fn ipc(ctx: &mut Ctx, node: &Node) -> Option<Ipc> {
    Some(
        match mode(ctx, node, "ipc", &["private", "shareable", "host"])? {
            Mode::Word("host") => Ipc::Host,
            Mode::Word("shareable") => Ipc::Shareable,
            Mode::Word(_) => Ipc::Private,
            Mode::Service(r) => Ipc::Service(r),
        },
    )
}

/// A hostname or domain name: dot-separated labels of letters, digits and `-`, at most 64 bytes
/// (the kernel's limit for both).
pub(super) fn hostname(text: &str, what: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if text.len() <= 64 && text.split('.').all(label_ok) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a valid {what}: use letters, digits and `-` in dot-separated parts, at most 64 characters"
        ))
    }
}

pub(super) fn user_namespace(ctx: &mut Ctx, node: &Node) -> Option<UserNamespace> {
    if let Value::Str(s) = &node.value {
        if s == "auto" {
            return Some(UserNamespace::Auto);
        }
        ctx.error(
            node.pos,
            format!("`{s}` is not a user_namespace: use `auto`, or `uid_map` and `gid_map` lists"),
        );
        return None;
    }
    let mut uid_map = None;
    let mut gid_map = None;
    for (k, v) in ctx.fields(node, "user_namespace", &["uid_map", "gid_map"]) {
        let map = id_map(ctx, v, k);
        if k == "uid_map" {
            uid_map = map
        } else {
            gid_map = map
        }
    }
    let Some(uid_map) = uid_map else {
        if !ctx.diags.iter().any(|d| d.severity == Severity::Error) {
            ctx.error(
                node.pos,
                "user_namespace needs a `uid_map` (or the value `auto`)",
            );
        }
        return None;
    };
    // Without a gid_map, groups are mapped like users.
    let gid_map = gid_map.unwrap_or_else(|| uid_map.clone());
    Some(UserNamespace::Map { uid_map, gid_map })
}

pub(super) fn id_map(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Vec<IdMap>> {
    // The kernel accepts at most 340 lines in a uid_map or gid_map.
    const MAX_LINES: usize = 340;
    let items = ctx.list(node)?;
    if items.is_empty() || items.len() > MAX_LINES {
        ctx.error(node.pos, format!("{what} needs 1 to {MAX_LINES} entries"));
        return None;
    }
    let mut maps = Vec::new();
    for item in items {
        const FIELDS: [&str; 3] = ["container_id", "host_id", "size"];
        let entries = ctx.fields(item, what, &FIELDS);
        if matches!(item.value, Value::Map(_)) && entries.len() < FIELDS.len() {
            let msg = format!("each {what} entry needs `container_id`, `host_id` and `size`");
            ctx.error(item.pos, msg);
            return None;
        }
        let mut fields = [None; 3];
        for (k, v) in entries {
            let i = FIELDS.iter().position(|n| *n == k).unwrap_or(0);
            let min = u32::from(k == "size");
            fields[i] = ctx.int(v, min, u32::MAX - 1);
        }
        let [Some(container_id), Some(host_id), Some(size)] = fields else {
            return None;
        };
        for (start, name) in [(container_id, "container_id"), (host_id, "host_id")] {
            if u64::from(start) + u64::from(size) > u64::from(u32::MAX) {
                ctx.error(
                    item.pos,
                    format!("{name} {start} + size {size} goes past the largest id"),
                );
                return None;
            }
        }
        maps.push(IdMap {
            container_id,
            host_id,
            size,
        });
    }
    for (key, get) in [
        (
            "container",
            (|m: &IdMap| m.container_id) as fn(&IdMap) -> u32,
        ),
        ("host", |m: &IdMap| m.host_id),
    ] {
        let mut sorted = maps.clone();
        sorted.sort_by_key(get);
        if let Some(pair) = sorted
            .windows(2)
            .find(|w| get(&w[0]) + w[0].size > get(&w[1]))
        {
            ctx.error(
                node.pos,
                format!("{what} entries overlap in {key} ids at {}", get(&pair[1])),
            );
            return None;
        }
    }
    Some(maps)
}

pub(super) enum SysctlNs {
    Ipc,
    Net,
}

/// The namespace a sysctl belongs to; `None` for those that are the whole host's.
pub(super) fn sysctl_namespace(name: &str) -> Option<SysctlNs> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&name) || name.starts_with("fs.mqueue.") {
        Some(SysctlNs::Ipc)
    } else if name.starts_with("net.") {
        Some(SysctlNs::Net)
    } else {
        None
    }
}

pub(super) fn sysctls(ctx: &mut Ctx, node: &Node) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (pos, name, value) in key_value_entries(ctx, node, "sysctls") {
        let Some(value) = value else {
            ctx.error(pos, format!("sysctl `{name}` has no value"));
            continue;
        };
        if matches!(name.as_str(), "kernel.hostname" | "kernel.domainname") {
            let key = name.trim_start_matches("kernel.");
            ctx.error(
                pos,
                format!("set `{key}` with the `{key}` key, not as a sysctl"),
            );
        } else if sysctl_namespace(&name).is_none() {
            ctx.error(
                pos,
                format!(
                    "sysctl `{name}` is not namespaced: setting it would change the whole host"
                ),
            );
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            ctx.error(pos, format!("`{name}` is not a valid sysctl name"));
        } else {
            out.push((name, value));
        }
    }
    out
}
