//! Resolving `user` and `group_add` in the service's own `/etc/passwd` and `/etc/group`.

use std::path::Path;

use crate::unit::{IdOrName, UserSpec};

/// The ids a service runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the user's memberships in `/etc/group`, then `group_add`.
    pub groups: Vec<u32>,
    pub home: String,
}

/// One line of `/etc/passwd`.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One line of `/etc/group`.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_lines(path: &Path) -> Result<Vec<Vec<String>>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.split(':').map(str::to_owned).collect())
            .collect()),
        // A root without the file has no names, only numbers.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn passwd(root: &Path) -> Result<Vec<PasswdEntry>, String> {
    Ok(read_lines(&root.join("etc/passwd"))?
        .into_iter()
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first()?.clone(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).cloned().unwrap_or_default(),
            })
        })
        .collect())
}

fn groups(root: &Path) -> Result<Vec<GroupEntry>, String> {
    Ok(read_lines(&root.join("etc/group"))?
        .into_iter()
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first()?.clone(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// Resolve the unit's user and groups in `root`. A name that does not resolve is an error:
/// a service never runs as root by mistake.
pub fn resolve(
    root: &Path,
    user: Option<&UserSpec>,
    group_add: &[IdOrName],
) -> Result<Identity, String> {
    let users = passwd(root)?;
    let all_groups = groups(root)?;
    let group_id = |g: &IdOrName| -> Result<u32, String> {
        match g {
            IdOrName::Id(id) => Ok(*id),
            IdOrName::Name(name) => all_groups
                .iter()
                .find(|e| &e.name == name)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    format!(
                        "group `{name}` is not in {}",
                        root.join("etc/group").display()
                    )
                }),
        }
    };
    let default_user = UserSpec {
        user: IdOrName::Id(0),
        group: None,
    };
    let spec = user.unwrap_or(&default_user);
    let entry = match &spec.user {
        IdOrName::Name(name) => Some(users.iter().find(|e| &e.name == name).ok_or_else(|| {
            format!(
                "user `{name}` is not in {}",
                root.join("etc/passwd").display()
            )
        })?),
        IdOrName::Id(uid) => users.iter().find(|e| e.uid == *uid),
    };
    let uid = match &spec.user {
        IdOrName::Id(uid) => *uid,
        IdOrName::Name(_) => entry.map_or(0, |e| e.uid),
    };
    // As Docker: a uid without a passwd entry runs with gid 0 unless a group is given.
    let gid = match &spec.group {
        Some(g) => group_id(g)?,
        None => entry.map_or(0, |e| e.gid),
    };
    let mut groups: Vec<u32> = match entry {
        Some(e) => all_groups
            .iter()
            .filter(|g| g.members.contains(&e.name))
            .map(|g| g.gid)
            .collect(),
        None => Vec::new(),
    };
    for g in group_add {
        groups.push(group_id(g)?);
    }
    groups.sort_unstable();
    groups.dedup();
    Ok(Identity {
        uid,
        gid,
        groups,
        home: entry.map_or_else(|| "/".to_owned(), |e| e.home.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        std::fs::create_dir_all(dir.0.join("etc")).unwrap();
        std::fs::write(
            dir.0.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/srv/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.0.join("etc/group"),
            "root:x:0:\nweb:x:1000:\nvideo:x:44:web,other\naudio:x:29:\n",
        )
        .unwrap();
        dir
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "svcd-users-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn spec(text: &str) -> UserSpec {
        crate::unit::value::parse_user(text).unwrap()
    }

    #[test]
    fn names_numbers_and_memberships() {
        let r = root();
        let id = resolve(&r.0, Some(&spec("web")), &[IdOrName::Name("audio".into())]).unwrap();
        assert_eq!(
            (id.uid, id.gid, id.groups, id.home.as_str()),
            (1000, 1000, vec![29, 44], "/srv/web")
        );
        let id = resolve(&r.0, Some(&spec("4242:44")), &[]).unwrap();
        assert_eq!((id.uid, id.gid, id.groups), (4242, 44, vec![]));
        let id = resolve(&r.0, Some(&spec("4242")), &[]).unwrap();
        assert_eq!(id.gid, 0);
        let id = resolve(&r.0, None, &[]).unwrap();
        assert_eq!((id.uid, id.gid, id.home.as_str()), (0, 0, "/root"));
    }

    #[test]
    fn unknown_names_are_errors() {
        let r = root();
        assert!(
            resolve(&r.0, Some(&spec("ghost")), &[])
                .unwrap_err()
                .contains("user `ghost` is not in")
        );
        assert!(
            resolve(&r.0, Some(&spec("web:ghost")), &[])
                .unwrap_err()
                .contains("group `ghost`")
        );
        let err = resolve(&r.0, None, &[IdOrName::Name("ghost".into())]).unwrap_err();
        assert!(err.contains("group `ghost`"));
    }
}
