//! A resolved profile compiled to a classic-BPF program with libseccomp, and that program
//! loaded into the kernel.

use std::io::{Read, Seek};
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use super::profile::{ActionKind, OpKind, Resolved, Verdict};

/// The kernel returns at most MAX_ERRNO (4095) whatever a filter says, and libseccomp takes
/// values below it only: profiles asking for more (Docker's example asks for 12345) get this.
const LARGEST_ERRNO: u32 = 4094;

fn action(v: Verdict) -> ScmpAction {
    match v.action {
        ActionKind::KillThread => ScmpAction::KillThread,
        ActionKind::KillProcess => ScmpAction::KillProcess,
        ActionKind::Trap => ScmpAction::Trap,
        ActionKind::Errno => ScmpAction::Errno(v.value.min(LARGEST_ERRNO) as i32),
        ActionKind::Trace => ScmpAction::Trace(v.value as u16),
        ActionKind::Allow => ScmpAction::Allow,
        ActionKind::Log => ScmpAction::Log,
        ActionKind::Notify => ScmpAction::Notify,
    }
}

fn compare(index: u32, op: OpKind, value: u64, value_two: u64) -> ScmpArgCompare {
    let (op, datum) = match op {
        OpKind::Ne => (ScmpCompareOp::NotEqual, value),
        OpKind::Lt => (ScmpCompareOp::Less, value),
        OpKind::Le => (ScmpCompareOp::LessOrEqual, value),
        OpKind::Eq => (ScmpCompareOp::Equal, value),
        OpKind::Ge => (ScmpCompareOp::GreaterEqual, value),
        OpKind::Gt => (ScmpCompareOp::Greater, value),
        // Docker's `value` is the mask and `valueTwo` what the masked argument must equal.
        OpKind::MaskedEq => (ScmpCompareOp::MaskedEqual(value), value_two),
    };
    ScmpArgCompare::new(index, op, datum)
}

/// Compile `profile` to the bytes of a `struct sock_filter` array. System calls that
/// libseccomp does not know on this host are left out (as runc does): a call the kernel does
/// not have cannot be made.
pub fn to_bpf(profile: &Resolved) -> Result<Vec<u8>, String> {
    let err = |what: &str, e: libseccomp::error::SeccompError| format!("{what}: {e}");
    let mut filter = ScmpFilterContext::new(action(profile.default))
        .map_err(|e| err("creating the filter", e))?;
    // The helper sets no_new_privs itself, when the unit asks for it.
    filter
        .set_ctl_nnp(false)
        .map_err(|e| err("setting no_new_privs off", e))?;
    for name in &profile.architectures {
        let arch = ScmpArch::from_str(name).map_err(|e| err(&format!("architecture {name}"), e))?;
        // The native architecture is in every new filter already.
        if arch != ScmpArch::native() {
            filter
                .add_arch(arch)
                .map_err(|e| err(&format!("adding architecture {name}"), e))?;
        }
    }
    for rule in &profile.rules {
        // libseccomp refuses a rule that repeats the default action; it would change nothing.
        if rule.verdict == profile.default {
            continue;
        }
        let Ok(syscall) = ScmpSyscall::from_name(&rule.syscall) else {
            continue;
        };
        let args: Vec<ScmpArgCompare> = rule
            .args
            .iter()
            .map(|&(i, op, v, v2)| compare(i, op, v, v2))
            .collect();
        filter
            .add_rule_conditional(action(rule.verdict), syscall, &args)
            .map_err(|e| err(&format!("rule for {}", rule.syscall), e))?;
    }
    let memfd =
        nix::sys::memfd::memfd_create(c"svcd-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| format!("memfd_create: {e}"))?;
    let mut file = std::fs::File::from(memfd);
    filter
        .export_bpf(&file)
        .map_err(|e| err("exporting the program", e))?;
    let mut bpf = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bpf))
        .map_err(|e| format!("reading the program back: {e}"))?;
    Ok(bpf)
}

/// Load a program made by [`to_bpf`] into the calling thread.
pub fn load(bpf: &[u8]) -> nix::Result<()> {
    const INSTRUCTION: usize = std::mem::size_of::<libc::sock_filter>();
    if !bpf.len().is_multiple_of(INSTRUCTION) || bpf.len() / INSTRUCTION > usize::from(u16::MAX) {
        return Err(nix::errno::Errno::EINVAL);
    }
    // Copy into properly aligned instructions.
    let program: Vec<libc::sock_filter> = bpf
        .chunks_exact(INSTRUCTION)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `program`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}
