//! The container's root filesystem: an overlay whose lowerdirs are the image's unpacked
//! layers (shared, read-only) and whose upperdir/workdir belong to the container.
//!
//! Overlay's mount options must fit in one page. Layer paths are long, so when the absolute
//! form does not fit we `chdir` into the data root and name layers by their short links
//! (`l/<16 hex>`, 19 bytes a layer: about 200 layers per page), the trick Docker's overlay2
//! driver uses.

mod fuse;

use crate::store::driver::Driver;
use crate::store::vfs;
use crate::sys::{Sys, SysError};
use nix::mount::MsFlags;
use std::path::{Component, Path, PathBuf};

/// Largest option string the kernel accepts (one page, NUL included).
const MAX_OPTIONS: usize = 4095;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Overlay {
    /// Directory the short lowerdir names are relative to (the data root).
    pub base: PathBuf,
    /// Layers relative to `base`, top layer first (overlay's order).
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Mounted by an unprivileged user: overlay keeps its whiteout and opaque markers in
    /// `user.overlay.*` xattrs (`userxattr`, kernel ≥ 5.11), as rootless unpack writes them.
    #[serde(default)]
    pub userxattr: bool,
    /// The kernel's overlay, the same layout through fuse-overlayfs, or vfs's copy (kept
    /// beside `upper`, which then holds the changes when asked for).
    #[serde(default)]
    pub driver: crate::store::driver::Driver,
}

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("an image needs at least one layer to run")]
    NoLayers,
    #[error("{layers} layers do not fit in overlay's one-page option limit, even with short names; flatten the image (hako export | hako import)")]
    TooManyLayers { layers: usize },
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("copy the image's layers into {target} (vfs storage driver): {detail}")]
    Copy { target: String, detail: String },
    #[error("mount the rootfs on {target} with fuse-overlayfs: {detail}")]
    Fuse { target: String, detail: String },
    #[error("resolve {path} inside the container: {detail}")]
    Resolve { path: String, detail: String },
}

impl Overlay {
    /// The mount options, and whether they name layers relative to `base`.
    pub fn options(&self) -> Result<(String, bool), RootfsError> {
        if self.lower.is_empty() {
            return Err(RootfsError::NoLayers);
        }
        let join = |paths: Vec<String>| paths.join(":");
        let extra = if self.userxattr { ",userxattr" } else { "" };
        let absolute = format!(
            "lowerdir={},upperdir={},workdir={}{extra}",
            join(
                self.lower
                    .iter()
                    .map(|l| self.base.join(l).display().to_string())
                    .collect()
            ),
            self.upper.display(),
            self.work.display()
        );
        if absolute.len() <= MAX_OPTIONS {
            return Ok((absolute, false));
        }
        let relative = format!(
            "lowerdir={},upperdir={},workdir={}{extra}",
            join(self.lower.iter().map(|l| l.display().to_string()).collect()),
            self.upper.display(),
            self.work.display()
        );
        if relative.len() <= MAX_OPTIONS {
            Ok((relative, true))
        } else {
            Err(RootfsError::TooManyLayers {
                layers: self.lower.len(),
            })
        }
    }

    pub fn mount(&self, sys: &dyn Sys, target: &Path) -> Result<(), RootfsError> {
        match self.driver {
            Driver::Overlay => {}
            Driver::FuseOverlayfs => return fuse::mount(self, target),
            Driver::Vfs => return self.mount_copy(sys, target),
        }
        let (options, relative) = self.options()?;
        if relative {
            sys.chdir(&self.base)?;
        }
        sys.mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(&options),
        )?;
        Ok(())
    }
}

