//! Joining other services' namespaces, and bringing up loopback in a new network namespace.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};

use super::stage::{Stage, StartError};

/// Enter each `(CLONE_NEW*, /proc/PID/ns/…)` namespace. Run in the helper before the
/// service's process is cloned: it inherits them.
pub fn join(joins: &[(i32, PathBuf)]) -> Result<(), StartError> {
    for (flag, path) in joins {
        let file = std::fs::File::open(path)
            .map_err(|e| StartError::io(Stage::Setns, &e, path.display().to_string()))?;
        setns(&file, CloneFlags::from_bits_retain(*flag))
            .map_err(|e| StartError::sys(Stage::Setns, e, path.display().to_string()))?;
    }
    Ok(())
}

/// Set `lo` up in the current network namespace.
pub fn loopback_up() -> nix::Result<()> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: an all-zero `ifreq` is valid; the name is set below within its bounds.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq for the duration of both calls, and the ioctls only read
    // and write within it.
    unsafe {
        Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req))?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req))?;
    }
    Ok(())
}
