//! The namespaces a container makes and the ones it joins by path, its id maps, and the
//! sysctls it may set (only in namespaces of its own).

use super::{IdMaps, IdRange, PlanError};
use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;
use std::path::PathBuf;

/// `linux.namespaces`, compiled.
pub struct Compiled {
    /// Made by clone (the cgroup namespace later, by unshare).
    pub flags: CloneFlags,
    /// Joined by path, in the order they are entered.
    pub join: Vec<(CloneFlags, PathBuf)>,
    /// A network namespace joined by path (set up apart: see `LaunchPlan::join_network`).
    pub join_network: Option<PathBuf>,
}

pub fn compile(linux: &oci_spec::runtime::Linux) -> Result<Compiled, PlanError> {
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
    Ok(Compiled {
        flags: namespaces,
        join,
        join_network,
    })
}

/// The maps of a spec, checked against its namespaces: a user namespace needs both, and
/// maps without one would be silently meaningless.
pub fn id_maps(
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

/// runc's rule: a sysctl may be set only where the container has its own namespace for
/// it (IPC: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*; network: net.*; UTS:
/// kernel.hostname, kernel.domainname). Anything else would change the host.
pub fn sysctls(
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
