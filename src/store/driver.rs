//! The storage driver: how a container's layers and its writable layer become one tree.
//! `overlay` is the kernel's overlayfs (as root, or in a user namespace on kernels ≥ 5.11
//! with `userxattr`); `fuse-overlayfs` is the same layout served by a FUSE daemon, for
//! rootless use on older kernels (RHEL 8's 4.18, Debian 10's 4.19); `vfs` copies the
//! image for every container (see `vfs.rs`), where neither can be mounted. All of them
//! give the container's changes in overlay's upper format (`Overlay::changes`), so
//! commit, diff and build read them the same way.
//!
//! A data root keeps the driver it was created with (the file `storage-driver`): upper
//! directories written by one driver are not guaranteed to read back under the other.

use std::path::Path;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    #[default]
    Overlay,
    FuseOverlayfs,
    Vfs,
}

const FILE: &str = "storage-driver";
pub const FUSE_PROGRAM: &str = "fuse-overlayfs";

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::FuseOverlayfs => "fuse-overlayfs",
            Driver::Vfs => "vfs",
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Driver {
    type Err = String;
    fn from_str(s: &str) -> Result<Driver, String> {
        match s {
            "overlay" | "overlay2" => Ok(Driver::Overlay),
            "fuse-overlayfs" => Ok(Driver::FuseOverlayfs),
            "vfs" => Ok(Driver::Vfs),
            other => Err(format!(
                "unknown storage driver {other:?}: hako has overlay, fuse-overlayfs and vfs"
            )),
        }
    }
}

/// The driver a new data root gets. The kernel's overlay wherever it can be mounted: by
/// root, or in a user namespace since 5.11; before that, fuse-overlayfs when installed,
/// else copies.
pub fn automatic(rootless: bool, kernel: (u32, u32), fuse_installed: bool) -> Driver {
    match (rootless && kernel < (5, 11), fuse_installed) {
        (false, _) => Driver::Overlay,
        (true, true) => Driver::FuseOverlayfs,
        (true, false) => Driver::Vfs,
    }
}

/// Whether `fuse-overlayfs` is on PATH.
pub fn fuse_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(FUSE_PROGRAM).is_file()))
}

/// The driver `root` records, if it records one yet.
pub fn recorded(root: &Path) -> Result<Option<Driver>, String> {
    let file = root.join(FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok(Some(text.trim().parse::<Driver>()?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("read {}: {e}", file.display())),
    }
}

/// Whether a container's files are served by a process inside its own cgroup (the
/// FUSE daemon): freezing the container would stop the reads of its files.
pub fn serves_from_the_container(driver: Driver) -> bool {
    driver == Driver::FuseOverlayfs
}

/// The data root's driver: the recorded one, else `requested` or the automatic choice,
/// recorded now. Asking a data root for another driver than its own is refused.
pub fn settle(
    root: &Path,
    requested: Option<Driver>,
    mode: crate::rootless::Mode,
) -> Result<Driver, String> {
    let file = root.join(FILE);
    let recorded = recorded(root)?;
    match (recorded, requested) {
        (Some(r), Some(q)) if r != q => Err(format!(
            "the data root {} holds containers of the {r} storage driver, so it cannot switch to {q}: give {q} a data root of its own (--root DIR)",
            root.display()
        )),
        (Some(r), _) => Ok(r),
        (None, q) => {
            let kernel = crate::sys::kernel_version(&crate::sys::kernel_release());
            let chosen = q.unwrap_or_else(|| {
                automatic(mode.rootless(), kernel, fuse_installed())
            });
            let tmp = root.join(format!(".{FILE}.{}", std::process::id()));
            std::fs::write(&tmp, chosen.name())
                .and_then(|()| std::fs::rename(&tmp, &file))
                .map_err(|e| format!("record the storage driver in {}: {e}", file.display()))?;
            Ok(chosen)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_choice_follows_the_kernel_and_what_is_installed() {
        assert_eq!(automatic(false, (4, 18), true), Driver::Overlay);
        assert_eq!(automatic(true, (5, 11), true), Driver::Overlay);
        assert_eq!(automatic(true, (4, 18), true), Driver::FuseOverlayfs);
        assert_eq!(automatic(true, (4, 18), false), Driver::Vfs);
        assert_eq!(automatic(false, (4, 18), false), Driver::Overlay);
    }

    #[test]
    fn a_data_root_keeps_its_driver() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            settle(dir.path(), Some(Driver::FuseOverlayfs), Default::default()),
            Ok(Driver::FuseOverlayfs)
        );
        assert_eq!(
            settle(dir.path(), None, Default::default()),
            Ok(Driver::FuseOverlayfs)
        );
        let err = settle(dir.path(), Some(Driver::Overlay), Default::default()).unwrap_err();
        assert!(
            err.contains("fuse-overlayfs") && err.contains("--root"),
            "{err}"
        );
        assert_eq!("overlay2".parse(), Ok(Driver::Overlay));
        assert_eq!("vfs".parse(), Ok(Driver::Vfs));
        assert!("btrfs".parse::<Driver>().is_err());
    }
}
