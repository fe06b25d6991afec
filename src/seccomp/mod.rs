//! seccomp: an OCI `linux.seccomp` profile compiled into the classic BPF program the kernel
//! runs on every system call (seccomp(2)). Pure: the launcher installs the program.
//!
//! libseccomp does the compiling: it knows every architecture's call table, the calls that
//! are multiplexed on some of them (socketcall, ipc), how to compare 64-bit arguments on a
//! 32-bit machine and how to lay the rules out as a search tree. hako exports the program
//! instead of letting libseccomp load it, so the launcher installs it through its `Sys`
//! seam like any other step (the fake records it in tests, and `SCMP_ACT_NOTIFY` keeps the
//! listener for the agent).
//!
//! One thing goes in front of libseccomp's program, as runc does: a native call numbered
//! above every call the profile names gets ENOSYS instead of the default action. A profile
//! written before a kernel added a call cannot list it, and the C library probes new calls
//! (close_range, clone3, faccessat2) expecting ENOSYS where the kernel is older: EPERM
//! would make it fail instead of falling back.

mod cache;
pub mod default_profile;
#[cfg(test)]
mod interpret;

use libseccomp::ScmpSyscall;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    #[error("linux.seccomp: {0} is not supported by hako yet")]
    Unsupported(String),
    #[error("linux.seccomp: architecture {0} is not one libseccomp knows")]
    Arch(String),
    #[error("linux.seccomp: the filter has {0} instructions, more than the kernel's 4096")]
    TooLong(usize),
    #[error("linux.seccomp: argument index {0} is out of range (0-5)")]
    BadArg(usize),
    #[error("linux.seccomp: libseccomp refused {what}: {cause}")]
    Library { what: String, cause: String },
}

pub use cache::compile_cached;
// The filter's kernel layout lives in `sys` (a leaf), which installs it.
pub use crate::sys::{Insn, Program};

const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

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

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    use LinuxSeccompAction::*;
    // EPERM unless the profile names another errno, as runc does.
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    match a {
        ScmpActKill | ScmpActKillThread => ScmpAction::KillThread,
        ScmpActKillProcess => ScmpAction::KillProcess,
        ScmpActTrap => ScmpAction::Trap,
        ScmpActErrno => ScmpAction::Errno(errno),
        ScmpActTrace => ScmpAction::Trace(errno as u16),
        ScmpActAllow => ScmpAction::Allow,
        ScmpActLog => ScmpAction::Log,
        ScmpActNotify => ScmpAction::Notify,
    }
}

/// Whether the default action stops calls (an allow-list), so that new calls should get
/// ENOSYS and other architectures the default rather than libseccomp's kill.
fn refuses(default: ScmpAction) -> bool {
    matches!(
        default,
        ScmpAction::Errno(_) | ScmpAction::KillThread | ScmpAction::KillProcess | ScmpAction::Trap
    )
}

fn library(
    what: impl Into<String>,
) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let what = what.into();
    move |e| SeccompError::Library {
        what,
        cause: e.to_string(),
    }
}

/// This machine's number for a call, `None` where its table has no such call.
pub fn syscall_number(name: &str) -> Option<u32> {
    let nr = i32::from(ScmpSyscall::from_name_by_arch(name, ScmpArch::native()).ok()?);
    u32::try_from(nr).ok()
}

pub fn compile(profile: &LinuxSeccomp) -> Result<Program, SeccompError> {
    check_notify(profile)?;
    let default = action(profile.default_action(), profile.default_errno_ret());
    let mut filter = ScmpFilterContext::new(default).map_err(library("the default action"))?;
    // A search tree over the calls instead of a list: Docker's ~350 allowed calls cost a
    // handful of comparisons on the way to any of them.
    filter
        .set_ctl_optimize(2)
        .map_err(library("the binary-tree layout"))?;
    if refuses(default) {
        filter
            .set_act_badarch(default)
            .map_err(library("the action for other architectures"))?;
    }
    for arch in profile.architectures().iter().flatten() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let arch: ScmpArch = name.parse().map_err(|_| SeccompError::Arch(name.clone()))?;
        filter
            .add_arch(arch)
            .map_err(library(format!("architecture {name}")))?;
    }
    let mut newest_named: Option<u32> = None;
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        let act = action(rule.action(), rule.errno_ret());
        let conditions = conditions(rule.args().as_deref().unwrap_or_default())?;
        for name in rule.names() {
            // Names this libseccomp does not know are skipped, as runc and crun do: a
            // profile may list calls of newer kernels or other architectures.
            let Ok(call) = ScmpSyscall::from_name(name) else {
                continue;
            };
            if let Ok(nr) = u32::try_from(i32::from(call)) {
                newest_named = newest_named.max(Some(nr));
            }
            if act == default {
                continue; // libseccomp refuses a rule that changes nothing
            }
            add_rule(&mut filter, call, act, &conditions)
                .map_err(library(format!("the rule for {name}")))?;
        }
    }
    let mut program = export(&filter)?;
    if let (Some(newest), true) = (newest_named, refuses(default)) {
        let mut stub = newer_calls_get_enosys(newest);
        stub.append(&mut program.0);
        program.0 = stub;
    }
    if program.0.len() > 4096 {
        return Err(SeccompError::TooLong(program.0.len()));
    }
    Ok(program)
}

