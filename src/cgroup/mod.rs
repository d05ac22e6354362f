//! Cgroups on v2, v1 and hybrid hosts: one cgroup per unit under svcd's own, its limits,
//! statistics, and killing everything in it.

pub mod bpf_devices;
pub mod devices;
pub mod limits;
pub mod oom;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::unit::Unit;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "the `{controller}` cgroup controller, needed for `{key}`, is not available on this host"
    )]
    MissingController { controller: String, key: String },
    #[error("`{key}` cannot be applied: this host's cgroups have no `{file}`")]
    MissingFile { file: String, key: String },
    #[error("{path}: attaching the device filter: {errno}")]
    Devices {
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How cgroups are mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One cgroup2 hierarchy.
    V2 { root: PathBuf },
    /// v1 controllers, each at its mount point; on a hybrid host a cgroup2 mount beside them
    /// (which svcd leaves alone: its controllers are the v1 ones).
    V1 {
        controllers: BTreeMap<String, PathBuf>,
        hybrid: bool,
    },
}

/// The v1 controllers svcd puts each unit in.
const V1_CONTROLLERS: [&str; 8] = [
    "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer",
];

impl Layout {
    /// Read the layout from `/proc/self/mountinfo`.
    pub fn detect() -> Result<Layout, CgroupError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        let mut v1 = BTreeMap::new();
        let mut v2 = None;
        for line in text.lines() {
            // Fields after " - " are: fstype, source, super options.
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mount_point = left.split_whitespace().nth(4).unwrap_or("");
            let mut r = right.split_whitespace();
            let (fstype, _source, options) =
                (r.next().unwrap_or(""), r.next(), r.next().unwrap_or(""));
            match fstype {
                "cgroup2" => v2 = Some(PathBuf::from(mount_point)),
                "cgroup" => {
                    for option in options.split(',') {
                        if V1_CONTROLLERS.contains(&option) {
                            v1.insert(option.to_owned(), PathBuf::from(mount_point));
                        }
                    }
                }
                _ => {}
            }
        }
        match (v1.is_empty(), v2) {
            (true, Some(root)) => Ok(Layout::V2 { root }),
            (false, v2) => Ok(Layout::V1 {
                controllers: v1,
                hybrid: v2.is_some(),
            }),
            (true, None) => Err(CgroupError::MissingController {
                controller: "any".into(),
                key: "cgroups".into(),
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Layout::V2 { .. } => "v2",
            Layout::V1 { hybrid: true, .. } => "hybrid",
            Layout::V1 { hybrid: false, .. } => "v1",
        }
    }
}

/// svcd's own cgroup path in a hierarchy, from `/proc/self/cgroup` (`controller` is `None`
/// for cgroup2).
fn own_path(controller: Option<&str>) -> Result<String, CgroupError> {
    let path = Path::new("/proc/self/cgroup");
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, list, p) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let hit = match controller {
            None => list.is_empty(),
            Some(c) => list.split(',').any(|x| x == c),
        };
        if hit {
            return Ok(p.to_owned());
        }
    }
    Ok("/".into())
}

/// The cgroup of one unit: a directory per v1 controller, or one cgroup2 directory.
#[derive(Clone, Debug)]
pub struct UnitCgroup {
    pub layout: Layout,
    /// Controller → directory (cgroup2: the one directory under the key "").
    pub dirs: BTreeMap<String, PathBuf>,
}

