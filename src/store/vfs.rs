//! The `vfs` storage driver: no union filesystem at all. A container's root is a full
//! copy of its image's layers, applied bottom to top into `<container>/rootfs` (whiteouts
//! delete, opaque directories empty) and bind-mounted as the root. It is the last resort
//! of rootless use on a kernel older than 5.11 without fuse-overlayfs: slow to create and
//! as large as the image, but it needs nothing from the kernel but a bind mount.
//!
//! What the container changed is found by comparison: the copy's starting state is
//! recorded beside it (`rootfs-base`), and `changes` turns the differences into a tree in
//! overlay's upper format — changed files hard-linked, deleted ones as `.wh.NAME` files —
//! so commit, diff and build read it exactly as they read an overlay upper.

use super::remove_any;
use crate::layer::pack::{is_overlay_xattr, list_xattrs, marks_opaque};
use crate::layer::unpack::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[path = "vfs_base.rs"]
mod base;
pub use base::Base;

/// The container's copy, kept beside the directory overlay would use as its upper.
pub fn rootfs_of(upper: &Path) -> PathBuf {
    upper.with_file_name("rootfs")
}

fn base_file_of(rootfs: &Path) -> PathBuf {
    rootfs.with_file_name("rootfs-base")
}

/// Makes the container's copy unless it exists: the layers (bottom first) applied into a
/// temporary directory, the starting state recorded, then renamed into place, so an
/// interrupted copy is started afresh and never taken for a complete one.
/// `unprivileged` (rootless): device nodes the user cannot make are left out.
pub fn ensure_copied(
    rootfs: &Path,
    layers_bottom_first: &[PathBuf],
    unprivileged: bool,
) -> io::Result<()> {
    if rootfs.is_dir() {
        return Ok(());
    }
    let tmp = sibling(rootfs, ".tmp");
    fresh_dir(&tmp)?;
    for layer in layers_bottom_first {
        let mut links = HashMap::new();
        apply_dir(layer, &tmp, &mut links, unprivileged)
            .map_err(|e| annotate(e, &format!("copy layer {}", layer.display())))?;
    }
    Base::record(&tmp)?.save(&base_file_of(rootfs))?;
    fs::rename(&tmp, rootfs)
}

/// Applies one layer directory onto `dest`, as overlay would show it above `dest`.
/// `links` maps a hard-linked inode of the layer to its first copy.
fn apply_dir(
    src: &Path,
    dest: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    unprivileged: bool,
) -> io::Result<()> {
    if is_opaque(src)? {
        for entry in fs::read_dir(dest)? {
            remove_any(&entry?.path())?;
        }
    }
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        let (from, to) = (entry.path(), dest.join(&name));
        let md = fs::symlink_metadata(&from)?;
        let ft = md.file_type();
        if name == OPAQUE_MARKER {
            continue;
        }
        if let Some(hidden) = name.to_str().and_then(|n| n.strip_prefix(WHITEOUT_PREFIX)) {
            if ft.is_file() {
                remove_any(&dest.join(hidden))?;
                continue;
            }
        }
        if ft.is_char_device() && md.rdev() == 0 {
            remove_any(&to)?; // overlay's whiteout
            continue;
        }
        if ft.is_dir() {
            match fs::symlink_metadata(&to) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&to)?;
                    fs::create_dir(&to)?;
                }
                Err(_) => fs::create_dir(&to)?,
            }
            apply_dir(&from, &to, links, unprivileged)?;
            copy_metadata(&from, &md, &to)?;
            continue;
        }
        remove_any(&to)?;
        let key = (md.dev(), md.ino());
        if md.nlink() > 1 {
            if let Some(first) = links.get(&key) {
                fs::hard_link(first, &to)?;
                continue;
            }
        }
        if copy_node(&from, &md, &to, unprivileged)? && md.nlink() > 1 {
            links.insert(key, to);
        }
    }
    Ok(())
}

