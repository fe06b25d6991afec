//! Per-container cgroups through `cgroups-rs`, on v1 (and hybrid) and v2 hosts.
//!
//! Each container gets `hako/<id>` in every hierarchy we use. Limits follow Docker's flags:
//! `--memory` (and `--memory-swap`, the memory+swap total, defaulting to twice the memory
//! as in Docker), `--cpus` (a CFS quota over a 100 ms period) and `--pids-limit`.
//! `limit_files` names the exact files and values written, for `--trace` and for tests.

pub mod delegation;
pub mod device_bpf;
pub mod layout;
mod limits;
pub mod resources_json;
pub mod spec_resources;
pub mod stats;

pub use limits::{limit_files, shares_to_weight, DeviceRule, Limits};
pub use spec_resources::SpecResources;

use cgroups_rs::{hierarchies, Cgroup, CgroupPid, Hierarchy};
use limits::resources;
use std::path::PathBuf;
use std::time::Duration;

pub const CPU_PERIOD_US: u64 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    V1,
    V2,
}

/// The hierarchy hako uses on this host (v2 when unified, else v1): chosen here only.
pub fn host_hierarchy() -> Box<dyn Hierarchy> {
    hierarchies::auto()
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("create cgroup {path} ({version:?}): {source}")]
    Create {
        path: String,
        version: Version,
        source: cgroups_rs::error::Error,
    },
    #[error("create cgroup {path} (V2): {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("set limits on cgroup {path} ({version:?}): {source} (is the controller enabled on this host? `hako info` lists them)")]
    Apply {
        path: String,
        version: Version,
        source: cgroups_rs::error::Error,
    },
    #[error("move process {pid} into cgroup {path}: {source}")]
    AddTask {
        path: String,
        pid: i32,
        source: cgroups_rs::error::Error,
    },
    #[error("freeze or thaw cgroup {path}: {detail}; commit and export with --pause=false skip freezing")]
    Freeze { path: String, detail: String },
    #[error("{NO_CGROUP}")]
    Missing,
    #[error("cgroup {path}: {detail}")]
    Setting { path: String, detail: String },
    #[error("device rules of cgroup {path}: {source}")]
    Devices {
        path: String,
        source: std::io::Error,
    },
    #[error("remove cgroup {path}: {source}")]
    Delete {
        path: String,
        source: cgroups_rs::error::Error,
    },
}

/// The host's cgroup layout, as `hako info` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostCgroups {
    pub version: Version,
    /// Where the hierarchy (v2) or the v1 controller mounts live.
    pub mount: PathBuf,
    pub controllers: Vec<String>,
    /// A v1 host that also mounts an (almost empty) cgroup2 tree beside its controllers.
    pub hybrid_unified_mount: Option<PathBuf>,
}

