//! Device control on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program, built from the unit's
//! device rules, loaded with bpf(2) and attached to its cgroup. It allows an access when some
//! rule covers its type, numbers and every requested kind of access, and denies all else.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use crate::unit::value::{DeviceAccess, DeviceRule, DeviceType};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes: class | operation | source.
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// `struct bpf_cgroup_dev_ctx`: access_type (type | access << 16), major, minor.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_bits(a: DeviceAccess) -> i32 {
    (if a.mknod { ACC_MKNOD } else { 0 })
        | (if a.read { ACC_READ } else { 0 })
        | (if a.write { ACC_WRITE } else { 0 })
}

/// The program for `rules` (registers: r2 type, r3 access, r4 major, r5 minor).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV32_X, 3, 2, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        let mut block = Vec::new();
        // Each failed check jumps past the rest of this rule's block, to the next rule.
        let mut jumps = Vec::new();
        let mut check = |block: &mut Vec<Insn>, reg: u8, value: i32| {
            jumps.push(block.len());
            block.push(insn(JNE_K, reg, 0, 0, value));
        };
        match rule.kind {
            DeviceType::Block => check(&mut block, 2, DEV_BLOCK),
            DeviceType::Char => check(&mut block, 2, DEV_CHAR),
            DeviceType::All => {}
        }
        let allowed = access_bits(rule.access);
        if allowed != ACC_MKNOD | ACC_READ | ACC_WRITE {
            // The requested kinds of access outside the rule's must be none.
            block.push(insn(MOV32_X, 6, 3, 0, 0));
            block.push(insn(AND32_K, 6, 0, 0, !allowed & 0x7));
            check(&mut block, 6, 0);
        }
        if let Some(major) = rule.major {
            check(&mut block, 4, major as i32);
        }
        if let Some(minor) = rule.minor {
            check(&mut block, 5, minor as i32);
        }
        block.push(insn(MOV64_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        for j in jumps {
            block[j].off = (block.len() - j - 1) as i16;
        }
        p.extend(block);
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// `union bpf_attr` for BPF_PROG_LOAD, as far as svcd fills it.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// Load the program for `rules` and attach it to the cgroup directory `dir`. The program
/// stays attached after its descriptor closes, for as long as the cgroup exists.
pub fn attach(dir: &Path, rules: &[DeviceRule]) -> Result<(), Errno> {
    let insns = program(rules);
    let license = c"GPL";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"svcd_device");
    let load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    // SAFETY: `load` points at `insns` and `license`, which outlive the call; the size passed
    // is that of `load`.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &load as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    let fd = Errno::result(fd)? as i32;
    // SAFETY: bpf(2) just returned this descriptor, which nothing else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(fd) };
    let cgroup = std::fs::File::open(dir).map_err(|e| crate::sandbox::stage::errno_of(&e))?;
    let attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attach` is valid for the call and the size passed is its size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    };
    Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::value::parse_device_rule;

    #[test]
    fn a_rule_block_checks_type_access_and_numbers() {
        let rule = parse_device_rule("c 1:3 rw").unwrap();
        let p = program(&[rule]);
        // 6 loads and shifts, the block (type, access mask, major, minor, allow), the deny.
        assert_eq!(p.len(), 6 + 8 + 2);
        let block = &p[6..14];
        assert_eq!(
            (block[0].code, block[0].imm, block[0].off),
            (JNE_K, DEV_CHAR, 7)
        );
        // mknod (1) is the only kind outside `rw`.
        assert_eq!((block[2].code, block[2].imm), (AND32_K, 1));
        assert_eq!((block[3].code, block[3].off), (JNE_K, 4));
        assert_eq!((block[4].imm, block[4].off), (1, 3));
        assert_eq!((block[5].imm, block[5].off), (3, 2));
        assert_eq!((block[6].code, block[6].imm), (MOV64_K, 1));
        assert_eq!(p[p.len() - 2], insn(MOV64_K, 0, 0, 0, 0));
    }

    #[test]
    fn wildcards_need_no_checks() {
        let p = program(&[parse_device_rule("a *:* rwm").unwrap()]);
        assert_eq!(
            &p[6..8],
            &[insn(MOV64_K, 0, 0, 0, 1), insn(EXIT, 0, 0, 0, 0)]
        );
    }
}
