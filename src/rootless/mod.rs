//! Rootless mode: hako run by an ordinary user. The process enters a user namespace of
//! its own (`userns`) mapped from the user's subordinate ids (`idmap`), keeps its data under
//! the user's home (`storage`), and from then on works exactly as root does, inside that
//! namespace: nothing here is setuid, and nothing can do more than the user could.

pub mod idmap;
pub mod storage;
pub mod userns;

use idmap::Mapping;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Set in the environment of a rootless hako once it is inside its namespace, so the
/// processes it starts (the keeper) know who the user is outside: `UID:GID:IDS`.
const ENV: &str = "_HAKO_ROOTLESS";

#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error("create a user namespace: {errno} (this host has {detected}; an admin enables them with `sysctl -w user.max_user_namespaces=28633`, or on Debian/Ubuntu `sysctl -w kernel.unprivileged_userns_clone=1`)")]
    Unshare { errno: nix::Error, detected: String },
    #[error("map ids into the user namespace: {0} (check your ranges in /etc/subuid and /etc/subgid, and that newuidmap/newgidmap from the uidmap package are setuid root)")]
    Helper(String),
    #[error("join the container's user namespace {path}: {detail}")]
    Join { path: String, detail: String },
}

/// The user a rootless hako runs for, as the host sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUser {
    pub uid: u32,
    pub gid: u32,
}

static HOST_USER: OnceLock<Option<HostUser>> = OnceLock::new();
static SQUASH: AtomicBool = AtomicBool::new(false);

/// `Some` when hako runs for an unprivileged user (before or after entering its namespace).
pub fn host_user() -> Option<&'static HostUser> {
    HOST_USER.get_or_init(detect_host_user).as_ref()
}

/// How this hako runs. Decided once, where a command starts (`Mode::of_this_process`),
/// and passed down with the store (`Store::mode`), so the code below takes it as an input
/// and tests can run either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Root,
    /// For an unprivileged user, inside a user namespace of its own.
    Rootless,
}

impl Mode {
    /// The mode of this process: rootless when it runs for an unprivileged user (before or
    /// after entering its namespace); a root process that is not ours is privileged.
    pub fn of_this_process() -> Mode {
        if host_user().is_some() {
            Mode::Rootless
        } else {
            Mode::Root
        }
    }

    pub fn rootless(self) -> bool {
        self == Mode::Rootless
    }
}

fn detect_host_user() -> Option<HostUser> {
    let euid = nix::unistd::geteuid().as_raw();
    if euid != 0 {
        return Some(HostUser {
            uid: euid,
            gid: nix::unistd::getegid().as_raw(),
        });
    }
    // Root: really root, or root of the namespace an unprivileged hako made.
    let value = std::env::var(ENV).ok()?;
    let mut parts = value.split(':').map(|p| p.parse::<u64>().ok());
    let (uid, gid) = (parts.next()??, parts.next()??);
    // Only believe the variable inside a user namespace that maps that uid to root.
    let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
    let first = map.lines().next()?.split_whitespace().collect::<Vec<_>>();
    (first.first() == Some(&"0") && first.get(1) == Some(&uid.to_string().as_str())).then_some(
        HostUser {
            uid: uid as u32,
            gid: gid as u32,
        },
    )
}

/// How many ids the namespace maps (1: only the user's own), once inside it.
pub fn mapped_ids() -> u64 {
    std::env::var(ENV)
        .ok()
        .and_then(|v| v.split(':').nth(2).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Whether this process is already inside the namespace (root there).
pub fn entered() -> bool {
    Mode::of_this_process().rootless() && nix::unistd::geteuid().is_root()
}

/// `--userns=squash`: files owned by ids outside the user's range become the user's.
pub fn set_squash(on: bool) {
    SQUASH.store(on, Ordering::Relaxed);
}

pub fn squash() -> bool {
    SQUASH.load(Ordering::Relaxed)
}

/// The maps this user gets: their subordinate ranges when they have them and the
/// helpers are installed, else their own ids alone (and why, for a warning).
pub fn mapping_for(uid: u32, gid: u32) -> (Mapping, Option<String>) {
    let name = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    let read = |f: &str| std::fs::read_to_string(f).unwrap_or_default();
    let sub_uids = idmap::subordinate_ranges(&read("/etc/subuid"), &name, uid);
    let sub_gids = idmap::subordinate_ranges(&read("/etc/subgid"), &name, gid);
    let single = Mapping::new(uid, gid, &[], &[]);
    if sub_uids.is_empty() || sub_gids.is_empty() {
        let why = format!(
            "no range for {name} in /etc/subuid and /etc/subgid: only your own uid and gid are mapped (root in a container is you; images with files owned by other ids are refused unless pulled with --userns=squash). An admin gives you 65536 ids with: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}"
        );
        return (single, Some(why));
    }
    if !["newuidmap", "newgidmap"].iter().all(|t| on_path(t)) {
        let why = "newuidmap/newgidmap are not installed: only your own uid and gid are mapped (install the uidmap package for your full /etc/subuid range)".to_string();
        return (single, Some(why));
    }
    (Mapping::new(uid, gid, &sub_uids, &sub_gids), None)
}

pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Puts a rootless hako into its user namespace: a new one, or with `join` the one a
/// running container (that pid) lives in. Does nothing for root or once inside. Must run
/// before any thread starts. `data_root` keeps the one-time warning's marker.
pub fn enter(data_root: &Path, join: Option<i32>) -> Result<(), RootlessError> {
    let Some(user) = host_user() else {
        return Ok(());
    };
    if entered() {
        return Ok(());
    }
    let (mapping, warning) = mapping_for(user.uid, user.gid);
    match join {
        Some(pid) => userns::join(pid)?,
        None => userns::enter_new(&mapping)?,
    }
    if let Some(why) = warning {
        warn_once(data_root, &why);
    }
    std::env::set_var(ENV, format!("{}:{}:{}", user.uid, user.gid, mapping.size()));
    Ok(())
}

/// The single-id warning, shown the first time for a data root rather than on every command.
fn warn_once(data_root: &Path, why: &str) {
    let marker = data_root.join(".single-id-map-warned");
    if marker.exists() {
        return;
    }
    eprintln!("hako: warning: {why}");
    if std::fs::create_dir_all(data_root).is_ok() {
        let _ = std::fs::write(marker, why);
    }
}

/// Where run-time state lives (attach sockets, leases): `/run/hako` for root; the user's
/// `$XDG_RUNTIME_DIR/hako`, or a private directory under /tmp when that is unset.
pub fn run_dir() -> PathBuf {
    let Some(user) = host_user() else {
        return PathBuf::from("/run/hako");
    };
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("hako"),
        None => PathBuf::from(format!("/tmp/hako-run-{}", user.uid)),
    }
}
