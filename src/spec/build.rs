//! The runtime spec Docker would write for a `RunConfig`, built from oci-spec's typed
//! builders: a misspelt field is a compile error, not a silently absent setting. Names
//! that the spec keeps as enums (capabilities, rlimit types, device rule types) are
//! turned into them by their serde spelling, the one the OCI spec defines.

use super::{defaults, plan, RunConfig, SeccompChoice};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxIdMapping,
    LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, LinuxThrottleDevice,
    LinuxThrottleDeviceBuilder, Mount, MountBuilder, PosixRlimitBuilder, Process, ProcessBuilder,
    RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use std::collections::HashMap;

/// Why a spec could not be built: a name the OCI spec does not know, or a builder's
/// refusal.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{what} {name:?} is not one the OCI runtime spec knows")]
    UnknownName { what: &'static str, name: String },
    #[error(transparent)]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("the spec's annotations: {0}")]
    Annotations(#[from] serde_json::Error),
}

/// An enum of the spec from its OCI spelling (`"CAP_CHOWN"`, `"RLIMIT_NOFILE"`).
fn named<T: serde::de::DeserializeOwned>(what: &'static str, name: &str) -> Result<T, BuildError> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        BuildError::UnknownName {
            what,
            name: name.to_string(),
        }
    })
}

/// Builds the runtime spec Docker would for these settings.
pub fn build(cfg: &RunConfig, rootfs: &str) -> Result<Spec, BuildError> {
    Ok(SpecBuilder::default()
        .version("1.0.2")
        .process(process(cfg)?)
        .root(
            RootBuilder::default()
                .path(rootfs)
                .readonly(cfg.readonly_rootfs)
                .build()?,
        )
        .hostname(cfg.hostname.clone())
        .mounts(mounts(cfg)?)
        .annotations(annotations(cfg)?)
        .linux(linux(cfg)?)
        .build()?)
}

fn process(cfg: &RunConfig) -> Result<Process, BuildError> {
    let caps = defaults::capabilities(cfg.privileged, &cfg.cap_add, &cfg.cap_drop)
        .iter()
        .map(|c| named("capability", c))
        .collect::<Result<std::collections::HashSet<_>, _>>()?;
    let rlimits = cfg
        .rlimits
        .iter()
        .map(|(typ, soft, hard)| {
            Ok(PosixRlimitBuilder::default()
                .typ(named::<oci_spec::runtime::PosixRlimitType>("rlimit", typ)?)
                .soft(*soft)
                .hard(*hard)
                .build()?)
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    Ok(ProcessBuilder::default()
        .terminal(cfg.terminal)
        .user(
            UserBuilder::default()
                .uid(cfg.uid)
                .gid(cfg.gid)
                .additional_gids(cfg.additional_gids.clone())
                .build()?,
        )
        .args(cfg.args.clone())
        .env(cfg.env.clone())
        .cwd(cfg.cwd.clone())
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                // Another user than root holds none, as with Docker: the bounding set
                // only limits what setuid programs may gain.
                .effective(if cfg.uid == 0 {
                    caps.clone()
                } else {
                    Default::default()
                })
                .permitted(if cfg.uid == 0 {
                    caps
                } else {
                    Default::default()
                })
                .inheritable(std::collections::HashSet::new())
                .ambient(std::collections::HashSet::new())
                .build()?,
        )
        .rlimits(rlimits)
        .no_new_privileges(cfg.no_new_privileges)
        .build()?)
}

fn mount(
    destination: &str,
    typ: &str,
    source: &str,
    options: &[&str],
) -> Result<Mount, BuildError> {
    Ok(MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()?)
}

/// The mounts every container gets, then the binds and tmpfs asked for.
fn mounts(cfg: &RunConfig) -> Result<Vec<Mount>, BuildError> {
    let ro = if cfg.privileged { "rw" } else { "ro" };
    // Docker's 64 MiB unless `--shm-size` says otherwise (data loaders need more).
    let shm_size = match cfg.shm_size {
        Some(bytes) => format!("size={bytes}"),
        None => "size=65536k".to_string(),
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", ro])?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", ro],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        )?,
    ];
    for b in &cfg.binds {
        let mut options = vec!["rbind", "rprivate"];
        if b.readonly {
            options.push("ro");
        }
        mounts.push(mount(&b.destination, "bind", &b.source, &options)?);
    }
    for (path, extra) in &cfg.tmpfs {
        // Docker's defaults for --tmpfs: no exec, suid or devices unless asked for.
        let mut options: Vec<&str> = vec!["nosuid", "nodev", "noexec"];
        options.extend(extra.iter().map(String::as_str));
        mounts.push(mount(path, "tmpfs", "tmpfs", &options)?);
    }
    Ok(mounts)
}

fn annotations(cfg: &RunConfig) -> Result<HashMap<String, String>, BuildError> {
    let mut a = HashMap::new();
    a.insert(
        super::VOLUMES_ANNOTATION.to_string(),
        serde_json::to_string(&cfg.volumes)?,
    );
    if let super::NetworkMode::Container(id) = &cfg.network {
        a.insert(super::NETNS_OF_ANNOTATION.to_string(), id.clone());
    }
    Ok(a)
}

