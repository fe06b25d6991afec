//! Directory trees out as tar streams, the mirror of `unpack`: a container's overlay
//! upperdir becomes an OCI layer (overlay whiteouts → `.wh.NAME`, opaque directories →
//! `.wh..wh..opq`), or a whole root filesystem becomes `export`'s tarball.
//!
//! Entries come in a stable order (names sorted bytewise, a directory before its
//! contents), hardlinks stay hardlinks, and with `clamp_mtime` no timestamp is later than
//! the given epoch: the same tree always packs to the same bytes.

use super::tar_writer::{Entry, Kind, TarWriter};
use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The kernel's markers (as root, and rootless with userxattr) and fuse-overlayfs's own.
const OPAQUE_XATTRS: [&str; 3] = [
    "trusted.overlay.opaque",
    "user.overlay.opaque",
    "user.fuseoverlayfs.opaque",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An overlay upperdir: whiteouts and opaque markers are translated, overlay's own
    /// xattrs dropped.
    UpperDir,
    /// A mounted root filesystem: other mounts inside it (`/proc`, binds) appear as empty
    /// directories, as in `docker export`.
    Rootfs,
}

#[derive(Clone, Debug)]
pub struct PackOptions {
    pub source: Source,
    /// No mtime later than this (`SOURCE_DATE_EPOCH`); `None` keeps them as they are.
    pub clamp_mtime: Option<u64>,
    /// Paths (relative to the tree) whose contents stay out: volumes and bind mounts. A
    /// directory is kept empty; a file there is a mount point and is left out.
    pub leave_out: Vec<PathBuf>,
}

#[derive(Debug, Default)]
pub struct PackReport {
    pub entries: u64,
    /// Left-out directories that held data, with how many entries they held.
    pub left_out: Vec<(PathBuf, u64)>,
}

/// Packs `root` into `out`; returns the writer and what was packed.
pub fn pack<W: Write>(root: &Path, out: W, opts: &PackOptions) -> io::Result<(W, PackReport)> {
    pack_into(root, TarWriter::new(out), opts)
}

/// `pack`, into a tar writer the caller set up (e.g. to splice into a pipe).
pub fn pack_into<W: Write>(
    root: &Path,
    tar: TarWriter<W>,
    opts: &PackOptions,
) -> io::Result<(W, PackReport)> {
    // Followed: `/proc/<pid>/root` is a link to the tree we want.
    let root_dev = fs::metadata(root)?.dev();
    let mut packer = Packer {
        root,
        root_dev,
        opts,
        tar,
        links: HashMap::new(),
        report: PackReport::default(),
    };
    packer.walk(Path::new(""))?;
    let report = packer.report;
    Ok((packer.tar.finish()?, report))
}

struct Packer<'a, W: Write> {
    root: &'a Path,
    root_dev: u64,
    opts: &'a PackOptions,
    tar: TarWriter<W>,
    /// (dev, inode) of files with several links → the first path written.
    links: HashMap<(u64, u64), Vec<u8>>,
    report: PackReport,
}

impl<W: Write> Packer<'_, W> {
    fn walk(&mut self, dir: &Path) -> io::Result<()> {
        for name in sorted_names(&self.root.join(dir))? {
            let rel = dir.join(&name);
            let abs = self.root.join(&rel);
            let md = match fs::symlink_metadata(&abs) {
                Ok(md) => md,
                // Gone since the directory was read: nothing to archive.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(annotate(e, "stat", &abs)),
            };
            self.entry(&rel, &abs, &name, &md)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        rel: &Path,
        abs: &Path,
        name: &OsString,
        md: &fs::Metadata,
    ) -> io::Result<()> {
        let ft = md.file_type();
        let path = rel.as_os_str().as_bytes().to_vec();
        let left_out = self.opts.leave_out.iter().any(|p| p == rel);

        if self.opts.source == Source::UpperDir && ft.is_char_device() && md.rdev() == 0 {
            // fuse-overlayfs's bookkeeping: it hides a lower entry named `.wh.…`, which
            // an OCI layer cannot hold (its whiteouts are written as `.wh.` files).
            if name.as_bytes().starts_with(b".wh.") {
                return Ok(());
            }
            let mut wh_path = rel
                .parent()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .unwrap_or_default();
            if !wh_path.is_empty() {
                wh_path.push(b'/');
            }
            wh_path.extend_from_slice(b".wh.");
            wh_path.extend_from_slice(name.as_bytes());
            let mut e = Entry::new(wh_path, Kind::File);
            e.mode = 0o644;
            e.mtime = self.mtime(md);
            return self.append(&e);
        }
        if left_out && !ft.is_dir() {
            return Ok(());
        }

        let mut e = Entry::new(path.clone(), Kind::File);
        e.mode = md.mode() & 0o7777;
        e.uid = u64::from(md.uid());
        e.gid = u64::from(md.gid());
        e.mtime = self.mtime(md);
        let xattrs = list_xattrs(abs).map_err(|err| annotate(err, "read xattrs of", abs))?;
        let opaque = marks_opaque(&xattrs);
        e.xattrs = xattrs
            .into_iter()
            .filter(|(k, _)| !is_overlay_xattr(k))
            .collect();

        if ft.is_dir() {
            e.kind = Kind::Dir;
            self.append(&e)?;
            if opaque && self.opts.source == Source::UpperDir {
                let mut marker = path.clone();
                marker.extend_from_slice(b"/.wh..wh..opq");
                let mut m = Entry::new(marker, Kind::File);
                m.mtime = e.mtime;
                self.append(&m)?;
            }
            if left_out {
                let held = count_entries(abs);
                if held > 0 {
                    self.report.left_out.push((rel.to_path_buf(), held));
                }
                return Ok(());
            }
            if self.opts.source == Source::Rootfs && md.dev() != self.root_dev {
                return Ok(()); // another mount: kept as an empty directory
            }
            return self.walk(rel);
        }

        if !ft.is_dir() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key) {
                e.kind = Kind::Hardlink;
                e.link = first.clone();
                return self.append(&e);
            }
            self.links.insert(key, path.clone());
        }
        if ft.is_file() {
            e.size = md.len();
            let f = File::open(abs).map_err(|err| annotate(err, "open", abs))?;
            self.report.entries += 1;
            return self
                .tar
                .append_file(&e, &f)
                .map_err(|err| annotate(err, "archive", abs));
        }
        if ft.is_symlink() {
            e.kind = Kind::Symlink;
            e.link = fs::read_link(abs)?.into_os_string().into_vec();
        } else if ft.is_char_device() || ft.is_block_device() {
            e.kind = if ft.is_char_device() {
                Kind::Char
            } else {
                Kind::Block
            };
            let rdev = md.rdev();
            e.dev_major = nix::sys::stat::major(rdev) as u32;
            e.dev_minor = nix::sys::stat::minor(rdev) as u32;
        } else if ft.is_fifo() {
            e.kind = Kind::Fifo;
        } else {
            return Ok(()); // sockets have no tar form; they are recreated by whoever listens
        }
        self.append(&e)
    }

    fn append(&mut self, e: &Entry) -> io::Result<()> {
        self.report.entries += 1;
        self.tar.append(e)
    }

    fn mtime(&self, md: &fs::Metadata) -> u64 {
        let t = md.mtime().max(0) as u64;
        self.opts.clamp_mtime.map_or(t, |c| t.min(c))
    }
}

