//! The launcher: the only code that clones a container's processes, pivots or execs.
//!
//! `spawn` clones the child into its new namespaces and its cgroup (`join_cgroup`: born
//! there by clone3, else moved in), writes its id maps and lets the caller act on the
//! child's pid (network, hooks) while the child waits, then releases it and waits until
//! it has exec'd the user's program or failed. `supervise` relays the terminal
//! and signals and returns the exit status the way `docker run` reports it. `exec` starts a
//! second process in a running container; `start_created` releases a container created
//! with a start FIFO (the OCI two-phase create/start).

mod clone;
pub mod exec;
pub mod identity;
pub mod init;
pub mod lsm;
pub mod mounts;
pub mod net;
pub mod sealed_exe;
mod seccomp_agent;
pub mod supervise;
pub mod sync;
pub mod tty;

use crate::cgroups::ContainerCgroup;
use crate::rootfs::Overlay;
use crate::spec::plan::LaunchPlan;
use crate::sys::{LinuxSys, Sys};
use crate::trace;
pub use init::StartOptions;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use sync::{FailureKind, Message};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("clone({flags}): {errno}{hint}")]
    Clone {
        flags: String,
        errno: nix::Error,
        hint: &'static str,
    },
    #[error("parent/child channel: {0}")]
    Channel(nix::Error),
    #[error("join the PID namespace {path}: {source}")]
    JoinPidNamespace {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("container init {0} is not running")]
    TargetGone(i32),
    #[error(transparent)]
    Enter(#[from] crate::sys::SysError),
    #[error("map the user namespace's ids: write {path}: {source}")]
    IdMaps {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("process.oomScoreAdj {value}: write /proc/{pid}/oom_score_adj: {source}")]
    OomScoreAdj {
        value: i32,
        pid: i32,
        source: std::io::Error,
    },
    /// What the caller's `on_created` step met (network, hooks): its own error, whole.
    #[error(transparent)]
    Created(Box<dyn std::error::Error + Send + Sync>),
    #[error("{message}")]
    Child { kind: FailureKind, message: String },
}

impl LaunchError {
    /// `docker run`'s exit codes: 125 setup, 126 cannot execute, 127 not found.
    pub fn exit_code(&self) -> i32 {
        match self {
            LaunchError::Child {
                kind: FailureKind::NotFound,
                ..
            } => 127,
            LaunchError::Child {
                kind: FailureKind::CannotExecute,
                ..
            } => 126,
            _ => 125,
        }
    }
}

#[derive(Debug)]
pub struct Started {
    pub pid: Pid,
    /// The container's pty master, with `-t`.
    pub pty_master: Option<OwnedFd>,
}

pub use crate::sys::describe_clone_flags;

/// The host as a spec compiles against it: its cgroup layout and the LSMs it runs.
pub fn host_facts(seccomp_cache: Option<std::path::PathBuf>) -> crate::spec::plan::HostFacts {
    crate::spec::plan::HostFacts {
        cgroup_layout: crate::cgroups::layout::host_layout(),
        lsm: lsm::host_support,
        seccomp_cache,
    }
}

/// Clones the container's init into `cgroup` and runs it up to `execve`.
/// `on_created(pid)` runs in the parent while the child waits, inside its cgroup (e.g. to
/// attach its network or run the runtime's hooks); an error there kills the child. The
/// caller must have blocked the signals it wants to forward (see `supervise`).
pub fn spawn(
    plan: &LaunchPlan,
    overlay: Option<&Overlay>,
    options: &StartOptions,
    cgroup: &ContainerCgroup,
    on_created: impl FnOnce(i32) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
) -> Result<Started, LaunchError> {
    // Joining a PID namespace applies to the children one makes: so here, before clone.
    for (_, path) in plan
        .join
        .iter()
        .filter(|(f, _)| *f == CloneFlags::CLONE_NEWPID)
    {
        let join = |source| LaunchError::JoinPidNamespace {
            path: path.clone(),
            source,
        };
        let ns = std::fs::File::open(path).map_err(join)?;
        LinuxSys.setns(std::os::fd::AsFd::as_fd(&ns), CloneFlags::CLONE_NEWPID)?;
    }
    let (parent_end, child_end) = sync::pair().map_err(LaunchError::Channel)?;
    // The cgroup namespace is created by the child once it is inside its cgroup.
    let flags = plan.namespaces - CloneFlags::CLONE_NEWCGROUP;
    let parent_fd = parent_end_fd(&parent_end);
    let cgroup_dir = cgroup.clone_target();
    let cgroup_fd = cgroup_dir.as_ref().map(std::os::fd::AsFd::as_fd);
    let child = || {
        // The child's copy of the parent's end: closed, so the child sees EOF if hako dies.
        let _ = nix::unistd::close(parent_fd);
        init::container_init(plan, overlay, &child_end, &LinuxSys, options)
    };
    let call = if cgroup_fd.is_some() {
        "clone3"
    } else {
        "clone"
    };
    // SAFETY: hako is single-threaded here, so the child (a copy of this process without
    // CLONE_VM) may run ordinary Rust code until it execs or _exits.
    let cloned = trace::step(
        "namespaces",
        call,
        || {
            let into = if cgroup_fd.is_some() {
                "|CLONE_INTO_CGROUP"
            } else {
                ""
            };
            // The flags actually passed: the cgroup namespace comes later, by unshare.
            format!("{}{into}", describe_clone_flags(flags))
        },
        || unsafe { clone::clone_child(flags, cgroup_fd, child) },
    )
    .map_err(|errno| LaunchError::Clone {
        flags: describe_clone_flags(flags),
        errno,
        hint: if errno == nix::Error::EPERM {
            " (creating namespaces needs root, or user namespaces for rootless mode)"
        } else {
            ""
        },
    })?;
    drop(child_end);
    let pid = join_cgroup(cloned, cgroup)?;
    let prepared = (|| {
        // The child's user namespace has no ids until its creator writes them; it waits.
        if let Some(maps) = &plan.id_maps {
            write_id_maps(pid.as_raw(), maps)?;
        }
        // Set from here too, so a value the kernel refuses fails the create (runc's
        // moment) instead of killing the container after a successful one.
        if let Some(value) = plan.process.oom_score_adj {
            let path = format!("/proc/{}/oom_score_adj", pid.as_raw());
            std::fs::write(&path, value.to_string()).map_err(|source| {
                LaunchError::OomScoreAdj {
                    value,
                    pid: pid.as_raw(),
                    source,
                }
            })?;
        }
        on_created(pid.as_raw()).map_err(LaunchError::Created)
    })();
    if let Err(e) = prepared {
        clone::abort(pid);
        return Err(e);
    }
    release_and_wait(&parent_end, pid)
}

