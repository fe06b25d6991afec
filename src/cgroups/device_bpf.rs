//! The device cgroup on v2: v2 has no `devices.allow`; the kernel asks a BPF program of
//! type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup instead. hako compiles the
//! container's rules (the same list v1 gets) into one, as runc and crun do.
//!
//! v1 applies rules in order to a list; the program gets the same answers by checking the
//! rules from the last to the first: the first rule that matches the device decides
//! (a deny when it shares any requested access, an allow when it covers all of it). With
//! no match, the access is allowed, as in a cgroup without rules.

use super::DeviceRule;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction, as `struct bpf_insn`.
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

// Opcodes (linux/bpf.h): class | op | source.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

// struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; }
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// Registers: r2 type, r3 access, r4 major, r5 minor, r6 scratch.
pub fn compile(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_MOV_X, 3, 2, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let mut checks = vec![];
        match rule.kind {
            'c' => checks.push((2, DEV_CHAR)),
            'b' => checks.push((2, DEV_BLOCK)),
            _ => {}
        }
        if let Some(m) = rule.major {
            checks.push((4, m as i32));
        }
        if let Some(m) = rule.minor {
            checks.push((5, m as i32));
        }
        let access = access_bits(&rule.access);
        // Block: the checks, the access test (3), the verdict (2). A failed test skips
        // the rest of the block, so each jump's offset is what remains after it.
        let len = checks.len() + 5;
        for (i, (reg, value)) in checks.iter().enumerate() {
            prog.push(insn(JMP_JNE_K, *reg, 0, (len - i - 1) as i16, *value));
        }
        prog.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
        if rule.allow {
            // Allowed only if every requested bit is in the rule's access.
            prog.push(insn(ALU32_AND_K, 6, 0, 0, !access & 7));
            prog.push(insn(JMP_JNE_K, 6, 0, 2, 0));
        } else {
            // Denied if any requested bit is.
            prog.push(insn(ALU32_AND_K, 6, 0, 0, access));
            prog.push(insn(JMP_JEQ_K, 6, 0, 2, 0));
        }
        prog.push(insn(ALU64_MOV_K, 0, 0, 0, rule.allow as i32));
        prog.push(insn(EXIT, 0, 0, 0, 0));
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| {
        acc | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// Loads the program for `rules` and attaches it to the cgroup directory `dir`.
pub fn attach(dir: &Path, rules: &[DeviceRule]) -> std::io::Result<()> {
    let prog = compile(rules);
    let license = c"Apache";
    let mut log = vec![0u8; 4096];
    // union bpf_attr for BPF_PROG_LOAD, up to prog_name; the kernel wants the rest zero.
    let mut attr = [0u8; 128];
    let put32 =
        |a: &mut [u8; 128], at: usize, v: u32| a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 =
        |a: &mut [u8; 128], at: usize, v: u64| a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    put32(&mut attr, 0, 15); // BPF_PROG_TYPE_CGROUP_DEVICE
    put32(&mut attr, 4, prog.len() as u32);
    put64(&mut attr, 8, prog.as_ptr() as u64);
    put64(&mut attr, 16, license.as_ptr() as u64);
    put32(&mut attr, 24, 1); // log_level
    put32(&mut attr, 28, log.len() as u32);
    put64(&mut attr, 32, log.as_mut_ptr() as u64);
    // SAFETY: attr describes buffers that live until the call returns.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let verifier = String::from_utf8_lossy(&log);
        let verifier = verifier.trim_end_matches('\0').trim();
        return Err(std::io::Error::new(
            err.kind(),
            format!(
                "load the device program: {err}{}",
                if verifier.is_empty() {
                    String::new()
                } else {
                    format!(" ({verifier})")
                }
            ),
        ));
    }
    // SAFETY: the kernel just returned this descriptor to us.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir)?;
    // union bpf_attr for BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, flags.
    let mut attr = [0u8; 128];
    put32(&mut attr, 0, cgroup.as_raw_fd() as u32);
    put32(&mut attr, 4, prog_fd.as_raw_fd() as u32);
    put32(&mut attr, 8, 6); // BPF_CGROUP_DEVICE
    put32(&mut attr, 12, 2); // BPF_F_ALLOW_MULTI: beside what a parent (systemd) attached
                             // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, 8, attr.as_ptr(), attr.len()) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            err.kind(),
            format!("attach the device program: {err}"),
        ));
    }
    // The attachment holds the program; our descriptor may go.
    Ok(())
}

#[cfg(test)]
#[path = "device_bpf_tests.rs"]
mod tests;
