//! The unit file language: the validated model of one service.

pub mod file;
pub mod load;
pub mod validate;
pub mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use file::Pos;
pub use value::{Capability, DeviceMapping, DeviceRule, IdOrName, UserSpec};

/// A unit's name: the file stem, `[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitName(String);

impl UnitName {
    pub fn new(name: &str) -> Result<UnitName, String> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok =
            chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'));
        if first_ok && rest_ok && name.len() <= 64 {
            Ok(UnitName(name.to_owned()))
        } else {
            Err(format!(
                "`{name}` is not a valid unit name: it must start with a letter or digit, hold only \
                 letters, digits, `_`, `.`, `@`, `-`, and be at most 64 characters"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to another unit, with where it was written (for cross-unit errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitRef {
    pub name: UnitName,
    pub pos: Pos,
}

/// One validated service.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    pub name: UnitName,
    /// The file the unit was read from.
    pub path: PathBuf,
    pub description: Option<String>,
    pub autostart: bool,
    pub labels: BTreeMap<String, String>,
    pub process: Process,
    pub filesystem: Filesystem,
    pub namespaces: Namespaces,
    pub resources: Resources,
    pub security: Security,
    pub supervision: Supervision,
}

/// What runs and in what environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Process {
    /// The program and its first arguments; `command` follows.
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
    /// `KEY=value` pairs; a `None` value passes svcd's own value of `KEY`, if it has one.
    pub environment: Vec<(String, Option<String>)>,
    pub env_files: Vec<EnvFile>,
    pub working_dir: Option<PathBuf>,
    pub user: Option<UserSpec>,
    pub group_add: Vec<IdOrName>,
    pub init: bool,
    pub stop_signal: i32,
    pub stop_grace_period: Duration,
    pub ulimits: Vec<Ulimit>,
}

impl Process {
    /// What runs: `entrypoint` followed by `command`; never empty in a valid unit.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint
            .iter()
            .chain(&self.command)
            .cloned()
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFile {
    pub path: PathBuf,
    pub required: bool,
}

/// A resource limit (`setrlimit`); `None` is unlimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ulimit {
    /// The `RLIMIT_*` resource, in lower case without the prefix (`nofile`).
    pub name: String,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// What the service sees of the file system.
#[derive(Clone, Debug, PartialEq)]
pub struct Filesystem {
    /// The directory to pivot into; `None` is the host's root.
    pub rootfs: Option<PathBuf>,
    pub read_only: bool,
    pub volumes: Vec<Volume>,
    pub tmpfs: Vec<Tmpfs>,
    pub shm_size: Option<u64>,
    pub devices: Vec<DeviceMapping>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Absolute host path (relative paths are resolved against the unit file's directory).
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
    pub propagation: Option<Propagation>,
    /// Create a missing source directory (the short form does, as Docker's `-v`).
    pub create_host_path: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Private,
    RPrivate,
    Shared,
    RShared,
    Slave,
    RSlave,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tmpfs {
    pub target: PathBuf,
    pub size: Option<u64>,
    pub mode: Option<u32>,
    /// Mount flags other than size and mode, as written (`noexec`, `nosuid`, `ro`, …).
    pub flags: Vec<String>,
}

/// Namespace settings: which are private, shared with the host or joined from another unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Namespaces {
    pub pid: Share,
    pub ipc: Ipc,
    pub network: Share,
    pub uts: Share,
    pub cgroup: Share,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: UserNamespace,
    /// Namespaced kernel parameters, written in the unit's namespaces.
    pub sysctls: Vec<(String, String)>,
}

/// A namespace that is the unit's own, the host's, or another unit's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Share {
    Private,
    Host,
    Service(UnitRef),
}

/// The IPC namespace: a [`Share`], or private and joinable by other units (`shareable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ipc {
    Private,
    Shareable,
    Host,
    Service(UnitRef),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserNamespace {
    /// No user namespace: ids are the host's (the default, and `userns_mode: host`).
    Host { explicit: bool },
    /// Explicit maps.
    Map {
        uid_map: Vec<IdMap>,
        gid_map: Vec<IdMap>,
    },
    /// A private 65536-id range allocated from `/etc/subuid` and `/etc/subgid`.
    Auto,
}

/// One line of `uid_map`/`gid_map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// Cgroup limits.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resources {
    pub mem_limit: Option<u64>,
    pub mem_reservation: Option<u64>,
    pub memswap_limit: Option<Limit>,
    pub oom_score_adj: Option<i32>,
    pub cpu_shares: Option<u64>,
    pub cpus: Option<f64>,
    /// Microseconds of CPU per period; `None` in the limit means no quota.
    pub cpu_quota: Option<Limit>,
    pub cpu_period: Option<Duration>,
    pub cpuset: Option<Vec<u32>>,
    pub pids_limit: Option<Limit>,
    pub blkio_weight: Option<u16>,
    pub device_cgroup_rules: Vec<DeviceRule>,
}

/// A limit that may be lifted explicitly (written as `-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Unlimited,
    Max(u64),
}

/// Privileges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Security {
    pub privileged: bool,
    pub cap_add: CapabilityList,
    pub cap_drop: CapabilityList,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    pub apparmor: Option<String>,
    pub selinux: Option<SelinuxLabel>,
}

/// `cap_add` or `cap_drop`: `ALL`, and/or named capabilities.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CapabilityList {
    pub all: bool,
    pub caps: Vec<Capability>,
}

impl CapabilityList {
    pub fn contains(&self, cap: Capability) -> bool {
        self.all || self.caps.contains(&cap)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seccomp {
    /// svcd's default profile (Docker's behaviour for the unit's capabilities).
    Default,
    Unconfined,
    /// A profile in Docker's JSON format.
    Profile(PathBuf),
}

/// `label=` options: an SELinux context to run the service in, or labelling turned off.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SelinuxLabel {
    pub disable: bool,
    pub user: Option<String>,
    pub role: Option<String>,
    pub kind: Option<String>,
    pub level: Option<String>,
}

/// Restarts, dependencies, health and logs.
#[derive(Clone, Debug, PartialEq)]
pub struct Supervision {
    pub restart: Restart,
    pub oom_policy: OomPolicy,
    pub restart_backoff: Backoff,
    pub start_limit: StartLimit,
    pub depends_on: Vec<Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub notify: bool,
    pub log: LogConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    No,
    Always,
    /// Restart after a failure, at most this many times in a row (`None`: without limit).
    OnFailure(Option<u32>),
    UnlessStopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OomPolicy {
    Restart,
    Stop,
    Continue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// The backoff starts over once the unit has stayed up this long.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartLimit {
    pub burst: u32,
    pub interval: Duration,
}

impl Default for StartLimit {
    fn default() -> Self {
        StartLimit {
            burst: 5,
            interval: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub unit: UnitRef,
    pub condition: Condition,
    /// Restart this unit when the dependency restarts.
    pub restart: bool,
    /// When false, a missing or failed dependency is tolerated.
    pub required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthcheck {
    /// The probe's argv; `CMD-SHELL` is turned into `/bin/sh -c …`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub start_interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub max_size: u64,
    pub max_files: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_size: 10 << 20,
            max_files: 5,
        }
    }
}

/// One problem found in a unit file, at a place in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    /// A risky but valid setting; fails only under `svcctl validate --strict`.
    Warning,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}: {kind}{}",
            self.path.display(),
            self.pos,
            self.message
        )
    }
}