impl Overlay {
    /// vfs: the container's copy of its layers (made now if it is not there yet),
    /// bind-mounted on `target`.
    fn mount_copy(&self, sys: &dyn Sys, target: &Path) -> Result<(), RootfsError> {
        let rootfs = vfs::rootfs_of(&self.upper);
        let bottom_first: Vec<PathBuf> =
            self.lower.iter().rev().map(|l| self.base.join(l)).collect();
        crate::trace::step(
            "rootfs",
            "copy",
            || {
                format!(
                    "{} layers into {} (vfs driver)",
                    bottom_first.len(),
                    rootfs.display()
                )
            },
            || vfs::ensure_copied(&rootfs, &bottom_first, self.userxattr),
        )
        .map_err(|e| RootfsError::Copy {
            target: rootfs.display().to_string(),
            detail: e.to_string(),
        })?;
        sys.mount(
            Some(&rootfs.to_string_lossy()),
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        Ok(())
    }

    /// The container's changes in overlay's upper format: `upper` itself, or, for vfs,
    /// the differences from its copy's starting state written there now.
    pub fn changes(&self) -> std::io::Result<PathBuf> {
        if self.driver == Driver::Vfs {
            let rootfs = vfs::rootfs_of(&self.upper);
            if rootfs.is_dir() {
                vfs::changes(&rootfs, &self.upper, self.userxattr)?;
            }
        }
        Ok(self.upper.clone())
    }
}

/// The overlay of a container: its image's layers (`layers` bottom first, as a record
/// lists them) under the container's own upper/work.
pub fn container_overlay(
    store: &crate::store::Store,
    id: &str,
    layers: &[crate::digest::Digest],
) -> Overlay {
    let dir = store.container_dir(id);
    Overlay {
        base: store.root().to_path_buf(),
        lower: layers
            .iter()
            .rev()
            .map(|l| store.layer_short_link(l))
            .collect(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        userxattr: store.mode().rootless(),
        driver: store.driver(),
    }
}

/// Resolves `unsafe_path` inside `root` as the container would see it: symlinks are
/// followed, but `..` and absolute link targets never leave `root` (the same rule as
/// `openat2(RESOLVE_IN_ROOT)` and filepath-securejoin). Missing components are kept as
/// they are, so the caller can create them.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf, RootfsError> {
    let mut resolved = PathBuf::new(); // relative to root
    let mut pending: Vec<PathBuf> = vec![unsafe_path.to_path_buf()];
    let mut links = 0;
    while let Some(next) = pending.pop() {
        let mut comps: Vec<Component> = next.components().collect();
        comps.reverse();
        while let Some(c) = comps.pop() {
            match c {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => {
                    let candidate = resolved.join(name);
                    match std::fs::symlink_metadata(root.join(&candidate)) {
                        Ok(m) if m.file_type().is_symlink() => {
                            links += 1;
                            if links > 255 {
                                return Err(RootfsError::Resolve {
                                    path: unsafe_path.display().to_string(),
                                    detail: "too many levels of symbolic links".into(),
                                });
                            }
                            let target =
                                std::fs::read_link(root.join(&candidate)).map_err(|e| {
                                    RootfsError::Resolve {
                                        path: unsafe_path.display().to_string(),
                                        detail: e.to_string(),
                                    }
                                })?;
                            // Resolve the rest after the link target.
                            let rest: PathBuf = comps.iter().rev().collect();
                            comps.clear();
                            pending.push(rest);
                            if target.is_absolute() {
                                resolved = PathBuf::new();
                            }
                            pending.push(target);
                            break;
                        }
                        _ => resolved = candidate,
                    }
                }
            }
        }
    }
    Ok(root.join(resolved))
}

/// A mount namespace of this process's own, with nothing propagating to or from the
/// host's: what is mounted here is seen nowhere else and goes with the process.
pub fn enter_private_mount_namespace(sys: &dyn Sys) -> Result<(), RootfsError> {
    sys.unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    Ok(())
}

/// Runs `work` in a forked child that has a mount namespace of its own, with each overlay
/// mounted on its target there: the host's mount table never sees them, and they vanish
/// with the child even after a `kill -9` (build's COPY, for instance). The child's error
/// comes back as text. The caller must be single-threaded, as for any fork.
pub fn with_private_mounts(
    overlays: &[(&Overlay, &Path)],
    work: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, pipe, ForkResult};
    use std::io::{Read, Write};
    let (read_end, write_end) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: hako is single-threaded here (documented above); the child only makes
    // syscalls, runs `work` and leaves with _exit.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(read_end);
            let result = (|| {
                let sys = crate::sys::LinuxSys;
                enter_private_mount_namespace(&sys)
                    .map_err(|e| format!("{e} (a private mount namespace needs CAP_SYS_ADMIN)"))?;
                for (overlay, target) in overlays {
                    std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
                    overlay.mount(&sys, target).map_err(|e| e.to_string())?;
                }
                sys.chdir(Path::new("/")).map_err(|e| e.to_string())?;
                work()
            })();
            let code = match result {
                Ok(()) => 0,
                Err(message) => {
                    let _ = std::fs::File::from(write_end).write_all(message.as_bytes());
                    1
                }
            };
            // SAFETY: leaving the forked child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut message = String::new();
            let _ = std::fs::File::from(read_end).read_to_string(&mut message);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(WaitStatus::Exited(..)) => Err(message),
                Ok(other) => Err(format!("the mount helper ended abnormally: {other:?}")),
                Err(e) => Err(format!("wait for the mount helper: {e}")),
            }
        }
    }
}