fn check_notify(profile: &LinuxSeccomp) -> Result<(), SeccompError> {
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
    Ok(())
}

fn conditions(args: &[LinuxSeccompArg]) -> Result<Vec<ScmpArgCompare>, SeccompError> {
    args.iter()
        .map(|a| {
            if a.index() > 5 {
                return Err(SeccompError::BadArg(a.index()));
            }
            use LinuxSeccompOperator::*;
            let (op, datum) = match a.op() {
                ScmpCmpEq => (ScmpCompareOp::Equal, a.value()),
                ScmpCmpNe => (ScmpCompareOp::NotEqual, a.value()),
                ScmpCmpLt => (ScmpCompareOp::Less, a.value()),
                ScmpCmpLe => (ScmpCompareOp::LessOrEqual, a.value()),
                ScmpCmpGt => (ScmpCompareOp::Greater, a.value()),
                ScmpCmpGe => (ScmpCompareOp::GreaterEqual, a.value()),
                // (arg & value) == valueTwo
                ScmpCmpMaskedEq => (
                    ScmpCompareOp::MaskedEqual(a.value()),
                    a.value_two().unwrap_or(0),
                ),
            };
            Ok(ScmpArgCompare::new(a.index() as u32, op, datum))
        })
        .collect()
}

/// One rule: all conditions must hold, except that several conditions on the same
/// argument are alternatives (each its own rule), which is how runc reads the spec.
fn add_rule(
    filter: &mut ScmpFilterContext,
    call: ScmpSyscall,
    act: ScmpAction,
    conditions: &[ScmpArgCompare],
) -> Result<(), libseccomp::error::SeccompError> {
    let index = |c: &ScmpArgCompare| libseccomp_sys::scmp_arg_cmp::from(c).arg;
    let mut indexes: Vec<u32> = conditions.iter().map(index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    if conditions.is_empty() {
        filter.add_rule(act, call)?;
    } else if indexes.len() == conditions.len() {
        filter.add_rule_conditional(act, call, conditions)?;
    } else {
        for c in conditions {
            filter.add_rule_conditional(act, call, std::slice::from_ref(c))?;
        }
    }
    Ok(())
}

/// libseccomp's program, written to a memory file and read back as instructions.
fn export(filter: &ScmpFilterContext) -> Result<Program, SeccompError> {
    use std::io::{Read, Seek};
    let fd = nix::sys::memfd::memfd_create(
        c"hako-seccomp",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| SeccompError::Library {
        what: "a memory file for the program".into(),
        cause: e.to_string(),
    })?;
    filter
        .export_bpf(&fd)
        .map_err(library("exporting the program"))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = vec![];
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| SeccompError::Library {
            what: "reading the program back".into(),
            cause: e.to_string(),
        })?;
    Ok(Program(
        bytes
            .chunks_exact(8)
            .map(|i| Insn {
                code: u16::from_ne_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
            })
            .collect(),
    ))
}

/// native call above `newest` → ENOSYS; anything else on to libseccomp's program.
fn newer_calls_get_enosys(newest: u32) -> Vec<Insn> {
    let native = unsafe { libseccomp_sys::seccomp_arch_native() };
    let insn = |code, jt, jf, k| Insn { code, jt, jf, k };
    vec![
        insn(LD_ABS, 0, 0, OFFSET_ARCH),
        insn(JEQ, 0, 3, native),
        insn(LD_ABS, 0, 0, OFFSET_NR),
        insn(JGT, 0, 1, newest),
        insn(RET, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
    ]
}

/// The program's verdict for one native call (for other modules' tests).
#[cfg(test)]
pub(crate) fn run_for_test(p: &Program, nr: u32, args: [u64; 6]) -> u32 {
    interpret::run(
        p,
        unsafe { libseccomp_sys::seccomp_arch_native() },
        nr,
        args,
    )
}

#[cfg(test)]
mod tests;
