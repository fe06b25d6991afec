//! Starting a created container: its bundle's spec compiled against the host, its cgroup
//! made, its init cloned, its network attached while the init waits, its record marked
//! running. `run_foreground` also waits for it and records the end (`finish`).
//!
//! The bundle (`containers/<id>/config.json`) is the contract: everything here reads the
//! spec from it, never the flags that produced it.

use crate::cgroups::{self, ContainerCgroup, Limits};
use crate::launcher::{self, supervise, StartOptions, Started};
use crate::network;
use crate::spec::plan;
use crate::spec::NetworkMode;
use crate::state::{self, ContainerRecord, Status};
use crate::store::Store;
use crate::timefmt::now_rfc3339;
use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use std::fs;
use std::path::Path;

use super::finish::finish;
use super::hosts::{peers_of, refresh_peers, write_etc_files};
use crate::exit::ExitCode;

/// The spec in a container's bundle, with its rootfs resolved against the bundle.
pub fn read_bundle(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("read the bundle's spec {}", path.display()))?;
    let spec = crate::spec::parse_spec(&text)
        .with_context(|| format!("parse the bundle's spec {}", path.display()))?;
    Ok(in_bundle(spec, bundle))
}

/// The spec with its rootfs resolved against the bundle directory, as an OCI runtime does.
fn in_bundle(mut spec: Spec, bundle: &Path) -> Spec {
    if let Some(root) = spec.root().clone() {
        if root.path().is_relative() {
            let mut root = root;
            root.set_path(bundle.join(root.path()));
            spec.set_root(Some(root));
        }
    }
    spec
}

/// A started container: its init's pid and pty, the signals hako relays to it, and its
/// network (reserved host ports stay held while this lives).
pub struct Running {
    pub started: Started,
    pub signals: supervise::Signals,
    /// Held, not read: dropping it gives the reserved host ports back.
    #[allow(dead_code)]
    pub network: Option<network::Attachment>,
    /// Held, not read: slirp4netns serves the container while this lives (rootless).
    #[allow(dead_code)]
    pub user_net: Option<network::usermode::UserNet>,
}

