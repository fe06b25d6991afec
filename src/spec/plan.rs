//! Compiles an OCI runtime spec into a `LaunchPlan`: everything the launcher will do,
//! decided and validated before the first `clone`. Pure, so it is unit-tested from
//! `config.json` fixtures without root.

use caps::Capability;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

pub use crate::cgroups::layout::{CgroupV1Mount, HostCgroupLayout};

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

/// The devices every container has (OCI runtime spec, "Default Devices").
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .iter()
    .map(|(name, major, minor)| DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: nix::sys::stat::SFlag::S_IFCHR,
        major: *major,
        minor: *minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

#[derive(Clone, Debug)]
pub struct LaunchPlan {
    pub namespaces: CloneFlags,
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
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

/// `linux.personality`: the domain as personality(2) wants it; flags are not supported.
fn personality(linux: &oci_spec::runtime::Linux) -> Result<Option<u64>, PlanError> {
    use oci_spec::runtime::LinuxPersonalityDomain;
    let Some(p) = linux.personality() else {
        return Ok(None);
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(PlanError::Unsupported("linux.personality.flags"));
    }
    Ok(Some(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    }))
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

/// The maps of a spec, checked against its namespaces: a user namespace needs both, and
/// maps without one would be silently meaningless.
fn id_maps(
    linux: &oci_spec::runtime::Linux,
    own_userns: bool,
) -> Result<Option<IdMaps>, PlanError> {
    let convert = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdRange> {
        m.as_deref()
            .unwrap_or_default()
            .iter()
            .map(|r| IdRange {
                inside: r.container_id(),
                outside: r.host_id(),
                count: r.size(),
            })
            .collect()
    };
    let (uids, gids) = (convert(linux.uid_mappings()), convert(linux.gid_mappings()));
    match (own_userns, uids.is_empty() || gids.is_empty()) {
        (false, _) if uids.is_empty() && gids.is_empty() => Ok(None),
        (false, _) => Err(PlanError::Invalid(
            "linux.uidMappings/gidMappings without a user namespace in linux.namespaces",
        )),
        (true, true) => Err(PlanError::Invalid(
            "a user namespace of its own needs both linux.uidMappings and linux.gidMappings",
        )),
        (true, false) => Ok(Some(IdMaps { uids, gids })),
    }
}

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

/// One table for mount options: name → (flag, whether the option clears it).
const MOUNT_FLAGS: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, false),
    ("rw", MsFlags::MS_RDONLY, true),
    ("nosuid", MsFlags::MS_NOSUID, false),
    ("suid", MsFlags::MS_NOSUID, true),
    ("nodev", MsFlags::MS_NODEV, false),
    ("dev", MsFlags::MS_NODEV, true),
    ("noexec", MsFlags::MS_NOEXEC, false),
    ("exec", MsFlags::MS_NOEXEC, true),
    ("sync", MsFlags::MS_SYNCHRONOUS, false),
    ("async", MsFlags::MS_SYNCHRONOUS, true),
    ("dirsync", MsFlags::MS_DIRSYNC, false),
    ("remount", MsFlags::MS_REMOUNT, false),
    ("mand", MsFlags::MS_MANDLOCK, false),
    ("nomand", MsFlags::MS_MANDLOCK, true),
    ("atime", MsFlags::MS_NOATIME, true),
    ("noatime", MsFlags::MS_NOATIME, false),
    ("diratime", MsFlags::MS_NODIRATIME, true),
    ("nodiratime", MsFlags::MS_NODIRATIME, false),
    ("bind", MsFlags::MS_BIND, false),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC), false),
    ("relatime", MsFlags::MS_RELATIME, false),
    ("norelatime", MsFlags::MS_RELATIME, true),
    ("strictatime", MsFlags::MS_STRICTATIME, false),
    ("nostrictatime", MsFlags::MS_STRICTATIME, true),
];

const PROPAGATION_FLAGS: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// Splits OCI mount options into flags, propagation and the data string.
pub fn parse_mount_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let (mut flags, mut propagation, mut data) = (MsFlags::empty(), MsFlags::empty(), vec![]);
    for o in options {
        if let Some((_, f, clear)) = MOUNT_FLAGS.iter().find(|(n, _, _)| n == o) {
            if *clear {
                flags.remove(*f)
            } else {
                flags.insert(*f)
            }
        } else if let Some((_, p)) = PROPAGATION_FLAGS.iter().find(|(n, _)| n == o) {
            propagation |= *p;
        } else {
            data.push(o.as_str());
        }
    }
    (flags, propagation, data.join(","))
}