/// Kill and remove every unit cgroup that a previous svcd left under its own cgroup, for a
/// daemon starting up: nothing from before it may keep running unsupervised. Returns the
/// units whose cgroups were removed.
pub fn remove_leftovers(layout: &Layout, subtree: &str) -> Result<Vec<String>, CgroupError> {
    let mut names: Vec<String> = Vec::new();
    let parents: Vec<PathBuf> = match layout {
        Layout::V2 { root } => vec![unit_dir(root, &own_path(None)?, subtree, "")],
        Layout::V1 { controllers, .. } => controllers
            .iter()
            .map(|(c, mount)| Ok(unit_dir(mount, &own_path(Some(c))?, subtree, "")))
            .collect::<Result<_, CgroupError>>()?,
    };
    for parent in &parents {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    for name in &names {
        UnitCgroup::locate_in(layout, subtree, name)?.remove()?;
    }
    Ok(names)
}

/// The directory under svcd's own cgroup that holds the units' cgroups.
pub const SUBTREE: &str = "svcd";

/// The directory of `unit` in `subtree` under svcd's own cgroup, in a hierarchy at `mount`.
fn unit_dir(mount: &Path, own: &str, subtree: &str, unit: &str) -> PathBuf {
    mount
        .join(own.trim_start_matches('/'))
        .join(subtree)
        .join(unit)
}

impl UnitCgroup {
    /// Where `unit`'s cgroup lives (nothing is created).
    pub fn locate(layout: &Layout, unit: &str) -> Result<UnitCgroup, CgroupError> {
        UnitCgroup::locate_in(layout, SUBTREE, unit)
    }

    /// Where `unit`'s cgroup lives in another `subtree` than svcd's usual one.
    pub fn locate_in(
        layout: &Layout,
        subtree: &str,
        unit: &str,
    ) -> Result<UnitCgroup, CgroupError> {
        let mut dirs = BTreeMap::new();
        match layout {
            Layout::V2 { root } => {
                dirs.insert(
                    String::new(),
                    unit_dir(root, &own_path(None)?, subtree, unit),
                );
            }
            Layout::V1 { controllers, .. } => {
                for (c, mount) in controllers {
                    dirs.insert(
                        c.clone(),
                        unit_dir(mount, &own_path(Some(c))?, subtree, unit),
                    );
                }
            }
        }
        Ok(UnitCgroup {
            layout: layout.clone(),
            dirs,
        })
    }

    /// Every directory, deduplicated (co-mounted v1 controllers share one).
    pub fn all_dirs(&self) -> Vec<&PathBuf> {
        let mut v: Vec<&PathBuf> = self.dirs.values().collect();
        v.sort();
        v.dedup();
        v
    }

    /// The directory a controller's files are in; an error naming the unit key that needs it
    /// when the host lacks the controller.
    pub fn dir_for(&self, controller: &str, key: &str) -> Result<&PathBuf, CgroupError> {
        let found = match self.layout {
            Layout::V2 { .. } => self.dirs.get(""),
            Layout::V1 { .. } => self.dirs.get(controller),
        };
        found.ok_or_else(|| CgroupError::MissingController {
            controller: controller.into(),
            key: key.into(),
        })
    }

    /// Create the cgroup (removing what a previous run left) and write the unit's limits.
    pub fn create(&self, unit: &Unit) -> Result<(), CgroupError> {
        self.remove()?;
        match &self.layout {
            Layout::V2 { root } => self.create_v2(root, unit),
            Layout::V1 { .. } => self.create_v1(unit),
        }
    }

    fn create_v1(&self, unit: &Unit) -> Result<(), CgroupError> {
        for dir in self.all_dirs() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        // A new cpuset starts empty: it takes its parent's CPUs and memory nodes (as every
        // level above it, created here, does).
        if let Some(dir) = self.dirs.get("cpuset") {
            inherit_cpuset(dir)?;
        }
        for s in limits::v1(&unit.resources) {
            write_setting(self.dir_for(s.controller, s.key)?, &s)?;
        }
        let dir = self.dir_for("devices", "devices")?;
        write(dir.join("devices.deny"), "a")?;
        for rule in devices::rules(unit) {
            write(dir.join("devices.allow"), &devices::rule_text(&rule))?;
        }
        Ok(())
    }

    fn create_v2(&self, root: &Path, unit: &Unit) -> Result<(), CgroupError> {
        let dir = &self.dirs[""];
        let settings = limits::v2(&unit.resources);
        // Enable each needed controller on the way down from svcd's own cgroup.
        let mut needed: Vec<&str> = settings.iter().map(|s| s.controller).collect();
        needed.extend(["memory", "pids", "cpu"]);
        needed.sort();
        needed.dedup();
        let available =
            fs::read_to_string(root.join("cgroup.controllers")).map_err(io_err(root))?;
        for s in &settings {
            if !available.split_whitespace().any(|c| c == s.controller) {
                return Err(CgroupError::MissingController {
                    controller: s.controller.into(),
                    key: s.key.into(),
                });
            }
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut level = dir.parent();
        let mut parents = Vec::new();
        while let Some(p) = level {
            parents.push(p.to_path_buf());
            if p == root {
                break;
            }
            level = p.parent();
        }
        for p in parents.iter().rev() {
            let enable: Vec<String> = needed
                .iter()
                .filter(|c| available.split_whitespace().any(|a| a == **c))
                .map(|c| format!("+{c}"))
                .collect();
            write(p.join("cgroup.subtree_control"), &enable.join(" "))?;
        }
        for s in settings {
            write_setting(dir, &s)?;
        }
        bpf_devices::attach(dir, &devices::rules(unit)).map_err(|e| CgroupError::Devices {
            path: dir.clone(),
            errno: e,
        })?;
        Ok(())
    }

    /// How a new process enters the cgroup: v1 `cgroup.procs` files to write its pid to, or
    /// the cgroup2 directory to clone it into.
    pub fn entry(&self) -> (Vec<PathBuf>, Option<PathBuf>) {
        match self.layout {
            Layout::V2 { .. } => (Vec::new(), self.dirs.get("").cloned()),
            Layout::V1 { .. } => {
                let procs = self.all_dirs().into_iter().map(|d| d.join("cgroup.procs"));
                (procs.collect(), None)
            }
        }
    }

    /// Pids in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(dir) = self
            .dirs
            .get("")
            .or_else(|| self.dirs.get("pids"))
            .or_else(|| self.dirs.values().next())
        else {
            return Vec::new();
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Kill every process in the cgroup: `cgroup.kill` on v2; on v1 freeze it so nothing can
    /// fork meanwhile, SIGKILL every process, and thaw it so the signals are delivered.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        match &self.layout {
            Layout::V2 { .. } => {
                let dir = &self.dirs[""];
                if dir.exists() {
                    write(dir.join("cgroup.kill"), "1")?;
                }
            }
            Layout::V1 { .. } => {
                let freezer = self.dirs.get("freezer").filter(|d| d.exists());
                if let Some(f) = freezer {
                    write(f.join("freezer.state"), "FROZEN")?;
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while fs::read_to_string(f.join("freezer.state"))
                        .is_ok_and(|s| s.trim() != "FROZEN")
                        && Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                for pid in self.pids() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                if let Some(f) = freezer {
                    write(f.join("freezer.state"), "THAWED")?;
                }
            }
        }
        Ok(())
    }

    /// Kill what is left, wait until the cgroup is empty, and remove its directories.
    pub fn remove(&self) -> Result<(), CgroupError> {
        if !self.all_dirs().iter().any(|d| d.exists()) {
            return Ok(());
        }
        self.kill_all()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in self.all_dirs() {
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    // Busy until the killed processes are reaped.
                    Err(e)
                        if Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) =>
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(io_err(dir)(e)),
                }
            }
            // svcd's own directory goes with its last unit (other units keep it busy).
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
        Ok(())
    }

    /// Read one file of a controller, trimmed.
    fn read(&self, controller: &str, file: &str) -> Option<String> {
        let dir = self.dir_for(controller, controller).ok()?;
        fs::read_to_string(dir.join(file))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// How many times the kernel's OOM killer has killed a process in the cgroup.
    pub fn oom_kills(&self) -> u64 {
        let text = match self.layout {
            Layout::V2 { .. } => self.read("memory", "memory.events"),
            Layout::V1 { .. } => self.read("memory", "memory.oom_control"),
        };
        text.unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Current and peak memory, CPU time, tasks and OOM kills.
    pub fn stats(&self) -> Stats {
        let num = |s: Option<String>| s.and_then(|v| v.parse::<u64>().ok());
        let (memory, peak, cpu_ns) = match self.layout {
            Layout::V2 { .. } => (
                num(self.read("memory", "memory.current")),
                num(self.read("memory", "memory.peak")),
                self.read("cpu", "cpu.stat").and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("usage_usec "))
                        .and_then(|u| u.parse::<u64>().ok())
                        .map(|u| u * 1000)
                }),
            ),
            Layout::V1 { .. } => (
                num(self.read("memory", "memory.usage_in_bytes")),
                num(self.read("memory", "memory.max_usage_in_bytes")),
                num(self.read("cpuacct", "cpuacct.usage")),
            ),
        };
        Stats {
            memory_current: memory,
            memory_peak: peak,
            cpu_usage_ns: cpu_ns,
            tasks: num(self.read("pids", "pids.current")),
            oom_kills: self.oom_kills(),
        }
    }
}

