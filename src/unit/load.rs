//! Reading unit files and directories, and the rules that span units: unique names, references
//! to units that exist, IPC sharing, and dependency cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::validate::{MAX_FILE_BYTES, parse_unit};
use super::{Diagnostic, Ipc, Pos, Severity, Share, Unit, UnitName, UnitRef};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The valid units of a load, and every diagnostic found on the way. A unit with errors is
/// left out; the others are kept.
#[derive(Debug, Default)]
pub struct UnitSet {
    pub units: BTreeMap<UnitName, Unit>,
    pub diagnostics: Vec<Diagnostic>,
}

impl UnitSet {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// Units in an order that starts every unit after the units it needs (by name where the
    /// order is free).
    pub fn start_order(&self) -> Vec<&Unit> {
        let graph = Graph::new(&self.units);
        let mut waiting: Vec<usize> = graph.needs.iter().map(Vec::len).collect();
        let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); graph.units.len()];
        for (unit, needs) in graph.needs.iter().enumerate() {
            for &(need, _) in needs {
                needed_by[need].push(unit);
            }
        }
        let mut ready: BTreeSet<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
        let mut order = Vec::new();
        while let Some(next) = ready.pop_first() {
            order.push(graph.units[next]);
            for &unit in &needed_by[next] {
                waiting[unit] -= 1;
                if waiting[unit] == 0 {
                    ready.insert(unit);
                }
            }
        }
        order
    }
}

/// The units and what each needs, by index (units in name order).
struct Graph<'a> {
    units: Vec<&'a Unit>,
    /// For each unit, the units it needs that exist, with where each is named.
    needs: Vec<Vec<(usize, Pos)>>,
}

impl<'a> Graph<'a> {
    fn new(units: &'a BTreeMap<UnitName, Unit>) -> Graph<'a> {
        let index: BTreeMap<&UnitName, usize> = units.keys().zip(0..).collect();
        let needs = units
            .values()
            .map(|u| {
                let mut edges: Vec<(usize, Pos)> = needs(u)
                    .filter_map(|r| Some((*index.get(&r.name)?, r.pos)))
                    .collect();
                // One edge per needed unit, however many ways it is needed.
                edges.sort_by_key(|&(i, _)| i);
                edges.dedup_by_key(|&mut (i, _)| i);
                edges
            })
            .collect();
        Graph {
            units: units.values().collect(),
            needs,
        }
    }

    /// Cycles found by a depth-first walk (an explicit stack, so a long chain of units cannot
    /// overflow the thread's stack). Each cycle lists its units with the position where each
    /// names the next.
    fn cycles(&self) -> Vec<Vec<(usize, Pos)>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks = vec![Mark::New; self.units.len()];
        let mut cycles = Vec::new();
        for root in 0..self.units.len() {
            if marks[root] != Mark::New {
                continue;
            }
            marks[root] = Mark::OnPath;
            // The walk's path: each unit with the index of its next edge to follow.
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some((unit, next)) = path.last_mut() {
                let unit = *unit;
                let Some(&(need, _)) = self.needs[unit].get(*next) else {
                    marks[unit] = Mark::Done;
                    path.pop();
                    continue;
                };
                *next += 1;
                match marks[need] {
                    Mark::New => {
                        marks[need] = Mark::OnPath;
                        path.push((need, 0));
                    }
                    Mark::OnPath => {
                        let start = path.iter().position(|&(u, _)| u == need).unwrap_or(0);
                        let cycle = path[start..]
                            .iter()
                            .map(|&(u, next)| (u, self.needs[u][next - 1].1))
                            .collect();
                        cycles.push(cycle);
                    }
                    Mark::Done => {}
                }
            }
        }
        cycles
    }
}

/// The units a unit needs started before it: its dependencies and the units whose
/// namespaces it joins.
pub fn needs(unit: &Unit) -> impl Iterator<Item = &UnitRef> {
    let ns = &unit.namespaces;
    let shares = [&ns.pid, &ns.network, &ns.uts, &ns.cgroup]
        .into_iter()
        .filter_map(|s| match s {
            Share::Service(r) => Some(r),
            _ => None,
        });
    let ipc = match &ns.ipc {
        Ipc::Service(r) => Some(r),
        _ => None,
    };
    unit.supervision
        .depends_on
        .iter()
        .map(|d| &d.unit)
        .chain(shares)
        .chain(ipc)
}

/// Load unit files and directories of unit files, as `svcctl validate` takes them.
pub fn load_paths(paths: &[PathBuf]) -> Result<UnitSet, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            files.extend(unit_files(path)?);
        } else {
            files.push(path.clone());
        }
    }
    Ok(load_files(&files))
}

