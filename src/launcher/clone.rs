//! Creating the container's first process. On cgroup v2, `clone3` with
//! `CLONE_INTO_CGROUP` starts it directly inside its cgroup, as crun does: no migration
//! afterwards, which on v2 costs a write lock on every thread group of the system
//! (`cgroup_threadgroup_rwsem`). Without that (v1 hosts, kernels before 5.7) it is
//! `clone` plus a write to `cgroup.procs`, done by the caller.

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Not in the libc crate yet (linux/sched.h).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which way the child came to be.
pub enum Cloned {
    /// `clone3` put it into the cgroup already.
    InCgroup(Pid),
    /// Plain `clone`: the caller moves it into its cgroup.
    Outside(Pid),
}

impl Cloned {
    /// The child's pid, and whether it was born in its cgroup.
    pub fn pid_in_cgroup(self) -> (Pid, bool) {
        match self {
            Cloned::InCgroup(pid) => (pid, true),
            Cloned::Outside(pid) => (pid, false),
        }
    }
}

/// Kills a child that will not be released, and reaps it.
pub fn abort(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Runs `child` in a new process with `flags`, in `cgroup` when given and the kernel can.
///
/// # Safety
/// As for fork: the calling process must be single-threaded, and `child` must end in
/// `execve` or its return (which becomes the exit status), never unwinding past here.
pub unsafe fn clone_child(
    flags: CloneFlags,
    cgroup: Option<BorrowedFd>,
    mut child: impl FnMut() -> isize,
) -> nix::Result<Cloned> {
    if let Some(fd) = cgroup {
        let mut args: libc::clone_args = std::mem::zeroed();
        args.flags = flags.bits() as u64 | CLONE_INTO_CGROUP;
        args.exit_signal = libc::SIGCHLD as u64;
        args.cgroup = fd.as_raw_fd() as u64;
        // No stack given: like fork, the child continues here on a copy of ours.
        let ret = libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        );
        match ret {
            0 => {
                // A panic must end this process here, never unwind into a copy of the
                // parent's callers.
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut child));
                libc::_exit(code.map_or(125, |c| c as i32))
            }
            pid if pid > 0 => return Ok(Cloned::InCgroup(Pid::from_raw(pid as i32))),
            _ => {
                let errno = nix::errno::Errno::last();
                // ENOSYS: no clone3 (< 5.3); E2BIG/EINVAL: no CLONE_INTO_CGROUP (< 5.7).
                if !matches!(
                    errno,
                    nix::errno::Errno::ENOSYS
                        | nix::errno::Errno::E2BIG
                        | nix::errno::Errno::EINVAL
                ) {
                    return Err(errno);
                }
            }
        }
    }
    let mut stack = vec![0u8; 1 << 20];
    let pid = nix::sched::clone(Box::new(child), &mut stack, flags, Some(libc::SIGCHLD))?;
    Ok(Cloned::Outside(pid))
}
