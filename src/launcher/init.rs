//! The container's life story, in the order it happens. This runs in the cloned child,
//! which becomes the container's PID 1 when it calls execve. Start reading here.
//!
//! Two halves: `prepare_container` builds the container around the process (namespaces,
//! filesystem, hostname); `become_process` turns the process into the user's program
//! (limits, privileges, identity, exec). `exec` into a running container reuses only the
//! second half. Every step is one line; the comment says why it sits where it does.

use super::seccomp_agent::AgentConnection;
use super::sync::{Channel, FailureKind};
use super::{identity, lsm, mounts, net, tty};
use crate::hooks::Stage;
use crate::rootfs::Overlay;
use crate::spec::plan::{LaunchPlan, ProcessPlan};
use crate::sys::{Sys, SysError};
use crate::trace;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use std::ffi::CString;
use std::path::Path;

/// How this start differs from a plain foreground run.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// `-i`: keep the caller's stdin (otherwise the container reads /dev/null).
    pub interactive: bool,
    /// `--preserve-fds N`: descriptors 3..3+N pass into the container on purpose.
    pub preserve_fds: u32,
    /// The container dies with the hako process that started it (foreground runs and
    /// hako's own supervisor); `create` in runc mode outlives its caller instead.
    pub die_with_parent: bool,
    /// Two-phase start (`create`, then `start`): a FIFO the process opens for writing after
    /// everything is set up; it blocks there until `start` opens it for reading.
    pub start_fifo: Option<std::path::PathBuf>,
    /// Descriptors (in the caller) that become the process's stdin, stdout and stderr
    /// (a detached container's log pipes); otherwise it keeps the caller's.
    pub stdio: Option<[i32; 3]>,
}

/// Never returns: either execs the user's program or reports why not and exits.
pub fn container_init(
    plan: &LaunchPlan,
    overlay: Option<&Overlay>,
    channel: &Channel,
    sys: &dyn Sys,
    options: &StartOptions,
) -> ! {
    let result = setup(plan, overlay, channel, sys, options);
    report_and_exit(channel, result)
}

/// After a failed step: tell the parent what failed, then exit with `docker run`'s code.
pub fn report_and_exit(channel: &Channel, result: Result<(), Failure>) -> ! {
    let failure = match result {
        // Only the fake's execve returns; the real one replaced this process.
        Ok(()) => (FailureKind::Setup, "execve returned".to_string()),
        Err(f) => f,
    };
    if channel.send_failed(failure.0, &failure.1).is_err() {
        // Nobody is listening any more (after an OCI `start`, the creator is gone): the
        // process's own stderr is where its runtime's caller looks.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "hako: {}", failure.1);
    }
    // SAFETY: _exit in a forked child: no atexit handlers or buffered state of the parent.
    unsafe {
        libc::_exit(match failure.0 {
            FailureKind::NotFound => 127,
            FailureKind::CannotExecute => 126,
            FailureKind::Setup => 125,
        })
    }
}

pub type Failure = (FailureKind, String);

fn setup_err<E: std::fmt::Display>(e: E) -> Failure {
    (FailureKind::Setup, e.to_string())
}