pub fn detect() -> HostCgroups {
    let hier = hierarchies::auto();
    let version = if hier.v2() { Version::V2 } else { Version::V1 };
    // v2 names its controllers in one file (cgroups-rs would say blkio for io and list
    // freezer, which v2 builds into every cgroup); v1 has a hierarchy per controller.
    let controllers = match version {
        Version::V2 => std::fs::read_to_string(hier.root().join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect(),
        Version::V1 => hier
            .subsystems()
            .iter()
            .map(|s| s.controller_name())
            .collect(),
    };
    let unified = PathBuf::from("/sys/fs/cgroup/unified");
    let hybrid =
        (version == Version::V1 && unified.join("cgroup.controllers").exists()).then_some(unified);
    HostCgroups {
        version,
        mount: PathBuf::from(hierarchies::UNIFIED_MOUNTPOINT),
        controllers,
        hybrid_unified_mount: hybrid,
    }
}

const NO_CGROUP: &str = "this rootless container has no cgroup (the user has no delegated cgroup v2 subtree; `hako info` says why)";

/// v1's device cgroup, rule by rule in the spec's order (the kernel applies each to the
/// list the previous ones left). v2 gets a BPF program instead (`device_bpf`).
fn write_device_rules(dir: &std::path::Path, rules: &[DeviceRule]) -> std::io::Result<()> {
    for rule in rules {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        crate::trace::step(
            "cgroup",
            "write",
            || format!("{file} {}", rule.line()),
            || std::fs::write(dir.join(file), rule.line()),
        )?;
    }
    Ok(())
}

/// Controllers a container's cgroup is created in (v1: one directory per hierarchy).
/// Those the host does not mount are left out (cgroups-rs skips them); a setting that
/// needs one of them then fails, naming it.
const CONTROLLERS: [&str; 12] = [
    "memory", "pids", "cpu", "cpuacct", "freezer", "blkio", "devices", "cpuset", "hugetlb",
    "net_cls", "net_prio", "rdma",
];

/// A container's cgroup. A rootless container without a delegated subtree has none
/// (its path is empty): then adding processes and deleting do nothing, and what needs a
/// cgroup (pause, update) says so.
pub struct ContainerCgroup {
    cg: Option<Cgroup>,
    path: String,
    version: Version,
    /// The cgroup's directory on v2 (one hierarchy, so one directory).
    v2_dir: Option<PathBuf>,
    /// Where the hierarchy is mounted (v1: the directory holding one mount per controller).
    root: PathBuf,
}

/// v2 controllers a container's limits need, enabled for the children of `hako/`.
const V2_CONTROLLERS: [&str; 7] = ["cpu", "memory", "pids", "io", "cpuset", "hugetlb", "rdma"];

/// Creates `root/path` on v2 with our controllers enabled in every ancestor's
/// `cgroup.subtree_control`. Each write there takes the kernel's cgroup lock, so only the
/// missing ones are written, normally none after the first container. Containers starting
/// at once may both create `hako/`, so an existing directory is fine (a container's own is
/// new: its name is a fresh random ID).
fn create_v2_dir(root: &std::path::Path, path: &str) -> std::io::Result<()> {
    let mut level = root.to_path_buf();
    for part in std::path::Path::new(path).components() {
        match enable_v2_controllers(&level) {
            // Rootless: the levels above the user's delegated subtree are not ours, and
            // already offer what was delegated.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            other => other?,
        }
        level.push(part);
        match std::fs::create_dir(&level) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => other?,
        }
    }
    Ok(())
}

fn enable_v2_controllers(dir: &std::path::Path) -> std::io::Result<()> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let (available, enabled) = (read("cgroup.controllers"), read("cgroup.subtree_control"));
    let has = |list: &str, c: &str| list.split_whitespace().any(|x| x == c);
    let missing: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| has(&available, c) && !has(&enabled, c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::write(dir.join("cgroup.subtree_control"), missing.join(" "))
}

