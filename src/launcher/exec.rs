//! A second process in a running container (`hako exec`): join its namespaces and its
//! cgroup, then the same "become the process" half of init that made its PID 1.
//!
//! ```text
//!   hako exec                                  child (becomes the exec'd program)
//!   ─────────                                  ──────────────────────────────────
//!   pidfd_open(container init), check its start time
//!   setns(pidfd, CLONE_NEWPID)  (for children only: hako itself stays where it is)
//!   clone[3 INTO_CGROUP] ───────────────────►  wait_go()
//!   join the cgroup (v1) ── Go ─────────────►  setns(pidfd, MNT|NET|UTS|IPC|CGROUP)
//!   recv() ◄──────── Pty / Failed / EOF ─────  terminal, then become_process → execve
//! ```

use super::identity;
use super::init::{self, StartOptions};
use super::sync;
use super::{clone, describe_clone_flags, LaunchError, Started};
use crate::cgroups::ContainerCgroup;
use crate::spec::plan::ProcessPlan;
use crate::sys::{LinuxSys, Sys};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

/// The running container to enter: its init's pid and that process's start time, so a
/// recycled pid is never entered by mistake.
pub struct Target {
    pub pid: i32,
    pub start_time: u64,
    /// The namespaces the container has of its own (from its plan).
    pub namespaces: CloneFlags,
}

fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: a plain syscall returning a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether this process already lives in `pid`'s user namespace (joining it again is an
/// error).
fn in_user_ns_of(pid: i32) -> bool {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/user")).ok();
    ns("self").is_some() && ns("self") == ns(&pid.to_string())
}

/// Starts `process` inside `target`, in the container's `cgroup`; returns once it has
/// exec'd (or failed to).
pub fn exec(
    target: &Target,
    process: &ProcessPlan,
    options: &StartOptions,
    cgroup: &ContainerCgroup,
) -> Result<Started, LaunchError> {
    let gone = || LaunchError::TargetGone(target.pid);
    let pidfd = pidfd_open(target.pid).map_err(|_| gone())?;
    // The pidfd pins this exact process: checking the start time after opening it closes
    // the window in which the pid could have been reused.
    if crate::proc::start_time(target.pid) != Some(target.start_time) {
        return Err(gone());
    }
    // A container with a user namespace of its own: join it first, since its other
    // namespaces belong to it (rootless hako has usually joined it already).
    if target.namespaces.contains(CloneFlags::CLONE_NEWUSER) && !in_user_ns_of(target.pid) {
        LinuxSys.setns(pidfd.as_fd(), CloneFlags::CLONE_NEWUSER)?;
    }
    if target.namespaces.contains(CloneFlags::CLONE_NEWPID) {
        // Affects only the children hako creates from here on.
        LinuxSys.setns(pidfd.as_fd(), CloneFlags::CLONE_NEWPID)?;
    }
    let in_child = (target.namespaces
        & (CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWCGROUP))
        | CloneFlags::empty();
    let (parent_end, child_end) = sync::pair().map_err(LaunchError::Channel)?;
    let parent_fd = parent_end.raw_fd();
    let child = || {
        let _ = nix::unistd::close(parent_fd);
        let result = enter(
            &LinuxSys,
            pidfd.as_fd(),
            in_child,
            process,
            &child_end,
            options,
        );
        init::report_and_exit(&child_end, result)
    };
    let cgroup_dir = cgroup.clone_target();
    let cgroup_fd = cgroup_dir.as_ref().map(AsFd::as_fd);
    // SAFETY: single-threaded here; the child ends in execve or _exit.
    let cloned =
        unsafe { clone::clone_child(CloneFlags::empty(), cgroup_fd, child) }.map_err(|errno| {
            LaunchError::Clone {
                flags: describe_clone_flags(CloneFlags::empty()),
                errno,
                hint: "",
            }
        })?;
    drop(child_end);
    let pid = super::join_cgroup(cloned, cgroup)?;
    super::release_and_wait(&parent_end, pid)
}

/// The child's side: into the container, then the second half of init.
fn enter(
    sys: &dyn Sys,
    pidfd: BorrowedFd,
    namespaces: CloneFlags,
    process: &ProcessPlan,
    channel: &sync::Channel,
    options: &StartOptions,
) -> Result<(), init::Failure> {
    let fail = |e: &dyn std::fmt::Display| (sync::FailureKind::Setup, e.to_string());
    let parent = sys.getppid();
    // hako exec relays signals and the exit code: the process dies with it, as docker
    // exec's does (not with -d, where nobody waits for it).
    if options.die_with_parent {
        sys.set_parent_death_signal(Signal::SIGKILL)
            .map_err(|e| fail(&e))?;
    }
    // Wait until the parent has put us in the container's cgroup.
    channel.wait_go().map_err(|e| fail(&e))?;
    // All at once through the pidfd (Linux 5.8): the mount namespace also moves our root
    // and working directory to the container's.
    sys.setns(pidfd, namespaces).map_err(|e| fail(&e))?;
    init::attach_terminal(sys, process.terminal, channel, options)?;
    let supervised = |sys: &dyn Sys| sys.getppid() == parent && channel.peer_alive();
    let supervised: identity::Supervised = options.die_with_parent.then_some(&supervised);
    // An exec'd process gets the container's filter; its listener went to the agent
    // with the container's init (calls it would notify fail with ENOSYS, as the kernel
    // answers without a listener).
    init::become_process(sys, process, options.preserve_fds, supervised, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_that_is_gone_is_refused() {
        let target = Target {
            pid: i32::MAX - 1,
            start_time: 1,
            namespaces: CloneFlags::CLONE_NEWPID,
        };
        let process = crate::spec::plan::ProcessPlan {
            rlimits: vec![],
            caps: Default::default(),
            no_new_privs: false,
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            cwd: "/".into(),
            env: vec![],
            args: vec!["true".into()],
            terminal: false,
            seccomp: None,
            seccomp_listener: None,
            labels: Default::default(),
            oom_score_adj: None,
            personality: None,
            scheduler: None,
            io_priority: None,
        };
        // An empty path: no cgroup to join (the container has gone before that anyway).
        let cgroup = ContainerCgroup::load(crate::cgroups::host_hierarchy(), "");
        let err = exec(&target, &process, &StartOptions::default(), &cgroup).unwrap_err();
        assert!(err.to_string().contains("is not running"), "{err}");
    }
}
