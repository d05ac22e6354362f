//! The SpawnPlan: everything the helper needs, resolved in the daemon before any process is
//! made (ids, capability sets, the seccomp program, mounts, id maps, argv, environment).

use std::path::PathBuf;

use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

use super::caps::{self, CapSets};
use super::stage::{Stage, StartError};
use super::userns::SubidFiles;
use super::users;
use super::{lsm, seccomp};
use crate::unit::{Ipc, Propagation, Share, Unit, UnitName, UserNamespace};

/// Where a service's root is assembled before `pivot_root` (inside its own mount namespace).
pub const STAGING_DIR: &str = "/run/svcd/root";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpawnPlan {
    pub unit: String,
    /// `cgroup.procs` files of the unit's v1 cgroups, which the helper joins before the clone.
    pub cgroup_procs: Vec<PathBuf>,
    /// The unit's cgroup2 directory, which the service's process is cloned into.
    pub cgroup_dir: Option<PathBuf>,
    pub argv: Vec<String>,
    /// `KEY=value` strings.
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub caps: CapSets,
    pub no_new_privs: bool,
    /// A compiled classic-BPF filter (`struct sock_filter` array), or none when unconfined.
    pub seccomp: Option<Vec<u8>>,
    /// `CLONE_NEW*` flags of the namespaces the service gets of its own.
    pub clone_flags: i32,
    /// Namespaces of other services to join first: `(CLONE_NEW* flag, /proc/PID/ns/…)`.
    pub joins: Vec<(i32, PathBuf)>,
    pub id_maps: Option<IdMaps>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctls: Vec<(String, String)>,
    pub mounts: MountPlan,
    /// `(RLIMIT_*, soft, hard)`, `u64::MAX` meaning unlimited.
    pub rlimits: Vec<(u32, u64, u64)>,
    pub oom_score_adj: Option<i32>,
    pub lsm_label: Option<lsm::Label>,
    pub init: bool,
    /// Bring up `lo` in a new network namespace.
    pub loopback: bool,
}