/// Starts the container from its bundle and marks it running. On error nothing of it
/// runs (the caller records the failure and tears down).
/// `spec` is the bundle's, when the caller has just written it (`run`); otherwise it is
/// read from the bundle.
pub fn start(
    store: &Store,
    record: &mut ContainerRecord,
    spec: Option<Spec>,
    options: &StartOptions,
) -> Result<Running> {
    let dir = store.container_dir(&record.id);
    // Only now, with the command accepted: Docker creates a missing -v source directory.
    for b in &record.host_config.binds {
        if !Path::new(&b.source).exists() {
            fs::create_dir_all(&b.source)
                .with_context(|| format!("-v {}: create {}", b.source, b.source))
                .context(ExitCode(125))?;
        }
    }
    // On a bridge they are written once the address is known (in `on_created` below).
    if !matches!(record.host_config.network_mode, NetworkMode::Bridge(_)) {
        write_etc_files(&dir, record, None, &[])
            .context("write /etc/hosts, /etc/hostname and /etc/resolv.conf")
            .context(ExitCode(125))?;
    }
    let mut spec = match spec {
        Some(spec) => in_bundle(spec, &dir),
        None => read_bundle(&dir).context(ExitCode(125))?,
    };
    join_other_network(store, &mut spec).context(ExitCode(125))?;
    let plan = plan::compile(
        &spec,
        &crate::launcher::host_facts(Some(store.seccomp_cache_dir())),
    )
    .context(ExitCode(125))?;
    let cgroup = ContainerCgroup::create(
        cgroups::host_hierarchy(),
        &record.cgroup_path,
        &Limits::from_spec(&spec),
        store.mode(),
    )
    .context(ExitCode(125))?;
    let signals = supervise::Signals::block()
        .context("block signals")
        .context(ExitCode(125))?;
    let overlay = crate::rootfs::container_overlay(store, &record.id, &record.layers);
    let mut attachment = None;
    let mut user_net = None;
    let started = launcher::spawn(&plan, Some(&overlay), options, &cgroup, |pid| {
        // While the new process waits: its address, veth, rules and /etc/hosts.
        if let NetworkMode::Bridge(name) = &record.host_config.network_mode {
            let a = network::attach(store, record, name, &record.host_config.network, pid)?;
            let peers = peers_of(store, &record.id, &a.settings);
            write_etc_files(&dir, record, Some(&a.settings), &peers)?;
            attachment = Some(a);
        }
        if let Some(helper) = network::usermode::Helper::of(&record.host_config.network_mode) {
            let run_dir = crate::rootless::run_dir();
            let ports = &record.host_config.network.ports;
            let net = network::usermode::start(helper, pid, &record.id, ports, &run_dir)?;
            user_net = Some(net);
        }
        Ok(())
    })
    .map_err(|e| {
        let code = e.exit_code();
        anyhow::Error::new(e).context(ExitCode(code))
    })?;
    let pid = started.pid.as_raw();
    let pid_start = state::process_start_time(pid).unwrap_or(0);
    let restarts = record.state.restart_count;
    let settings = match (&attachment, &user_net) {
        (Some(a), _) => a.settings.clone(),
        (None, Some(net)) => network::usermode::settings(net),
        (None, None) => Default::default(),
    };
    *record = store.update_container(&record.id, |r| {
        r.network = settings.clone();
        r.state.status = Status::Running;
        r.state.pid = pid;
        r.state.pid_start = pid_start;
        r.state.started_at = now_rfc3339();
        r.state.exit_code = 0;
        r.state.error.clear();
        r.state.restart_count = restarts;
        r.state.keeper_pid = std::process::id() as i32;
        r.state.keeper_start = crate::proc::own_start_time();
    })?;
    // The others on a named network learn this one's name (their /etc/hosts, in place).
    if attachment.is_some() {
        refresh_peers(store, record);
    }
    Ok(Running {
        started,
        signals,
        network: attachment,
        user_net,
    })
}

/// `--network container:NAME`: the other container's namespace, by its current pid.
fn join_other_network(store: &Store, spec: &mut Spec) -> Result<()> {
    let Some(other) = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(crate::spec::NETNS_OF_ANNOTATION))
        .cloned()
    else {
        return Ok(());
    };
    let c = store.lookup_container(&other)?;
    if !c.is_running() {
        anyhow::bail!(
            "--network container:{}: that container is not running (start it first)",
            c.name
        );
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    for ns in &mut namespaces {
        if ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
            ns.set_path(Some(format!("/proc/{}/ns/net", c.state.pid).into()));
        }
    }
    if !namespaces
        .iter()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
    {
        let mut ns = oci_spec::runtime::LinuxNamespace::default();
        ns.set_typ(oci_spec::runtime::LinuxNamespaceType::Network);
        ns.set_path(Some(format!("/proc/{}/ns/net", c.state.pid).into()));
        namespaces.push(ns);
    }
    linux.set_namespaces(Some(namespaces));
    spec.set_linux(Some(linux));
    Ok(())
}

/// A container in the foreground (`run` without -d, `start -a`): start it, relay the
/// terminal and signals until it exits, record the end. Returns its exit code.
pub fn run_foreground(
    store: &Store,
    record: &mut ContainerRecord,
    spec: Option<Spec>,
    options: &StartOptions,
) -> Result<i32> {
    let result = start(store, record, spec, options).and_then(|mut running| {
        supervise::supervise(
            running.started.pid,
            &mut running.signals,
            running.started.pty_master.take(),
        )
        .context("wait for the container")
    });
    for p in finish(store, record, &result) {
        eprintln!("hako: cleanup: {p}");
    }
    result
}
