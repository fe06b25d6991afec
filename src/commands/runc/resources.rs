//! runc mode's cgroups: where a container's cgroup goes (`cgroupsPath`, systemd's form,
//! a rootless user's delegated subtree), the limits a spec asks for, `update` and `events`.

use super::state::{self, Status};
use crate::cgroups::{self, ContainerCgroup, Limits};
use crate::cli::RuncCommand;
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::Spec;
use std::path::Path;

/// `cgroupsPath` as a cgroupfs path; systemd's `slice:prefix:name` becomes
/// `slice/prefix-name.scope` (there is no systemd to ask here).
pub(super) fn cgroup_path(spec: &Spec, id: &str, systemd: bool) -> String {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.display().to_string());
    match given {
        Some(p) if systemd && p.split(':').count() == 3 => {
            let parts: Vec<&str> = p.split(':').collect();
            let slice = if parts[0].is_empty() {
                "system.slice"
            } else {
                parts[0]
            };
            format!("{slice}/{}-{}.scope", parts[1], parts[2])
        }
        Some(p) => p.trim_start_matches('/').to_string(),
        None => format!("hako-runc/{id}"),
    }
}

/// Rootless (`hako runc` as an ordinary user, as runc's rootless mode): the container's
/// cgroup goes under the user's delegated v2 subtree, or there is none (the device
/// rules then cannot be enforced, as with runc); resource limits without a delegated
/// cgroup are refused, naming why.
pub(super) fn rootless_cgroup_path(id: &str, limits: &Limits) -> Result<String> {
    let path = cgroups::delegation::container_cgroup_path(
        crate::rootless::Mode::Rootless,
        &format!("runc-{id}"),
        limits,
    )
    .map_err(|e| {
        anyhow!("{e} (a rootless bundle: `hako runc spec --rootless` asks for no limits)")
    })?;
    Ok(path.unwrap_or_default())
}

pub(super) fn update(root: &Path, command: &RuncCommand) -> Result<i32> {
    let RuncCommand::Update {
        resources,
        memory,
        memory_swap,
        cpu_quota,
        cpu_period,
        pids_limit,
        id,
    } = command
    else {
        unreachable!("called for update");
    };
    let s = state::load(root, id)?;
    if state::status(root, &s) == Status::Stopped {
        bail!("container {id} is not running");
    }
    // The JSON first, then the flags over it, as runc does.
    let mut r: serde_json::Value = match resources.as_deref() {
        Some(p) => {
            let text = if p == Path::new("-") {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?
            };
            serde_json::from_str(&text)
                .context("parse the resources (a LinuxResources JSON object)")?
        }
        None => serde_json::json!({}),
    };
    let mut set = |section: &str, key: &str, value: Option<serde_json::Value>| {
        if let Some(v) = value {
            if !r[section].is_object() {
                r[section] = serde_json::json!({});
            }
            r[section][key] = v;
        }
    };
    set("memory", "limit", memory.map(Into::into));
    set("memory", "swap", memory_swap.map(Into::into));
    set("cpu", "quota", cpu_quota.map(Into::into));
    set("cpu", "period", cpu_period.map(Into::into));
    set("pids", "limit", pids_limit.map(Into::into));
    let r = crate::cgroups::resources_json::parse_resources(r)
        .context("the resources are not a LinuxResources object")?;
    let limits = Limits::from_resources(&r);
    ContainerCgroup::load(cgroups::host_hierarchy(), &s.cgroup_path).update(&limits)?;
    Ok(0)
}

/// The spec's limits. Like runc, the devices every container needs (null, zero, the
/// ptys, tun…) are allowed after the spec's own rules: Docker's and containerd's specs
/// leave `/dev/ptmx` and `/dev/pts/*` out and rely on that.
pub(super) fn runc_limits(spec: &oci_spec::runtime::Spec) -> Limits {
    let mut limits = Limits::from_spec(spec);
    if !limits.devices.is_empty() {
        let defaults = crate::cgroups::resources_json::parse_resources(serde_json::json!({
            "devices": crate::cgroups::resources_json::docker_device_rules(false)
        }))
        .expect("the default device rules parse");
        // Without the leading deny-all: that is the spec's to say.
        limits.devices.extend(
            Limits::from_resources(&defaults)
                .devices
                .into_iter()
                .skip(1),
        );
    }
    limits
}

/// runc's `events`: resource usage as `{"type":"stats","id":…,"data":{…}}` lines, once with
/// `--stats`, else every interval until the container stops.
pub(super) fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<i32> {
    let every = crate::units::parse_duration(interval).map_err(anyhow::Error::msg)?;
    let s = state::load(root, id)?;
    let version = ContainerCgroup::load(cgroups::host_hierarchy(), &s.cgroup_path).version();
    loop {
        if state::status(root, &s) == Status::Stopped {
            bail!("container {id} is not running");
        }
        let u = cgroups::stats::usage(version, &s.cgroup_path);
        let line = serde_json::json!({
            "type": "stats",
            "id": id,
            "data": {
                "cpu": {"usage": {"total": u.cpu_ns}},
                "memory": {"usage": {"usage": u.memory_bytes, "limit": u.memory_limit.unwrap_or(u64::MAX)}},
                "pids": {"current": u.pids},
                "blkio": {"ioServiceBytesRecursive": [
                    {"op": "Read", "value": u.block_read},
                    {"op": "Write", "value": u.block_write},
                ]},
            },
        });
        println!("{line}");
        if once {
            return Ok(0);
        }
        std::thread::sleep(every);
    }
}
