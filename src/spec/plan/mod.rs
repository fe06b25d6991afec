//! Compiles an OCI runtime spec into a `LaunchPlan`: everything the launcher will do,
//! decided and validated before the first `clone`. Pure (the host's facts come in as
//! `HostFacts`), so it is unit-tested from `config.json` fixtures without root.
//!
//! `compile` reads the sections in turn, one concern a module: `namespaces` (made,
//! joined, id maps, sysctls), `mounts`, `devices`, `process` (who the process becomes).

use caps::Capability;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::PathBuf;

mod devices;
mod mounts;
mod namespaces;
mod process;

pub use crate::cgroups::layout::{CgroupV1Mount, HostCgroupLayout};
pub use devices::default_devices;
pub use mounts::parse_mount_options;
pub use process::rlimit_resource;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("the spec has no {0}")]
    Missing(&'static str),
    #[error("{what} must be an absolute path, got {path:?}")]
    NotAbsolute { what: &'static str, path: String },
    #[error("unknown capability {0:?} (see capabilities(7) for the names)")]
    UnknownCapability(String),
    #[error("unknown rlimit {0:?} (expected RLIMIT_NOFILE, RLIMIT_NPROC, …)")]
    UnknownRlimit(String),
    #[error("no command to run: the image has no Cmd or Entrypoint, and none was given")]
    NoCommand,
    /// A spec field hako does not implement yet: refused, never silently dropped.
    #[error("{0}")]
    Host(String),
    #[error("{0} in config.json is not supported by hako yet (remove it from the spec, or use runc or crun for this bundle)")]
    Unsupported(&'static str),
    #[error("device {path}: {why}")]
    BadDevice { path: String, why: &'static str },
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("{0}")]
    Invalid(&'static str),
    /// A setting whose value the kernel would refuse, with the rule it breaks.
    #[error("{0}")]
    Setting(String),
    #[error("linux.sysctl {key}: {why}")]
    BadSysctl { key: String, why: &'static str },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A filesystem (proc, tmpfs, sysfs…) or a bind mount.
    Plain,
    /// `type: cgroup`: the container's view of the host's cgroup hierarchies.
    Cgroup,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOp {
    pub kind: MountKind,
    pub source: String,
    /// Absolute path inside the container.
    pub target: PathBuf,
    pub fstype: String,
    pub flags: MsFlags,
    /// Options that are not flags (`mode=755`, `size=65536k`…).
    pub data: String,
    pub propagation: MsFlags,
}

impl MountOp {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: HashSet<Capability>,
    pub effective: HashSet<Capability>,
    pub permitted: HashSet<Capability>,
    pub inheritable: HashSet<Capability>,
    pub ambient: HashSet<Capability>,
}

/// A device node to create in the container's /dev.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: nix::sys::stat::SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Clone, Debug)]
pub struct LaunchPlan {
    pub namespaces: CloneFlags,
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    /// Whether the container has a mount namespace (made or joined). Without one it
    /// shares its caller's mounts: nothing is mounted, the root is entered by chroot.
    pub own_mounts: bool,
    /// `linux.rootfsPropagation`: applied to "/" before the rootfs is prepared and again
    /// on the new root after pivot_root, as runc does; `None` is runc's rslave.
    pub rootfs_propagation: Option<MsFlags>,
    pub mounts: Vec<MountOp>,
    /// Directories created in the rootfs before the mounts (image volumes).
    pub volume_dirs: Vec<PathBuf>,
    pub cgroup_layout: HostCgroupLayout,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub hostname: Option<String>,
    /// An existing network namespace to enter instead of a new one.
    pub join_network: Option<PathBuf>,
    /// Other existing namespaces to enter by path (a pod's IPC, UTS, cgroup or PID
    /// namespace, as containerd's CRI hands them over). PID is entered by the parent
    /// before `clone` (it applies to children only); the rest by the child.
    pub join: Vec<(CloneFlags, PathBuf)>,
    /// The default devices plus the spec's `linux.devices`.
    pub devices: Vec<DeviceNode>,
    /// `linux.sysctl`, only keys that belong to one of the container's own namespaces.
    pub sysctls: Vec<(String, String)>,
    /// With a user namespace of its own: the uid and gid maps its creator writes.
    pub id_maps: Option<IdMaps>,
    /// The hooks the container's init runs itself (runc mode; empty otherwise).
    pub hooks: ContainerHooks,
    pub process: ProcessPlan,
}

/// The seccomp agent's socket and the metadata it is sent with the listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompListener {
    pub path: PathBuf,
    pub metadata: String,
}

/// `createContainer` and `startContainer` hooks, run by the container's init in the
/// container's namespaces (see `crate::hooks`).
#[derive(Clone, Debug, Default)]
pub struct ContainerHooks {
    pub create_container: Vec<oci_spec::runtime::Hook>,
    pub start_container: Vec<oci_spec::runtime::Hook>,
    /// The state document they read: the runtime fills in the id and bundle; the init
    /// sets the status and its pid when it runs them.
    pub state: serde_json::Value,
}

impl LaunchPlan {
    /// Every namespace the container has, made or joined: what `exec` must enter.
    pub fn entered_namespaces(&self) -> CloneFlags {
        let joined = self
            .join
            .iter()
            .fold(CloneFlags::empty(), |acc, (f, _)| acc | *f);
        let net = if self.join_network.is_some() {
            CloneFlags::CLONE_NEWNET
        } else {
            CloneFlags::empty()
        };
        self.namespaces | joined | net
    }
}

/// `linux.uidMappings` and `linux.gidMappings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMaps {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

pub use crate::rootless::idmap::IdRange;

/// Who the process becomes: the half of the plan that `exec` reuses for a second
/// process in a running container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessPlan {
    pub rlimits: Vec<Rlimit>,
    pub caps: CapSets,
    pub no_new_privs: bool,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub cwd: PathBuf,
    pub env: Vec<String>,
    pub args: Vec<String>,
    pub terminal: bool,
    /// `linux.seccomp`, compiled; installed last before execve.
    pub seccomp: Option<crate::seccomp::Program>,
    /// `linux.seccomp.listenerPath`: where the filter's listener (SCMP_ACT_NOTIFY) goes.
    pub seccomp_listener: Option<SeccompListener>,
    /// AppArmor profile and SELinux labels, applied on exec.
    pub labels: super::labels::Labels,
    /// `process.oomScoreAdj`: written to /proc/self/oom_score_adj (inherited by children).
    pub oom_score_adj: Option<i32>,
    /// `linux.personality`: the execution domain (0 LINUX, 8 LINUX32).
    pub personality: Option<u64>,
    /// `process.scheduler`, as sched_setattr(2) takes it.
    pub scheduler: Option<super::sched::SchedAttr>,
    /// `process.ioPriority`, as ioprio_set(2) takes it.
    pub io_priority: Option<u32>,
}

/// What compiling a spec needs to know of the host it will run on (probed by the
/// launcher, `launcher::host_facts`), so the plan stays a function of its inputs.
#[derive(Clone, Debug)]
pub struct HostFacts {
    pub cgroup_layout: HostCgroupLayout,
    /// Probes the LSMs the host runs; called only for a spec that asks for a label, so
    /// a plain start reads nothing under /sys.
    pub lsm: fn() -> super::labels::LsmSupport,
    /// Where compiled seccomp filters are kept between runs (the data root's cache);
    /// `None` compiles every time.
    pub seccomp_cache: Option<std::path::PathBuf>,
}

pub fn compile(spec: &Spec, host: &HostFacts) -> Result<LaunchPlan, PlanError> {
    refuse_unsupported(spec)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or(PlanError::Missing("process"))?;
    let root = spec.root().as_ref().ok_or(PlanError::Missing("root"))?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or(PlanError::Missing("linux section"))?;
    if process.args().as_deref().unwrap_or_default().is_empty() {
        return Err(PlanError::NoCommand);
    }
    if !process.cwd().is_absolute() {
        return Err(PlanError::NotAbsolute {
            what: "the working directory",
            path: process.cwd().display().to_string(),
        });
    }

    let namespaces::Compiled {
        flags: namespaces,
        join,
        join_network,
    } = namespaces::compile(linux)?;
    let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let labels = super::labels::Labels {
        apparmor_profile: non_empty(process.apparmor_profile()),
        selinux_label: non_empty(process.selinux_label()),
        mount_label: non_empty(linux.mount_label()),
    };
    if labels != super::labels::Labels::default() {
        labels.check((host.lsm)()).map_err(PlanError::Host)?;
    }
    let mut mounts = mounts::compile(spec)?;
    let own_mounts = namespaces.contains(CloneFlags::CLONE_NEWNS)
        || join.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWNS);
    let hides_paths = linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
        || linux
            .readonly_paths()
            .as_ref()
            .is_some_and(|p| !p.is_empty());
    if !own_mounts && (hides_paths || root.readonly().unwrap_or(false)) {
        return Err(PlanError::Invalid(
            "maskedPaths, readonlyPaths and a read-only root need a mount namespace of the container's own (add one to linux.namespaces)",
        ));
    }
    let rootfs_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => None,
        Some(name) => Some(mounts::propagation_flag(name).ok_or_else(|| {
            PlanError::Setting(format!(
                "linux.rootfsPropagation {name:?}: use shared, slave, private or unbindable (r… for recursive)"
            ))
        })?),
    };
    // A hostname is set in the container's UTS namespace, made or joined (a pod's, as
    // runc and crun do); without one it would rename the host.
    let joined_uts = join.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWUTS);
    let own_uts = namespaces.contains(CloneFlags::CLONE_NEWUTS) || joined_uts;
    if !own_uts && spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) {
        return Err(PlanError::Invalid(
            "a hostname needs a UTS namespace (add one to linux.namespaces): without one it would rename the host",
        ));
    }
    let joins_userns = linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    let id_maps = namespaces::id_maps(
        linux,
        namespaces.contains(CloneFlags::CLONE_NEWUSER) && !joins_userns,
    )?;
    // SELinux: the filesystems the runtime mounts itself carry the container's label.
    for m in mounts.iter_mut() {
        if !m.is_bind() && ["tmpfs", "devpts", "mqueue"].contains(&m.fstype.as_str()) {
            m.data = labels.mount_data(&m.data);
        }
    }
    Ok(LaunchPlan {
        id_maps,
        namespaces,
        rootfs: root.path().clone(),
        readonly_rootfs: root.readonly().unwrap_or(false),
        own_mounts,
        rootfs_propagation,
        mounts,
        volume_dirs: spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(super::VOLUMES_ANNOTATION))
            .and_then(|v| serde_json::from_str::<Vec<PathBuf>>(v).ok())
            .unwrap_or_default(),
        cgroup_layout: host.cgroup_layout.clone(),
        masked_paths: linux
            .masked_paths()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        readonly_paths: linux
            .readonly_paths()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        join_network,
        join,
        devices: devices::compile(linux)?,
        sysctls: namespaces::sysctls(linux, namespaces)?,
        hooks: ContainerHooks {
            create_container: crate::hooks::Stage::CreateContainer.hooks(spec),
            start_container: crate::hooks::Stage::StartContainer.hooks(spec),
            state: crate::hooks::state("", "creating", 0, std::path::Path::new(""), spec),
        },
        process: process::compile(process, linux, labels, host.seccomp_cache.as_deref())?,
    })
}

/// The fields hako cannot honour yet, each named, so a bundle never runs with less
/// isolation or fewer settings than it asked for.
fn refuse_unsupported(spec: &Spec) -> Result<(), PlanError> {
    use PlanError::Unsupported;
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if linux.intel_rdt().is_some() {
        return Err(Unsupported("linux.intelRdt"));
    }
    if let Some(r) = linux.resources() {
        if r.memory().and_then(|m| m.kernel()).is_some_and(|k| k != 0) {
            // Gone from the kernel (5.16 dropped kmem limits); runc ignores it too.
            crate::trace::note("spec", "ignored", || {
                "linux.resources.memory.kernel: kernels since 5.16 have no kernel-memory limit"
                    .into()
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
