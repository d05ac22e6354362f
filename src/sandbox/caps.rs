//! Capability sets: computing them from a unit (as Docker does) and applying them.

use serde::{Deserialize, Serialize};

use crate::unit::{Capability, Security};

/// Docker's default capability set.
pub const DOCKER_DEFAULT: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// A set of capabilities as a bit mask (bit N = capability N).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapMask(pub u64);

impl CapMask {
    pub fn all() -> CapMask {
        Capability::all().collect()
    }

    pub fn contains(self, cap: Capability) -> bool {
        self.0 & (1 << cap.0) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::all().filter(move |c| self.contains(*c))
    }

    fn by_name(names: &[&str]) -> CapMask {
        Capability::all()
            .filter(|c| names.contains(&c.name()))
            .collect()
    }
}

impl FromIterator<Capability> for CapMask {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> CapMask {
        CapMask(iter.into_iter().fold(0, |m, c| m | 1 << c.0))
    }
}

/// The five capability sets of the service's process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapSets {
    pub bounding: CapMask,
    pub effective: CapMask,
    pub permitted: CapMask,
    pub inheritable: CapMask,
    pub ambient: CapMask,
}

/// The capabilities of a unit, as `docker run` computes them: the default set, or every
/// capability when privileged or with `cap_add: [ALL]`; then `cap_drop` (everything for `ALL`),
/// then the named `cap_add`.
pub fn unit_capabilities(security: &Security) -> CapMask {
    if security.privileged {
        return CapMask::all();
    }
    let mut set = if security.cap_add.all {
        CapMask::all()
    } else {
        CapMask::by_name(&DOCKER_DEFAULT)
    };
    if security.cap_drop.all && !security.cap_add.all {
        set = CapMask(0);
    }
    for cap in &security.cap_drop.caps {
        set.0 &= !(1 << cap.0);
    }
    for cap in &security.cap_add.caps {
        set.0 |= 1 << cap.0;
    }
    set
}

/// The sets for a service running as `uid`. Root gets the unit's capabilities as bounding,
/// effective and permitted sets (and none inheritable, as Docker since CVE-2022-24769).
/// Another user keeps the bounding set but holds only the capabilities named in `cap_add`,
/// raised as ambient capabilities so that they survive `execve`.
pub fn sets_for(security: &Security, uid: u32) -> CapSets {
    let caps = unit_capabilities(security);
    if uid == 0 {
        return CapSets {
            bounding: caps,
            effective: caps,
            permitted: caps,
            inheritable: CapMask(0),
            ambient: CapMask(0),
        };
    }
    let added = if security.cap_add.all || security.privileged {
        caps
    } else {
        let named: CapMask = security.cap_add.caps.iter().copied().collect();
        CapMask(named.0 & caps.0)
    };
    CapSets {
        bounding: caps,
        effective: added,
        permitted: added,
        inheritable: added,
        ambient: added,
    }
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The capabilities of `mask` that this kernel has and this process may hold: a host may
/// run svcd with a reduced bounding set, and then "every capability" means every one left.
fn to_caps(mask: CapMask, last: u8) -> caps::CapsHashSet {
    let held = caps::read(None, caps::CapSet::Bounding).unwrap_or_default();
    caps::all()
        .into_iter()
        .filter(|c| c.index() <= last && mask.contains(Capability(c.index())) && held.contains(c))
        .collect()
}

/// Drop every capability outside `bounding` from the bounding set. Needs CAP_SETPCAP, so it
/// runs before the ids change.
pub fn apply_bounding(sets: &CapSets) -> Result<(), caps::errors::CapsError> {
    let last = last_cap();
    for cap in caps::all() {
        if cap.index() <= last && !sets.bounding.contains(Capability(cap.index())) {
            caps::drop(None, caps::CapSet::Bounding, cap)?;
        }
    }
    Ok(())
}

/// Set the effective, permitted, inheritable and ambient sets (after the ids changed with
/// keep-caps on).
pub fn apply_sets(sets: &CapSets) -> Result<(), caps::errors::CapsError> {
    let last = last_cap();
    // The effective set must stay within the permitted one at every step: shrink it first.
    caps::set(
        None,
        caps::CapSet::Effective,
        &to_caps(sets.effective, last),
    )?;
    caps::set(
        None,
        caps::CapSet::Permitted,
        &to_caps(sets.permitted, last),
    )?;
    caps::set(
        None,
        caps::CapSet::Inheritable,
        &to_caps(sets.inheritable, last),
    )?;
    caps::clear(None, caps::CapSet::Ambient)?;
    for cap in to_caps(sets.ambient, last) {
        caps::raise(None, caps::CapSet::Ambient, cap)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::CapabilityList;
    use crate::unit::value::{CapabilityName, parse_capability};

    fn list(names: &[&str]) -> CapabilityList {
        let mut l = CapabilityList::default();
        for n in names {
            match parse_capability(n).unwrap() {
                CapabilityName::All => l.all = true,
                CapabilityName::One(c) => l.caps.push(c),
            }
        }
        l
    }

    fn security(add: &[&str], drop: &[&str]) -> Security {
        Security {
            privileged: false,
            cap_add: list(add),
            cap_drop: list(drop),
            no_new_privileges: true,
            seccomp: crate::unit::Seccomp::Default,
            apparmor: None,
            selinux: None,
        }
    }

    fn names(m: CapMask) -> Vec<&'static str> {
        let mut v: Vec<&str> = m.iter().map(|c| c.name()).collect();
        v.sort();
        v
    }

    #[test]
    fn docker_rules() {
        assert_eq!(unit_capabilities(&security(&[], &[])).iter().count(), 14);
        let s = unit_capabilities(&security(&["NET_ADMIN"], &["NET_RAW"]));
        assert!(s.contains(Capability(12)) && !s.contains(Capability(13)));
        assert_eq!(
            names(unit_capabilities(&security(&["KILL"], &["ALL"]))),
            ["KILL"]
        );
        let all_but = unit_capabilities(&security(&["ALL"], &["SYS_ADMIN"]));
        assert_eq!(all_but.iter().count(), 40);
        let mut p = security(&[], &["ALL"]);
        p.privileged = true;
        assert_eq!(unit_capabilities(&p), CapMask::all());
    }

    #[test]
    fn non_root_users_get_only_added_capabilities_as_ambient() {
        let s = security(&["NET_BIND_SERVICE"], &[]);
        let root = sets_for(&s, 0);
        assert_eq!(root.effective.iter().count(), 14);
        assert_eq!(root.ambient, CapMask(0));
        let user = sets_for(&s, 1000);
        assert_eq!(user.bounding.iter().count(), 14);
        assert_eq!(names(user.ambient), ["NET_BIND_SERVICE"]);
        assert_eq!(user.ambient, user.permitted);
        assert_eq!(sets_for(&security(&[], &[]), 1000).permitted, CapMask(0));
    }
}