/// Reads a file as the container will see it, from unpacked layers (top first): the
/// topmost layer that has it wins, and a whiteout in a higher layer hides it.
pub fn read_from_layers(top_first: &[PathBuf], rel: &str) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    for layer in top_first {
        match std::fs::symlink_metadata(layer.join(rel)) {
            Ok(m) if m.file_type().is_char_device() => return None,
            Ok(_) => return std::fs::read_to_string(layer.join(rel)).ok(),
            Err(_) => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::FakeSys;

    fn overlay(layers: usize) -> Overlay {
        Overlay {
            base: PathBuf::from("/var/lib/hako"),
            lower: (0..layers)
                .map(|i| PathBuf::from(format!("l/{i:016x}")))
                .collect(),
            upper: PathBuf::from("/var/lib/hako/containers/abc/upper"),
            work: PathBuf::from("/var/lib/hako/containers/abc/work"),
            userxattr: false,
            driver: Default::default(),
        }
    }

    #[test]
    fn short_chains_use_absolute_paths() {
        let (opts, relative) = overlay(3).options().unwrap();
        assert!(!relative);
        assert!(
            opts.starts_with("lowerdir=/var/lib/hako/l/0000000000000000:"),
            "{opts}"
        );
    }

    #[test]
    fn long_chains_switch_to_short_relative_names() {
        let sys = FakeSys::default();
        let o = overlay(190);
        let (opts, relative) = o.options().unwrap();
        assert!(relative && opts.len() <= MAX_OPTIONS);
        o.mount(&sys, Path::new("/merged")).unwrap();
        assert_eq!(
            sys.calls.borrow()[0],
            crate::sys::Call::Chdir("/var/lib/hako".into())
        );
        assert_eq!(sys.mounts(), vec!["overlay /merged 0"]);
        assert!(matches!(
            overlay(400).options(),
            Err(RootfsError::TooManyLayers { .. })
        ));
    }

    #[test]
    fn secure_join_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("real/up")).unwrap();
        std::os::unix::fs::symlink("dir", root.join("real/rel")).unwrap();
        assert_eq!(
            secure_join(root, Path::new("/abs/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("real/up/x")).unwrap(),
            root.join("x")
        );
        assert_eq!(
            secure_join(root, Path::new("/real/rel/f")).unwrap(),
            root.join("real/dir/f")
        );
        assert_eq!(
            secure_join(root, Path::new("../../etc")).unwrap(),
            root.join("etc")
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(secure_join(root, Path::new("loop/x")).is_err());
    }
}
