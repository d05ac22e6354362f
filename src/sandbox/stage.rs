//! The steps of starting a service, and the error that names the one that failed.

use std::fmt;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// Every step between a start request and `execve`, in the order they run (DESIGN §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum Stage {
    // In the daemon, while building the plan.
    ResolveUser,
    EnvFile,
    Seccomp,
    Lsm,
    JoinTarget,
    Cgroup,
    SpawnHelper,
    // In the helper, before the service's process exists.
    JoinCgroup,
    Rlimits,
    OomScoreAdj,
    Setns,
    Clone,
    UidMap,
    // In the service's process.
    MountPrivate,
    BindRoot,
    ReadOnlyRoot,
    Volumes,
    Tmpfs,
    MountProc,
    Sysctls,
    MountDev,
    Devices,
    MountSys,
    MaskPaths,
    PivotRoot,
    Hostname,
    Domainname,
    Loopback,
    Chdir,
    Setgroups,
    Setgid,
    Setuid,
    CapBounding,
    Capabilities,
    LsmLabel,
    NoNewPrivs,
    SeccompLoad,
    Init,
    Exec,
}

impl Stage {
    const ALL: [Stage; 39] = [
        Stage::ResolveUser,
        Stage::EnvFile,
        Stage::Seccomp,
        Stage::Lsm,
        Stage::JoinTarget,
        Stage::Cgroup,
        Stage::SpawnHelper,
        Stage::JoinCgroup,
        Stage::Rlimits,
        Stage::OomScoreAdj,
        Stage::Setns,
        Stage::Clone,
        Stage::UidMap,
        Stage::MountPrivate,
        Stage::BindRoot,
        Stage::ReadOnlyRoot,
        Stage::Volumes,
        Stage::Tmpfs,
        Stage::MountProc,
        Stage::Sysctls,
        Stage::MountDev,
        Stage::Devices,
        Stage::MountSys,
        Stage::MaskPaths,
        Stage::PivotRoot,
        Stage::Hostname,
        Stage::Domainname,
        Stage::Loopback,
        Stage::Chdir,
        Stage::Setgroups,
        Stage::Setgid,
        Stage::Setuid,
        Stage::CapBounding,
        Stage::Capabilities,
        Stage::LsmLabel,
        Stage::NoNewPrivs,
        Stage::SeccompLoad,
        Stage::Init,
        Stage::Exec,
    ];

    pub fn from_u8(n: u8) -> Option<Stage> {
        Stage::ALL.get(usize::from(n)).copied()
    }

    /// The step's name in messages: `pivot_root`, `uid_map`, …
    pub fn name(self) -> &'static str {
        match self {
            Stage::ResolveUser => "resolve_user",
            Stage::EnvFile => "env_file",
            Stage::Seccomp => "seccomp",
            Stage::Lsm => "lsm",
            Stage::JoinTarget => "join_target",
            Stage::Cgroup => "cgroup",
            Stage::SpawnHelper => "spawn_helper",
            Stage::JoinCgroup => "join_cgroup",
            Stage::Rlimits => "rlimits",
            Stage::OomScoreAdj => "oom_score_adj",
            Stage::Setns => "setns",
            Stage::Clone => "clone",
            Stage::UidMap => "uid_map",
            Stage::MountPrivate => "mount_private",
            Stage::BindRoot => "bind_root",
            Stage::ReadOnlyRoot => "read_only_root",
            Stage::Volumes => "volumes",
            Stage::Tmpfs => "tmpfs",
            Stage::MountProc => "mount_proc",
            Stage::Sysctls => "sysctls",
            Stage::MountDev => "mount_dev",
            Stage::Devices => "devices",
            Stage::MountSys => "mount_sys",
            Stage::MaskPaths => "mask_paths",
            Stage::PivotRoot => "pivot_root",
            Stage::Hostname => "hostname",
            Stage::Domainname => "domainname",
            Stage::Loopback => "loopback",
            Stage::Chdir => "chdir",
            Stage::Setgroups => "setgroups",
            Stage::Setgid => "setgid",
            Stage::Setuid => "setuid",
            Stage::CapBounding => "capability_bounding_set",
            Stage::Capabilities => "capabilities",
            Stage::LsmLabel => "lsm_label",
            Stage::NoNewPrivs => "no_new_privs",
            Stage::SeccompLoad => "seccomp_load",
            Stage::Init => "init",
            Stage::Exec => "exec",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The errno of an I/O error, EIO for one that has none.
pub fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Why a service did not start: the step, the errno when a system call failed, and details
/// (a path, a name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct StartError {
    pub stage: Stage,
    pub errno: Option<i32>,
    pub detail: String,
}

impl StartError {
    pub fn sys(stage: Stage, errno: Errno, detail: impl Into<String>) -> StartError {
        StartError {
            stage,
            errno: Some(errno as i32),
            detail: detail.into(),
        }
    }

    /// A failed file operation: its errno (EIO when it has none).
    pub fn io(stage: Stage, e: &std::io::Error, detail: impl Into<String>) -> StartError {
        StartError::sys(stage, errno_of(e), detail)
    }

    pub fn other(stage: Stage, detail: impl Into<String>) -> StartError {
        StartError {
            stage,
            errno: None,
            detail: detail.into(),
        }
    }
}

/// `start failed at step pivot_root: EINVAL (…)`, or `exec /usr/bin/nginx: ENOENT`.
impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errno = self.errno.map(|e| format!("{:?}", Errno::from_raw(e)));
        match (self.stage, errno) {
            (Stage::Exec, Some(e)) => write!(f, "exec {}: {e}", self.detail),
            (stage, Some(e)) if self.detail.is_empty() => {
                write!(f, "start failed at step {stage}: {e}")
            }
            (stage, Some(e)) => write!(f, "start failed at step {stage}: {e} ({})", self.detail),
            (stage, None) => write!(f, "start failed at step {stage}: {}", self.detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_round_trip_through_their_number() {
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(*s as u8 as usize, i);
            assert_eq!(Stage::from_u8(i as u8), Some(*s));
        }
        assert_eq!(Stage::from_u8(200), None);
    }

    #[test]
    fn messages() {
        let e = StartError::sys(Stage::PivotRoot, Errno::EINVAL, "");
        assert_eq!(e.to_string(), "start failed at step pivot_root: EINVAL");
        let e = StartError::sys(Stage::Exec, Errno::ENOENT, "/usr/bin/nginx");
        assert_eq!(e.to_string(), "exec /usr/bin/nginx: ENOENT");
        let e = StartError::other(Stage::Lsm, "AppArmor is not enabled on this host");
        assert_eq!(
            e.to_string(),
            "start failed at step lsm: AppArmor is not enabled on this host"
        );
    }
}
