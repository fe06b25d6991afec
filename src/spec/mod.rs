//! The OCI runtime spec: the contract in the middle. The Docker-like front end builds one
//! from the image config and the flags (`build`); the runc-compatible front end will read
//! one from a bundle. `plan` compiles it into the `LaunchPlan` the launcher runs.

pub mod defaults;
pub mod frontend;
pub mod labels;
pub mod plan;
pub mod sched;
pub mod user;

pub use plan::{LaunchPlan, PlanError};

use crate::cgroups::Limits;
use oci_spec::runtime::Spec;
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum NetworkMode {
    #[default]
    /// Own network namespace with loopback only.
    None,
    /// The host's network namespace.
    Host,
    /// Own namespace with a veth into this network's bridge (`bridge` is the default one).
    Bridge(String),
    /// The network namespace of this other container (by ID).
    Container(String),
    /// Own namespace, connected by slirp4netns (rootless: the bridge needs root).
    UserMode,
    /// Own namespace, connected by pasta (passt's user-mode networking), as UserMode.
    Pasta,
}

impl NetworkMode {
    /// Docker's name for it: `none`, `host`, `bridge`, `mynet`, `container:<id>`.
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge(n) => n.clone(),
            NetworkMode::Container(id) => format!("container:{id}"),
            NetworkMode::UserMode => "slirp4netns".into(),
            NetworkMode::Pasta => "pasta".into(),
        }
    }

    /// Whether the container has a network namespace of its own.
    pub fn own_namespace(&self) -> bool {
        matches!(
            self,
            NetworkMode::None | NetworkMode::Bridge(_) | NetworkMode::UserMode | NetworkMode::Pasta
        )
    }
}

/// Spec annotation naming the container whose network namespace this one joins; resolved
/// to `/proc/<pid>/ns/net` when it starts (the other container's pid changes on restart).
pub const NETNS_OF_ANNOTATION: &str = "io.hako.network.container";

pub use crate::flags::Bind;

/// Everything the front end decided about one container, already resolved (numeric ids,
/// absolute paths): the input to `build`.
#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    pub terminal: bool,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub binds: Vec<Bind>,
    /// (path, mount options) of each tmpfs asked for.
    pub tmpfs: Vec<(String, Vec<String>)>,
    pub sysctls: Vec<(String, String)>,
    pub network: NetworkMode,
    /// (type, soft, hard), e.g. ("RLIMIT_NOFILE", 1024, 2048).
    pub rlimits: Vec<(String, u64, u64)>,
    pub cgroups_path: String,
    pub limits: Limits,
    /// The image's `VOLUME` paths: created in the rootfs before the command starts.
    pub volumes: Vec<String>,
    /// A user namespace of its own, with these maps.
    pub id_maps: Option<plan::IdMaps>,
    pub seccomp: SeccompChoice,
}

/// `--security-opt seccomp=…`: the default profile (for the container's capabilities),
/// none, or the user's own (already an OCI profile). `--privileged` means none.
#[derive(Clone, Debug, Default)]
pub enum SeccompChoice {
    #[default]
    Default,
    Unconfined,
    Profile(Box<oci_spec::runtime::LinuxSeccomp>),
}

/// Where a bundle's rootfs is, relative to the bundle: hako mounts the overlay there.
pub const BUNDLE_ROOTFS: &str = "merged";

/// Spec annotation listing directories to create in the rootfs (the image's volumes).
pub const VOLUMES_ANNOTATION: &str = "io.hako.volumes";

fn annotations(cfg: &RunConfig) -> Result<serde_json::Value, serde_json::Error> {
    let mut a = serde_json::Map::new();
    a.insert(
        VOLUMES_ANNOTATION.into(),
        serde_json::to_string(&cfg.volumes)?.into(),
    );
    if let NetworkMode::Container(id) = &cfg.network {
        a.insert(NETNS_OF_ANNOTATION.into(), id.clone().into());
    }
    Ok(a.into())
}

