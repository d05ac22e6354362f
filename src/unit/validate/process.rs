//! What runs: the command, its environment, user-independent process settings and limits.

use super::ctx::Ctx;
use super::set;
use crate::unit::file::{Node, Pos, Value};
use crate::unit::value::{self, did_you_mean};
use crate::unit::*;

/// `command`/`entrypoint`: a list, or a string split as a shell would split it.
pub(super) fn argv(ctx: &mut Ctx, node: &Node, empty_ok: bool) -> Option<Vec<String>> {
    let words = match &node.value {
        Value::Str(_) => ctx.parse(node, value::split_command)?,
        Value::Seq(items) => items.iter().filter_map(|i| ctx.scalar_text(i)).collect(),
        Value::Null if empty_ok => Vec::new(),
        _ => return ctx.expected(node, "a list of arguments or a command string"),
    };
    if words.is_empty() && !empty_ok {
        ctx.error(node.pos, "the command is empty");
        return None;
    }
    Some(words)
}

/// `KEY: value` maps or `KEY=value` lists, as `environment`, `labels` and `sysctls` take them.
/// A list item without `=` has no value.
pub(super) fn key_value_entries(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
) -> Vec<(Pos, String, Option<String>)> {
    match &node.value {
        Value::Map(_) => ctx
            .map_entries(node, what)
            .into_iter()
            .map(|(k, pos, v)| {
                let value = match v.value {
                    Value::Null => None,
                    _ => ctx.scalar_text(v),
                };
                (pos, k.to_owned(), value)
            })
            .collect(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| {
                let text = ctx.string(item)?;
                Some(match text.split_once('=') {
                    Some((k, v)) => (item.pos, k.to_owned(), Some(v.to_owned())),
                    None => (item.pos, text, None),
                })
            })
            .collect(),
        _ => {
            ctx.expected::<()>(node, "a mapping or a list of `KEY=value`");
            Vec::new()
        }
    }
}

/// Labels and the like: every entry needs a value.
pub(super) fn key_values(ctx: &mut Ctx, node: &Node, what: &str) -> Vec<(String, String)> {
    key_value_entries(ctx, node, what)
        .into_iter()
        .filter_map(|(pos, k, v)| match v {
            Some(v) => Some((k, v)),
            None => {
                ctx.error(
                    pos,
                    format!("`{k}` in {what} has no value (write `{k}=value`)"),
                );
                None
            }
        })
        .collect()
}

pub(super) fn environment(ctx: &mut Ctx, node: &Node) -> Vec<(String, Option<String>)> {
    key_value_entries(ctx, node, "environment")
        .into_iter()
        .filter_map(|(pos, k, v)| {
            if k.is_empty() || k.contains(['=', '\0']) {
                ctx.error(
                    pos,
                    format!("`{k}` is not a valid environment variable name"),
                );
                return None;
            }
            if v.as_deref().is_some_and(|v| v.contains('\0')) {
                ctx.error(pos, format!("the value of `{k}` holds a NUL byte"));
                return None;
            }
            Some((k, v))
        })
        .collect()
}

pub(super) fn env_files(ctx: &mut Ctx, node: &Node) -> Vec<EnvFile> {
    let mut files = Vec::new();
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    for item in items {
        let (path_node, required) = match &item.value {
            Value::Map(_) => {
                let mut path = None;
                let mut required = true;
                for (k, v) in ctx.fields(item, "env_file", &["path", "required"]) {
                    match k {
                        "path" => path = Some(v),
                        _ => set(&mut required, ctx.bool(v)),
                    }
                }
                let Some(path) = path else {
                    ctx.error(item.pos, "env_file entry needs a `path`");
                    continue;
                };
                (path, required)
            }
            _ => (item, true),
        };
        let path = if required {
            ctx.existing_file(path_node, "env_file")
        } else {
            ctx.host_path(path_node)
        };
        if let Some(path) = path {
            files.push(EnvFile { path, required });
        }
    }
    files
}

/// The `RLIMIT_*` resources `ulimits` may name.
pub(super) const ULIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

pub(super) fn ulimits(ctx: &mut Ctx, node: &Node) -> Vec<Ulimit> {
    let mut out = Vec::new();
    for (name, pos, v) in ctx.map_entries(node, "ulimits") {
        if !ULIMITS.contains(&name) {
            let hint = did_you_mean(name, ULIMITS.iter().copied());
            ctx.error(pos, format!("`{name}` is not a resource limit{hint}"));
            continue;
        }
        let limit = |ctx: &mut Ctx, n: &Node| -> Option<Option<u64>> {
            match n.value {
                Value::Int(-1) => Some(None),
                _ => ctx.int(n, 0, i64::MAX).map(|v| Some(v as u64)),
            }
        };
        let (soft, hard) = match &v.value {
            Value::Map(_) => {
                let (mut soft, mut hard) = (None, None);
                for (k, n) in ctx.fields(v, &format!("ulimits.{name}"), &["soft", "hard"]) {
                    let l = limit(ctx, n);
                    if k == "soft" { soft = l } else { hard = l }
                }
                match (soft, hard) {
                    (Some(s), Some(h)) => (s, h),
                    _ => {
                        ctx.error(
                            v.pos,
                            format!("ulimits.{name} needs both `soft` and `hard`"),
                        );
                        continue;
                    }
                }
            }
            _ => match limit(ctx, v) {
                Some(l) => (l, l),
                None => continue,
            },
        };
        if let (Some(s), Some(h)) = (soft, hard) {
            if s > h {
                ctx.error(
                    v.pos,
                    format!("ulimits.{name}: soft limit {s} exceeds hard limit {h}"),
                );
                continue;
            }
        } else if soft.is_none() && hard.is_some() {
            ctx.error(
                v.pos,
                format!("ulimits.{name}: an unlimited soft limit exceeds the hard limit"),
            );
            continue;
        }
        out.push(Ulimit {
            name: name.to_owned(),
            soft,
            hard,
        });
    }
    out
}