/// Whether a directory's xattrs mark it opaque, in any overlay's spelling.
pub(crate) fn marks_opaque(xattrs: &[(String, Vec<u8>)]) -> bool {
    xattrs
        .iter()
        .any(|(k, v)| OPAQUE_XATTRS.contains(&k.as_str()) && v == b"y")
}

/// An overlay's own bookkeeping, not the file's: never archived or copied.
pub(crate) fn is_overlay_xattr(name: &str) -> bool {
    ["trusted.overlay.", "user.overlay.", "user.fuseoverlayfs."]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

fn sorted_names(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = fs::read_dir(dir)
        .map_err(|e| annotate(e, "read directory", dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn count_entries(dir: &Path) -> u64 {
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                1 + match e.file_type() {
                    Ok(t) if t.is_dir() => count_entries(&e.path()),
                    _ => 0,
                }
            })
            .sum()
    })
}

fn annotate(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}

/// All extended attributes of `path` (not following symlinks).
pub fn list_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    let mut names = vec![0u8; 1024];
    let len = loop {
        // SAFETY: the buffer pointer and its length describe `names`.
        let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(vec![]),
            _ => return Err(err),
        }
    };
    let mut out = vec![];
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name)?;
        let mut value = vec![0u8; 256];
        loop {
            // SAFETY: as above, for `value`.
            let n = unsafe {
                libc::lgetxattr(
                    c.as_ptr(),
                    cname.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            if n >= 0 {
                value.truncate(n as usize);
                break;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ERANGE) => value.resize(value.len() * 16, 0),
                Some(libc::ENODATA) => {
                    value.clear();
                    break;
                }
                _ => return Err(err),
            }
        }
        out.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn listing(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, String)> {
        let mut ar = tar::Archive::new(tar_bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn sorted_stable_hardlinks_and_clamped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/sub")).unwrap();
        fs::write(root.join("b/sub/z"), "z").unwrap();
        fs::write(root.join("a"), "a").unwrap();
        fs::hard_link(root.join("a"), root.join("c")).unwrap();
        symlink("/etc/passwd", root.join("B")).unwrap();
        fs::create_dir(root.join("vol")).unwrap();
        fs::write(root.join("vol/data"), "keep me").unwrap();
        let opts = PackOptions {
            source: Source::UpperDir,
            clamp_mtime: Some(1000),
            leave_out: vec![PathBuf::from("vol")],
        };
        let (first, report) = pack(root, Vec::new(), &opts).unwrap();
        let (second, _) = pack(root, Vec::new(), &opts).unwrap();
        assert_eq!(first, second, "the same tree packs to the same bytes");
        assert_eq!(report.left_out, vec![(PathBuf::from("vol"), 1)]);
        let names: Vec<String> = listing(&first).into_iter().map(|(p, _, _)| p).collect();
        assert_eq!(names, ["B", "a", "b/", "b/sub/", "b/sub/z", "c", "vol/"]);
        let c = listing(&first)
            .into_iter()
            .find(|(p, _, _)| p == "c")
            .unwrap();
        assert_eq!((c.1, c.2.as_str()), (tar::EntryType::Link, "a"));
        let mut ar = tar::Archive::new(&first[..]);
        for e in ar.entries().unwrap() {
            assert!(e.unwrap().header().mtime().unwrap() <= 1000);
        }
    }
}