const RLIMITS: &[(&str, Resource)] = &[
    ("RLIMIT_AS", Resource::RLIMIT_AS),
    ("RLIMIT_CORE", Resource::RLIMIT_CORE),
    ("RLIMIT_CPU", Resource::RLIMIT_CPU),
    ("RLIMIT_DATA", Resource::RLIMIT_DATA),
    ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", Resource::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", Resource::RLIMIT_NICE),
    ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
    ("RLIMIT_RSS", Resource::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
    ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", Resource::RLIMIT_STACK),
];

pub fn rlimit_resource(name: &str) -> Option<Resource> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("RLIMIT_") {
        up
    } else {
        format!("RLIMIT_{up}")
    };
    RLIMITS.iter().find(|(n, _)| *n == full).map(|(_, r)| *r)
}

fn cap_set(names: Option<&HashSet<oci_spec::runtime::Capability>>) -> HashSet<Capability> {
    // oci-spec's capability type already validated the names; map it onto the caps crate.
    names
        .map(|set| {
            set.iter()
                .filter_map(|c| {
                    Capability::from_str(&c.to_string())
                        .ok()
                        .or_else(|| Capability::from_str(&format!("CAP_{c}")).ok())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What compiling a spec needs to know of the host it will run on (probed by the
/// launcher, `launcher::host_facts`), so the plan stays a function of its inputs.
#[derive(Clone, Debug)]
pub struct HostFacts {
    pub cgroup_layout: HostCgroupLayout,
    pub lsm: super::labels::LsmSupport,
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
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(PlanError::NoCommand);
    }
    let cwd = process.cwd().clone();
    if !cwd.is_absolute() {
        return Err(PlanError::NotAbsolute {
            what: "the working directory",
            path: cwd.display().to_string(),
        });
    }

    let mut namespaces = CloneFlags::empty();
    let mut join_network = None;
    let mut join = vec![];
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        namespaces |= match ns.typ() {
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
            LinuxNamespaceType::Time => return Err(PlanError::Unsupported("a time namespace")),
        };
        if let Some(path) = ns.path() {
            let flag = match ns.typ() {
                // `--network container:NAME`, or a pod's network namespace.
                LinuxNamespaceType::Network => {
                    join_network = Some(path.clone());
                    CloneFlags::CLONE_NEWNET
                }
                LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
                LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
                LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
                LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
                LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
                _ => {
                    return Err(PlanError::Unsupported(
                        "joining a user or time namespace by path",
                    ))
                }
            };
            if flag != CloneFlags::CLONE_NEWNET {
                join.push((flag, path.clone()));
            }
            namespaces.remove(flag);
        }
    }

    // Entered in this order: a joined mount namespace changes what every later path
    // names, so it comes last.
    join.sort_by_key(|(flag, _)| *flag == CloneFlags::CLONE_NEWNS);

    let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let labels = super::labels::Labels {
        apparmor_profile: non_empty(process.apparmor_profile()),
        selinux_label: non_empty(process.selinux_label()),
        mount_label: non_empty(linux.mount_label()),
    };
    labels.check(host.lsm).map_err(PlanError::Host)?;
    let mut mounts = vec![];
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let target = m.destination().clone();
        if !target.is_absolute() {
            return Err(PlanError::NotAbsolute {
                what: "a mount destination",
                path: target.display().to_string(),
            });
        }
        let fstype = m.typ().clone().unwrap_or_default();
        let (mut flags, propagation, data) =
            parse_mount_options(m.options().as_deref().unwrap_or_default());
        if fstype == "bind" {
            flags |= MsFlags::MS_BIND;
        }
        mounts.push(MountOp {
            kind: if fstype == "cgroup" {
                MountKind::Cgroup
            } else {
                MountKind::Plain
            },
            source: m
                .source()
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| fstype.clone()),
            target,
            fstype: if fstype == "bind" {
                String::new()
            } else {
                fstype
            },
            flags,
            data,
            propagation,
        });
    }

    let caps = match process.capabilities() {
        Some(c) => CapSets {
            bounding: cap_set(c.bounding().as_ref()),
            effective: cap_set(c.effective().as_ref()),
            permitted: cap_set(c.permitted().as_ref()),
            inheritable: cap_set(c.inheritable().as_ref()),
            ambient: cap_set(c.ambient().as_ref()),
        },
        None => CapSets::default(),
    };

    let mut rlimits = vec![];
    for r in process.rlimits().as_deref().unwrap_or_default() {
        let name = format!("{:?}", r.typ());
        let resource =
            rlimit_resource(&name.replace("Rlimit", "")).ok_or(PlanError::UnknownRlimit(name))?;
        rlimits.push(Rlimit {
            resource,
            soft: r.soft(),
            hard: r.hard(),
        });
    }

    let user = process.user();
    let joined_uts = join.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWUTS);
    if joined_uts && spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) {
        return Err(PlanError::Invalid(
            "a hostname needs a UTS namespace of the container's own, not a joined one",
        ));
    }
    let joins_userns = linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    let id_maps = id_maps(
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
        devices: devices(linux)?,
        sysctls: sysctls(linux, namespaces)?,
        hooks: ContainerHooks {
            create_container: crate::hooks::Stage::CreateContainer.hooks(spec),
            start_container: crate::hooks::Stage::StartContainer.hooks(spec),
            state: crate::hooks::state("", "creating", 0, std::path::Path::new(""), spec),
        },
        process: ProcessPlan {
            rlimits,
            caps,
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            cwd,
            env: process.env().clone().unwrap_or_default(),
            args,
            terminal: process.terminal().unwrap_or(false),
            seccomp: linux
                .seccomp()
                .as_ref()
                .map(crate::seccomp::compile)
                .transpose()?,
            seccomp_listener: linux.seccomp().as_ref().and_then(|s| {
                Some(SeccompListener {
                    path: s.listener_path().clone()?,
                    metadata: s.listener_metadata().clone().unwrap_or_default(),
                })
            }),
            labels: labels.clone(),
            oom_score_adj: process.oom_score_adj(),
            personality: personality(linux)?,
            scheduler: process
                .scheduler()
                .as_ref()
                .map(super::sched::sched_attr)
                .transpose()
                .map_err(PlanError::Setting)?,
            io_priority: process
                .io_priority()
                .as_ref()
                .map(super::sched::io_priority)
                .transpose()
                .map_err(PlanError::Setting)?,
        },
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

/// runc's rule: a sysctl may be set only where the container has its own namespace for
/// it (IPC: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*; network: net.*; UTS:
/// kernel.hostname, kernel.domainname). Anything else would change the host.
fn sysctls(
    linux: &oci_spec::runtime::Linux,
    namespaces: CloneFlags,
) -> Result<Vec<(String, String)>, PlanError> {
    let mut out = vec![];
    for (key, value) in linux.sysctl().clone().unwrap_or_default() {
        const IPC: &[&str] = &[
            "kernel.msgmax",
            "kernel.msgmnb",
            "kernel.msgmni",
            "kernel.sem",
            "kernel.shmall",
            "kernel.shmmax",
            "kernel.shmmni",
            "kernel.shm_rmid_forced",
        ];
        let needs = if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            Some((CloneFlags::CLONE_NEWIPC, "ipc"))
        } else if key.starts_with("net.") {
            Some((CloneFlags::CLONE_NEWNET, "network"))
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            Some((CloneFlags::CLONE_NEWUTS, "uts"))
        } else {
            None
        };
        match needs {
            Some((flag, _)) if namespaces.contains(flag) => out.push((key, value)),
            Some((_, ns)) => {
                return Err(PlanError::BadSysctl {
                    key,
                    why: match ns {
                        "ipc" => "the container has no IPC namespace of its own, so this would change the host's",
                        "network" => "the container has no network namespace of its own, so this would change the host's",
                        _ => "the container has no UTS namespace of its own, so this would change the host's",
                    },
                })
            }
            None => {
                return Err(PlanError::BadSysctl {
                    key,
                    why: "not a namespaced sysctl (only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.hostname and kernel.domainname can be set per container)",
                })
            }
        }
    }
    out.sort();
    Ok(out)
}

fn devices(linux: &oci_spec::runtime::Linux) -> Result<Vec<DeviceNode>, PlanError> {
    use nix::sys::stat::SFlag;
    use oci_spec::runtime::LinuxDeviceType;
    let mut out = default_devices();
    for d in linux.devices().as_deref().unwrap_or_default() {
        let path = d.path().clone();
        let bad = |why| PlanError::BadDevice {
            path: path.display().to_string(),
            why,
        };
        if !path.is_absolute() || !path.starts_with("/dev") {
            return Err(bad("devices must live under /dev"));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => return Err(bad("type \"a\" is for cgroup rules, not nodes")),
        };
        out.retain(|o| o.path != path);
        out.push(DeviceNode {
            path,
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
