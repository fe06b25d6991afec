//! COPY and ADD into a build step's mounted rootfs, with Docker's rules: a directory source
//! copies its contents, several sources need a directory destination ending in `/`, a
//! relative destination is under WORKDIR, new files are owned by 0:0 unless `--chown`,
//! ADD unpacks a local tar archive. Every destination path is resolved inside the rootfs
//! (symlinks in the image cannot point a write at the host).

use super::context::Ignore;
use crate::rootfs::secure_join;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct CopyOptions<'a> {
    /// uid and gid of everything written (Docker: 0:0 unless `--chown`).
    pub owner: (u32, u32),
    pub chmod: Option<u32>,
    /// ADD: a local tar archive (compressed or not) is unpacked, not copied.
    pub extract_archives: bool,
    /// The context's `.dockerignore` (not for `--from` sources).
    pub ignore: Option<&'a Ignore>,
}

/// Copies `sources` (relative to `src_root`) to `dest` (a container path) in `rootfs`.
pub fn copy_into(
    src_root: &Path,
    sources: &[PathBuf],
    rootfs: &Path,
    dest: &str,
    opts: &CopyOptions,
) -> Result<(), String> {
    let want_dir = dest.ends_with('/') || dest.ends_with("/.");
    if sources.len() > 1 && !want_dir {
        return Err(format!(
            "when using COPY with more than one source file, the destination must be a directory and end with a / (got {dest})"
        ));
    }
    let dest = PathBuf::from(dest);
    for s in sources {
        let src = src_root.join(s);
        let meta = fs::metadata(&src).map_err(|e| format!("{}: {e}", s.display()))?;
        let target_is_dir = want_dir || host(rootfs, &dest)?.is_dir();
        if meta.is_dir() {
            make_dirs(rootfs, &dest, opts)?;
            copy_dir_contents(src_root, s, rootfs, &dest, opts)?;
        } else if opts.extract_archives && is_tar_archive(&src) {
            make_dirs(rootfs, &dest, opts)?;
            extract(&src, &host(rootfs, &dest)?)?;
        } else {
            let to = if target_is_dir {
                make_dirs(rootfs, &dest, opts)?;
                dest.join(s.file_name().unwrap_or(s.as_os_str()))
            } else {
                if let Some(parent) = dest.parent() {
                    make_dirs(rootfs, parent, opts)?;
                }
                dest.clone()
            };
            copy_file(&src, &meta, rootfs, &to, opts)?;
        }
    }
    Ok(())
}

/// A container path's place on the host, resolved inside the rootfs.
fn host(rootfs: &Path, cpath: &Path) -> Result<PathBuf, String> {
    secure_join(rootfs, cpath).map_err(|e| e.to_string())
}

/// `mkdir -p` inside the rootfs; directories it creates get the owner (and mode 0755).
fn make_dirs(rootfs: &Path, cpath: &Path, opts: &CopyOptions) -> Result<(), String> {
    let mut at = PathBuf::from("/");
    for c in cpath.components().skip(1) {
        at.push(c);
        let h = host(rootfs, &at)?;
        if !h.exists() {
            fs::create_dir(&h).map_err(|e| format!("create {}: {e}", at.display()))?;
            set_owner_mode(&h, opts.owner, 0o755, None)?;
        }
    }
    Ok(())
}

fn copy_dir_contents(
    src_root: &Path,
    rel: &Path,
    rootfs: &Path,
    dest: &Path,
    opts: &CopyOptions,
) -> Result<(), String> {
    let dir = src_root.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| format!("read {}: {e}", rel.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let child_rel = rel.join(e.file_name());
        if opts.ignore.is_some_and(|i| i.excluded(&child_rel)) {
            continue;
        }
        let to = dest.join(e.file_name());
        let meta = fs::symlink_metadata(e.path()).map_err(|e| e.to_string())?;
        if meta.is_dir() {
            let h = host(rootfs, &to)?;
            if !h.is_dir() {
                let _ = fs::remove_file(&h);
                fs::create_dir(&h).map_err(|e| format!("create {}: {e}", to.display()))?;
            }
            copy_dir_contents(src_root, &child_rel, rootfs, &to, opts)?;
            set_owner_mode(&h, opts.owner, meta.mode(), opts.chmod)?;
            set_mtime(&h, &meta)?;
        } else {
            copy_file(&e.path(), &meta, rootfs, &to, opts)?;
        }
    }
    Ok(())
}

