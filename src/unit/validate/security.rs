//! Capabilities and `security_opt`.

use super::ctx::Ctx;
use crate::unit::file::{Node, Value};
use crate::unit::value::{self, CapabilityName, did_you_mean};
use crate::unit::*;

pub(super) fn capabilities(ctx: &mut Ctx, node: &Node) -> CapabilityList {
    let mut list = CapabilityList::default();
    for item in ctx.list(node).unwrap_or_default() {
        match ctx.parse(item, value::parse_capability) {
            Some(CapabilityName::All) => list.all = true,
            Some(CapabilityName::One(c)) if !list.caps.contains(&c) => list.caps.push(c),
            _ => {}
        }
    }
    list
}

pub(super) fn security_opt(ctx: &mut Ctx, node: &Node, s: &mut Security) {
    const OPTIONS: [&str; 4] = ["no-new-privileges", "seccomp", "apparmor", "label"];
    let mut seen: Vec<&str> = Vec::new();
    for item in ctx.list(node).unwrap_or_default() {
        let Some(text) = ctx.string(item) else {
            continue;
        };
        // Docker accepts both `key=value` and the older `key:value`.
        let (key, value) = match text.find(['=', ':']) {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text.as_str(), None),
        };
        let Some(&key) = OPTIONS.iter().find(|o| **o == key) else {
            let hint = did_you_mean(key, OPTIONS);
            ctx.error(item.pos, format!("`{text}` is not a security option{hint}"));
            continue;
        };
        if key != "label" && seen.contains(&key) {
            ctx.error(item.pos, format!("`{key}` is given twice"));
            continue;
        }
        seen.push(key);
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => s.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => s.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => s.seccomp = Seccomp::Unconfined,
            ("seccomp", Some(path)) if !path.is_empty() => {
                let path_node = Node {
                    pos: item.pos,
                    value: Value::Str(path.to_owned()),
                };
                if let Some(p) = ctx.existing_file(&path_node, "seccomp profile") {
                    s.seccomp = Seccomp::Profile(p);
                }
            }
            ("apparmor", Some(profile)) if !profile.is_empty() => {
                s.apparmor = Some(profile.to_owned())
            }
            ("label", Some(label)) => {
                let l = s.selinux.get_or_insert_with(SelinuxLabel::default);
                let (part, v) = label.split_once(':').unwrap_or((label, ""));
                let slot = match part {
                    "disable" if v.is_empty() => {
                        l.disable = true;
                        continue;
                    }
                    "user" => &mut l.user,
                    "role" => &mut l.role,
                    "type" => &mut l.kind,
                    "level" => &mut l.level,
                    _ => {
                        ctx.error(item.pos, format!("`{text}` is not a label option: use `label=user:U`, `role:R`, `type:T`, `level:L` or `disable`"));
                        continue;
                    }
                };
                if v.is_empty() {
                    ctx.error(item.pos, format!("`{text}` gives no value for `{part}`"));
                } else {
                    *slot = Some(v.to_owned());
                }
            }
            _ => {
                let usage = match key {
                    "no-new-privileges" => {
                        "`no-new-privileges`, `no-new-privileges:true` or `no-new-privileges:false`"
                    }
                    "seccomp" => "`seccomp=PATH` or `seccomp=unconfined`",
                    "apparmor" => "`apparmor=PROFILE`",
                    _ => {
                        "`label=user:U`, `label=role:R`, `label=type:T`, `label=level:L` or `label=disable`"
                    }
                };
                ctx.error(item.pos, format!("`{text}` is not valid: write {usage}"));
            }
        }
    }
    if let Some(l) = &s.selinux
        && l.disable
        && (l.user.is_some() || l.role.is_some() || l.kind.is_some() || l.level.is_some())
    {
        ctx.error(
            node.pos,
            "`label=disable` conflicts with the other `label=` options",
        );
    }
}