fn linux(cfg: &RunConfig) -> Result<oci_spec::runtime::Linux, BuildError> {
    use LinuxNamespaceType::*;
    let mut kinds = vec![Pid, Mount, Uts, Ipc, Cgroup];
    if cfg.network.own_namespace() {
        kinds.push(Network);
    }
    let mapping = |ranges: &[plan::IdRange]| -> Result<Vec<LinuxIdMapping>, BuildError> {
        ranges
            .iter()
            .map(|r| {
                Ok(LinuxIdMappingBuilder::default()
                    .container_id(r.inside)
                    .host_id(r.outside)
                    .size(r.count)
                    .build()?)
            })
            .collect()
    };
    let (uid_mappings, gid_mappings) = match &cfg.id_maps {
        Some(maps) => {
            kinds.push(User);
            (mapping(&maps.uids)?, mapping(&maps.gids)?)
        }
        None => (vec![], vec![]),
    };
    let namespaces = kinds
        .into_iter()
        .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
        .collect::<Result<Vec<_>, _>>()?;
    let (masked, readonly) = if cfg.privileged {
        (vec![], vec![])
    } else {
        (
            defaults::MASKED_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            defaults::READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        )
    };
    let seccomp = match &cfg.seccomp {
        _ if cfg.privileged => None,
        SeccompChoice::Unconfined => None,
        SeccompChoice::Default => Some(crate::seccomp::default_profile::profile(
            &defaults::capabilities(cfg.privileged, &cfg.cap_add, &cfg.cap_drop),
        )),
        SeccompChoice::Profile(p) => Some((**p).clone()),
    };
    let mut linux = LinuxBuilder::default()
        .cgroups_path(cfg.cgroups_path.clone())
        .namespaces(namespaces)
        .uid_mappings(uid_mappings)
        .gid_mappings(gid_mappings)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .sysctl(cfg.sysctls.iter().cloned().collect::<HashMap<_, _>>())
        .resources(resources(cfg)?)
        .build()?;
    // The builder starts from oci-spec's example defaults: what Docker leaves out stays out.
    linux.set_devices(None);
    linux.set_seccomp(seccomp);
    Ok(linux)
}

/// `linux.resources` for the run flags: the limits `Limits::from_spec` reads back.
fn resources(cfg: &RunConfig) -> Result<LinuxResources, BuildError> {
    let l = &cfg.limits;
    let x = &l.spec;
    let mut r = LinuxResourcesBuilder::default()
        .devices(
            crate::cgroups::resources_json::docker_device_rules(cfg.privileged)
                .as_array()
                .into_iter()
                .flatten()
                .map(|rule| {
                    serde_json::from_value(rule.clone()).map_err(|_| BuildError::UnknownName {
                        what: "device rule",
                        name: rule.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
        .build()?;
    if l.memory.is_some() || x.memory_reservation.is_some() {
        let mut memory = LinuxMemoryBuilder::default();
        if let Some(m) = l.memory {
            memory = memory.limit(m).swap(l.memory_swap.unwrap_or(m * 2));
        }
        if let Some(res) = x.memory_reservation {
            memory = memory.reservation(res);
        }
        r.set_memory(Some(memory.build()?));
    }
    let has_cpu = l.cpu_quota.is_some()
        || l.cpu_shares.is_some()
        || x.cpuset_cpus.is_some()
        || x.cpuset_mems.is_some();
    if has_cpu {
        let mut cpu = LinuxCpuBuilder::default();
        if let Some(q) = l.cpu_quota {
            cpu = cpu.quota(q).period(l.period());
        }
        if let Some(s) = l.cpu_shares {
            cpu = cpu.shares(s);
        }
        if let Some(c) = &x.cpuset_cpus {
            cpu = cpu.cpus(c.clone());
        }
        if let Some(m) = &x.cpuset_mems {
            cpu = cpu.mems(m.clone());
        }
        r.set_cpu(Some(cpu.build()?));
    }
    if let Some(p) = l.pids {
        r.set_pids(Some(LinuxPidsBuilder::default().limit(p).build()?));
    }
    let throttles = |list: &[crate::cgroups::spec_resources::Throttle]| {
        list.iter()
            .map(|t| {
                LinuxThrottleDeviceBuilder::default()
                    .major(t.major)
                    .minor(t.minor)
                    .rate(t.rate)
                    .build()
            })
            .collect::<Result<Vec<LinuxThrottleDevice>, _>>()
    };
    let io = [&x.read_bps, &x.write_bps, &x.read_iops, &x.write_iops];
    if x.blkio_weight.is_some() || io.iter().any(|l| !l.is_empty()) {
        let mut block_io = LinuxBlockIoBuilder::default();
        if let Some(w) = x.blkio_weight {
            block_io = block_io.weight(w);
        }
        let some = |list: Vec<LinuxThrottleDevice>| (!list.is_empty()).then_some(list);
        let mut built = block_io.build()?;
        built.set_throttle_read_bps_device(some(throttles(&x.read_bps)?));
        built.set_throttle_write_bps_device(some(throttles(&x.write_bps)?));
        built.set_throttle_read_iops_device(some(throttles(&x.read_iops)?));
        built.set_throttle_write_iops_device(some(throttles(&x.write_iops)?));
        r.set_block_io(Some(built));
    }
    Ok(r)
}
