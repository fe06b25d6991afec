//! The store is closed to other local users.
//!
//! On a shared server the data root holds what containers and images put there: setuid
//! binaries in an upper or unpacked tree, `-e` secrets in records and bundles, logs. A
//! directory anyone can walk into lets a local user run a setuid-root file a container
//! made (`uid=0` from `nobody`) or read another user's secrets. So the data root and every
//! directory right below it are `0700`, and files that carry a container's environment or
//! output are `0600`: only the owner (root, or the rootless user) reaches anything. Docker
//! closes `/var/lib/docker` (0710) for the same reason.
//!
//! New stores are made closed; `system check` reports an existing store that is not, and
//! `--repair` closes it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Directories: the owner alone may list or enter them.
pub const DIR_MODE: u32 = 0o700;
/// Files with a container's environment, command line or output.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (its parents with the usual modes) as a directory only its owner can
/// enter. An existing directory is left as it is: `system check` judges it.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens a file for appending that only its owner can read (created `0600`).
pub fn open_append(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
}

/// One path of the store that other users can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub path: PathBuf,
    pub mode: u32,
    pub want: u32,
}

impl Exposure {
    pub fn close(&self) -> io::Result<()> {
        fs::set_permissions(&self.path, fs::Permissions::from_mode(self.want))
    }
}

/// The top-level directories of a data root (see `store`'s layout).
pub const TOP_DIRS: [&str; 8] = [
    "blobs",
    "layers",
    "l",
    "containers",
    "tmp",
    "networks",
    "volumes",
    "build-cache",
];

/// Files in a container's directory that carry secrets or output.
pub const CONTAINER_FILES: [&str; 3] = ["container.json", "config.json", "container.log"];

/// Every path of the store whose mode lets a group or other users in: the data root, the
/// directories below it, and each container's record, bundle and log.
pub fn exposures(root: &Path) -> Vec<Exposure> {
    let mut out = vec![];
    let mut judge = |path: PathBuf, want: u32| {
        if let Ok(md) = fs::symlink_metadata(&path) {
            let mode = md.permissions().mode() & 0o7777;
            if !md.file_type().is_symlink() && mode & 0o077 != 0 {
                out.push(Exposure { path, mode, want });
            }
        }
    };
    judge(root.to_path_buf(), DIR_MODE);
    for sub in TOP_DIRS {
        judge(root.join(sub), DIR_MODE);
    }
    let containers = root.join("containers");
    for e in fs::read_dir(&containers).into_iter().flatten().flatten() {
        judge(e.path(), DIR_MODE);
        for f in CONTAINER_FILES {
            judge(e.path().join(f), FILE_MODE);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_the_owners_alone() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b/root");
        create_dir(&d).unwrap();
        let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(exposures(&d).is_empty());
    }

    #[test]
    fn open_modes_are_found_and_closed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("containers/c1")).unwrap();
        fs::write(root.join("containers/c1/config.json"), b"{}").unwrap();
        for p in [
            "",
            "containers",
            "containers/c1",
            "containers/c1/config.json",
        ] {
            fs::set_permissions(root.join(p), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let found = exposures(&root);
        assert_eq!(found.len(), 4, "{found:?}");
        for e in &found {
            e.close().unwrap();
        }
        assert!(exposures(&root).is_empty());
        let cfg = fs::metadata(root.join("containers/c1/config.json")).unwrap();
        assert_eq!(cfg.permissions().mode() & 0o777, 0o600);
    }
}
