//! Restarts, dependencies, health checks and logs.

use super::ctx::{Ctx, quote_list};
use super::set;
use crate::unit::file::{Node, Pos, Value};
use crate::unit::value::did_you_mean;
use crate::unit::*;
use std::time::Duration;

/// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
pub(super) fn parse_restart(text: &str) -> Result<Restart, String> {
    match text {
        "no" => Ok(Restart::No),
        "always" => Ok(Restart::Always),
        "unless-stopped" => Ok(Restart::UnlessStopped),
        "on-failure" => Ok(Restart::OnFailure(None)),
        _ => {
            if let Some(n) = text.strip_prefix("on-failure:") {
                return n
                    .parse()
                    .map(|n| Restart::OnFailure(Some(n)))
                    .map_err(|_| format!("`{n}` in `{text}` is not a number of retries"));
            }
            let words = [
                "no",
                "always",
                "on-failure",
                "on-failure:N",
                "unless-stopped",
            ];
            Err(format!(
                "`{text}` is not a restart policy: use {}{}",
                quote_list(&words),
                did_you_mean(text, words)
            ))
        }
    }
}

pub(super) fn backoff(ctx: &mut Ctx, node: &Node) -> Option<Backoff> {
    let mut b = Backoff::default();
    for (k, v) in ctx.fields(node, "restart_backoff", &["initial", "max", "reset_after"]) {
        let slot = match k {
            "initial" => &mut b.initial,
            "max" => &mut b.max,
            _ => &mut b.reset_after,
        };
        set(slot, ctx.duration(v));
    }
    if b.initial > b.max {
        ctx.error(node.pos, "restart_backoff: `initial` must not exceed `max`");
        return None;
    }
    Some(b)
}

pub(super) fn start_limit(ctx: &mut Ctx, node: &Node) -> Option<StartLimit> {
    let mut l = StartLimit::default();
    for (k, v) in ctx.fields(node, "start_limit", &["burst", "interval"]) {
        if k == "burst" {
            set(&mut l.burst, ctx.int(v, 1u32, 10_000));
        } else {
            set(&mut l.interval, ctx.duration(v));
        }
    }
    Some(l)
}

pub(super) fn log_config(ctx: &mut Ctx, node: &Node) -> Option<LogConfig> {
    let mut l = LogConfig::default();
    for (k, v) in ctx.fields(node, "log", &["max_size", "max_files"]) {
        if k == "max_size" {
            set(&mut l.max_size, ctx.size(v));
        } else {
            set(&mut l.max_files, ctx.int(v, 1u32, 1000));
        }
    }
    Some(l)
}

pub(super) fn depends_on(ctx: &mut Ctx, node: &Node) -> Vec<Dependency> {
    let mut deps = Vec::new();
    let mut add =
        |ctx: &mut Ctx, name: &str, pos: Pos, condition, restart, required| match UnitName::new(
            name,
        ) {
            Ok(n) if n.as_str() == ctx.unit_stem() => {
                ctx.error(pos, "a unit cannot depend on itself")
            }
            Ok(n) => deps.push(Dependency {
                unit: UnitRef { name: n, pos },
                condition,
                restart,
                required,
            }),
            Err(msg) => ctx.error(pos, msg),
        };
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                if let Some(name) = ctx.string(item) {
                    add(ctx, &name, item.pos, Condition::ServiceStarted, false, true);
                }
            }
        }
        Value::Map(_) => {
            for (name, pos, v) in ctx.map_entries(node, "depends_on") {
                let mut condition = Condition::ServiceStarted;
                let (mut restart, mut required) = (false, true);
                for (k, n) in ctx.fields(
                    v,
                    &format!("depends_on.{name}"),
                    &["condition", "restart", "required"],
                ) {
                    match k {
                        "condition" => {
                            let choices = [
                                ("service_started", Condition::ServiceStarted),
                                ("service_healthy", Condition::ServiceHealthy),
                                (
                                    "service_completed_successfully",
                                    Condition::ServiceCompletedSuccessfully,
                                ),
                            ];
                            set(&mut condition, ctx.choice(n, &choices));
                        }
                        "restart" => set(&mut restart, ctx.bool(n)),
                        _ => set(&mut required, ctx.bool(n)),
                    }
                }
                add(ctx, name, pos, condition, restart, required);
            }
        }
        _ => {
            ctx.expected::<()>(node, "a list of unit names or a mapping");
        }
    }
    deps
}

pub(super) fn healthcheck(ctx: &mut Ctx, node: &Node) -> Option<Healthcheck> {
    let keys = [
        "test",
        "interval",
        "timeout",
        "retries",
        "start_period",
        "start_interval",
        "disable",
    ];
    let mut h = Healthcheck {
        test: Vec::new(),
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(30),
        retries: 3,
        start_period: Duration::ZERO,
        start_interval: Duration::from_secs(5),
    };
    let mut disabled = false;
    for (k, v) in ctx.fields(node, "healthcheck", &keys) {
        match k {
            "test" => match health_test(ctx, v) {
                Some(None) => disabled = true,
                Some(Some(test)) => h.test = test,
                None => {}
            },
            "interval" => set(&mut h.interval, ctx.duration(v)),
            "timeout" => set(&mut h.timeout, ctx.duration(v)),
            "start_period" => set(&mut h.start_period, ctx.duration(v)),
            "start_interval" => set(&mut h.start_interval, ctx.duration(v)),
            "retries" => set(&mut h.retries, ctx.int(v, 1u32, 1000)),
            _ => disabled |= ctx.bool(v).unwrap_or(false),
        }
    }
    if disabled { None } else { Some(h) }
}

/// The probe command: `[CMD, args…]`, `[CMD-SHELL, "cmd"]`, a string (run by the shell), or
/// `[NONE]` (`Some(None)`: the check is disabled).
pub(super) fn health_test(ctx: &mut Ctx, node: &Node) -> Option<Option<Vec<String>>> {
    let shell = |cmd: String| vec!["/bin/sh".to_owned(), "-c".to_owned(), cmd];
    match &node.value {
        Value::Str(s) => Some(Some(shell(s.clone()))),
        Value::Seq(items) => {
            let words: Vec<String> = items.iter().filter_map(|i| ctx.scalar_text(i)).collect();
            match words.split_first() {
                Some((first, rest)) if first == "CMD" && !rest.is_empty() => {
                    Some(Some(rest.to_vec()))
                }
                Some((first, [cmd])) if first == "CMD-SHELL" => Some(Some(shell(cmd.clone()))),
                Some((first, [])) if first == "NONE" => Some(None),
                _ => {
                    ctx.error(node.pos, "healthcheck test must be `[CMD, program, args…]`, `[CMD-SHELL, \"command\"]`, `[NONE]` or a command string");
                    None
                }
            }
        }
        _ => ctx.expected(node, "a list or a command string"),
    }
}