/// Builds the runtime spec Docker would for these settings.
pub fn build(cfg: &RunConfig, rootfs: &str) -> Result<Spec, serde_json::Error> {
    let caps = defaults::capabilities(cfg.privileged, &cfg.cap_add, &cfg.cap_drop);
    let seccomp = match &cfg.seccomp {
        _ if cfg.privileged => None,
        SeccompChoice::Unconfined => None,
        SeccompChoice::Default => Some(crate::seccomp::default_profile::profile(&caps)),
        SeccompChoice::Profile(p) => Some((**p).clone()),
    };
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "mount"}),
        json!({"type": "uts"}),
        json!({"type": "ipc"}),
        json!({"type": "cgroup"}),
    ];
    if cfg.network.own_namespace() {
        namespaces.push(json!({"type": "network"}));
    }
    let mapping = |ranges: &[plan::IdRange]| -> Vec<serde_json::Value> {
        ranges
            .iter()
            .map(|r| json!({"containerID": r.inside, "hostID": r.outside, "size": r.count}))
            .collect()
    };
    let (uid_mappings, gid_mappings) = match &cfg.id_maps {
        Some(maps) => {
            namespaces.push(json!({"type": "user"}));
            (mapping(&maps.uids), mapping(&maps.gids))
        }
        None => (vec![], vec![]),
    };
    let mut mounts = defaults::mounts(cfg.privileged);
    for b in &cfg.binds {
        let mut options = vec!["rbind", "rprivate"];
        if b.readonly {
            options.push("ro");
        }
        mounts.push(json!({"destination": b.destination, "type": "bind", "source": b.source, "options": options}));
    }
    for (path, extra) in &cfg.tmpfs {
        // Docker's defaults for --tmpfs: no exec, suid or devices unless asked for.
        let mut options: Vec<&str> = vec!["nosuid", "nodev", "noexec"];
        options.extend(extra.iter().map(String::as_str));
        mounts.push(
            json!({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": options}),
        );
    }
    let (masked, readonly) = if cfg.privileged {
        (vec![], vec![])
    } else {
        (
            defaults::MASKED_PATHS.to_vec(),
            defaults::READONLY_PATHS.to_vec(),
        )
    };
    let rlimits: Vec<_> = cfg
        .rlimits
        .iter()
        .map(|(t, s, h)| json!({"type": t, "soft": s, "hard": h}))
        .collect();
    let memory = cfg
        .limits
        .memory
        .map(|m| json!({"limit": m, "swap": cfg.limits.memory_swap.unwrap_or(m * 2)}));
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": cfg.terminal,
            "user": {"uid": cfg.uid, "gid": cfg.gid, "additionalGids": cfg.additional_gids},
            "args": cfg.args,
            "env": cfg.env,
            "cwd": cfg.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
            "rlimits": rlimits,
            "noNewPrivileges": cfg.no_new_privileges,
        },
        "root": {"path": rootfs, "readonly": cfg.readonly_rootfs},
        "hostname": cfg.hostname,
        "mounts": mounts,
        "annotations": annotations(cfg)?,
        "linux": {
            "cgroupsPath": cfg.cgroups_path,
            "namespaces": namespaces,
            "uidMappings": uid_mappings,
            "gidMappings": gid_mappings,
            "maskedPaths": masked,
            "sysctl": cfg.sysctls.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "readonlyPaths": readonly,
            "seccomp": seccomp,
            "resources": resources(cfg, memory),
        },
    });
    serde_json::from_value(spec)
}

/// `linux.resources` for the run flags: the limits `Limits::from_spec` reads back.
fn resources(cfg: &RunConfig, memory: Option<serde_json::Value>) -> serde_json::Value {
    let l = &cfg.limits;
    let x = &l.spec;
    let mut memory = memory.unwrap_or_else(|| json!({}));
    if let Some(r) = x.memory_reservation {
        memory["reservation"] = json!(r);
    }
    let mut cpu = json!({});
    if let Some(q) = l.cpu_quota {
        cpu["quota"] = json!(q);
        cpu["period"] = json!(crate::cgroups::CPU_PERIOD_US);
    }
    if let Some(s) = l.cpu_shares {
        cpu["shares"] = json!(s);
    }
    if let Some(c) = &x.cpuset_cpus {
        cpu["cpus"] = json!(c);
    }
    if let Some(m) = &x.cpuset_mems {
        cpu["mems"] = json!(m);
    }
    let throttles = |list: &[crate::cgroups::spec_resources::Throttle]| {
        (!list.is_empty()).then(|| {
            list.iter()
                .map(|t| json!({"major": t.major, "minor": t.minor, "rate": t.rate}))
                .collect::<Vec<_>>()
        })
    };
    let mut r = json!({
        "pids": l.pids.map(|p| json!({"limit": p})),
        "devices": crate::cgroups::resources_json::docker_device_rules(cfg.privileged),
        "blockIO": {
            "weight": x.blkio_weight,
            "throttleReadBpsDevice": throttles(&x.read_bps),
            "throttleWriteBpsDevice": throttles(&x.write_bps),
            "throttleReadIopsDevice": throttles(&x.read_iops),
            "throttleWriteIopsDevice": throttles(&x.write_iops),
        },
    });
    if memory.as_object().is_some_and(|m| !m.is_empty()) {
        r["memory"] = memory;
    }
    if cpu.as_object().is_some_and(|c| !c.is_empty()) {
        r["cpu"] = cpu;
    }
    // Nulls out: an absent setting is not a zero one.
    if let Some(b) = r["blockIO"].as_object_mut() {
        b.retain(|_, v| !v.is_null());
    }
    if r["blockIO"].as_object().is_some_and(|b| b.is_empty()) {
        r.as_object_mut().map(|o| o.remove("blockIO"));
    }
    r
}

/// Reads a `config.json` the way runc does. oci-spec 0.7 spells blockIO's IOPS throttles
/// `throttleReadIopsDevice`, the OCI spec (and runc, Docker, containerd) `…IOPSDevice`:
/// without the renaming below such limits would be dropped without a word.
pub fn parse_spec(text: &str) -> Result<Spec, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_str(text)?;
    if let Some(r) = v.pointer_mut("/linux/resources") {
        crate::cgroups::resources_json::spell_iops_as_oci_spec_does(r);
    }
    serde_json::from_value(v)
}