impl ContainerCgroup {
    /// `path` is relative to the hierarchy root, e.g. `hako/<id>`.
    /// `mode`: a rootless hako cannot load the v2 device program (BPF needs
    /// CAP_SYS_ADMIN over the host), so its device rules go unenforced, as with runc.
    pub fn create(
        hier: Box<dyn Hierarchy>,
        path: &str,
        limits: &Limits,
        mode: crate::rootless::Mode,
    ) -> Result<ContainerCgroup, CgroupError> {
        let version = if hier.v2() { Version::V2 } else { Version::V1 };
        if path.is_empty() {
            return Ok(ContainerCgroup::none(version));
        }
        let root = hier.root();
        let cg = crate::trace::step(
            "cgroup",
            "mkdir",
            || format!("{path} ({version:?})"),
            || match version {
                Version::V2 => {
                    create_v2_dir(&root, path).map_err(|source| CgroupError::CreateDir {
                        path: path.into(),
                        source,
                    })?;
                    Ok(Cgroup::load(hier, path))
                }
                Version::V1 => {
                    let controllers = CONTROLLERS.iter().map(|s| s.to_string()).collect();
                    Cgroup::new_with_specified_controllers(hier, path, Some(controllers)).map_err(
                        |source| CgroupError::Create {
                            path: path.into(),
                            version,
                            source,
                        },
                    )
                }
            },
        )?;
        let this = ContainerCgroup {
            cg: Some(cg),
            path: path.to_string(),
            version,
            v2_dir: (version == Version::V2).then(|| root.join(path)),
            root: root.clone(),
        };
        if !limits.devices.is_empty() {
            let written = match version {
                Version::V1 => {
                    write_device_rules(&root.join("devices").join(path), &limits.devices)
                }
                // Loading BPF needs CAP_SYS_ADMIN over the host: a rootless container's
                // device rules go unenforced, as with runc.
                Version::V2 if mode.rootless() => Ok(()),
                Version::V2 => crate::trace::step(
                    "cgroup",
                    "bpf(BPF_PROG_ATTACH)",
                    || format!("device program ({} rules) on {path}", limits.devices.len()),
                    || device_bpf::attach(&root.join(path), &limits.devices),
                ),
            };
            if let Err(source) = written {
                let _ = this.cgroup().delete();
                return Err(CgroupError::Devices {
                    path: path.into(),
                    source,
                });
            }
        }
        if let Err(e) = this.write_spec_resources(&limits.spec) {
            let _ = this.cgroup().delete();
            return Err(e);
        }
        let files = limit_files(limits, version);
        if files.is_empty() {
            // No flags, nothing to write: the cgroup still counts and contains.
            return Ok(this);
        }
        crate::trace::step(
            "cgroup",
            "write limits",
            || {
                files
                    .iter()
                    .map(|(f, v)| format!("{f}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            || this.cgroup().apply(&resources(limits, version)),
        )
        .map_err(|source| {
            let _ = this.cgroup().delete();
            CgroupError::Apply {
                path: path.into(),
                version,
                source,
            }
        })?;
        Ok(this)
    }

    /// Handle on an existing container cgroup (for `rm`, `inspect`).
    pub fn load(hier: Box<dyn Hierarchy>, path: &str) -> ContainerCgroup {
        let version = if hier.v2() { Version::V2 } else { Version::V1 };
        if path.is_empty() {
            return ContainerCgroup::none(version);
        }
        let v2_dir = (version == Version::V2).then(|| hier.root().join(path));
        let root = hier.root();
        let cg = match version {
            Version::V2 => Cgroup::load(hier, path),
            Version::V1 => Cgroup::load_with_specified_controllers(
                hier,
                path,
                CONTROLLERS.iter().map(|s| s.to_string()).collect(),
            ),
        };
        ContainerCgroup {
            cg: Some(cg),
            path: path.to_string(),
            version,
            v2_dir,
            root,
        }
    }

    /// The container has no cgroup (rootless without delegation).
    fn none(version: Version) -> ContainerCgroup {
        ContainerCgroup {
            cg: None,
            path: String::new(),
            version,
            v2_dir: None,
            root: PathBuf::new(),
        }
    }

    /// Only for containers that have one: every caller checks `self.cg` first.
    fn cgroup(&self) -> &Cgroup {
        self.cg.as_ref().expect("a container cgroup")
    }

    /// Whether the container has a cgroup at all.
    pub fn present(&self) -> bool {
        self.cg.is_some()
    }

    /// On v2, the cgroup's directory opened for `clone3(CLONE_INTO_CGROUP)`.
    pub fn clone_target(&self) -> Option<std::os::fd::OwnedFd> {
        let dir = self.v2_dir.as_ref()?;
        std::fs::File::open(dir).ok().map(Into::into)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let Some(cg) = &self.cg else {
            return Ok(());
        };
        crate::trace::step(
            "cgroup",
            "write cgroup.procs",
            || format!("{} <- {pid}", self.path),
            || cg.add_task_by_tgid(CgroupPid::from(pid as u64)),
        )
        .map_err(|source| CgroupError::AddTask {
            path: self.path.clone(),
            pid,
            source,
        })
    }

    /// Whether the kernel's OOM killer killed anything in this cgroup.
    pub fn oom_killed(&self) -> bool {
        let Some(cg) = &self.cg else {
            return false;
        };
        let Some(mem) = cg.controller_of::<cgroups_rs::memory::MemController>() else {
            return false;
        };
        use cgroups_rs::Controller;
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        std::fs::read_to_string(mem.path().join(file))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
            })
            .is_some_and(|n| n > 0)
    }

    /// Freezes every process in the cgroup (v1 `freezer.state`, v2 `cgroup.freeze`), so a
    /// commit or export reads a filesystem nobody is changing.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        use cgroups_rs::freezer::FreezerController;
        let what = if frozen { "freeze" } else { "thaw" };
        let Some(cg) = &self.cg else {
            return Err(CgroupError::Missing);
        };
        let ctl = cg
            .controller_of::<FreezerController>()
            .ok_or_else(|| CgroupError::Freeze {
                path: self.path.clone(),
                detail: format!("no freezer controller on this {:?} host", self.version),
            })?;
        crate::trace::step(
            "cgroup",
            what,
            || self.path.clone(),
            || if frozen { ctl.freeze() } else { ctl.thaw() },
        )
        .map_err(|e| CgroupError::Freeze {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        // v1 passes through FREEZING; the walk must not start before every task stopped.
        for _ in 0..500 {
            match ctl.state() {
                Ok(cgroups_rs::freezer::FreezerState::Frozen) if frozen => return Ok(()),
                Ok(cgroups_rs::freezer::FreezerState::Thawed) if !frozen => return Ok(()),
                Err(_) => return Ok(()),
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        Err(CgroupError::Freeze {
            path: self.path.clone(),
            detail: format!("still not {what}d after 1 s"),
        })
    }

    /// Whether the cgroup is frozen now (a paused container).
    pub fn frozen(&self) -> bool {
        use cgroups_rs::freezer::{FreezerController, FreezerState};
        self.cg
            .as_ref()
            .and_then(|cg| cg.controller_of::<FreezerController>())
            .is_some_and(|ctl| matches!(ctl.state(), Ok(FreezerState::Frozen)))
    }

    pub fn exists(&self) -> bool {
        self.cg.as_ref().is_some_and(|cg| cg.exists())
    }

    /// New limits for a running container (runc's `update`).
    pub fn update(&self, limits: &Limits) -> Result<(), CgroupError> {
        let Some(cg) = &self.cg else {
            return Err(CgroupError::Missing);
        };
        self.write_spec_resources(&limits.spec)?;
        crate::trace::step(
            "cgroup",
            "write limits",
            || {
                limit_files(limits, self.version)
                    .iter()
                    .map(|(f, v)| format!("{f}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            || cg.apply(&resources(limits, self.version)),
        )
        .map_err(|source| CgroupError::Apply {
            path: self.path.clone(),
            version: self.version,
            source,
        })
    }

    /// Writes the settings cgroups-rs has no typed field for, each checked: a missing
    /// controller or a value the kernel refuses is an error naming the file.
    fn write_spec_resources(&self, spec: &SpecResources) -> Result<(), CgroupError> {
        if spec.is_empty() {
            return Ok(());
        }
        let dir = |controller: &str| match self.version {
            Version::V2 => self.root.join(&self.path),
            Version::V1 => self.root.join(controller).join(&self.path),
        };
        let exists = |controller: &'static str, file: &str| dir(controller).join(file).exists();
        let writes = spec
            .writes(self.version, &exists)
            .map_err(|detail| CgroupError::Setting {
                path: self.path.clone(),
                detail,
            })?;
        for w in writes {
            let d = dir(w.controller);
            if !d.is_dir() || (self.version == Version::V2 && !d.join(&w.file).exists()) {
                return Err(CgroupError::Setting {
                    path: self.path.clone(),
                    detail: format!(
                        "{} needs the {} controller, which this host does not offer ({:?}{}); remove the setting from the spec",
                        w.file,
                        w.controller,
                        self.version,
                        if self.version == Version::V1 { ", not mounted" } else { ", not enabled for this cgroup" },
                    ),
                });
            }
            crate::trace::step(
                "cgroup",
                "write",
                || format!("{}={}", w.file, w.value),
                || std::fs::write(d.join(&w.file), &w.value),
            )
            .map_err(|e| CgroupError::Setting {
                path: self.path.clone(),
                detail: w.explain(&e),
            })?;
        }
        Ok(())
    }

    /// The processes in the cgroup (runc's `ps` and `kill --all`).
    pub fn pids(&self) -> Vec<i32> {
        let Some(cg) = self.cg.as_ref().filter(|cg| cg.exists()) else {
            return vec![];
        };
        cg.procs().into_iter().map(|p| p.pid as i32).collect()
    }

    /// Kills what is left and removes the cgroup. The container's processes may still be
    /// exiting (the kernel kills a PID namespace's processes when its init dies, but not
    /// synchronously), so EBUSY is retried briefly.
    pub fn delete(&self) -> Result<(), CgroupError> {
        let Some(cg) = self.cg.as_ref().filter(|cg| cg.exists()) else {
            return Ok(());
        };
        // A frozen (paused) process cannot die of SIGKILL until it is thawed.
        if self.frozen() {
            let _ = self.thaw();
        }
        let mut last = None;
        for attempt in 0..100 {
            if attempt > 0 {
                for pid in cg.procs() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid.pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(Duration::from_millis(2 * attempt.min(10)));
            }
            match cg.delete() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(CgroupError::Delete {
            path: self.path.clone(),
            source: last.expect("at least one attempt"),
        })
    }
}

/// A running container, frozen until this is dropped (commit, export).
pub struct FreezeGuard(Option<ContainerCgroup>);

impl FreezeGuard {
    /// Freezes `cgroup_path` when `running`; a stopped container needs nothing.
    pub fn new(cgroup_path: &str, running: bool) -> Result<FreezeGuard, CgroupError> {
        if !running {
            return Ok(FreezeGuard(None));
        }
        let cg = ContainerCgroup::load(hierarchies::auto(), cgroup_path);
        if !cg.present() || cg.frozen() {
            // Rootless without a cgroup: nothing can freeze it; read it as it runs. Paused
            // already: it stays paused afterwards (no thaw on drop).
            return Ok(FreezeGuard(None));
        }
        cg.freeze()?;
        Ok(FreezeGuard(Some(cg)))
    }
}

impl Drop for FreezeGuard {
    fn drop(&mut self) {
        if let Some(cg) = &self.0 {
            let _ = cg.thaw();
        }
    }
}

/// A hierarchy rooted in a temporary directory, shaped like the kernel's, so the v1 and v2
/// code paths run in unit tests without root.
#[cfg(test)]
#[derive(Debug)]
pub struct FakeHierarchy {
    pub root: PathBuf,
    pub v2: bool,
}

#[cfg(test)]
impl Hierarchy for FakeHierarchy {
    fn subsystems(&self) -> Vec<cgroups_rs::Subsystem> {
        use cgroups_rs::{
            cpu::CpuController, memory::MemController, pid::PidController, Subsystem,
        };
        let at = |name: &str| {
            if self.v2 {
                self.root.clone()
            } else {
                self.root.join(name)
            }
        };
        vec![
            Subsystem::Mem(MemController::new(at("memory"), self.v2)),
            Subsystem::Pid(PidController::new(at("pids"), self.v2)),
            Subsystem::Cpu(CpuController::new(at("cpu"), self.v2)),
        ]
    }
    fn root(&self) -> PathBuf {
        self.root.clone()
    }
    fn root_control_group(&self) -> Cgroup {
        Cgroup::load(
            Box::new(FakeHierarchy {
                root: self.root.clone(),
                v2: self.v2,
            }),
            "",
        )
    }
    fn parent_control_group(&self, path: &str) -> Cgroup {
        let parent = std::path::Path::new(path)
            .parent()
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        Cgroup::load(
            Box::new(FakeHierarchy {
                root: self.root.clone(),
                v2: self.v2,
            }),
            parent,
        )
    }
    fn v2(&self) -> bool {
        self.v2
    }
}

#[cfg(test)]
mod tests;
