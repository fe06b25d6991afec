//! What every verb that starts or removes a container shares (not a verb itself): start a
//! container from its bundle, record how it ended, tear it down.
//!
//! The bundle (`containers/<id>/config.json`) is the contract: everything here reads the
//! spec from it, never the flags that produced it.

use crate::cgroups::{self, ContainerCgroup, Limits};
use crate::launcher::{self, supervise, StartOptions, Started};
use crate::spec::plan;
use crate::spec::NetworkMode;
use crate::state::{self, ContainerRecord, Status};
use crate::store::Store;
use crate::timefmt::now_rfc3339;
use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use std::fs;
use std::path::Path;

use super::ExitCode;

/// The spec in a container's bundle, with its rootfs resolved against the bundle.
pub fn read_bundle(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let mut spec = Spec::load(&path)
        .with_context(|| format!("read the bundle's spec {}", path.display()))?;
    if let Some(root) = spec.root().clone() {
        if root.path().is_relative() {
            let mut root = root;
            root.set_path(bundle.join(root.path()));
            spec.set_root(Some(root));
        }
    }
    Ok(spec)
}

/// A started container: its init's pid and pty, and the signals hako relays to it.
pub struct Running {
    pub started: Started,
    pub signals: supervise::Signals,
}

/// Starts the container from its bundle and marks it running. On error nothing of it
/// runs (the caller records the failure and tears down).
pub fn start(store: &Store, record: &mut ContainerRecord, options: &StartOptions) -> Result<Running> {
    let dir = store.container_dir(&record.id);
    // Only now, with the command accepted: Docker creates a missing -v source directory.
    for b in &record.host_config.binds {
        if !Path::new(&b.source).exists() {
            fs::create_dir_all(&b.source)
                .with_context(|| format!("-v {}: create {}", b.source, b.source))
                .context(ExitCode(125))?;
        }
    }
    write_etc_files(
        &dir,
        &record.config.hostname,
        record.host_config.network_mode == NetworkMode::Host,
    )
    .context("write /etc/hosts, /etc/hostname and /etc/resolv.conf")
    .context(ExitCode(125))?;
    let spec = read_bundle(&dir).context(ExitCode(125))?;
    let plan = plan::compile(&spec, cgroups::layout::host_layout()).context(ExitCode(125))?;
    let cgroup = ContainerCgroup::create(
        cgroups::host_hierarchy(),
        &record.cgroup_path,
        &Limits::from_spec(&spec),
    )
    .context(ExitCode(125))?;
    let signals = supervise::Signals::block()
        .context("block signals")
        .context(ExitCode(125))?;
    let cgroup_dir = cgroup.clone_target();
    let overlay = crate::rootfs::container_overlay(store, record);
    let started = launcher::spawn(
        &plan,
        Some(&overlay),
        options,
        cgroup_dir.as_ref().map(std::os::fd::AsFd::as_fd),
        |pid, in_cgroup| {
            if in_cgroup {
                return Ok(());
            }
            cgroup.add_process(pid).map_err(|e| e.to_string())
        },
    )
    .map_err(|e| {
        let code = e.exit_code();
        anyhow::Error::new(e).context(ExitCode(code))
    })?;
    let pid = started.pid.as_raw();
    let pid_start = state::process_start_time(pid).unwrap_or(0);
    let restarts = record.state.restart_count;
    *record = store.update_container(&record.id, |r| {
        r.state.status = Status::Running;
        r.state.pid = pid;
        r.state.pid_start = pid_start;
        r.state.started_at = now_rfc3339();
        r.state.exit_code = 0;
        r.state.error.clear();
        r.state.restart_count = restarts;
        r.state.keeper_pid = std::process::id() as i32;
    })?;
    Ok(Running { started, signals })
}

/// Records how the container ended (exit code, OOM, time) and releases what it held while
/// running (its cgroup). Returns every problem, having tried every step.
pub fn finish(store: &Store, record: &mut ContainerRecord, result: &Result<i32>) -> Vec<String> {
    let mut problems = vec![];
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &record.cgroup_path);
    let oom_killed = cgroup.oom_killed();
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    let (exit_code, error) = match result {
        Ok(code) => (*code, String::new()),
        Err(e) => (super::exit_code_for(e), super::describe(e)),
    };
    let ended = |s: &mut state::RunState| {
        s.status = Status::Exited;
        s.pid = 0;
        s.finished_at = now_rfc3339();
        s.oom_killed = oom_killed;
        s.exit_code = exit_code;
        s.error = error.clone();
        s.keeper_pid = 0;
    };
    ended(&mut record.state);
    if record.host_config.auto_remove {
        problems.extend(teardown(store, record));
    } else if store.container_dir(&record.id).exists() {
        // Afresh from disk: a rename while it ran must not be undone here.
        match store.update_container(&record.id, |r| ended(&mut r.state)) {
            Ok(fresh) => *record = fresh,
            // Removed by `rm -f` meanwhile: nothing is lost.
            Err(_) if !store.container_dir(&record.id).exists() => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    problems
}

/// Removes a container that no longer runs: its cgroup and its directory (upper layer,
/// bundle, record). Serves `run --rm`, `rm` and, later, `delete`. Every step runs; every
/// failure is returned.
pub fn teardown(store: &Store, record: &ContainerRecord) -> Vec<String> {
    let mut problems = vec![];
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &record.cgroup_path);
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    if let Err(e) = store.remove_container_dir(&record.id) {
        problems.push(e.to_string());
    }
    problems
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf, bind-mounted as Docker does.
fn write_etc_files(dir: &Path, hostname: &str, host_network: bool) -> std::io::Result<()> {
    let hosts = if host_network {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n")
    };
    fs::write(dir.join("hosts"), hosts)?;
    fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    fs::write(
        dir.join("resolv.conf"),
        fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    )
}