/// The one place a new process joins its container's cgroup: born there by clone3
/// (`CLONE_INTO_CGROUP`, cgroup v2), else moved in by pid while it still waits.
fn join_cgroup(cloned: clone::Cloned, cgroup: &ContainerCgroup) -> Result<Pid, LaunchError> {
    let (pid, in_cgroup) = cloned.pid_in_cgroup();
    if !in_cgroup {
        if let Err(e) = cgroup.add_process(pid.as_raw()) {
            clone::abort(pid);
            return Err(e.into());
        }
    }
    Ok(pid)
}

/// `/proc/PID/uid_map` and `gid_map` of a child with its own user namespace. The
/// writer (root, or rootless hako as root of its own namespace) holds CAP_SETUID and
/// CAP_SETGID over the parent namespace, so any ids mapped there may be given.
fn write_id_maps(pid: i32, maps: &crate::spec::plan::IdMaps) -> Result<(), LaunchError> {
    use crate::spec::plan::IdRange;
    let text = |ranges: &[IdRange]| {
        ranges
            .iter()
            .map(|r| format!("{} {} {}\n", r.inside, r.outside, r.count))
            .collect::<String>()
    };
    // An unprivileged writer (rootless `hako runc`) may map only its own ids, and the
    // gid map only once setgroups is denied in the child (the kernel's rule since 3.19).
    if !nix::unistd::geteuid().is_root() {
        let path = format!("/proc/{pid}/setgroups");
        trace::step(
            "namespaces",
            "write",
            || format!("{path} deny"),
            || std::fs::write(&path, "deny"),
        )
        .map_err(|source| LaunchError::IdMaps {
            path: path.clone(),
            source,
        })?;
    }
    for (file, ranges) in [("uid_map", &maps.uids), ("gid_map", &maps.gids)] {
        let path = format!("/proc/{pid}/{file}");
        let body = text(ranges);
        trace::step(
            "namespaces",
            "write",
            || format!("{path} {}", body.trim().replace('\n', ", ")),
            || std::fs::write(&path, &body),
        )
        .map_err(|source| LaunchError::IdMaps {
            path: format!("{path} ({})", body.trim().replace('\n', ", ")),
            source,
        })?;
    }
    Ok(())
}

/// Sends the go-ahead, then waits until the child has exec'd (its end of the channel
/// closes) or reported why not; collects the pty master on the way.
pub(crate) fn release_and_wait(
    parent_end: &sync::Channel,
    pid: Pid,
) -> Result<Started, LaunchError> {
    parent_end.send_go().map_err(LaunchError::Channel)?;
    let mut pty_master = None;
    loop {
        match parent_end.recv() {
            Ok(None) => break, // close-on-exec closed the child's end: it is running
            Ok(Some(Message::Pty(fd))) => pty_master = Some(fd),
            Ok(Some(Message::Failed(kind, message))) => {
                let _ = waitpid(pid, None);
                return Err(LaunchError::Child { kind, message });
            }
            // A two-phase create: set up and waiting for `start`.
            Ok(Some(Message::Created)) => break,
            Ok(Some(Message::Go)) => {}
            Err(e) => {
                clone::abort(pid);
                return Err(LaunchError::Channel(e));
            }
        }
    }
    Ok(Started { pid, pty_master })
}

fn parent_end_fd(c: &sync::Channel) -> i32 {
    c.raw_fd()
}

impl sync::Channel {
    pub(crate) fn raw_fd(&self) -> i32 {
        self.as_fd_ref().as_raw_fd()
    }
}

/// `start` of a container created with `StartOptions::start_fifo`: opening the FIFO for
/// reading releases the process blocked on it; it then execs the user's program.
pub fn start_created(fifo: &std::path::Path) -> std::io::Result<()> {
    use std::io::Read;
    let mut byte = [0u8; 1];
    let mut f = std::fs::File::open(fifo)?;
    f.read_exact(&mut byte)?;
    std::fs::remove_file(fifo)
}
