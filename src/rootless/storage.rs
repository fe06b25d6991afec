//! Where a user's data lives, and whether that filesystem can hold it. Home directories on
//! shared servers are often NFS, GPFS or Lustre, where overlay cannot use a directory as
//! its upper layer and extended attributes are missing: the commonest opaque failure of
//! rootless container tools. hako checks the filesystem first and moves to a local
//! per-user directory instead, saying so.

use std::path::{Path, PathBuf};

/// The data root for a user: `$XDG_DATA_HOME/hako`, else `~/.local/share/hako`.
pub fn user_data_root() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("hako");
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(".local/share/hako")
}

/// The local fallback for a data root on a network filesystem: `HAKO_LOCAL_ROOT`, else
/// `/var/tmp/hako-UID` (local on every distribution, and kept across reboots).
pub fn local_fallback(uid: u32) -> PathBuf {
    std::env::var_os("HAKO_LOCAL_ROOT")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/var/tmp/hako-{uid}")))
}

/// The data root a rootless hako uses when none is given, and a note when it is not the
/// usual one (the home directory is on a network filesystem).
pub fn choose_user_root(uid: u32) -> (PathBuf, Option<String>) {
    let usual = user_data_root();
    match network_filesystem(filesystem_magic(&usual)) {
        Some(fs) => {
            let local = local_fallback(uid);
            let note = format!(
                "{} is on {fs}, where overlay and extended attributes do not work; hako keeps your images in {} instead (set HAKO_LOCAL_ROOT, HAKO_ROOT or --root to choose another local directory)",
                usual.display(),
                local.display()
            );
            (local, Some(note))
        }
        None => (usual, None),
    }
}

/// statfs(2)'s magic number for the filesystem `path` is on, or for its nearest existing
/// ancestor (a data root that does not exist yet will be created there).
pub fn filesystem_magic(path: &Path) -> u64 {
    path.ancestors()
        .find_map(|p| nix::sys::statfs::statfs(p).ok())
        .map_or(0, |s| s.filesystem_type().0 as u64)
}

/// The network and cluster filesystems overlay cannot use, by their statfs magic.
pub fn network_filesystem(magic: u64) -> Option<&'static str> {
    Some(match magic {
        0x6969 => "NFS",
        0x4750_4653 => "GPFS",
        0x0BD0_0BD0 => "Lustre",
        0xFF53_4D42 => "CIFS",
        0xFE53_4D42 => "SMB2",
        0x00C3_6400 => "CephFS",
        0x1983_0326 => "BeeGFS",
        0x0102_1997 => "9p",
        _ => return None,
    })
}

/// A readable name for a filesystem's magic number.
pub fn filesystem_name(magic: u64) -> String {
    if let Some(name) = network_filesystem(magic) {
        return name.to_string();
    }
    match magic {
        0xEF53 => "extfs".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x6573_5546 => "fuse".into(),
        0x2FC1_2FC1 => "zfs".into(),
        other => format!("unknown (magic {other:#x})"),
    }
}

/// Creates a private run-state directory (0700) and checks that it is ours: under a
/// shared /tmp someone else could have made it first.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    // The entry itself, not what it points to: a squatter's symlink to someone else's
    // directory must be named as the squatter's.
    let md = std::fs::symlink_metadata(dir)?;
    let owner = md.uid();
    if md.file_type().is_symlink() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is a symbolic link made by uid {owner}, not a directory of yours (remove it, or set XDG_RUNTIME_DIR)",
                dir.display()
            ),
        ));
    }
    if owner != nix::unistd::geteuid().as_raw() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to uid {owner}, not to you (remove it, or set XDG_RUNTIME_DIR)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_filesystems_are_recognised_and_local_ones_are_not() {
        assert_eq!(network_filesystem(0x6969), Some("NFS"));
        assert_eq!(network_filesystem(0x4750_4653), Some("GPFS"));
        assert_eq!(network_filesystem(0x0BD0_0BD0), Some("Lustre"));
        assert_eq!(network_filesystem(0xEF53), None);
        assert_eq!(filesystem_name(0x6969), "NFS");
        assert_eq!(filesystem_name(0xEF53), "extfs");
    }

    #[test]
    fn a_missing_path_is_judged_by_its_nearest_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        assert_eq!(filesystem_magic(&deep), filesystem_magic(dir.path()));
        assert_ne!(filesystem_magic(&deep), 0);
    }

    #[test]
    fn a_private_dir_is_created_0700_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run/hako");
        ensure_private_dir(&run).unwrap();
        ensure_private_dir(&run).unwrap();
        let mode = std::fs::metadata(&run).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
