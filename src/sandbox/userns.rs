//! User namespaces: id maps, written by the helper for the service's process, and `auto`
//! ranges allocated from /etc/subuid and /etc/subgid.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::plan::IdMaps;
use super::stage::{Stage, StartError};

/// Ids in one `auto` range.
pub const AUTO_RANGE: u64 = 65536;
/// The subordinate-id owner whose ranges `auto` divides among units.
pub const SUBID_OWNER: &str = "svcd";

/// Where `auto` ranges come from and where their assignment to units is kept.
#[derive(Clone, Debug)]
pub struct SubidFiles {
    pub subuid: PathBuf,
    pub subgid: PathBuf,
    /// `UNIT INDEX` lines: range INDEX of the owner's ids belongs to UNIT, for good.
    pub assignments: PathBuf,
}

impl Default for SubidFiles {
    fn default() -> Self {
        SubidFiles {
            subuid: PathBuf::from("/etc/subuid"),
            subgid: PathBuf::from("/etc/subgid"),
            assignments: PathBuf::from("/var/lib/svcd/userns-ranges"),
        }
    }
}

/// The owner's `START:COUNT` ranges in a subid file.
fn owner_ranges(path: &Path) -> Result<Vec<(u64, u64)>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            (owner == SUBID_OWNER).then_some((start.parse().ok()?, count.parse().ok()?))
        })
        .collect())
}

/// The start of range `index` within the owner's ranges, if there are that many.
fn nth_range(ranges: &[(u64, u64)], mut index: u64) -> Option<u64> {
    for &(start, count) in ranges {
        let fits = count / AUTO_RANGE;
        if index < fits {
            return Some(start + index * AUTO_RANGE);
        }
        index -= fits;
    }
    None
}

/// The range index of `unit`, assigning the lowest free one on first use. The file is locked
/// while it is read and extended, so concurrent starts never share a range.
fn assigned_index(files: &SubidFiles, unit: &str) -> Result<u64, String> {
    use nix::fcntl::{Flock, FlockArg};
    if let Some(dir) = files.assignments.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&files.assignments)
        .map_err(|e| format!("cannot open {}: {e}", files.assignments.display()))?;
    let mut locked = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", files.assignments.display()))?;
    let text = fs::read_to_string(&files.assignments).map_err(|e| e.to_string())?;
    let mut taken = Vec::new();
    for line in text.lines() {
        if let Some((name, index)) = line.split_once(' ') {
            let index: u64 = index
                .trim()
                .parse()
                .map_err(|_| format!("bad line in {}: {line}", files.assignments.display()))?;
            if name == unit {
                return Ok(index);
            }
            taken.push(index);
        }
    }
    let index = (0..).find(|i| !taken.contains(i)).unwrap_or(0);
    writeln!(locked, "{unit} {index}").map_err(|e| e.to_string())?;
    Ok(index)
}

/// The maps of `user_namespace: auto` for `unit`: root inside is the first id of the unit's
/// own range, the same range on every start.
pub fn auto_maps(unit: &str, files: &SubidFiles) -> Result<IdMaps, StartError> {
    let fail = |msg: String| StartError::other(Stage::UidMap, msg);
    let index = assigned_index(files, unit).map_err(fail)?;
    let mut text = [String::new(), String::new()];
    for (slot, path) in text.iter_mut().zip([&files.subuid, &files.subgid]) {
        let ranges = owner_ranges(path).map_err(fail)?;
        let start = nth_range(&ranges, index).ok_or_else(|| {
            fail(format!(
                "{} has no free {AUTO_RANGE}-id range for `{unit}`: give user `{SUBID_OWNER}` more ids, like `{SUBID_OWNER}:100000:6553600`",
                path.display()
            ))
        })?;
        *slot = format!("0 {start} {AUTO_RANGE}\n");
    }
    let [uid_map, gid_map] = text;
    Ok(IdMaps { uid_map, gid_map })
}

/// Write the maps of process `pid` (from outside its user namespace). `setgroups` is left
/// allowed: the service's ids are set up inside with `setgroups(2)`.
pub fn write_maps(pid: i32, maps: &IdMaps) -> Result<(), StartError> {
    for (file, text) in [("uid_map", &maps.uid_map), ("gid_map", &maps.gid_map)] {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, text)
            .map_err(|e| StartError::io(Stage::UidMap, &e, format!("{path}: {}", text.trim())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_split_into_units() {
        let ranges = [(100_000, 65536 * 2), (1_000_000, 65536)];
        assert_eq!(nth_range(&ranges, 0), Some(100_000));
        assert_eq!(nth_range(&ranges, 1), Some(165_536));
        assert_eq!(nth_range(&ranges, 2), Some(1_000_000));
        assert_eq!(nth_range(&ranges, 3), None);
    }

    #[test]
    fn assignments_are_stable_and_distinct() {
        let dir = std::env::temp_dir().join(format!("svcd-userns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = SubidFiles {
            subuid: dir.join("subuid"),
            subgid: dir.join("subgid"),
            assignments: dir.join("state/ranges"),
        };
        std::fs::write(&files.subuid, "other:1:5\nsvcd:200000:196608\n").unwrap();
        std::fs::write(&files.subgid, "svcd:300000:196608\n").unwrap();
        let a = auto_maps("a", &files).unwrap();
        let b = auto_maps("b", &files).unwrap();
        assert_eq!(a.uid_map, "0 200000 65536\n");
        assert_eq!(a.gid_map, "0 300000 65536\n");
        assert_eq!(b.uid_map, "0 265536 65536\n");
        assert_eq!(auto_maps("a", &files).unwrap().uid_map, a.uid_map);
        auto_maps("c", &files).unwrap();
        let err = auto_maps("d", &files).unwrap_err();
        assert!(
            err.to_string().contains("no free 65536-id range for `d`"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
