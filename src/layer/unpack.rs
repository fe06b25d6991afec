//! Layer tar → directory, safely.
//!
//! Each layer is unpacked into its own empty directory, so every path an entry names must
//! stay inside it: absolute paths, `..` and writes through a symlink are refused (the class
//! of bugs behind CVE-2018-15664-style escapes and umoci's "resolve every entry inside the
//! root"). OCI whiteouts become overlay whiteouts: `.wh.NAME` → a 0:0 character device,
//! `.wh..wh..opq` → the overlay "opaque" xattr on the directory.

use nix::fcntl::AtFlags as FchownatFlags;
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};
use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use tar::EntryType;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[derive(Clone, Debug)]
pub struct UnpackOptions {
    /// Unprivileged: overlay xattrs live in `user.` (kernel ≥ 5.11 `userxattr`).
    pub rootless: bool,
    /// Rootless `--userns=squash`: a file whose owner is outside the user's mapped ids is
    /// given to root (the user) instead of refusing the layer.
    pub squash: bool,
    /// How far this unpack may expand (see `budget`); None: unbounded.
    pub budget: Option<std::sync::Arc<super::budget::Budget>>,
}

/// As root, owners kept, unbounded; a store gives its own (`Store::unpack_options`).
impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            rootless: false,
            squash: false,
            budget: None,
        }
    }
}

impl UnpackOptions {
    pub fn opaque_xattr(&self) -> &'static str {
        if self.rootless {
            "user.overlay.opaque"
        } else {
            "trusted.overlay.opaque"
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("refusing hostile layer entry {entry:?}: {reason}")]
    Hostile { entry: String, reason: &'static str },
    #[error("layer file {path} belongs to uid {uid} / gid {gid}, outside the {mapped} ids your user namespace maps (ask an admin for a /etc/subuid and /etc/subgid range, or pull with --userns=squash to give such files to you)")]
    UnmappedOwner {
        path: String,
        uid: u32,
        gid: u32,
        mapped: u64,
    },
    #[error("reading layer tar: {0} (is the layer a tar archive, gzip or zstd, and complete?)")]
    Tar(io::Error),
    #[error("refusing layer: {0}")]
    Exceeded(#[from] super::budget::Exceeded),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> UnpackError + 'a {
    move |source| UnpackError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn nix_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> UnpackError + 'a {
    move |e| UnpackError::Io {
        op,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// A relative, `..`-free path inside the layer, or why the entry is refused.
pub fn clean_entry_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("'..' would climb out of the layer"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed in a layer")
            }
        }
    }
    Ok(out)
}

struct DeferredDir {
    path: PathBuf,
    mode: u32,
    mtime: u64,
}

struct Unpacker<'a> {
    dest: &'a Path,
    opts: &'a UnpackOptions,
    /// Directories already checked to be real directories inside `dest`.
    known_dirs: HashSet<PathBuf>,
    /// Directory modes and mtimes are applied last: creating children changes the mtime,
    /// and a read-only directory mode would stop the children being created.
    dirs: Vec<DeferredDir>,
    buf: Vec<u8>,
    am_root: bool,
}

