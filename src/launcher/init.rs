//! The container's life story, in the order it happens. This runs in the cloned child,
//! which becomes the container's PID 1 when it calls execve. Start reading here.
//!
//! Every step is one line; the comment says why it sits where it does.

use super::sync::{Channel, FailureKind};
use super::{identity, mounts, net, tty};
use crate::rootfs::Overlay;
use crate::spec::plan::LaunchPlan;
use crate::sys::Sys;
use crate::trace;
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::path::Path;

/// Never returns: either execs the user's program or reports why not and exits.
pub fn container_init(
    plan: &LaunchPlan,
    overlay: Option<&Overlay>,
    channel: &Channel,
    sys: &dyn Sys,
    interactive: bool,
) -> ! {
    let failure = match setup(plan, overlay, channel, sys, interactive) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let _ = channel.send_failed(failure.0, &failure.1);
    // SAFETY: _exit in a forked child: no atexit handlers or buffered state of the parent.
    unsafe {
        libc::_exit(match failure.0 {
            FailureKind::NotFound => 127,
            FailureKind::CannotExecute => 126,
            FailureKind::Setup => 125,
        })
    }
}

type Failure = (FailureKind, String);

fn setup_err<E: std::fmt::Display>(e: E) -> Failure {
    (FailureKind::Setup, e.to_string())
}

enum Never {}

fn setup(
    plan: &LaunchPlan,
    overlay: Option<&Overlay>,
    channel: &Channel,
    sys: &dyn Sys,
    interactive: bool,
) -> Result<Never, Failure> {
    // If hako dies, the container dies with it instead of running on unsupervised.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(setup_err)?;
    // Wait until the parent has put us in our cgroup: nothing may run outside it.
    channel.wait_go().map_err(setup_err)?;
    // Only now: a cgroup namespace is rooted at the cgroup we are in when we create it.
    if plan.namespaces.contains(CloneFlags::CLONE_NEWCGROUP) {
        trace::step(
            "namespaces",
            "unshare",
            || "CLONE_NEWCGROUP".into(),
            || nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP),
        )
        .map_err(setup_err)?;
    }
    // A new network namespace has only a loopback device, and it is down.
    if plan.namespaces.contains(CloneFlags::CLONE_NEWNET) {
        net::loopback_up().map_err(setup_err)?;
    }
    // Rootfs, spec mounts and devices, while the host's tree is still reachable.
    mounts::prepare_rootfs(sys, plan, overlay).map_err(setup_err)?;
    // Swap roots: from here on "/" is the container's filesystem.
    sys.pivot_root(&plan.rootfs).map_err(setup_err)?;
    // Masked and read-only paths need the final /proc and /sys, so after the pivot.
    mounts::protect_paths(sys, plan).map_err(setup_err)?;
    // The pty lives in the container's devpts (mounted above), so after the pivot too.
    if plan.terminal {
        let master = tty::open_container_pty(sys).map_err(setup_err)?;
        channel
            .send_pty(std::os::fd::AsRawFd::as_raw_fd(&master))
            .map_err(setup_err)?;
    } else {
        // A session of its own (as runc does), so `kill 0` inside reaches only the
        // container's processes, never hako's process group on the host.
        nix::unistd::setsid().map_err(setup_err)?;
        if !interactive {
            // `docker run` without -i gives the container an empty stdin.
            redirect_stdin_to_null().map_err(setup_err)?;
        }
    }
    // Our own UTS namespace: the hostname stays in the container.
    if let Some(h) = &plan.hostname {
        sys.sethostname(h).map_err(setup_err)?;
    }
    identity::apply_rlimits(plan).map_err(setup_err)?;
    // Before giving up privileges: prctl itself needs none, but seccomp (to come) needs it.
    if plan.no_new_privs {
        identity::set_no_new_privs().map_err(setup_err)?;
    }
    // Resolve the program while we may still read every directory.
    let program = find_program(&plan.args[0], &plan.env)?;
    // Capabilities and ids last: everything above needed root's full set.
    identity::switch_identity(plan).map_err(setup_err)?;
    sys.chdir(&plan.cwd).map_err(|e| {
        (
            FailureKind::Setup,
            format!("working directory {}: {e}", plan.cwd.display()),
        )
    })?;
    // Signals hako blocked to forward them must reach the user's program normally, and
    // dispositions hako changed (Rust ignores SIGPIPE) must be reset: both survive execve.
    reset_signals();
    exec(&program, plan)
}

fn redirect_stdin_to_null() -> nix::Result<()> {
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )?;
    nix::unistd::dup2(null, 0)?;
    nix::unistd::close(null)
}

fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL is always sound.
            let _ = unsafe { sigaction(sig, &default) };
        }
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    );
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

fn exec(program: &str, plan: &LaunchPlan) -> Result<Never, Failure> {
    let c = |s: &str| {
        CString::new(s).map_err(|_| {
            (
                FailureKind::Setup,
                format!("argument {s:?} contains a NUL byte"),
            )
        })
    };
    let path = c(program)?;
    let argv = plan
        .args
        .iter()
        .map(|a| c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = plan
        .env
        .iter()
        .map(|e| c(e))
        .collect::<Result<Vec<_>, _>>()?;
    trace::note("exec", "execve", || format!("{program:?}, {:?}", plan.args));
    let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    let kind = match err {
        nix::Error::ENOENT => FailureKind::NotFound,
        _ => FailureKind::CannotExecute,
    };
    Err((
        kind,
        format!("exec: \"{}\": {}", plan.args[0], err.desc().to_lowercase()),
    ))
}
