//! Watching a unit's cgroup for OOM kills as they happen: inotify on `memory.events` (v2), an
//! eventfd registered on `memory.oom_control` (v1). Either gives a descriptor to poll; the
//! cgroup's `oom_kill` counter then says how many kills there were.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::{CgroupError, Layout, UnitCgroup};

enum Source {
    Inotify(Inotify),
    EventFd {
        fd: EventFd,
        /// Kept open while the eventfd is registered on it.
        _oom_control: std::fs::File,
    },
}

/// A readable descriptor whenever the OOM killer acted in the cgroup.
pub struct OomWatch {
    source: Source,
    cgroup: UnitCgroup,
    seen: u64,
}

impl OomWatch {
    pub fn new(cgroup: &UnitCgroup) -> Result<OomWatch, CgroupError> {
        let dir = cgroup.dir_for("memory", "oom_policy")?.clone();
        let fail = |path: &std::path::Path, e: nix::errno::Errno| CgroupError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::from(e),
        };
        let source = match cgroup.layout {
            Layout::V2 { .. } => {
                let events = dir.join("memory.events");
                let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
                    .map_err(|e| fail(&events, e))?;
                inotify
                    .add_watch(&events, AddWatchFlags::IN_MODIFY)
                    .map_err(|e| fail(&events, e))?;
                Source::Inotify(inotify)
            }
            Layout::V1 { .. } => {
                let control = dir.join("memory.oom_control");
                let file = std::fs::File::open(&control).map_err(|e| CgroupError::Io {
                    path: control.clone(),
                    source: e,
                })?;
                let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                    .map_err(|e| fail(&control, e))?;
                let registration = format!("{} {}", efd.as_raw_fd(), file.as_raw_fd());
                let event_control = dir.join("cgroup.event_control");
                std::fs::write(&event_control, registration).map_err(|e| CgroupError::Io {
                    path: event_control,
                    source: e,
                })?;
                Source::EventFd {
                    fd: efd,
                    _oom_control: file,
                }
            }
        };
        Ok(OomWatch {
            source,
            cgroup: cgroup.clone(),
            seen: cgroup.oom_kills(),
        })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::Inotify(i) => i.as_fd(),
            Source::EventFd { fd, .. } => fd.as_fd(),
        }
    }

    /// Drain the descriptor and return how many OOM kills happened since the last call.
    pub fn new_kills(&mut self) -> u64 {
        match &self.source {
            Source::Inotify(i) => while matches!(i.read_events(), Ok(ev) if !ev.is_empty()) {},
            Source::EventFd { fd, .. } => while fd.read().is_ok() {},
        }
        let total = self.cgroup.oom_kills();
        let new = total.saturating_sub(self.seen);
        self.seen = total;
        new
    }

    /// Every OOM kill so far.
    pub fn total(&self) -> u64 {
        self.seen
    }
}