/// A unit's resource use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub memory_current: Option<u64>,
    pub memory_peak: Option<u64>,
    pub cpu_usage_ns: Option<u64>,
    pub tasks: Option<u64>,
    pub oom_kills: u64,
}

/// Write a limit; a file the host's kernel does not offer (blkio.weight without a weighting
/// I/O scheduler, memsw without swap accounting) fails the unit rather than being skipped.
fn write_setting(dir: &Path, s: &limits::Setting) -> Result<(), CgroupError> {
    let path = dir.join(s.file);
    if !path.exists() {
        return Err(CgroupError::MissingFile {
            file: s.file.into(),
            key: s.key.into(),
        });
    }
    write(path, &s.value)
}

fn write(path: PathBuf, value: &str) -> Result<(), CgroupError> {
    fs::write(&path, value).map_err(|e| CgroupError::Io { path, source: e })
}

/// Copy `cpuset.cpus` and `cpuset.mems` down from the nearest level that has them, into
/// every empty level down to `dir`.
fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| p.join("cpuset.cpus").exists())
        .collect();
    chain.reverse();
    for pair in chain.windows(2) {
        let (parent, child) = (pair[0], pair[1]);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let current = fs::read_to_string(child.join(file)).unwrap_or_default();
            if current.trim().is_empty() {
                let value = fs::read_to_string(parent.join(file)).map_err(io_err(parent))?;
                write(child.join(file), value.trim())?;
            }
        }
    }
    Ok(())
}
