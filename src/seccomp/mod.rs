//! seccomp: an OCI `linux.seccomp` profile compiled into a classic BPF program the kernel
//! runs on every system call (seccomp(2)). Pure: the launcher installs the program.
//!
//! The program checks the architecture (anything but native x86_64, including the x32
//! ABI, gets the default action), then one small block per (syscall, rule): load the
//! number, compare, check the argument conditions, return the rule's action. A call no
//! block matches gets the default action. 64-bit arguments are compared as two 32-bit
//! halves (seccomp_data holds them little-endian).

pub mod default_profile;
mod syscalls_x86_64;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    #[error("linux.seccomp: {0} is not supported by hako yet")]
    Unsupported(String),
    #[error("linux.seccomp: seccomp filters are built for x86_64 only so far (this is {0})")]
    Arch(&'static str),
    #[error("linux.seccomp: the filter has {0} instructions, more than the kernel's 4096")]
    TooLong(usize),
    #[error("linux.seccomp: argument index {0} is out of range (0-5)")]
    BadArg(usize),
}

// The filter's kernel layout lives in `sys` (a leaf), which installs it.
pub use crate::sys::{Insn, Program};

const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JGT: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARGS: u32 = 16;

/// seccomp(2) return values.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
/// Handed to the agent holding the filter's listener (`SCMP_ACT_NOTIFY`).
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, SeccompError> {
    use LinuxSeccompAction::*;
    Ok(match a {
        ScmpActKill | ScmpActKillThread => RET_KILL_THREAD,
        ScmpActKillProcess => RET_KILL_PROCESS,
        ScmpActTrap => RET_TRAP,
        // EPERM unless the profile names another errno, as runc does.
        ScmpActErrno => RET_ERRNO | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        ScmpActTrace => RET_TRACE | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        ScmpActAllow => RET_ALLOW,
        ScmpActLog => RET_LOG,
        ScmpActNotify => RET_USER_NOTIF,
    })
}

pub fn syscall_number(name: &str) -> Option<u32> {
    let table = syscalls_x86_64::X86_64;
    table
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| table[i].1)
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// A jump to the end of the block being built, patched once its length is known.
const TO_END: u8 = 0xff;

pub fn compile(profile: &LinuxSeccomp) -> Result<Program, SeccompError> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(SeccompError::Arch(std::env::consts::ARCH));
    }
    let notifies = profile.default_action() == LinuxSeccompAction::ScmpActNotify
        || profile
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    if notifies && profile.listener_path().is_none() {
        return Err(SeccompError::Unsupported(
            "SCMP_ACT_NOTIFY without a listenerPath (the agent's socket)".into(),
        ));
    }
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        // The process could not even hand over the listener: runc refuses it too.
        return Err(SeccompError::Unsupported(
            "SCMP_ACT_NOTIFY as the default action".into(),
        ));
    }
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut prog = vec![
        insn(LD_ABS, 0, 0, OFFSET_ARCH),
        insn(JEQ, 1, 0, AUDIT_ARCH_X86_64),
        insn(RET, 0, 0, default),
        insn(LD_ABS, 0, 0, OFFSET_NR),
        insn(JGE, 0, 1, X32_SYSCALL_BIT),
        insn(RET, 0, 0, default),
    ];
    // Rules with argument conditions are checked first, one block each; calls allowed (or
    // refused) whatever their arguments are gathered by number for the range scan.
    let mut plain = std::collections::BTreeMap::new();
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        let ret = action(rule.action(), rule.errno_ret())?;
        let args = rule.args().as_deref().unwrap_or_default();
        for name in rule.names() {
            // Names this kernel's table lacks are skipped, as libseccomp does.
            let Some(nr) = syscall_number(name) else {
                continue;
            };
            if args.is_empty() {
                plain.entry(nr).or_insert(ret);
            } else if ret != default {
                prog.extend(block(nr, args, ret)?);
            }
        }
    }
    plain.retain(|_, ret| *ret != default);
    match range_scan(&plain, default) {
        Some(scan) => prog.extend(scan),
        None => {
            for (nr, ret) in &plain {
                prog.extend(block(*nr, &[], *ret)?);
            }
            prog.push(insn(RET, 0, 0, default));
        }
    }
    if prog.len() > 4096 {
        return Err(SeccompError::TooLong(prog.len()));
    }
    Ok(Program(prog))
}

