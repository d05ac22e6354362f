//! AppArmor profiles and SELinux labels for the service's `execve`.

use serde::{Deserialize, Serialize};

use super::stage::{Stage, StartError};
use crate::unit::Security;

/// The label to write to `/proc/thread-self/attr/…/exec` before `execve`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    AppArmor(String),
    SELinux(String),
}

impl Label {
    /// The file the kernel reads the next exec's label from, and what to write there.
    pub fn exec_attr(&self) -> (&'static str, String) {
        match self {
            Label::AppArmor(profile) => (
                "/proc/thread-self/attr/apparmor/exec",
                format!("exec {profile}"),
            ),
            Label::SELinux(context) => ("/proc/thread-self/attr/exec", context.clone()),
        }
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// The label a unit asks for. A unit that asks for an LSM the host does not run fails to start:
/// running it unconfined would be less isolation than it asked for.
pub fn label_for(security: &Security) -> Result<Option<Label>, StartError> {
    if let Some(profile) = &security.apparmor {
        if profile == "unconfined" {
            return Ok(None);
        }
        if !apparmor_enabled() {
            return Err(StartError::other(
                Stage::Lsm,
                "AppArmor is not enabled on this host",
            ));
        }
        return Ok(Some(Label::AppArmor(profile.clone())));
    }
    let Some(label) = &security.selinux else {
        return Ok(None);
    };
    if label.disable {
        return Ok(None);
    }
    if !selinux_enabled() {
        return Err(StartError::other(
            Stage::Lsm,
            "SELinux is not enabled on this host",
        ));
    }
    // Parts not given take the usual unconfined service defaults, as Docker's labels do.
    let context = format!(
        "{}:{}:{}:{}",
        label.user.as_deref().unwrap_or("system_u"),
        label.role.as_deref().unwrap_or("system_r"),
        label.kind.as_deref().unwrap_or("container_t"),
        label.level.as_deref().unwrap_or("s0"),
    );
    Ok(Some(Label::SELinux(context)))
}
