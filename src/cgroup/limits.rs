//! A unit's resource limits as the files and values of cgroup v1 and v2.

use crate::unit::{Limit, Resources};

/// One file to write: the controller it belongs to (its v1 hierarchy), its name, its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
    /// The unit key the setting comes from, for errors.
    pub key: &'static str,
}

fn set(
    controller: &'static str,
    file: &'static str,
    value: impl ToString,
    key: &'static str,
) -> Setting {
    Setting {
        controller,
        file,
        value: value.to_string(),
        key,
    }
}

/// The CFS period when the unit gives none: the kernel's default, 100 ms.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// `cpu_shares` as a v2 `cpu.weight`. The curve runs through (2, 1), (1024, 100) and
/// (262144, 10000), so that the v1 default share maps to the v2 default weight:
/// with l = log2(shares), weight = ⌈10^((l² + 125·l) / 612 − 7/34)⌉.
pub fn shares_to_weight(shares: u64) -> u64 {
    let l = (shares.clamp(2, 262_144) as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent) - 1e-9).ceil().clamp(1.0, 10_000.0) as u64
}

/// `blkio_config.weight` (10–1000) as a v2 `io.weight` (1–10000), linearly.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight) - 10) * 9999 / 990
}

/// CPU quota and period in microseconds, from `cpus` or `cpu_quota`/`cpu_period`.
fn cpu_max(r: &Resources) -> Option<(Option<u64>, u64)> {
    let period = r
        .cpu_period
        .map_or(DEFAULT_PERIOD_US, |d| d.as_micros() as u64);
    if let Some(cpus) = r.cpus {
        return Some((Some((cpus * period as f64).round() as u64), period));
    }
    match (r.cpu_quota, r.cpu_period) {
        (Some(Limit::Max(q)), _) => Some((Some(q), period)),
        (Some(Limit::Unlimited), _) | (None, Some(_)) => Some((None, period)),
        (None, None) => None,
    }
}

fn cpuset_text(cpus: &[u32]) -> String {
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `cpuset.cpus` and `pids.max`, which v1 and v2 spell alike.
fn cpuset_and_pids(r: &Resources) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(cpus) = &r.cpuset {
        out.push(set("cpuset", "cpuset.cpus", cpuset_text(cpus), "cpuset"));
    }
    match r.pids_limit {
        Some(Limit::Max(n)) => out.push(set("pids", "pids.max", n, "pids_limit")),
        Some(Limit::Unlimited) => out.push(set("pids", "pids.max", "max", "pids_limit")),
        None => {}
    }
    out
}

/// The settings of cgroup v1.
pub fn v1(r: &Resources) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(m) = r.mem_limit {
        out.push(set("memory", "memory.limit_in_bytes", m, "mem_limit"));
    }
    if let Some(m) = r.mem_reservation {
        out.push(set(
            "memory",
            "memory.soft_limit_in_bytes",
            m,
            "mem_reservation",
        ));
    }
    match (r.memswap_limit, r.mem_limit) {
        (Some(Limit::Max(s)), _) => out.push(set(
            "memory",
            "memory.memsw.limit_in_bytes",
            s,
            "memswap_limit",
        )),
        (Some(Limit::Unlimited), _) => out.push(set(
            "memory",
            "memory.memsw.limit_in_bytes",
            -1,
            "memswap_limit",
        )),
        // As Docker: without memswap_limit, swap may match the memory limit.
        (None, Some(m)) => out.push(set(
            "memory",
            "memory.memsw.limit_in_bytes",
            m * 2,
            "mem_limit",
        )),
        (None, None) => {}
    }
    if let Some(s) = r.cpu_shares {
        out.push(set("cpu", "cpu.shares", s, "cpu_shares"));
    }
    if let Some((quota, period)) = cpu_max(r) {
        out.push(set("cpu", "cpu.cfs_period_us", period, "cpus"));
        out.push(set(
            "cpu",
            "cpu.cfs_quota_us",
            quota.map_or(-1, |q| q as i64),
            "cpus",
        ));
    }
    out.extend(cpuset_and_pids(r));
    if let Some(w) = r.blkio_weight {
        out.push(set("blkio", "blkio.weight", w, "blkio_config"));
    }
    out
}

/// The settings of cgroup v2 (all in one directory; `controller` names what must be enabled).
pub fn v2(r: &Resources) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(m) = r.mem_limit {
        out.push(set("memory", "memory.max", m, "mem_limit"));
    }
    if let Some(m) = r.mem_reservation {
        out.push(set("memory", "memory.low", m, "mem_reservation"));
    }
    match (r.memswap_limit, r.mem_limit) {
        // v2 limits swap alone: the part of memswap_limit beyond mem_limit.
        (Some(Limit::Max(s)), Some(m)) => out.push(set(
            "memory",
            "memory.swap.max",
            s.saturating_sub(m),
            "memswap_limit",
        )),
        (Some(Limit::Unlimited), _) => {
            out.push(set("memory", "memory.swap.max", "max", "memswap_limit"))
        }
        (None, Some(m)) => out.push(set("memory", "memory.swap.max", m, "mem_limit")),
        _ => {}
    }
    if r.mem_limit.is_some() {
        // An OOM kill takes the whole unit, not one of its processes.
        out.push(set("memory", "memory.oom.group", 1, "mem_limit"));
    }
    if let Some(s) = r.cpu_shares {
        out.push(set("cpu", "cpu.weight", shares_to_weight(s), "cpu_shares"));
    }
    if let Some((quota, period)) = cpu_max(r) {
        let q = quota.map_or_else(|| "max".to_owned(), |q| q.to_string());
        out.push(set("cpu", "cpu.max", format!("{q} {period}"), "cpus"));
    }
    out.extend(cpuset_and_pids(r));
    if let Some(w) = r.blkio_weight {
        out.push(set(
            "io",
            "io.weight",
            format!("default {}", blkio_to_io_weight(w)),
            "blkio_config",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shares_map_to_weights_through_the_defaults() {
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert!(shares_to_weight(512) < 100 && shares_to_weight(2048) > 100);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn limits_as_files() {
        let r = Resources {
            mem_limit: Some(256 << 20),
            cpu_shares: Some(1024),
            cpus: Some(0.5),
            pids_limit: Some(Limit::Max(64)),
            cpuset: Some(vec![0, 1]),
            ..Resources::default()
        };
        let v1: Vec<(&str, String)> = v1(&r).into_iter().map(|s| (s.file, s.value)).collect();
        assert!(v1.contains(&("memory.limit_in_bytes", (256u64 << 20).to_string())));
        assert!(v1.contains(&("cpu.cfs_quota_us", "50000".into())));
        assert!(v1.contains(&("cpu.shares", "1024".into())));
        assert!(v1.contains(&("cpuset.cpus", "0,1".into())));
        let v2: Vec<(&str, String)> = v2(&r).into_iter().map(|s| (s.file, s.value)).collect();
        assert!(v2.contains(&("cpu.weight", "100".into())));
        assert!(v2.contains(&("cpu.max", "50000 100000".into())));
        assert!(v2.contains(&("memory.oom.group", "1".into())));
        assert!(v2.contains(&("pids.max", "64".into())));
        let q = Resources {
            cpu_quota: Some(Limit::Max(25_000)),
            cpu_period: Some(Duration::from_millis(50)),
            ..Resources::default()
        };
        let v2q: Vec<String> = super::v2(&q).into_iter().map(|s| s.value).collect();
        assert_eq!(v2q, ["25000 50000"]);
    }
}
