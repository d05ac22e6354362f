//! The service's file system view: its root bound at the staging directory, then volumes,
//! tmpfs, /proc, a minimal /dev, /sys and Docker's masked paths, then `pivot_root`.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::plan::{MountPlan, STAGING_DIR, SysMount};
use super::stage::{Stage, StartError};

/// Paths Docker hides from services: a tmpfs over directories, /dev/null over files.
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only.
const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes every service gets.
const DEFAULT_DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

const NONE: Option<&str> = None;

/// `path` inside the staging root.
fn inside(path: &Path) -> PathBuf {
    Path::new(STAGING_DIR).join(path.strip_prefix("/").unwrap_or(path))
}

fn mount_at(
    stage: Stage,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), StartError> {
    mount(source, target, fstype, flags, data)
        .map_err(|e| StartError::sys(stage, e, target.display().to_string()))
}

fn mkdir_all(stage: Stage, path: &Path) -> Result<(), StartError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| StartError::io(stage, &e, path.display().to_string()))
}

/// Make `target` exist as the same kind of thing as `source`, to mount one on the other.
fn mount_point(stage: Stage, source: &Path, target: &Path) -> Result<(), StartError> {
    if source.is_dir() {
        return mkdir_all(stage, target);
    }
    if let Some(parent) = target.parent() {
        mkdir_all(stage, parent)?;
    }
    if target.symlink_metadata().is_err() {
        fs::File::create(target)
            .map_err(|e| StartError::io(stage, &e, target.display().to_string()))?;
    }
    Ok(())
}

/// Set mount attributes on a whole tree (`mount_setattr(2)` with `AT_RECURSIVE`): unlike a
/// remount, this reaches every submount and keeps the flags a user namespace may not clear.
fn set_read_only(stage: Stage, path: &Path) -> Result<(), StartError> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| StartError::sys(stage, Errno::EINVAL, path.display().to_string()))?;
    // SAFETY: `c_path` and `attr` outlive the call; the size passed is that of `attr`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc)
        .map(drop)
        .map_err(|e| StartError::sys(stage, e, path.display().to_string()))
}