fn copy_file(
    src: &Path,
    meta: &fs::Metadata,
    rootfs: &Path,
    to: &Path,
    opts: &CopyOptions,
) -> Result<(), String> {
    let h = host(rootfs, to)?;
    if fs::symlink_metadata(&h).is_ok_and(|m| m.is_dir() && !meta.is_dir()) {
        fs::remove_dir_all(&h).map_err(|e| e.to_string())?;
    }
    let fail = |e: std::io::Error| format!("copy {} to {}: {e}", src.display(), to.display());
    if meta.file_type().is_symlink() {
        let _ = fs::remove_file(&h);
        std::os::unix::fs::symlink(fs::read_link(src).map_err(fail)?, &h).map_err(fail)?;
        std::os::unix::fs::lchown(&h, Some(opts.owner.0), Some(opts.owner.1)).map_err(fail)?;
        return Ok(());
    }
    if !meta.is_file() {
        return Ok(()); // sockets, fifos and devices are not copied, as with Docker
    }
    let _ = fs::remove_file(&h);
    fs::copy(src, &h).map_err(fail)?;
    set_owner_mode(&h, opts.owner, meta.mode(), opts.chmod)?;
    set_mtime(&h, meta)
}

fn set_owner_mode(
    p: &Path,
    owner: (u32, u32),
    mode: u32,
    chmod: Option<u32>,
) -> Result<(), String> {
    std::os::unix::fs::lchown(p, Some(owner.0), Some(owner.1))
        .map_err(|e| format!("chown {}: {e}", p.display()))?;
    fs::set_permissions(
        p,
        fs::Permissions::from_mode(chmod.unwrap_or(mode & 0o7777)),
    )
    .map_err(|e| format!("chmod {}: {e}", p.display()))
}

/// The source's modification time is kept, so the layer is the same for the same context.
fn set_mtime(p: &Path, meta: &fs::Metadata) -> Result<(), String> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let t = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, p, &t, &t, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| format!("set the time of {}: {e}", p.display()))
}

/// A tar archive, plain or compressed (gzip, zstd): ustar's magic after decoding.
fn is_tar_archive(p: &Path) -> bool {
    let Ok(f) = fs::File::open(p) else {
        return false;
    };
    let Ok((_, mut decoded)) = crate::layer::decoder(f) else {
        return false;
    };
    let mut head = [0u8; 512];
    std::io::Read::read_exact(&mut decoded, &mut head).is_ok() && &head[257..262] == b"ustar"
}

/// Unpacks with the tar crate's checks: no entry may land outside `dest`, through `..` or a
/// symlink (it refuses instead).
fn extract(archive: &Path, dest: &Path) -> Result<(), String> {
    let f = fs::File::open(archive).map_err(|e| e.to_string())?;
    let (_, decoded) = crate::layer::decoder(f).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(decoded);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(true);
    tar.set_overwrite(true);
    tar.unpack(dest)
        .map_err(|e| format!("unpack {}: {e}", archive.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> CopyOptions<'static> {
        CopyOptions {
            owner: (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            ),
            chmod: None,
            extract_archives: false,
            ignore: None,
        }
    }

    #[test]
    fn docker_copy_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, root) = (tmp.path().join("ctx"), tmp.path().join("root"));
        fs::create_dir_all(ctx.join("dir/sub")).unwrap();
        fs::write(ctx.join("f"), "f").unwrap();
        fs::write(ctx.join("g"), "g").unwrap();
        fs::write(ctx.join("dir/sub/x"), "x").unwrap();
        fs::create_dir_all(root.join("existing")).unwrap();
        // An image symlink pointing outside: writes through it stay inside the rootfs.
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();

        copy_into(&ctx, &[PathBuf::from("f")], &root, "/new/name", &opts()).unwrap();
        assert_eq!(fs::read_to_string(root.join("new/name")).unwrap(), "f");
        copy_into(&ctx, &[PathBuf::from("f")], &root, "/existing", &opts()).unwrap();
        assert!(root.join("existing/f").is_file());
        copy_into(&ctx, &[PathBuf::from("dir")], &root, "/d", &opts()).unwrap();
        assert!(
            root.join("d/sub/x").is_file(),
            "a directory copies its contents"
        );
        assert!(copy_into(&ctx, &["f".into(), "g".into()], &root, "/many", &opts()).is_err());
        copy_into(&ctx, &["f".into(), "g".into()], &root, "/many/", &opts()).unwrap();
        assert!(root.join("many/g").is_file());
        copy_into(&ctx, &[PathBuf::from("g")], &root, "/escape/tmp/g", &opts()).unwrap();
        assert!(root.join("tmp/g").is_file(), "resolved inside the rootfs");
    }
}