fn setup(
    plan: &LaunchPlan,
    overlay: Option<&Overlay>,
    channel: &Channel,
    sys: &dyn Sys,
    options: &StartOptions,
) -> Result<(), Failure> {
    // Who our parent is now, to notice later if hako died and we were reparented.
    let parent = sys.getppid();
    // If hako dies, the container dies with it instead of running on unsupervised.
    if options.die_with_parent {
        sys.set_parent_death_signal(Signal::SIGKILL)
            .map_err(setup_err)?;
    }
    // Wait until the parent has put us in our cgroup: nothing may run outside it.
    channel.wait_go().map_err(setup_err)?;
    // The start FIFO lives outside the rootfs: hold it (O_PATH) across the pivot.
    let start_fifo = match &options.start_fifo {
        Some(path) => Some(sys.open_path(path).map_err(setup_err)?),
        None => None,
    };
    // It is reopened through /proc/self/fd once `start` comes: the container's /proc,
    // or, for a container without mounts of its own (chroot, no /proc), the host's.
    let host_proc = match (&start_fifo, plan.own_mounts) {
        (Some(_), false) => Some(sys.open_path(Path::new("/proc")).map_err(setup_err)?),
        _ => None,
    };
    // The seccomp agent's socket is a host path: connected before pivot_root.
    let agent = match &plan.process.seccomp_listener {
        Some(l) => Some(AgentConnection::connect(l, &plan.hooks.state).map_err(setup_err)?),
        None => None,
    };
    // In a user namespace of our own we are still the host's uid, and unmapped when the
    // map leaves host root out: every mount and mkdir would fail with EOVERFLOW. So we
    // become the namespace's root (the maps are written by now), as runc does: after
    // opening the host's files above, which host root may reach and the namespace's may not.
    if plan.namespaces.contains(CloneFlags::CLONE_NEWUSER) {
        sys.setresgid(0).map_err(setup_err)?;
        sys.setresuid(0).map_err(setup_err)?;
    }
    prepare_container(sys, plan, overlay, channel, options)?;
    // `create`: everything is ready; `start` lets us go on from here. A program that is
    // not there is reported now, to `create`, as runc does.
    if let Some(fifo) = start_fifo {
        find_program(&plan.process.args[0], &plan.process.env)?;
        channel.send_created().map_err(setup_err)?;
        wait_for_start(&fifo, host_proc.as_ref()).map_err(setup_err)?;
    }
    // In the container, as root, just before the user's program (runc's moment).
    run_hooks(
        Stage::StartContainer,
        &plan.hooks.start_container,
        plan,
        "created",
    )?;
    let supervised = |sys: &dyn Sys| sys.getppid() == parent && channel.peer_alive();
    let supervised: identity::Supervised = options.die_with_parent.then_some(&supervised);
    become_process(
        sys,
        &plan.process,
        options.preserve_fds,
        supervised,
        agent.as_ref(),
    )
}