/// The text of `/proc/PID/uid_map` and `gid_map`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdMaps {
    pub uid_map: String,
    pub gid_map: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MountPlan {
    /// The directory that becomes `/`: the unit's rootfs, or the host's `/`.
    pub root: PathBuf,
    pub read_only: bool,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<TmpfsMount>,
    /// Device nodes: `(host path, path inside)`.
    pub devices: Vec<(PathBuf, PathBuf)>,
    /// Every device of the host (privileged).
    pub all_devices: bool,
    pub shm_size: u64,
    pub sys: SysMount,
    /// Docker's masked and read-only paths under /proc and /sys (not when privileged).
    pub mask_paths: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
    pub create_source: bool,
    /// `MS_*` propagation flag, 0 for the default (`rprivate`).
    pub propagation: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TmpfsMount {
    pub target: PathBuf,
    /// `MS_*` flags.
    pub flags: u64,
    /// `size=…,mode=…`.
    pub data: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SysMount {
    /// A new sysfs, read-only (the service has its own network namespace).
    Fresh,
    /// The host's /sys, read-only (a new sysfs needs an own network namespace).
    HostReadOnly,
    /// The host's /sys, writable (privileged).
    HostWritable,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a plan needs to know of the host beyond the unit.
pub struct PlanContext<'a> {
    /// The main pid of a running unit, for `service:NAME` namespaces.
    pub running_pid: &'a dyn Fn(&UnitName) -> Option<i32>,
    pub subids: SubidFiles,
}

/// Build the plan for `unit`.
pub fn build(unit: &Unit, ctx: &PlanContext) -> Result<SpawnPlan, StartError> {
    let root = unit
        .filesystem
        .rootfs
        .clone()
        .unwrap_or_else(|| PathBuf::from("/"));
    let process = &unit.process;
    let id = users::resolve(&root, process.user.as_ref(), &process.group_add)
        .map_err(|e| StartError::other(Stage::ResolveUser, e))?;
    let security = &unit.security;
    let caps = caps::sets_for(security, id.uid);
    let (clone_flags, joins) = namespaces(unit, ctx.running_pid)?;
    let seccomp = seccomp::program_for(unit, caps.bounding)?;
    let lsm_label = lsm::label_for(security)?;
    let ns = &unit.namespaces;
    let uts_private = ns.uts == Share::Private;
    let hostname = match (&ns.hostname, uts_private) {
        (Some(h), _) => Some(h.clone()),
        (None, true) => Some(unit.name.as_str().to_owned()),
        (None, false) => None,
    };
    Ok(SpawnPlan {
        unit: unit.name.as_str().to_owned(),
        cgroup_procs: Vec::new(),
        cgroup_dir: None,
        argv: process.argv(),
        env: environment(unit, &id.home, hostname.as_deref())?,
        cwd: process.working_dir.clone(),
        uid: id.uid,
        gid: id.gid,
        groups: id.groups,
        caps,
        no_new_privs: security.no_new_privileges,
        seccomp,
        clone_flags: clone_flags.bits(),
        joins,
        id_maps: id_maps(unit, &ctx.subids)?,
        hostname,
        domainname: ns.domainname.clone(),
        sysctls: ns.sysctls.clone(),
        mounts: mounts(unit, root),
        rlimits: rlimits(unit),
        oom_score_adj: unit.resources.oom_score_adj,
        lsm_label,
        init: process.init,
        loopback: ns.network == Share::Private,
    })
}

/// The namespaces to create, and those of other units to join.
fn namespaces(
    unit: &Unit,
    running_pid: &dyn Fn(&UnitName) -> Option<i32>,
) -> Result<(CloneFlags, Vec<(i32, PathBuf)>), StartError> {
    let ns = &unit.namespaces;
    let mut flags = CloneFlags::CLONE_NEWNS;
    let mut joins = Vec::new();
    let ipc = match &ns.ipc {
        Ipc::Private | Ipc::Shareable => Share::Private,
        Ipc::Host => Share::Host,
        Ipc::Service(r) => Share::Service(r.clone()),
    };
    let kinds = [
        (&ns.pid, CloneFlags::CLONE_NEWPID, "pid"),
        (&ipc, CloneFlags::CLONE_NEWIPC, "ipc"),
        (&ns.network, CloneFlags::CLONE_NEWNET, "net"),
        (&ns.uts, CloneFlags::CLONE_NEWUTS, "uts"),
        (&ns.cgroup, CloneFlags::CLONE_NEWCGROUP, "cgroup"),
    ];
    for (share, flag, file) in kinds {
        match share {
            Share::Private => flags |= flag,
            Share::Host => {}
            Share::Service(r) => {
                let pid = running_pid(&r.name).ok_or_else(|| {
                    StartError::other(
                        Stage::JoinTarget,
                        format!(
                            "`{}` is not running, so its {file} namespace cannot be joined",
                            r.name
                        ),
                    )
                })?;
                joins.push((flag.bits(), PathBuf::from(format!("/proc/{pid}/ns/{file}"))));
            }
        }
    }
    if !matches!(ns.user, UserNamespace::Host { .. }) {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    Ok((flags, joins))
}

fn map_text(maps: &[crate::unit::IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

fn id_maps(unit: &Unit, subids: &SubidFiles) -> Result<Option<IdMaps>, StartError> {
    match &unit.namespaces.user {
        UserNamespace::Host { .. } => Ok(None),
        UserNamespace::Map { uid_map, gid_map } => Ok(Some(IdMaps {
            uid_map: map_text(uid_map),
            gid_map: map_text(gid_map),
        })),
        UserNamespace::Auto => super::userns::auto_maps(unit.name.as_str(), subids).map(Some),
    }
}

/// Environment: `PATH`, `HOSTNAME` and `HOME`, then the env files, then `environment`.
fn environment(unit: &Unit, home: &str, hostname: Option<&str>) -> Result<Vec<String>, StartError> {
    let mut vars: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into())];
    if let Some(h) = hostname {
        vars.push(("HOSTNAME".into(), h.into()));
    }
    vars.push(("HOME".into(), home.into()));
    let mut set = |k: String, v: String| match vars.iter_mut().find(|(key, _)| *key == k) {
        Some(slot) => slot.1 = v,
        None => vars.push((k, v)),
    };
    for file in &unit.process.env_files {
        match std::fs::read_to_string(&file.path) {
            Ok(text) => {
                for (k, v) in parse_env_file(&text) {
                    set(k, v);
                }
            }
            Err(e) if !file.required && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StartError::other(
                    Stage::EnvFile,
                    format!("{}: {e}", file.path.display()),
                ));
            }
        }
    }
    for (k, v) in &unit.process.environment {
        match v {
            Some(v) => set(k.clone(), v.clone()),
            None => {
                if let Ok(v) = std::env::var(k) {
                    set(k.clone(), v);
                }
            }
        }
    }
    Ok(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// `KEY=value` lines as Compose reads env files: `#` comments, optional `export `, values in
/// single quotes (literal) or double quotes (with `\n`, `\"`, `\\`).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))
        {
            inner.to_owned()
        } else if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            inner
                .replace("\\n", "\n")
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else {
            // An unquoted value ends at ` #`.
            value.split(" #").next().unwrap_or("").trim_end().to_owned()
        };
        out.push((key.trim().to_owned(), value));
    }
    out
}

fn propagation_flag(p: Option<Propagation>) -> u64 {
    use nix::mount::MsFlags;
    let f = match p {
        None | Some(Propagation::RPrivate) => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some(Propagation::Private) => MsFlags::MS_PRIVATE,
        Some(Propagation::Shared) => MsFlags::MS_SHARED,
        Some(Propagation::RShared) => MsFlags::MS_SHARED | MsFlags::MS_REC,
        Some(Propagation::Slave) => MsFlags::MS_SLAVE,
        Some(Propagation::RSlave) => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    f.bits()
}

fn tmpfs_flags(flags: &[String]) -> u64 {
    use nix::mount::MsFlags;
    let mut f = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    for flag in flags {
        match flag.as_str() {
            "ro" => f |= MsFlags::MS_RDONLY,
            "rw" => f &= !MsFlags::MS_RDONLY,
            "noexec" => f |= MsFlags::MS_NOEXEC,
            "exec" => f &= !MsFlags::MS_NOEXEC,
            "nosuid" => f |= MsFlags::MS_NOSUID,
            "suid" => f &= !MsFlags::MS_NOSUID,
            "nodev" => f |= MsFlags::MS_NODEV,
            "dev" => f &= !MsFlags::MS_NODEV,
            "noatime" => f |= MsFlags::MS_NOATIME,
            "nodiratime" => f |= MsFlags::MS_NODIRATIME,
            "relatime" => f |= MsFlags::MS_RELATIME,
            "strictatime" => f |= MsFlags::MS_STRICTATIME,
            _ => {}
        }
    }
    f.bits()
}

fn mounts(unit: &Unit, root: PathBuf) -> MountPlan {
    let fs = &unit.filesystem;
    let privileged = unit.security.privileged;
    let binds = fs
        .volumes
        .iter()
        .map(|v| Bind {
            source: v.source.clone(),
            target: v.target.clone(),
            read_only: v.read_only,
            create_source: v.create_host_path,
            propagation: propagation_flag(v.propagation),
        })
        .collect();
    let tmpfs = fs
        .tmpfs
        .iter()
        .map(|t| {
            let mut data = Vec::new();
            if let Some(size) = t.size {
                data.push(format!("size={size}"));
            }
            if let Some(mode) = t.mode {
                data.push(format!("mode={mode:o}"));
            }
            TmpfsMount {
                target: t.target.clone(),
                flags: tmpfs_flags(&t.flags),
                data: data.join(","),
            }
        })
        .collect();
    let own_net = unit.namespaces.network == Share::Private;
    MountPlan {
        root,
        read_only: fs.read_only,
        binds,
        tmpfs,
        devices: fs
            .devices
            .iter()
            .map(|d| (PathBuf::from(&d.host), PathBuf::from(&d.container)))
            .collect(),
        all_devices: privileged,
        shm_size: fs.shm_size.unwrap_or(64 << 20),
        sys: match (privileged, own_net) {
            (true, _) => SysMount::HostWritable,
            (false, true) => SysMount::Fresh,
            (false, false) => SysMount::HostReadOnly,
        },
        mask_paths: !privileged,
    }
}

fn rlimits(unit: &Unit) -> Vec<(u32, u64, u64)> {
    use nix::sys::resource::Resource;
    unit.process
        .ulimits
        .iter()
        .filter_map(|u| {
            let r = match u.name.as_str() {
                "as" => Resource::RLIMIT_AS,
                "core" => Resource::RLIMIT_CORE,
                "cpu" => Resource::RLIMIT_CPU,
                "data" => Resource::RLIMIT_DATA,
                "fsize" => Resource::RLIMIT_FSIZE,
                "locks" => Resource::RLIMIT_LOCKS,
                "memlock" => Resource::RLIMIT_MEMLOCK,
                "msgqueue" => Resource::RLIMIT_MSGQUEUE,
                "nice" => Resource::RLIMIT_NICE,
                "nofile" => Resource::RLIMIT_NOFILE,
                "nproc" => Resource::RLIMIT_NPROC,
                "rss" => Resource::RLIMIT_RSS,
                "rtprio" => Resource::RLIMIT_RTPRIO,
                "rttime" => Resource::RLIMIT_RTTIME,
                "sigpending" => Resource::RLIMIT_SIGPENDING,
                "stack" => Resource::RLIMIT_STACK,
                _ => return None,
            };
            Some((
                r as u32,
                u.soft.unwrap_or(u64::MAX),
                u.hard.unwrap_or(u64::MAX),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        let vars = parse_env_file(
            "# comment\nA=1\nexport B = two \nC='lit $x'\nD=\"a\\nb\"\nE=x # note\nnot a var\n",
        );
        let expected = [
            ("A", "1"),
            ("B", "two"),
            ("C", "lit $x"),
            ("D", "a\nb"),
            ("E", "x"),
        ];
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }
}