/// Unpacks an uncompressed layer tar stream into `dest` (an existing, empty directory).
pub fn unpack(reader: impl Read, dest: &Path, opts: &UnpackOptions) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(reader);
    let mut u = Unpacker {
        dest,
        opts,
        known_dirs: HashSet::new(),
        dirs: Vec::new(),
        buf: vec![0; 256 * 1024],
        am_root: nix::unistd::geteuid().is_root(),
    };
    for entry in archive.entries().map_err(UnpackError::Tar)? {
        let mut entry = entry.map_err(UnpackError::Tar)?;
        u.entry(&mut entry)?;
    }
    for d in u.dirs.iter().rev() {
        fs::set_permissions(&d.path, fs::Permissions::from_mode(d.mode))
            .map_err(io_err("chmod", &d.path))?;
        set_mtime(&d.path, d.mtime)?;
    }
    Ok(())
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        if let Some(b) = &self.opts.budget {
            b.charge(super::budget::ENTRY_COST)?;
        }
        let raw = Path::new(OsStr::from_bytes(&entry.path_bytes())).to_path_buf();
        let shown = raw.display().to_string();
        let rel = clean_entry_path(&raw).map_err(|reason| UnpackError::Hostile {
            entry: shown.clone(),
            reason,
        })?;
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            return Ok(()); // the layer root itself ("./"): nothing to create
        };
        self.prepare_parent(&rel, &shown)?;
        let parent = self.dest.join(rel.parent().unwrap_or(Path::new("")));

        let name_bytes = name.as_bytes();
        if name_bytes == OPAQUE_MARKER.as_bytes() {
            return set_xattr(&parent, self.opts.opaque_xattr(), b"y");
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            // `.wh.` alone, `.wh..` or `.wh...` would name the directory itself or its
            // parent: removing "it" would remove the layer (found by fuzz_tests).
            if matches!(hidden, b"" | b"." | b"..") || hidden.contains(&b'/') {
                return Err(UnpackError::Hostile {
                    entry: shown,
                    reason: "a whiteout that names no file",
                });
            }
            let target = parent.join(OsStr::from_bytes(hidden));
            self.remove_existing(&target, false)?;
            return mknod(&target, SFlag::S_IFCHR, Mode::empty(), 0)
                .map_err(nix_err("mknod whiteout", &target));
        }

        let target = self.dest.join(&rel);
        let xattrs = pax_xattrs(entry)?;
        let header = entry.header();
        let mode = header.mode().map_err(UnpackError::Tar)? & 0o7777;
        // Some writers leave numeric owner fields blank; tar(1) reads those as 0, so do we.
        let (uid, gid) = (
            header.uid().unwrap_or(0) as u32,
            header.gid().unwrap_or(0) as u32,
        );
        let mtime = header.mtime().unwrap_or(0);
        if matches!(
            kind,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
        ) {
            return self.regular_file(entry, &target, mode, (uid, gid), mtime, xattrs);
        }
        self.remove_existing(&target, kind == EntryType::Directory)?;

        match kind {
            EntryType::Directory => {
                if !target.is_dir() {
                    fs::create_dir(&target).map_err(io_err("mkdir", &target))?;
                }
                self.known_dirs.insert(target.clone());
                self.chown(&target, uid, gid)?;
                self.dirs.push(DeferredDir {
                    path: target.clone(),
                    mode,
                    mtime,
                });
            }
            EntryType::Symlink => {
                let link = entry.link_name_bytes().ok_or(UnpackError::Hostile {
                    entry: shown.clone(),
                    reason: "symlink without a target",
                })?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&link), &target)
                    .map_err(io_err("symlink", &target))?;
                self.chown(&target, uid, gid)?;
            }
            EntryType::Link => {
                let link = entry.link_name_bytes().ok_or(UnpackError::Hostile {
                    entry: shown.clone(),
                    reason: "hardlink without a target",
                })?;
                let link_rel =
                    clean_entry_path(Path::new(OsStr::from_bytes(&link))).map_err(|reason| {
                        UnpackError::Hostile {
                            entry: shown.clone(),
                            reason,
                        }
                    })?;
                self.check_inside(&link_rel, &shown)?;
                let source = self.dest.join(&link_rel);
                match fs::symlink_metadata(&source) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(UnpackError::Hostile {
                            entry: shown,
                            reason: "hardlink target is missing from the layer or is a directory",
                        })
                    }
                }
                fs::hard_link(&source, &target).map_err(io_err("link", &target))?;
                return Ok(()); // a hardlink shares the target's inode and metadata
            }
            // Rootless: no process in a user namespace may create device nodes, and a
            // container's /dev is its own tmpfs anyway. The node is left out (the layer's
            // digest is of the tar stream, so it still verifies).
            EntryType::Char | EntryType::Block if self.opts.rootless => {
                crate::trace::note("image", "skip device node", || shown.clone());
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (flag, dev) = match kind {
                    EntryType::Char => (SFlag::S_IFCHR, device(header)?),
                    EntryType::Block => (SFlag::S_IFBLK, device(header)?),
                    _ => (SFlag::S_IFIFO, 0),
                };
                mknod(&target, flag, Mode::from_bits_truncate(mode), dev)
                    .map_err(nix_err("mknod", &target))?;
                self.chown(&target, uid, gid)?;
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(io_err("chmod", &target))?;
            }
            _ => {
                return Err(UnpackError::Hostile {
                    entry: shown,
                    reason: "unsupported tar entry type",
                })
            }
        }
        for (key, value) in xattrs {
            set_xattr(&target, &key, &value)?;
        }
        if kind != EntryType::Directory {
            set_mtime(&target, mtime)?;
        }
        Ok(())
    }

    /// Most entries are regular files, so they take the fewest system calls: create (and
    /// only if that finds something in the way, remove it and create again), write, then
    /// owner, mode and times through the open file rather than by path.
    fn regular_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        target: &Path,
        mode: u32,
        (uid, gid): (u32, u32),
        mtime: u64,
        xattrs: Vec<(String, Vec<u8>)>,
    ) -> Result<(), UnpackError> {
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(target)
        };
        let mut file = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.remove_existing(target, false)?;
                create()
            }
            other => other,
        }
        .map_err(io_err("create", target))?;
        loop {
            let n = entry.read(&mut self.buf).map_err(UnpackError::Tar)?;
            if n == 0 {
                break;
            }
            if let Some(b) = &self.opts.budget {
                b.charge(n as u64)?;
            }
            file.write_all(&self.buf[..n])
                .map_err(io_err("write", target))?;
        }
        let owned = nix::unistd::fchown(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
        );
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        self.settle_owner(owned, target, uid, gid, |u, g| {
            nix::unistd::fchown(fd, Some(Uid::from_raw(u)), Some(Gid::from_raw(g)))
        })?;
        // After chown: chown clears setuid/setgid bits.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err("chmod", target))?;
        for (key, value) in xattrs {
            set_xattr(target, &key, &value)?;
        }
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
        file.set_times(fs::FileTimes::new().set_accessed(time).set_modified(time))
            .map_err(io_err("utimensat", target))
    }

    /// Makes sure every parent of `rel` is a real directory inside the layer, creating
    /// missing ones. A parent that is a symlink is refused: writing through it could land
    /// anywhere on the host.
    fn prepare_parent(&mut self, rel: &Path, shown: &str) -> Result<(), UnpackError> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        let mut cur = self.dest.to_path_buf();
        for c in parent.components() {
            cur.push(c);
            if self.known_dirs.contains(&cur) {
                continue;
            }
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(UnpackError::Hostile { entry: shown.to_string(), reason: "a parent directory is a symlink: writing through it could land outside the layer" })
                }
                Ok(_) => return Err(UnpackError::Hostile { entry: shown.to_string(), reason: "a parent path is not a directory" }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&cur).map_err(io_err("mkdir", &cur))?;
                }
                Err(e) => return Err(io_err("lstat", &cur)(e)),
            }
            self.known_dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// Like `prepare_parent`, but creates nothing: for hardlink targets.
    fn check_inside(&self, rel: &Path, shown: &str) -> Result<(), UnpackError> {
        let mut cur = self.dest.to_path_buf();
        for c in rel.parent().unwrap_or(Path::new("")).components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                _ => {
                    return Err(UnpackError::Hostile {
                        entry: shown.to_string(),
                        reason:
                            "hardlink target path goes through a symlink or a missing directory",
                    })
                }
            }
        }
        Ok(())
    }

    /// A later entry replaces an earlier one with the same name (tar semantics), except a
    /// directory over a directory, which merges.
    fn remove_existing(&mut self, target: &Path, new_is_dir: bool) -> Result<(), UnpackError> {
        match fs::symlink_metadata(target) {
            Ok(m) if m.is_dir() && new_is_dir => Ok(()),
            Ok(m) => {
                if m.is_dir() {
                    fs::remove_dir_all(target).map_err(io_err("remove", target))?;
                    self.known_dirs.retain(|d| !d.starts_with(target));
                    self.dirs.retain(|d| !d.path.starts_with(target));
                } else {
                    fs::remove_file(target).map_err(io_err("remove", target))?;
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("lstat", target)(e)),
        }
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), UnpackError> {
        let r = fchownat(
            None,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            FchownatFlags::AT_SYMLINK_NOFOLLOW,
        );
        self.settle_owner(r, path, uid, gid, |u, g| {
            fchownat(
                None,
                path,
                Some(Uid::from_raw(u)),
                Some(Gid::from_raw(g)),
                FchownatFlags::AT_SYMLINK_NOFOLLOW,
            )
        })
    }

    /// After a chown: a plain unprivileged process keeps its files as its own; inside a
    /// rootless user namespace an owner the namespace does not map (EINVAL) is refused by
    /// name, or with `squash` given to root.
    fn settle_owner(
        &self,
        result: nix::Result<()>,
        path: &Path,
        uid: u32,
        gid: u32,
        set: impl Fn(u32, u32) -> nix::Result<()>,
    ) -> Result<(), UnpackError> {
        match result {
            Ok(()) => Ok(()),
            Err(_) if !self.am_root => Ok(()),
            Err(nix::errno::Errno::EINVAL) if self.opts.rootless && self.opts.squash => {
                set(0, 0).map_err(nix_err("chown", path))
            }
            Err(nix::errno::Errno::EINVAL) if self.opts.rootless => {
                Err(UnpackError::UnmappedOwner {
                    path: Path::new("/")
                        .join(path.strip_prefix(self.dest).unwrap_or(path))
                        .display()
                        .to_string(),
                    uid,
                    gid,
                    mapped: crate::rootless::mapped_ids(),
                })
            }
            Err(e) => Err(nix_err("chown", path)(e)),
        }
    }
}

