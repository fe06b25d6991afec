//! What every verb that starts or removes a container shares (not a verb itself): start a
//! container from its bundle, record how it ended, tear it down.
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

use super::ExitCode;

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
    let plan = plan::compile(&spec, &crate::launcher::host_facts()).context(ExitCode(125))?;
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
    let overlay = crate::rootfs::container_overlay(store, &record.id, &record.layers);
    let mut attachment = None;
    let mut user_net = None;
    let started = launcher::spawn(
        &plan,
        Some(&overlay),
        options,
        cgroup_dir.as_ref().map(std::os::fd::AsFd::as_fd),
        |pid, in_cgroup| {
            if !in_cgroup {
                cgroup.add_process(pid).map_err(|e| e.to_string())?;
            }
            // While the new process waits: its address, veth, rules and /etc/hosts.
            if let NetworkMode::Bridge(name) = &record.host_config.network_mode {
                let a = network::attach(store, record, name, &record.host_config.network, pid)
                    .map_err(|e| e.to_string())?;
                let peers = peers_of(store, &record.id, &a.settings);
                write_etc_files(&dir, record, Some(&a.settings), &peers)
                    .map_err(|e| e.to_string())?;
                attachment = Some(a);
            }
            if let Some(helper) = network::usermode::Helper::of(&record.host_config.network_mode) {
                let run_dir = crate::rootless::run_dir();
                let ports = &record.host_config.network.ports;
                let net = network::usermode::start(helper, pid, &record.id, ports, &run_dir)
                    .map_err(|e| e.to_string())?;
                user_net = Some(net);
            }
            Ok(())
        },
    )
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

/// The other containers on a named network, as /etc/hosts entries (names and aliases).
fn peers_of(
    store: &Store,
    id: &str,
    settings: &crate::endpoint::Settings,
) -> Vec<network::hosts::Entry> {
    let Ok(def) = network::find(store, &settings.network) else {
        return vec![];
    };
    if !def.resolves_names() {
        return vec![];
    }
    network::members(store, &def.name)
        .into_iter()
        .filter(|(other, ..)| other != id)
        .map(|(_, name, ip, aliases)| network::hosts::Entry {
            ip,
            names: std::iter::once(name).chain(aliases).collect(),
        })
        .collect()
}

/// The other containers on every named network this one is on (started on, or connected).
fn all_peers(store: &Store, record: &ContainerRecord) -> Vec<network::hosts::Entry> {
    std::iter::once(&record.network)
        .chain(&record.extra_networks)
        .flat_map(|s| peers_of(store, &record.id, s))
        .collect()
}

/// Rewrites the /etc/hosts of every other running container on `network`.
pub(crate) fn refresh_network(store: &Store, network: &str, except: &str) {
    if network::find(store, network).map_or(true, |d| !d.resolves_names()) {
        return;
    }
    for (id, ..) in network::members(store, network) {
        if id == except {
            continue;
        }
        let Ok(peer) = store.lookup_container(&id) else {
            continue;
        };
        refresh_own(store, &peer);
    }
}

/// Rewrites one running container's /etc/hosts from what its networks hold now.
pub(crate) fn refresh_own(store: &Store, record: &ContainerRecord) {
    let peers = all_peers(store, record);
    let _ = write_etc_files(
        &store.container_dir(&record.id),
        record,
        Some(&record.network),
        &peers,
    );
}