/// The container around the process: namespaces, filesystem, terminal, hostname.
pub fn prepare_container(
    sys: &dyn Sys,
    plan: &LaunchPlan,
    overlay: Option<&Overlay>,
    channel: &Channel,
    options: &StartOptions,
) -> Result<(), Failure> {
    // Only now: a cgroup namespace is rooted at the cgroup we are in when we create it.
    if plan.namespaces.contains(CloneFlags::CLONE_NEWCGROUP) {
        sys.unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(setup_err)?;
    }
    // A pod's IPC, UTS, cgroup or mount namespace, or `--network container:NAME`:
    // entered by path instead of made. Every file is opened first (a joined mount
    // namespace would change what the paths name), and the mount namespace is the plan's
    // last.
    let network = plan
        .join_network
        .iter()
        .map(|p| (CloneFlags::CLONE_NEWNET, p));
    let joins = plan
        .join
        .iter()
        .filter(|(f, _)| *f != CloneFlags::CLONE_NEWPID)
        .map(|(f, p)| (*f, p));
    let opened = network
        .chain(joins)
        .map(|(flag, path)| {
            std::fs::File::open(path)
                .map(|file| (flag, file))
                .map_err(|e| setup_err(format!("{}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (flag, ns) in &opened {
        sys.setns(std::os::fd::AsFd::as_fd(ns), *flag)
            .map_err(setup_err)?;
    }
    // A new network namespace has only a loopback device, and it is down.
    if plan.namespaces.contains(CloneFlags::CLONE_NEWNET) {
        net::loopback_up().map_err(setup_err)?;
    }
    // Rootfs, spec mounts and devices, while the host's tree is still reachable. Without
    // a mount namespace nothing is mounted: it would land in the caller's namespace.
    if plan.own_mounts {
        mounts::prepare_rootfs(sys, plan, overlay).map_err(setup_err)?;
    }
    // Mounts done, host paths still reachable (nvidia's hook and the like rely on both).
    run_hooks(
        Stage::CreateContainer,
        &plan.hooks.create_container,
        plan,
        "creating",
    )?;
    // Swap roots: from here on "/" is the container's filesystem.
    if plan.own_mounts {
        super::mounts::pivot_into(sys, &plan.rootfs, plan.rootfs_propagation).map_err(setup_err)?;
    } else {
        sys.chroot(&plan.rootfs).map_err(setup_err)?;
        sys.chdir(Path::new("/")).map_err(setup_err)?;
    }
    // Sysctls go through the container's /proc, before read-only paths close /proc/sys.
    for (key, value) in &plan.sysctls {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        sys.write_file(&path, value).map_err(setup_err)?;
    }
    // Masked and read-only paths need the final /proc and /sys, so after the pivot (the
    // plan has none without a mount namespace).
    mounts::protect_paths(sys, plan).map_err(setup_err)?;
    // The pty lives in the container's devpts (mounted above), so after the pivot too.
    attach_terminal(sys, plan.process.terminal, channel, options)?;
    // Our own UTS namespace: the hostname stays in the container.
    if let Some(h) = &plan.hostname {
        sys.sethostname(h).map_err(setup_err)?;
    }
    Ok(())
}

/// With `-t`, a pty in the container's devpts whose master goes to hako; without, a
/// session of our own.
pub fn attach_terminal(
    sys: &dyn Sys,
    terminal: bool,
    channel: &Channel,
    options: &StartOptions,
) -> Result<(), Failure> {
    if let (Some(fds), false) = (options.stdio, terminal) {
        // Before anything else may write to them: the log pipes become 0, 1 and 2.
        for (target, fd) in fds.iter().enumerate() {
            sys.dup2(*fd, target as i32).map_err(setup_err)?;
        }
    }
    if terminal {
        let master = tty::open_container_pty(sys).map_err(setup_err)?;
        channel
            .send_pty(std::os::fd::AsRawFd::as_raw_fd(&master))
            .map_err(setup_err)?;
    } else {
        // A session of its own (as runc does), so `kill 0` inside reaches only the
        // container's processes, never hako's process group on the host.
        sys.setsid().map_err(setup_err)?;
        if !options.interactive && options.stdio.is_none() {
            // `docker run` without -i gives the container an empty stdin.
            redirect_stdin_to_null(sys).map_err(setup_err)?;
        }
    }
    Ok(())
}

/// The process becomes the user's program. Returns only on failure (or with the fake).
/// `supervised` is given for a process that dies with hako (see `switch_identity`).
pub fn become_process(
    sys: &dyn Sys,
    process: &ProcessPlan,
    preserve_fds: u32,
    supervised: identity::Supervised,
    agent: Option<&AgentConnection>,
) -> Result<(), Failure> {
    // Limits first: raising a hard limit needs CAP_SYS_RESOURCE, which may go below.
    identity::apply_rlimits(sys, process).map_err(setup_err)?;
    // Lowering the OOM score needs CAP_SYS_RESOURCE, raising it nothing: before the drop.
    if let Some(adj) = process.oom_score_adj {
        sys.write_file(Path::new("/proc/self/oom_score_adj"), &adj.to_string())
            .map_err(setup_err)?;
    }
    // Real-time policies and raised I/O classes need CAP_SYS_NICE / CAP_SYS_ADMIN: before
    // the drop. Both survive execve.
    if let Some(attr) = &process.scheduler {
        sys.set_scheduler(attr).map_err(setup_err)?;
    }
    if let Some(value) = process.io_priority {
        sys.set_io_priority(value).map_err(setup_err)?;
    }
    // The execution domain survives execve; set while seccomp still allows any value.
    if let Some(persona) = process.personality {
        sys.set_personality(persona).map_err(setup_err)?;
    }
    // AppArmor/SELinux switch at execve; armed while /proc/thread-self/attr is writable.
    lsm::apply_on_exec(sys, &process.labels).map_err(setup_err)?;
    // No descriptor of hako's or of its caller leaks into the container (the runc
    // CVE-2024-21626 class), except 0-2 and what --preserve-fds passes on purpose.
    // Close-on-exec rather than close: our channel must stay open until execve succeeds.
    // Before any filter: a profile written before Linux 5.9 does not allow close_range.
    sys.close_fds_from(3 + preserve_fds).map_err(setup_err)?;
    // Before giving up privileges: prctl itself needs none, but seccomp needs it.
    if process.no_new_privs {
        sys.set_no_new_privs().map_err(setup_err)?;
    }
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: so now, while we
    // hold it (the profile must then allow the few calls left before execve, as Docker's
    // does). With no_new_privs it waits until just before execve, below.
    if let (Some(filter), false) = (&process.seccomp, process.no_new_privs) {
        install_seccomp(sys, filter, agent)?;
    }
    // Resolve the program while we may still read every directory.
    let program = find_program(&process.args[0], &process.env)?;
    // Capabilities and ids last: everything above needed root's full set.
    identity::switch_identity(sys, process, supervised).map_err(setup_err)?;
    sys.chdir(&process.cwd).map_err(|e| {
        (
            FailureKind::Setup,
            format!("working directory {}: {e}", process.cwd.display()),
        )
    })?;
    // Signals hako blocked to forward them must reach the user's program normally, and
    // dispositions hako changed (Rust ignores SIGPIPE) must be reset: both survive execve.
    sys.reset_signals();
    // Last, so the filter judges the user's program and not hako's own setup.
    if let (Some(filter), true) = (&process.seccomp, process.no_new_privs) {
        install_seccomp(sys, filter, agent)?;
    }
    exec(sys, &program, process)
}

/// Installs the filter; with an agent, keeps its listener and hands it over.
fn install_seccomp(
    sys: &dyn Sys,
    filter: &crate::seccomp::Program,
    agent: Option<&AgentConnection>,
) -> Result<(), Failure> {
    match agent {
        None => sys.set_seccomp(filter).map_err(setup_err),
        Some(agent) => {
            let listener = sys.set_seccomp_listener(filter).map_err(setup_err)?;
            agent
                .send(std::os::fd::AsRawFd::as_raw_fd(&listener))
                .map_err(setup_err)
        }
    }
}

/// Runs one in-container stage's hooks; a failure fails the container's setup.
fn run_hooks(
    stage: Stage,
    hooks: &[oci_spec::runtime::Hook],
    plan: &LaunchPlan,
    status: &str,
) -> Result<(), Failure> {
    if hooks.is_empty() {
        return Ok(());
    }
    let mut state = plan.hooks.state.clone();
    state["status"] = status.into();
    state["pid"] = std::process::id().into();
    crate::hooks::run_list(stage, hooks, &state).map_err(|e| setup_err(format!("{e:#}")))
}

/// Blocks until `start` opens the FIFO for reading (open(2) of a FIFO for writing waits
/// for a reader), then tells it we are going on. The O_PATH descriptor is reopened
/// through the container's /proc, since the FIFO's path is outside the new root.
fn wait_for_start(
    fifo: &std::os::fd::OwnedFd,
    host_proc: Option<&std::os::fd::OwnedFd>,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let (dir, path) = match host_proc {
        // Relative to the host's /proc, kept open across the chroot.
        Some(proc) => (
            Some(proc.as_raw_fd()),
            format!("self/fd/{}", fifo.as_raw_fd()),
        ),
        None => (None, format!("/proc/self/fd/{}", fifo.as_raw_fd())),
    };
    let fd = nix::fcntl::openat(
        dir,
        path.as_str(),
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    f.write_all(b"0")
}

fn redirect_stdin_to_null(sys: &dyn Sys) -> Result<(), SysError> {
    let null = sys.open_read(Path::new("/dev/null"))?;
    sys.dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0)
}

/// `PATH` lookup in the container's environment, as execvp would, but with Docker's
/// error messages and exit codes.
fn find_program(arg0: &str, env: &[String]) -> Result<String, Failure> {
    if arg0.contains('/') {
        return match std::fs::metadata(arg0) {
            Ok(_) => Ok(arg0.to_string()),
            Err(_) => Err((
                FailureKind::NotFound,
                format!("exec: \"{arg0}\": stat {arg0}: no such file or directory"),
            )),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(arg0);
        if let Ok(m) = std::fs::metadata(&candidate) {
            use std::os::unix::fs::PermissionsExt;
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(candidate.display().to_string());
            }
        }
    }
    Err((
        FailureKind::NotFound,
        format!("exec: \"{arg0}\": executable file not found in $PATH"),
    ))
}

fn exec(sys: &dyn Sys, program: &str, process: &ProcessPlan) -> Result<(), Failure> {
    let c = |s: &str| {
        CString::new(s).map_err(|_| {
            (
                FailureKind::Setup,
                format!("argument {s:?} contains a NUL byte"),
            )
        })
    };
    let path = c(program)?;
    let argv = process
        .args
        .iter()
        .map(|a| c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = process
        .env
        .iter()
        .map(|e| c(e))
        .collect::<Result<Vec<_>, _>>()?;
    trace::note("exec", "execve", || {
        format!("{program:?}, {:?}", process.args)
    });
    match sys.execve(&path, &argv, &envp) {
        Ok(()) => Ok(()),
        Err(crate::sys::SysError::Path { errno, .. }) => {
            let kind = match errno {
                nix::Error::ENOENT => FailureKind::NotFound,
                _ => FailureKind::CannotExecute,
            };
            Err((
                kind,
                format!(
                    "exec: \"{}\": {}",
                    process.args[0],
                    errno.desc().to_lowercase()
                ),
            ))
        }
        Err(e) => Err(setup_err(e)),
    }
}

#[cfg(test)]
#[path = "init_tests.rs"]
mod tests;