fn device(header: &tar::Header) -> Result<u64, UnpackError> {
    let major = header
        .device_major()
        .map_err(UnpackError::Tar)?
        .unwrap_or(0);
    let minor = header
        .device_minor()
        .map_err(UnpackError::Tar)?
        .unwrap_or(0);
    Ok(nix::sys::stat::makedev(major as u64, minor as u64))
}

fn pax_xattrs<R: Read>(entry: &mut tar::Entry<R>) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let mut out = vec![];
    if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Tar)? {
        for ext in exts {
            let ext = ext.map_err(UnpackError::Tar)?;
            if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                out.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), UnpackError> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| UnpackError::Hostile {
        entry: path.display().to_string(),
        reason: "NUL in path",
    })?;
    let c_name = CString::new(name).map_err(|_| UnpackError::Hostile {
        entry: path.display().to_string(),
        reason: "NUL in xattr name",
    })?;
    // SAFETY: valid NUL-terminated strings and a live buffer for the duration of the call.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(UnpackError::Io {
            op: "setxattr",
            path: path.join(format!("@{name}")),
            source: io::Error::last_os_error(),
        })
    }
}

fn set_mtime(path: &Path, mtime: u64) -> Result<(), UnpackError> {
    let t = TimeSpec::new(mtime as i64, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(nix_err("utimensat", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a tar whose entry names are written raw, so hostile names survive.
    fn raw_tar(entries: &[(&str, EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(*kind);
            h.set_mode(if *kind == EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            h.set_uid(nix::unistd::geteuid().as_raw() as u64);
            h.set_gid(nix::unistd::getegid().as_raw() as u64);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    /// Found by fuzz_tests: `.wh.` alone named the layer directory itself, and the
    /// unpacker removed it.
    #[test]
    fn a_whiteout_without_a_name_is_refused() {
        for name in [".wh.", "a/.wh..", "a/.wh..."] {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            let raw = name.as_bytes();
            h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
            h.set_cksum();
            b.append(&h, &b""[..]).unwrap();
            let (dir, r) = unpack_into(&b.into_inner().unwrap());
            assert!(
                matches!(r, Err(UnpackError::Hostile { .. })),
                "{name}: {r:?}"
            );
            assert!(dir.path().join("layer").is_dir(), "{name}");
        }
    }

    fn unpack_into(tar: &[u8]) -> (tempfile::TempDir, Result<(), UnpackError>) {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer");
        fs::create_dir(&layer).unwrap();
        let r = unpack(
            tar,
            &layer,
            &UnpackOptions {
                rootless: true,
                squash: false,
                budget: None,
            },
        );
        (dir, r)
    }

    #[test]
    fn unpacks_files_dirs_links() {
        let tar = raw_tar(&[
            ("etc/", EntryType::Directory, "", b""),
            (
                "etc/hosts",
                EntryType::Regular,
                "",
                b"127.0.0.1 localhost\n",
            ),
            ("etc/alias", EntryType::Symlink, "hosts", b""),
            ("etc/hard", EntryType::Link, "etc/hosts", b""),
            ("./deep/a/b/c", EntryType::Regular, "", b"x"),
        ]);
        let (dir, r) = unpack_into(&tar);
        r.unwrap();
        let l = dir.path().join("layer");
        assert_eq!(
            fs::read_to_string(l.join("etc/hosts")).unwrap(),
            "127.0.0.1 localhost\n"
        );
        assert_eq!(
            fs::read_link(l.join("etc/alias")).unwrap(),
            Path::new("hosts")
        );
        assert_eq!(
            fs::read_to_string(l.join("etc/hard")).unwrap(),
            "127.0.0.1 localhost\n"
        );
        assert_eq!(fs::read_to_string(l.join("deep/a/b/c")).unwrap(), "x");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            fs::metadata(l.join("etc/hosts")).unwrap().mtime(),
            1_700_000_000
        );
        assert_eq!(
            fs::metadata(l.join("etc")).unwrap().mtime(),
            1_700_000_000,
            "directory mtime applied last"
        );
    }

    #[test]
    fn a_later_entry_replaces_an_earlier_one_without_following_it() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        let tar = raw_tar(&[
            ("f", EntryType::Regular, "", b"first"),
            ("f", EntryType::Regular, "", b"second"),
            ("d/", EntryType::Directory, "", b""),
            ("d/inner", EntryType::Regular, "", b"x"),
            ("d", EntryType::Regular, "", b"now a file"),
            ("s", EntryType::Symlink, victim.to_str().unwrap(), b""),
            ("s", EntryType::Regular, "", b"not through the link"),
        ]);
        let (dir, r) = unpack_into(&tar);
        r.unwrap();
        let l = dir.path().join("layer");
        assert_eq!(fs::read_to_string(l.join("f")).unwrap(), "second");
        assert_eq!(fs::read_to_string(l.join("d")).unwrap(), "now a file");
        assert!(!fs::symlink_metadata(l.join("s"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
    }

    #[test]
    fn refuses_hostile_entries() {
        let cases: Vec<Vec<u8>> = vec![
            raw_tar(&[("../escape", EntryType::Regular, "", b"x")]),
            raw_tar(&[("a/../../escape", EntryType::Regular, "", b"x")]),
            raw_tar(&[("/etc/passwd", EntryType::Regular, "", b"x")]),
            raw_tar(&[
                ("evil", EntryType::Symlink, "/tmp", b""),
                ("evil/owned", EntryType::Regular, "", b"x"),
            ]),
            raw_tar(&[("hl", EntryType::Link, "../../etc/passwd", b"")]),
            raw_tar(&[
                ("s", EntryType::Symlink, "/etc", b""),
                ("hl", EntryType::Link, "s/passwd", b""),
            ]),
        ];
        for tar in cases {
            let (dir, r) = unpack_into(&tar);
            let err = r.expect_err("hostile tar must be refused");
            assert!(matches!(err, UnpackError::Hostile { .. }), "{err}");
            assert!(!dir.path().join("escape").exists());
        }
    }

    #[test]
    fn refuses_garbage() {
        let (_d, r) = unpack_into(&[0x41u8; 1024]);
        assert!(r.is_err());
    }
}
