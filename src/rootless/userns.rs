//! Entering the user namespace a rootless hako works in.
//!
//! Every rootless command makes a fresh user namespace with the same maps, so the store's
//! files keep the same owners from one command to the next: hako is root in there,
//! unpacks layers with their real owners (shifted into the user's subordinate range on
//! disk), mounts overlays and creates the container's other namespaces. A running
//! container's namespaces belong to the user namespace of the hako that started it, so
//! `exec` and `cp` into it join that one instead (the user owns it, which is enough).
//!
//! ```text
//!   hako (uid 1000)                                helper (fork, stays outside)
//!   ───────────────                                ────────────────────────────
//!   fork ───────────────────────────────────────►  waits on the pipe
//!   unshare(CLONE_NEWUSER)
//!   write(pipe) ────────────────────────────────►  newuidmap PID 0 1000 1 1 100000 65536
//!                                                  newgidmap PID 0 1000 1 1 100000 65536
//!   waitpid(helper) ◄──────────── exit status ──── exit
//!   now uid 0 inside, with every capability over what the namespace owns
//! ```
//!
//! The helper must be forked before `unshare`: a process inside the new namespace could
//! not use the setuid `newuidmap` (host root is not mapped there, so the bit is ignored).

use super::idmap::{IdRange, Mapping};
use super::RootlessError;
use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Pid};
use std::io::{Read, Write};

/// Unshares a new user namespace for this (single-threaded) process and maps it.
pub fn enter_new(mapping: &Mapping) -> Result<(), RootlessError> {
    if mapping.single() {
        unshare_user()?;
        return write_own_maps(mapping);
    }
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RootlessError::Helper(format!("pipe: {e}")))?;
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RootlessError::Helper(format!("pipe: {e}")))?;
    let target = nix::unistd::getpid();
    // SAFETY: hako is single-threaded here (nothing has started a thread yet), so the
    // child may run ordinary code; it ends in `_exit`, never returning into our callers.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop(go_write);
            drop(report_read);
            let code = run_helper(target, mapping, go_read, report_write);
            // SAFETY: _exit in a forked child skips the parent's atexit state.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(go_read);
            drop(report_write);
            let unshared = unshare_user();
            // Tell the helper either way: on failure it just exits.
            let mut go = std::fs::File::from(go_write);
            let _ = go.write_all(if unshared.is_ok() { b"1" } else { b"0" });
            drop(go);
            let mut report = String::new();
            let _ = std::fs::File::from(report_read).read_to_string(&mut report);
            let status = nix::sys::wait::waitpid(child, None);
            unshared?;
            match status {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                _ => Err(RootlessError::Helper(report.trim().to_string())),
            }
        }
        Err(e) => Err(RootlessError::Helper(format!("fork: {e}"))),
    }
}

/// Joins the user namespace that `pid` (a running container's init) lives in.
pub fn join(pid: i32) -> Result<(), RootlessError> {
    let path = format!("/proc/{pid}/ns/user");
    let ns = std::fs::File::open(&path).map_err(|e| RootlessError::Join {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    nix::sched::setns(ns, CloneFlags::CLONE_NEWUSER).map_err(|e| RootlessError::Join {
        path,
        detail: e.to_string(),
    })
}

fn unshare_user() -> Result<(), RootlessError> {
    crate::trace::step(
        "rootless",
        "unshare",
        || "CLONE_NEWUSER".to_string(),
        || nix::sched::unshare(CloneFlags::CLONE_NEWUSER),
    )
    .map_err(|errno| RootlessError::Unshare {
        errno,
        detected: userns_sysctls(),
    })
}

/// The settings that switch unprivileged user namespaces off, as this host has them.
fn userns_sysctls() -> String {
    [
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ]
    .iter()
    .filter_map(|p| {
        let value = std::fs::read_to_string(p).ok()?;
        let key = p.trim_start_matches("/proc/sys/").replace('/', ".");
        Some(format!("{key}={}", value.trim()))
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// A single-id map needs no helper: a process may map its own ids (after giving up
/// `setgroups`, which could otherwise drop a group that denies it access).
fn write_own_maps(mapping: &Mapping) -> Result<(), RootlessError> {
    let write = |file: &str, text: String| {
        crate::trace::step(
            "rootless",
            "write",
            || format!("/proc/self/{file} {}", text.trim()),
            || std::fs::write(format!("/proc/self/{file}"), &text),
        )
        .map_err(|e| RootlessError::Helper(format!("write /proc/self/{file}: {e}")))
    };
    let line = |r: &[IdRange]| format!("{} {} {}\n", r[0].inside, r[0].outside, r[0].count);
    write("setgroups", "deny\n".into())?;
    write("uid_map", line(&mapping.uids))?;
    write("gid_map", line(&mapping.gids))
}

/// The helper's whole life: wait for the go-ahead, map the ids, exit 0 on success.
fn run_helper(
    target: Pid,
    mapping: &Mapping,
    go: std::os::fd::OwnedFd,
    report: std::os::fd::OwnedFd,
) -> i32 {
    let mut report = std::fs::File::from(report);
    let mut byte = [0u8; 1];
    if std::fs::File::from(go).read_exact(&mut byte).is_err() || byte[0] != b'1' {
        return 1;
    }
    for (tool, ranges) in [("newuidmap", &mapping.uids), ("newgidmap", &mapping.gids)] {
        let shown = format!("{tool} {target} {}", Mapping::helper_args(ranges).join(" "));
        let out = std::process::Command::new(tool)
            .arg(target.as_raw().to_string())
            .args(Mapping::helper_args(ranges))
            .stdin(std::process::Stdio::null())
            .output();
        crate::trace::note("rootless", tool, || shown.clone());
        let failure = match out {
            Ok(o) if o.status.success() => continue,
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        let _ = write!(report, "{shown}: {failure}");
        return 1;
    }
    0
}
