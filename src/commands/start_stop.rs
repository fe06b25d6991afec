//! `start`, `stop`, `restart`, `kill`, `wait`, `pause`, `unpause`, `rename`: a
//! container's life after `create` or `run -d`, as Docker's verbs drive it.

use super::ExitCode;
use crate::cgroups::{self, ContainerCgroup};
use crate::cli::{ContainersArgs, KillArgs, RenameArgs, StartArgs, StopArgs};
use crate::container::keeper::{spawn_keeper, STOP_MARKER};
use crate::container::start;
use crate::launcher::StartOptions;
use crate::state::{ContainerRecord, Status};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Runs `each` for every named container; reports each failure, as Docker does, and
/// fails at the end if any failed.
fn for_each(names: &[String], mut each: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = vec![];
    for name in names {
        match each(name) {
            Ok(()) => {}
            Err(e) => failed.push(format!("{name}: {}", crate::exit::describe(&e))),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        bail!("{}", failed.join("\nhako: "))
    }
}

pub fn start(store: &Store, args: &StartArgs) -> Result<i32> {
    if args.attach || args.interactive {
        if args.containers.len() != 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        return start_attached(store, &args.containers[0], args.interactive);
    }
    for_each(&args.containers, |name| {
        let c = crate::container::reap::lookup(store, name)?;
        if !c.is_running() {
            spawn_keeper(store, &c.id)?;
        }
        println!("{name}");
        Ok(())
    })
}

/// `start -a`: in the foreground, like `run` without `-d`, on the same upper layer.
fn start_attached(store: &Store, name: &str, interactive: bool) -> Result<i32> {
    let mut record = crate::container::reap::lookup(store, name)?;
    if record.is_running() {
        bail!("container {name} is already running; use hako attach or hako exec");
    }
    let options = StartOptions {
        interactive,
        die_with_parent: true,
        ..StartOptions::default()
    };
    start::run_foreground(store, &mut record, None, &options)
}

/// The signal `stop` sends first: the flag, else the container's (`--stop-signal` or the
/// image's StopSignal), else SIGTERM.
fn stop_signal(c: &ContainerRecord, flag: Option<&str>) -> Result<Signal> {
    match flag.or(c.host_config.stop_signal.as_deref()) {
        Some(s) => Ok(crate::signals::parse(s)?),
        None => Ok(Signal::SIGTERM),
    }
}

/// Waits until the container's PID 1 is gone and its keeper has recorded the exit.
fn wait_stopped(store: &Store, id: &str, within: Duration) -> Option<ContainerRecord> {
    let began = Instant::now();
    loop {
        let Ok(c) = store.lookup_container(id) else {
            return None; // removed (--rm): stopped for good
        };
        if !c.is_running() && c.state.status != Status::Running && c.state.status != Status::Paused
        {
            return Some(c);
        }
        // Exited without a keeper to record it (its keeper was killed): that is stopped too.
        if !c.is_running() && !c.keeper_alive() {
            return Some(c);
        }
        if began.elapsed() > within {
            return Some(c);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn stop_one(
    store: &Store,
    name: &str,
    time: Option<u64>,
    signal: Option<&str>,
) -> Result<()> {
    let c = store.lookup_container(name)?;
    let sig = stop_signal(&c, signal)?;
    // Tell the keeper this was a user's stop: no restart (--restart policies).
    let _ = std::fs::write(store.container_dir(&c.id).join(STOP_MARKER), b"");
    if !c.is_running() {
        return Ok(());
    }
    let pid = Pid::from_raw(c.state.pid);
    if c.state.status == Status::Paused {
        // A frozen process cannot act on a signal: thaw it first, as Docker does.
        let _ = ContainerCgroup::load(cgroups::host_hierarchy(), &c.cgroup_path).thaw();
    }
    let _ = kill(pid, sig);
    let grace = Duration::from_secs(time.or(c.host_config.stop_timeout).unwrap_or(10));
    let began = Instant::now();
    while c.is_running() && began.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(10));
    }
    if c.is_running() {
        // PID 1 ignored the signal (a namespace's init has no default actions): kill it.
        kill(pid, Signal::SIGKILL).context("kill the container")?;
    }
    wait_stopped(store, &c.id, Duration::from_secs(10));
    Ok(())
}

pub fn stop(store: &Store, args: &StopArgs) -> Result<i32> {
    for_each(&args.containers, |name| {
        stop_one(store, name, args.time, args.signal.as_deref())?;
        println!("{name}");
        Ok(())
    })
}

pub fn restart(store: &Store, args: &StopArgs) -> Result<i32> {
    for_each(&args.containers, |name| {
        stop_one(store, name, args.time, args.signal.as_deref())?;
        let c = store.lookup_container(name)?;
        spawn_keeper(store, &c.id)?;
        println!("{name}");
        Ok(())
    })
}

pub fn kill_verb(store: &Store, args: &KillArgs) -> Result<i32> {
    let sig = crate::signals::parse(&args.signal).context(ExitCode(125))?;
    for_each(&args.containers, |name| {
        let c = store.lookup_container(name)?;
        if !c.is_running() {
            bail!(
                "cannot kill container {name}: container {} is not running",
                c.short_id()
            );
        }
        if sig == Signal::SIGKILL || sig == Signal::SIGTERM {
            // A user's kill is a stop for --restart unless-stopped, as in Docker.
            let _ = std::fs::write(store.container_dir(&c.id).join(STOP_MARKER), b"");
        }
        kill(Pid::from_raw(c.state.pid), sig).with_context(|| format!("send {sig} to {name}"))?;
        println!("{name}");
        Ok(())
    })
}

pub fn wait(store: &Store, args: &ContainersArgs) -> Result<i32> {
    for_each(&args.containers, |name| {
        let c = store.lookup_container(name)?;
        let code = match wait_stopped(store, &c.id, Duration::MAX) {
            Some(done) => done.state.exit_code,
            None => c.state.exit_code,
        };
        println!("{code}");
        Ok(())
    })
}

pub fn pause(store: &Store, args: &ContainersArgs, freeze: bool) -> Result<i32> {
    for_each(&args.containers, |name| {
        let c = store.lookup_container(name)?;
        if !c.is_running() {
            bail!("container {} is not running", c.short_id());
        }
        let cg = ContainerCgroup::load(cgroups::host_hierarchy(), &c.cgroup_path);
        let status = match (freeze, c.state.status) {
            (true, Status::Paused) => bail!("container {} is already paused", c.short_id()),
            (false, Status::Running) => bail!("container {} is not paused", c.short_id()),
            (true, _) => {
                cg.freeze()?;
                Status::Paused
            }
            (false, _) => {
                cg.thaw()?;
                Status::Running
            }
        };
        store.update_container(&c.id, |r| r.state.status = status)?;
        println!("{name}");
        Ok(())
    })
}

pub fn rename(store: &Store, args: &RenameArgs) -> Result<i32> {
    if !crate::state::valid_name(&args.new_name) {
        bail!(
            "invalid container name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            args.new_name
        );
    }
    store.rename_container(&args.container, &args.new_name)?;
    Ok(0)
}
