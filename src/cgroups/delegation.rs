//! Which part of the cgroup tree an unprivileged user may manage. On v2, systemd hands
//! each user a subtree (`user@UID.service`, `Delegate=yes`): the directory and its
//! `cgroup.procs` and `cgroup.subtree_control` belong to the user, so rootless containers
//! can get limits inside it. v1 hierarchies are never delegated safely.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delegation {
    /// Root manages the whole tree; nothing to delegate.
    NotNeeded,
    /// The topmost cgroup above us that is ours, relative to the v2 mount, and the
    /// controllers it offers.
    Subtree {
        path: PathBuf,
        controllers: Vec<String>,
    },
    /// Nothing of ours: our own cgroup, for the error message.
    None { own: PathBuf },
    /// A v1 (or hybrid) host.
    V1,
}

impl std::fmt::Display for Delegation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delegation::NotNeeded => write!(f, "not needed (root)"),
            Delegation::Subtree { path, controllers } => {
                write!(f, "{} ({})", path.display(), controllers.join(" "))
            }
            Delegation::None { own } => write!(
                f,
                "none: your cgroup {} is not yours to write (log in through systemd, whose user@UID.service is delegated, or run hako under `systemd-run --user --scope -p Delegate=yes`)",
                own.display()
            ),
            Delegation::V1 => write!(
                f,
                "none: cgroup v1 cannot be delegated to users (rootless limits need a cgroup v2 host)"
            ),
        }
    }
}

/// The delegation for the calling process, on the v2 tree mounted at `mount`.
pub fn detect(mode: crate::rootless::Mode, v2: bool, mount: &Path) -> Delegation {
    if !mode.rootless() {
        return Delegation::NotNeeded;
    }
    // Ourselves as this process sees it: the user outside, root inside our namespace.
    let uid = nix::unistd::geteuid();
    if !v2 {
        return Delegation::V1;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| own_v2_cgroup(&text))
        .unwrap_or_else(|| PathBuf::from("/"));
    topmost_owned(mount, &own, uid.as_raw())
        .map(|path| {
            let controllers =
                std::fs::read_to_string(mount.join(rel(&path)).join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect();
            Delegation::Subtree { path, controllers }
        })
        .unwrap_or(Delegation::None { own })
}

/// Where a new container's cgroup goes, relative to the hierarchy root: `hako/ID` for
/// root, `<delegated subtree>/hako/ID` for a rootless user with one, and `None` (no
/// cgroup: the container still runs, without limits) for a user without one. Limits
/// asked for where no cgroup can hold them are an error naming why, never ignored.
pub fn container_cgroup_path(
    mode: crate::rootless::Mode,
    id: &str,
    limits: &super::Limits,
) -> Result<Option<String>, String> {
    let wants_limits = limits.has_resource_limits();
    if !mode.rootless() {
        return Ok(Some(format!("hako/{id}")));
    }
    let host = super::detect();
    let delegation = detect(mode, host.version == super::Version::V2, &host.mount);
    match delegation {
        Delegation::Subtree { path, controllers } => {
            let needed = [
                ("memory", limits.memory.is_some() || limits.memory_swap.is_some()),
                ("pids", limits.pids.is_some()),
                ("cpu", limits.cpu_quota.is_some()),
            ];
            let missing: Vec<&str> = needed
                .into_iter()
                .filter(|(c, wanted)| *wanted && !controllers.iter().any(|x| x == c))
                .map(|(c, _)| c)
                .collect();
            if wants_limits && !missing.is_empty() {
                return Err(format!(
                    "--memory/--cpus/--pids-limit: your delegated cgroup {} lacks the {} controller (an admin adds it with Delegate=memory pids cpu in user@.service)",
                    path.display(),
                    missing.join(", ")
                ));
            }
            Ok(Some(format!("{}/hako/{id}", rel(&path).display())))
        }
        _ if wants_limits => Err(format!(
            "--memory/--cpus/--pids-limit need a cgroup you may write, and rootless hako has {delegation}; run without limits, or as root"
        )),
        _ => Ok(None),
    }
}

/// `0::/user.slice/…` from /proc/self/cgroup.
fn own_v2_cgroup(proc_self_cgroup: &str) -> Option<PathBuf> {
    proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(PathBuf::from)
}

fn rel(path: &Path) -> &Path {
    path.strip_prefix("/").unwrap_or(path)
}

/// The highest ancestor of `own` (itself included) whose directory and control files
/// belong to `uid`, walking up until one does not.
fn topmost_owned(mount: &Path, own: &Path, uid: u32) -> Option<PathBuf> {
    let owned = |p: &Path| {
        let dir = mount.join(rel(p));
        ["", "cgroup.procs", "cgroup.subtree_control"]
            .iter()
            .all(|f| std::fs::metadata(dir.join(f)).is_ok_and(|m| m.uid() == uid))
    };
    let mut found = None;
    let mut at = Some(own);
    while let Some(p) = at {
        if !owned(p) {
            break;
        }
        found = Some(p.to_path_buf());
        at = p.parent();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_is_read_from_the_v2_line() {
        let text = "12:pids:/user.slice\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope\n";
        assert_eq!(
            own_v2_cgroup(text),
            Some(PathBuf::from(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"
            ))
        );
    }

    #[test]
    fn the_topmost_directory_we_own_is_the_delegated_one() {
        let mount = tempfile::tempdir().unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let delegated = mount
            .path()
            .join("user.slice/user-1000.slice/user@1000.service");
        let leaf = delegated.join("app.slice/x.scope");
        std::fs::create_dir_all(&leaf).unwrap();
        for dir in [&delegated, &delegated.join("app.slice"), &leaf] {
            for f in ["cgroup.procs", "cgroup.subtree_control"] {
                std::fs::write(dir.join(f), "").unwrap();
            }
        }
        // Everything here is ours; the parent of the delegated directory must not be.
        // Tests run as one user, so "not ours" is a missing control file instead.
        let own = Path::new("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope");
        assert_eq!(
            topmost_owned(mount.path(), own, uid),
            Some(PathBuf::from(
                "/user.slice/user-1000.slice/user@1000.service"
            ))
        );
        assert_eq!(topmost_owned(mount.path(), own, uid + 1), None);
    }
}