/// The calls whose action does not depend on their arguments, as a scan over runs of
/// consecutive numbers with the same action: two comparisons per run instead of one block
/// per call, so Docker's ~350 allowed calls cost a few dozen instructions on the way to
/// any of them. `None` when the jumps would not fit BPF's 8-bit offsets.
fn range_scan(plain: &std::collections::BTreeMap<u32, u32>, default: u32) -> Option<Vec<Insn>> {
    let mut runs: Vec<(u32, u32, u32)> = vec![]; // (first, last, action)
    for (&nr, &ret) in plain {
        match runs.last_mut() {
            Some((_, last, r)) if *last + 1 == nr && *r == ret => *last = nr,
            _ => runs.push((nr, nr, ret)),
        }
    }
    let mut actions: Vec<u32> = runs.iter().map(|r| r.2).collect();
    actions.sort_unstable();
    actions.dedup();
    // Layout: LD nr, two jumps per run, RET default (a miss), one RET per action.
    let miss = 1 + 2 * runs.len();
    let ret_at = |a: u32| miss + 1 + actions.iter().position(|x| *x == a).unwrap_or(0);
    let rel = |from: usize, to: usize| u8::try_from(to - from - 1).ok();
    let mut scan = vec![insn(LD_ABS, 0, 0, OFFSET_NR)];
    for (first, last, ret) in &runs {
        // Below this run: below every later one too, so no rule matches.
        let at = scan.len();
        scan.push(insn(JGE, 0, rel(at, miss)?, *first));
        // Above it: on to the next run; inside it: its action.
        let at = scan.len();
        scan.push(insn(JGT, 0, rel(at, ret_at(*ret))?, *last));
    }
    scan.push(insn(RET, 0, 0, default));
    scan.extend(actions.iter().map(|a| insn(RET, 0, 0, *a)));
    Some(scan)
}

/// `nr` with every argument condition true → `ret`; otherwise on to the next block.
fn block(
    nr: u32,
    args: &[oci_spec::runtime::LinuxSeccompArg],
    ret: u32,
) -> Result<Vec<Insn>, SeccompError> {
    let mut b = vec![insn(LD_ABS, 0, 0, OFFSET_NR), insn(JEQ, 0, TO_END, nr)];
    for a in args {
        if a.index() > 5 {
            return Err(SeccompError::BadArg(a.index()));
        }
        let lo_at = OFFSET_ARGS + 8 * a.index() as u32;
        let hi_at = lo_at + 4;
        let (v_lo, v_hi) = (a.value() as u32, (a.value() >> 32) as u32);
        match a.op() {
            LinuxSeccompOperator::ScmpCmpEq => b.extend([
                insn(LD_ABS, 0, 0, lo_at),
                insn(JEQ, 0, TO_END, v_lo),
                insn(LD_ABS, 0, 0, hi_at),
                insn(JEQ, 0, TO_END, v_hi),
            ]),
            // Different in either half passes; equal in both fails.
            LinuxSeccompOperator::ScmpCmpNe => b.extend([
                insn(LD_ABS, 0, 0, lo_at),
                insn(JEQ, 0, 2, v_lo),
                insn(LD_ABS, 0, 0, hi_at),
                insn(JEQ, TO_END, 0, v_hi),
            ]),
            // (arg & value) == valueTwo
            LinuxSeccompOperator::ScmpCmpMaskedEq => {
                let mask = a.value();
                let want = a.value_two().unwrap_or(0);
                b.extend([
                    insn(LD_ABS, 0, 0, lo_at),
                    insn(AND, 0, 0, mask as u32),
                    insn(JEQ, 0, TO_END, want as u32),
                    insn(LD_ABS, 0, 0, hi_at),
                    insn(AND, 0, 0, (mask >> 32) as u32),
                    insn(JEQ, 0, TO_END, (want >> 32) as u32),
                ])
            }
            // Greater: the high halves decide unless equal, then the low ones do.
            op @ (LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe) => {
                let low = if op == LinuxSeccompOperator::ScmpCmpGt {
                    JGT
                } else {
                    JGE
                };
                b.extend([
                    insn(LD_ABS, 0, 0, hi_at),
                    insn(JGT, 3, 0, v_hi),
                    insn(JEQ, 0, TO_END, v_hi),
                    insn(LD_ABS, 0, 0, lo_at),
                    insn(low, 0, TO_END, v_lo),
                ])
            }
            // Less: the negation of greater-or-equal (LT) or of greater (LE).
            op @ (LinuxSeccompOperator::ScmpCmpLt | LinuxSeccompOperator::ScmpCmpLe) => {
                let low = if op == LinuxSeccompOperator::ScmpCmpLt {
                    JGE
                } else {
                    JGT
                };
                b.extend([
                    insn(LD_ABS, 0, 0, hi_at),
                    insn(JGE, 0, 3, v_hi),
                    insn(JEQ, 0, TO_END, v_hi),
                    insn(LD_ABS, 0, 0, lo_at),
                    insn(low, TO_END, 0, v_lo),
                ])
            }
        }
    }
    b.push(insn(RET, 0, 0, ret));
    // Patch the jumps to the end of the block (the next block's first instruction).
    let len = b.len();
    for (i, ins) in b.iter_mut().enumerate() {
        let to_end = (len - i - 1) as u8;
        if matches!(ins.code, JEQ | JGE | JGT) {
            if ins.jt == TO_END {
                ins.jt = to_end;
            }
            if ins.jf == TO_END {
                ins.jf = to_end;
            }
        }
    }
    Ok(b)
}