/// Assemble the root at the staging directory and switch to it. Runs in the service's
/// process, in its own mount namespace.
pub fn setup(
    plan: &MountPlan,
    own_ipc: bool,
    sysctls: &[(String, String)],
) -> Result<(), StartError> {
    let staging = Path::new(STAGING_DIR);
    // Nothing done from here on may reach the host's mount table.
    mount_at(
        Stage::MountPrivate,
        NONE.map(Path::new),
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    mount_at(
        Stage::BindRoot,
        Some(&plan.root),
        staging,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    // Mount points are made first: a read-only root cannot take new directories.
    for bind in &plan.binds {
        mount_point(Stage::Volumes, &bind.source, &inside(&bind.target))?;
    }
    for t in &plan.tmpfs {
        mkdir_all(Stage::Tmpfs, &inside(&t.target))?;
    }
    if plan.read_only {
        set_read_only(Stage::ReadOnlyRoot, staging)?;
    }
    for bind in &plan.binds {
        let target = inside(&bind.target);
        mount_at(
            Stage::Volumes,
            Some(&bind.source),
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        let propagation = MsFlags::from_bits_retain(bind.propagation);
        mount_at(Stage::Volumes, None, &target, None, propagation, None)?;
        if bind.read_only {
            set_read_only(Stage::Volumes, &target)?;
        }
    }
    for t in &plan.tmpfs {
        let flags = MsFlags::from_bits_retain(t.flags);
        let data = (!t.data.is_empty()).then_some(t.data.as_str());
        mount_at(
            Stage::Tmpfs,
            Some(Path::new("tmpfs")),
            &inside(&t.target),
            Some("tmpfs"),
            flags,
            data,
        )?;
    }
    let proc_dir = staging.join("proc");
    mkdir_all(Stage::MountProc, &proc_dir)?;
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_at(
        Stage::MountProc,
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        nosuid_nodev_noexec,
        None,
    )?;
    for (name, value) in sysctls {
        let path = proc_dir.join("sys").join(name.replace('.', "/"));
        fs::write(&path, value)
            .map_err(|e| StartError::io(Stage::Sysctls, &e, format!("{name}={value}")))?;
    }
    mount_dev(plan, own_ipc)?;
    mount_sys(plan.sys)?;
    if plan.mask_paths {
        mask_paths()?;
    }
    pivot()
}

fn mount_dev(plan: &MountPlan, own_ipc: bool) -> Result<(), StartError> {
    let dev = Path::new(STAGING_DIR).join("dev");
    mkdir_all(Stage::MountDev, &dev)?;
    if plan.all_devices {
        mount_at(
            Stage::MountDev,
            Some(Path::new("/dev")),
            &dev,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
    } else {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
        mount_at(
            Stage::MountDev,
            Some(Path::new("tmpfs")),
            &dev,
            Some("tmpfs"),
            flags,
            Some("mode=755,size=65536k"),
        )?;
        // Device nodes are bound from the host's /dev: that works inside a user namespace,
        // where mknod does not, and keeps the host's type, numbers and mode.
        let defaults = DEFAULT_DEVICES
            .iter()
            .map(|d| (PathBuf::from("/dev").join(d), PathBuf::from("/dev").join(d)));
        for (host, target) in defaults.chain(plan.devices.iter().cloned()) {
            let target = inside(&target);
            mount_point(Stage::Devices, &host, &target)?;
            mount_at(
                Stage::Devices,
                Some(&host),
                &target,
                None,
                MsFlags::MS_BIND,
                None,
            )?;
        }
        for (link, to) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            symlink(to, dev.join(link)).map_err(|e| StartError::io(Stage::MountDev, &e, link))?;
        }
    }
    let pts = dev.join("pts");
    mkdir_all(Stage::MountDev, &pts)?;
    let pts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount_at(
        Stage::MountDev,
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        pts_flags,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = dev.join("shm");
    mkdir_all(Stage::MountDev, &shm)?;
    let data = format!("mode=1777,size={}", plan.shm_size);
    let shm_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_at(
        Stage::MountDev,
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        shm_flags,
        Some(&data),
    )?;
    // A mqueue file system shows the queues of the IPC namespace that mounts it, so only a
    // service with an IPC namespace it owns gets one.
    if own_ipc {
        let mqueue = dev.join("mqueue");
        mkdir_all(Stage::MountDev, &mqueue)?;
        mount_at(
            Stage::MountDev,
            Some(Path::new("mqueue")),
            &mqueue,
            Some("mqueue"),
            shm_flags,
            None,
        )?;
    }
    Ok(())
}

fn mount_sys(mode: SysMount) -> Result<(), StartError> {
    let sys = Path::new(STAGING_DIR).join("sys");
    mkdir_all(Stage::MountSys, &sys)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match mode {
        SysMount::Fresh => mount_at(
            Stage::MountSys,
            Some(Path::new("sysfs")),
            &sys,
            Some("sysfs"),
            flags | MsFlags::MS_RDONLY,
            None,
        ),
        SysMount::HostReadOnly | SysMount::HostWritable => {
            mount_at(
                Stage::MountSys,
                Some(Path::new("/sys")),
                &sys,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            if mode == SysMount::HostReadOnly {
                set_read_only(Stage::MountSys, &sys)?;
            }
            Ok(())
        }
    }
}

fn mask_paths() -> Result<(), StartError> {
    for path in MASKED {
        let target = inside(Path::new(path));
        let result = match target.symlink_metadata() {
            Err(_) => continue,
            Ok(meta) if meta.is_dir() => mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
            ),
            Ok(_) => mount(
                Some(&inside(Path::new("/dev/null"))),
                &target,
                NONE,
                MsFlags::MS_BIND,
                NONE,
            ),
        };
        result.map_err(|e| StartError::sys(Stage::MaskPaths, e, *path))?;
    }
    for path in READ_ONLY {
        let target = inside(Path::new(path));
        if target.symlink_metadata().is_err() {
            continue;
        }
        mount_at(
            Stage::MaskPaths,
            Some(&target),
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        set_read_only(Stage::MaskPaths, &target)?;
    }
    Ok(())
}

/// Make the staging directory `/` and detach the old root.
fn pivot() -> Result<(), StartError> {
    let fail = |e| StartError::sys(Stage::PivotRoot, e, "");
    nix::unistd::chdir(STAGING_DIR).map_err(fail)?;
    // With new and old root the same directory, the old root ends up stacked under the new
    // one, from where it is detached; no directory for it is needed.
    nix::unistd::pivot_root(".", ".").map_err(fail)?;
    umount2(".", MntFlags::MNT_DETACH).map_err(fail)?;
    nix::unistd::chdir("/").map_err(fail)
}