/// Copies a file, symlink or special file with its owner, mode, xattrs and times; false
/// when it is a device an `unprivileged` (rootless) user cannot make (left out, as
/// rootless unpack leaves them out: the host's are bound instead).
pub(crate) fn copy_node(
    from: &Path,
    md: &fs::Metadata,
    to: &Path,
    unprivileged: bool,
) -> io::Result<bool> {
    let ft = md.file_type();
    if ft.is_file() {
        fs::copy(from, to)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else {
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else if ft.is_fifo() {
            SFlag::S_IFIFO
        } else {
            return Ok(false); // a socket: recreated by whoever listens on it
        };
        match mknod(to, kind, Mode::from_bits_truncate(md.mode()), md.rdev()) {
            Ok(()) => {}
            Err(nix::Error::EPERM) if unprivileged => return Ok(false),
            Err(e) => return Err(annotate(e.into(), &format!("mknod {}", to.display()))),
        }
    }
    copy_metadata(from, md, to)?;
    Ok(true)
}

/// Owner, then mode (a chown clears set-id bits), then xattrs (it clears file
/// capabilities too), then times, which every change before would have moved.
pub(crate) fn copy_metadata(from: &Path, md: &fs::Metadata, to: &Path) -> io::Result<()> {
    lchown(to, Some(md.uid()), Some(md.gid()))
        .map_err(|e| annotate(e, &format!("chown {}", to.display())))?;
    if !md.file_type().is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    for (name, value) in list_xattrs(from)? {
        if is_overlay_xattr(&name) {
            continue;
        }
        crate::layer::unpack::set_xattr(to, &name, &value).map_err(io::Error::other)?;
    }
    let atime = TimeSpec::new(md.atime(), md.atime_nsec());
    let mtime = TimeSpec::new(md.mtime(), md.mtime_nsec());
    utimensat(None, to, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| annotate(e.into(), &format!("set times of {}", to.display())))
}

fn is_opaque(dir: &Path) -> io::Result<bool> {
    if dir.join(OPAQUE_MARKER).is_file() {
        return Ok(true);
    }
    Ok(marks_opaque(&list_xattrs(dir)?))
}

/// `path` as a new empty directory, whatever an interrupted run left there.
fn fresh_dir(path: &Path) -> io::Result<()> {
    remove_any(path)?;
    fs::create_dir(path)
}

/// `path` with `suffix` added to its file name (a sibling on the same filesystem).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn annotate(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Writes what the container changed since its copy was made into `out` (made afresh),
/// in overlay's upper format. `out` must be on the copy's filesystem: changed files are
/// hard links to the copy's own, not copies.
pub fn changes(rootfs: &Path, out: &Path, unprivileged: bool) -> io::Result<()> {
    let base = Base::load(&base_file_of(rootfs))?;
    let tmp = sibling(out, ".new");
    fresh_dir(&tmp)?;
    let mut writer = ChangeWriter {
        rootfs,
        out: &tmp,
        made: BTreeSet::new(),
        unprivileged,
    };
    writer.walk(&base, Path::new(""))?;
    for deleted in base.paths() {
        if fs::symlink_metadata(rootfs.join(deleted)).is_ok() {
            continue;
        }
        // Only where its directory is still there: a deleted directory's whiteout covers
        // everything that was in it.
        let parent = deleted.parent().unwrap_or(Path::new(""));
        if fs::symlink_metadata(rootfs.join(parent)).is_ok_and(|m| m.is_dir()) {
            writer.ensure_dirs(parent)?;
            let mut name = std::ffi::OsString::from(WHITEOUT_PREFIX);
            name.push(deleted.file_name().unwrap_or_default());
            fs::write(tmp.join(parent).join(name), b"")?;
        }
    }
    writer.finish()?;
    // The previous tree moves aside before the new one takes its name.
    let old = sibling(out, ".old");
    remove_any(&old)?;
    if out.exists() {
        fs::rename(out, &old)?;
    }
    fs::rename(&tmp, out)?;
    remove_any(&old)
}

/// Builds the change tree: directories made as needed with the copy's metadata (their
/// times set last, after their contents), everything else hard-linked.
struct ChangeWriter<'a> {
    rootfs: &'a Path,
    out: &'a Path,
    /// The directories made so far (sorted: a parent before its children).
    made: BTreeSet<PathBuf>,
    unprivileged: bool,
}

impl ChangeWriter<'_> {
    fn walk(&mut self, base: &Base, rel: &Path) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(self.rootfs.join(rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for name in names {
            let path = rel.join(&name);
            let md = fs::symlink_metadata(self.rootfs.join(&path))?;
            let unchanged = base.unchanged(&path, &md);
            if md.is_dir() {
                if !unchanged {
                    self.ensure_dirs(&path)?;
                }
                self.walk(base, &path)?;
            } else if !unchanged {
                self.ensure_dirs(rel)?;
                self.link(&path, &md)?;
            }
        }
        Ok(())
    }

    fn link(&mut self, path: &Path, md: &fs::Metadata) -> io::Result<()> {
        let (from, to) = (self.rootfs.join(path), self.out.join(path));
        // A hard link where the kernel allows it (protected_hardlinks may refuse one to a
        // file the caller does not own); otherwise a copy.
        if fs::hard_link(&from, &to).is_err() {
            copy_node(&from, md, &to, self.unprivileged)?;
        }
        Ok(())
    }

    /// `rel` and every directory above it, in the change tree.
    fn ensure_dirs(&mut self, rel: &Path) -> io::Result<()> {
        let mut at = PathBuf::new();
        for part in rel.components() {
            at.push(part);
            if !self.made.contains(&at) {
                fs::create_dir(self.out.join(&at))?;
                self.made.insert(at.clone());
            }
        }
        Ok(())
    }

    /// Directory metadata, deepest first so a parent's times are set after its children.
    fn finish(&self) -> io::Result<()> {
        for rel in self.made.iter().rev() {
            let md = fs::symlink_metadata(self.rootfs.join(rel))?;
            copy_metadata(&self.rootfs.join(rel), &md, &self.out.join(rel))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "vfs_tests.rs"]
mod tests;