/// Rewrites the /etc/hosts of every other running container on this one's networks.
fn refresh_peers(store: &Store, record: &ContainerRecord) {
    for s in std::iter::once(&record.network).chain(&record.extra_networks) {
        if !s.network.is_empty() {
            refresh_network(store, &s.network, &record.id);
        }
    }
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

/// Records how the container ended (exit code, OOM, time) and releases what it held while
/// running (its cgroup). Returns every problem, having tried every step.
pub fn finish(store: &Store, record: &mut ContainerRecord, result: &Result<i32>) -> Vec<String> {
    let mut problems = vec![];
    // Its address and rules go now; the veth went with its network namespace.
    // Afresh: `network connect` (another process) may have added interfaces meanwhile.
    let fresh = store
        .lookup_container(&record.id)
        .unwrap_or_else(|_| record.clone());
    if matches!(record.host_config.network_mode, NetworkMode::Bridge(_))
        || !fresh.extra_networks.is_empty()
    {
        problems.extend(network::release(store, &record.id));
        refresh_peers(store, &fresh);
    }
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &record.cgroup_path);
    let oom_killed = cgroup.oom_killed();
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    let (exit_code, error) = match result {
        Ok(code) => (*code, String::new()),
        Err(e) => (super::exit_code_for(e), super::describe(e)),
    };
    record.network = Default::default();
    record.extra_networks.clear();
    let ended = |s: &mut state::RunState| {
        s.status = Status::Exited;
        s.pid = 0;
        s.finished_at = now_rfc3339();
        s.oom_killed = oom_killed;
        s.exit_code = exit_code;
        s.error = error.clone();
        s.keeper_pid = 0;
        s.keeper_start = 0;
    };
    ended(&mut record.state);
    if record.host_config.auto_remove {
        problems.extend(teardown(store, record));
        // `run --rm` takes the anonymous volumes with it, as Docker does.
        problems.extend(remove_anonymous_volumes(store, record));
    } else if store.container_dir(&record.id).exists() {
        // Afresh from disk: a rename while it ran must not be undone here.
        match store.update_container(&record.id, |r| {
            ended(&mut r.state);
            r.network = Default::default();
            r.extra_networks.clear();
        }) {
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
    if matches!(record.host_config.network_mode, NetworkMode::Bridge(_)) {
        problems.extend(network::release(store, &record.id));
    }
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &record.cgroup_path);
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    if let Err(e) = store.remove_container_dir(&record.id) {
        problems.push(e.to_string());
    }
    problems
}

/// `rm -v`: the container's anonymous volumes go too, unless another container mounts one
/// (`--volumes-from` style sharing); named volumes always stay.
pub fn remove_anonymous_volumes(store: &Store, record: &ContainerRecord) -> Vec<String> {
    let Ok(_writer) = store.writer_guard() else {
        return vec!["take the store's writer lock to remove volumes".into()];
    };
    let others = store.containers().unwrap_or_default();
    let mut problems = vec![];
    for name in record
        .host_config
        .binds
        .iter()
        .filter_map(|b| b.volume.as_ref())
    {
        let anonymous = crate::volumes::find(store, name).is_ok_and(|v| v.anonymous());
        if anonymous && crate::volumes::users(&others, name).is_empty() {
            if let Err(e) = crate::volumes::remove(store, name, false) {
                problems.push(e.to_string());
            }
        }
    }
    problems
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf, bind-mounted as Docker does. Written in
/// place (same inode): a running container sees the new /etc/hosts through its mount.
fn write_etc_files(
    dir: &Path,
    record: &ContainerRecord,
    net: Option<&crate::endpoint::Settings>,
    peers: &[network::hosts::Entry],
) -> std::io::Result<()> {
    use network::hosts;
    let hostname = &record.config.hostname;
    let request = &record.host_config.network;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (hosts_text, resolv) = match &record.host_config.network_mode {
        NetworkMode::Host => (
            fs::read_to_string("/etc/hosts").unwrap_or_default(),
            host_resolv,
        ),
        mode => {
            let own = match net.and_then(|n| n.ip) {
                Some(ip) => {
                    let mut names = vec![hostname.clone()];
                    if record.name != *hostname {
                        names.push(record.name.clone());
                    }
                    names.extend(request.aliases.iter().cloned());
                    hosts::Entry { ip, names }
                }
                None => hosts::Entry {
                    ip: std::net::Ipv4Addr::new(127, 0, 1, 1),
                    names: vec![hostname.clone()],
                },
            };
            let resolv = if matches!(mode, NetworkMode::Bridge(_)) {
                hosts::resolv_conf(&host_resolv, &request.dns)
            } else if network::usermode::Helper::of(mode).is_some() {
                network::usermode::resolv_conf(&request.dns)
            } else {
                host_resolv
            };
            (
                hosts::hosts_file(Some(&own), peers, &request.extra_hosts),
                resolv,
            )
        }
    };
    write_in_place(&dir.join("hosts"), &hosts_text)?;
    write_in_place(&dir.join("hostname"), &format!("{hostname}\n"))?;
    write_in_place(&dir.join("resolv.conf"), &resolv)
}

fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}