/// The unit files of a directory, in name order: `*.yaml` and `*.yml`, not hidden.
pub fn unit_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read_err = |source| LoadError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && !name.starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The bytes of a unit file, refusing anything that is not a regular file of bounded size.
fn read_unit_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if meta.is_dir() {
        return Err("this is a directory, not a unit file".into());
    }
    if !meta.is_file() {
        return Err("this is not a regular file".into());
    }
    let too_large = |len: u64| {
        format!(
            "the file is {:.1} MiB; unit files are limited to {} MiB",
            len as f64 / f64::from(1 << 20),
            MAX_FILE_BYTES >> 20
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Parse every file, then apply the rules that span units. Units with errors take part in
/// those rules (so that every problem is reported at once) and are left out of the result.
pub fn load_files(files: &[PathBuf]) -> UnitSet {
    let mut set = UnitSet::default();
    let mut invalid: BTreeSet<UnitName> = BTreeSet::new();
    // Every name a file claims, valid or not: references to a unit with errors are not
    // "missing", and two files claiming one name are both refused.
    let mut claimed: BTreeMap<String, Vec<&PathBuf>> = BTreeMap::new();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let claims = claimed.entry(stem.to_owned()).or_default();
        claims.push(path);
        let parsed = match read_unit_file(path) {
            Ok(bytes) => parse_unit(path, &bytes),
            Err(message) => {
                set.diagnostics.push(file_error(path, Pos::START, message));
                continue;
            }
        };
        if let [first, _, ..] = claims.as_slice() {
            let msg = format!("unit `{stem}` is also defined by {}", first.display());
            set.diagnostics.push(file_error(path, Pos::START, msg));
        }
        if let Some(unit) = &parsed.partial
            && (parsed.has_errors() || claims.len() > 1)
        {
            invalid.insert(unit.name.clone());
        }
        set.diagnostics.extend(parsed.diagnostics);
        if let Some(unit) = parsed.partial {
            set.units.entry(unit.name.clone()).or_insert(unit);
        }
    }
    invalid.extend(check_references(&mut set, &claimed));
    invalid.extend(report_cycles(&mut set));
    set.units.retain(|name, _| !invalid.contains(name));
    set.diagnostics.sort();
    set
}

fn file_error(path: &Path, pos: Pos, message: String) -> Diagnostic {
    Diagnostic {
        path: path.to_path_buf(),
        pos,
        severity: Severity::Error,
        message,
    }
}

/// References to units that no file defines, and `ipc: service:NAME` where NAME does not
/// share its IPC namespace. Returns the units with such errors.
fn check_references<T>(set: &mut UnitSet, claimed: &BTreeMap<String, T>) -> BTreeSet<UnitName> {
    let mut broken: BTreeSet<UnitName> = BTreeSet::new();
    for unit in set.units.values() {
        let mut report = |r: &UnitRef, severity, message: String| {
            set.diagnostics.push(Diagnostic {
                path: unit.path.clone(),
                pos: r.pos,
                severity,
                message,
            });
            if severity == Severity::Error {
                broken.insert(unit.name.clone());
            }
        };
        let optional: BTreeSet<&UnitName> = unit
            .supervision
            .depends_on
            .iter()
            .filter(|d| !d.required)
            .map(|d| &d.unit.name)
            .collect();
        for r in needs(unit) {
            if claimed.contains_key(r.name.as_str()) {
                continue;
            }
            if optional.contains(&r.name) {
                let msg = format!("optional dependency `{}` has no unit file", r.name);
                report(r, Severity::Warning, msg);
            } else {
                let msg = format!("unit `{}` does not exist (no {}.yaml)", r.name, r.name);
                report(r, Severity::Error, msg);
            }
        }
        if let Ipc::Service(r) = &unit.namespaces.ipc
            && let Some(target) = set.units.get(&r.name)
            && target.namespaces.ipc != Ipc::Shareable
        {
            let msg = format!(
                "`ipc: service:{0}` needs `{0}` to have `ipc: shareable`",
                r.name
            );
            report(r, Severity::Error, msg);
        }
    }
    broken
}

/// Report every cycle among the units' needs once. Returns the units in cycles: none of them
/// could ever start.
fn report_cycles(set: &mut UnitSet) -> BTreeSet<UnitName> {
    let graph = Graph::new(&set.units);
    let mut doomed = BTreeSet::new();
    let mut reports = Vec::new();
    for cycle in graph.cycles() {
        let (first, pos) = cycle[0];
        let mut names: Vec<&str> = cycle
            .iter()
            .map(|&(u, _)| graph.units[u].name.as_str())
            .collect();
        names.push(names[0]);
        let msg = format!("dependency cycle: {}", names.join(" -> "));
        reports.push(file_error(&graph.units[first].path, pos, msg));
        doomed.extend(cycle.iter().map(|&(u, _)| graph.units[u].name.clone()));
    }
    set.diagnostics.extend(reports);
    doomed
}
