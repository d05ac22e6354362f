//! CPU and block I/O limits whose syntax needs more than a number.

use super::ctx::Ctx;
use crate::unit::file::{Node, Value};
use crate::unit::value::{self, did_you_mean};
use crate::unit::*;
use std::time::Duration;

pub(super) fn cpus(ctx: &mut Ctx, node: &Node) -> Option<f64> {
    let n = match &node.value {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        Value::Str(s) => match s.trim().parse::<f64>() {
            Ok(f) => f,
            Err(_) => {
                ctx.error(
                    node.pos,
                    format!("`{s}` is not a number of CPUs (write it like `1.5`)"),
                );
                return None;
            }
        },
        _ => return ctx.expected(node, "a number of CPUs, like `1.5`"),
    };
    // 0.01 CPU is the finest quota Docker allows (1 ms in a 100 ms period).
    if !(0.01..=8192.0).contains(&n) {
        ctx.error(
            node.pos,
            format!("cpus {n} is out of range (0.01 to the number of CPUs)"),
        );
        return None;
    }
    Some(n)
}

/// A time in microseconds, written as a number of µs (as Compose) or as a duration.
pub(super) fn microseconds(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    min_us: u64,
    max_us: u64,
) -> Option<Duration> {
    let d = match node.value {
        Value::Int(i) if i >= 0 => Duration::from_micros(i as u64),
        Value::Int(_) => return ctx.expected(node, &format!("a positive {what}")),
        _ => ctx.parse(node, value::parse_duration)?,
    };
    let us = d.as_micros();
    if us < u128::from(min_us) || us > u128::from(max_us) {
        ctx.error(
            node.pos,
            format!("{what} must be between {min_us}us and {max_us}us"),
        );
        return None;
    }
    Some(d)
}

pub(super) fn cpu_quota(ctx: &mut Ctx, node: &Node) -> Option<Limit> {
    match node.value {
        Value::Int(-1) => Some(Limit::Unlimited),
        _ => microseconds(ctx, node, "cpu_quota", 1_000, u64::MAX / 1_000)
            .map(|d| Limit::Max(d.as_micros() as u64)),
    }
}

pub(super) fn blkio(ctx: &mut Ctx, node: &Node) -> Option<u16> {
    const LATER: &[&str] = &[
        "weight_device",
        "device_read_bps",
        "device_write_bps",
        "device_read_iops",
        "device_write_iops",
    ];
    let mut weight = None;
    for (k, pos, v) in ctx.map_entries(node, "blkio_config") {
        match k {
            "weight" => weight = ctx.int(v, 10u16, 1000),
            _ if LATER.contains(&k) => ctx.error(
                pos,
                format!("`blkio_config.{k}` is not supported by svcd: only `weight` is"),
            ),
            _ => {
                let hint = did_you_mean(k, ["weight"]);
                ctx.error(pos, format!("unknown key `{k}` in blkio_config{hint}"));
            }
        }
    }
    weight
}