/// The program's verdict for one native call (for other modules' tests).
#[cfg(test)]
pub(crate) fn run_for_test(p: &Program, nr: u32, args: [u64; 6]) -> u32 {
    tests::run(p, AUDIT_ARCH_X86_64, nr, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program as the kernel would for one call (the opcodes `compile` emits).
    pub(super) fn run(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let word =
            |k: u32| u32::from_le_bytes(data[k as usize..k as usize + 4].try_into().unwrap());
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = p.0[pc];
            pc += 1;
            match i.code {
                LD_ABS => acc = word(i.k),
                AND => acc &= i.k,
                RET => return i.k,
                JEQ | JGE | JGT => {
                    let hit = match i.code {
                        JEQ => acc == i.k,
                        JGE => acc >= i.k,
                        _ => acc > i.k,
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn allow_list_with_errno_default_and_argument_rules() {
        let p = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0x7E02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ]
        })))
        .unwrap();
        let a = AUDIT_ARCH_X86_64;
        let nr = |n: &str| syscall_number(n).unwrap();
        let eperm = RET_ERRNO | 1;
        assert_eq!(run(&p, a, nr("read"), [0; 6]), RET_ALLOW);
        assert_eq!(run(&p, a, nr("mount"), [0; 6]), eperm);
        assert_eq!(run(&p, a, nr("personality"), [8, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            run(&p, a, nr("personality"), [8 | (1 << 32), 0, 0, 0, 0, 0]),
            eperm
        );
        assert_eq!(run(&p, a, nr("socket"), [2, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&p, a, nr("socket"), [40, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(run(&p, a, nr("clone"), [0x11, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            run(&p, a, nr("clone"), [0x1000_0000, 0, 0, 0, 0, 0]),
            eperm,
            "CLONE_NEWUSER"
        );
        assert_eq!(run(&p, a, nr("clone3"), [0; 6]), RET_ERRNO | 38);
        assert_eq!(
            run(&p, 0x4000_0003, 3, [0; 6]),
            eperm,
            "i386 gets the default"
        );
        assert_eq!(
            run(&p, a, nr("read") | X32_SYSCALL_BIT, [0; 6]),
            eperm,
            "x32"
        );
    }

    #[test]
    fn ordering_operators_compare_all_64_bits() {
        let rule = |op: &str| {
            compile(&profile(
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 0x1_0000_0005u64, "op": op}]}]}),
            ))
            .unwrap()
        };
        let v = 0x1_0000_0005u64;
        let cases = [
            (
                "SCMP_CMP_GT",
                [
                    (v + 1, true),
                    (v, false),
                    (v - 1, false),
                    (5, false),
                    (0x2_0000_0000, true),
                ],
            ),
            (
                "SCMP_CMP_GE",
                [
                    (v + 1, true),
                    (v, true),
                    (v - 1, false),
                    (5, false),
                    (0x2_0000_0000, true),
                ],
            ),
            (
                "SCMP_CMP_LT",
                [
                    (v + 1, false),
                    (v, false),
                    (v - 1, true),
                    (6, true),
                    (0x2_0000_0000, false),
                ],
            ),
            (
                "SCMP_CMP_LE",
                [
                    (v + 1, false),
                    (v, true),
                    (v - 1, true),
                    (6, true),
                    (0x2_0000_0000, false),
                ],
            ),
        ];
        for (op, checks) in cases {
            let p = rule(op);
            for (arg, refused) in checks {
                let got = run(&p, AUDIT_ARCH_X86_64, 0, [0, arg, 0, 0, 0, 0]);
                assert_eq!(got != RET_ALLOW, refused, "{op} with {arg:#x}");
            }
        }
    }

    #[test]
    fn many_plain_rules_become_a_short_range_scan() {
        let names: Vec<&str> = syscalls_x86_64::X86_64
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| *n != "mount")
            .collect();
        let p = compile(&profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}),
        ))
        .unwrap();
        assert!(p.0.len() < 40, "{} instructions", p.0.len());
        for (name, nr) in syscalls_x86_64::X86_64 {
            let want = if *name == "mount" {
                RET_ERRNO | 1
            } else {
                RET_ALLOW
            };
            assert_eq!(run(&p, AUDIT_ARCH_X86_64, *nr, [0; 6]), want, "{name}");
        }
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 5000, [0; 6]), RET_ERRNO | 1);
    }

    #[test]
    fn refusals() {
        let notify = profile(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(compile(&notify).is_err());
        let bad_arg = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
        );
        assert!(matches!(compile(&bad_arg), Err(SeccompError::BadArg(6))));
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("execve"), Some(59));
    }
}
