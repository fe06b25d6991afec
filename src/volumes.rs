//! Volumes: directories under `<data root>/volumes/<name>/_data` that outlive the containers
//! using them (Docker's `local` driver, same layout). A named volume is made by
//! `volume create` or by the first `-v NAME:/path`; an anonymous one (64 hex digits) for
//! `-v /path` and for each image `VOLUME` no mount covers, and is removed with its container
//! by `rm -v` and `run --rm`, as in Docker.
//!
//! Creation, removal and the in-use check run under the store's writer lock, the lock
//! container creation holds: a volume cannot be removed between a container naming it and
//! that container being recorded.

use crate::state::ContainerRecord;
use crate::store::{write_atomic, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Label Docker puts on an anonymous volume (hako reads it to decide what `rm -v` removes).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("invalid volume name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at least two characters)")]
    InvalidName(String),
    #[error("remove volume {name}: volume is in use by container(s) {users} (remove them first, or use -f)")]
    InUse { name: String, users: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { op, path, source }
}

pub fn volumes_dir(store: &Store) -> PathBuf {
    store.root().join("volumes")
}

/// The directory a container mounts.
pub fn data_dir(store: &Store, name: &str) -> PathBuf {
    volumes_dir(store).join(name).join("_data")
}

fn record_path(store: &Store, name: &str) -> PathBuf {
    volumes_dir(store).join(name).join("volume.json")
}

pub fn find(store: &Store, name: &str) -> Result<Volume, VolumeError> {
    let path = record_path(store, name);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| VolumeError::Io {
            op: "parse",
            path,
            source: e.into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(VolumeError::NotFound(name.to_string()))
        }
        Err(e) => Err(io("read", &path)(e)),
    }
}

/// Creates the volume, or returns the existing one of that name (Docker's `volume create`
/// and `-v NAME:` both do). `None` makes an anonymous volume. The caller holds the writer
/// lock.
pub fn create(
    store: &Store,
    name: Option<&str>,
    mut labels: BTreeMap<String, String>,
) -> Result<Volume, VolumeError> {
    let name = match name {
        Some(n) if !crate::flags::valid_volume_name(n) => {
            return Err(VolumeError::InvalidName(n.to_string()))
        }
        Some(n) => n.to_string(),
        None => {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
            crate::state::random_hex(32)
        }
    };
    match find(store, &name) {
        Ok(existing) => return Ok(existing),
        Err(VolumeError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let data = data_dir(store, &name);
    let volumes = volumes_dir(store);
    crate::store::private::create_dir(&volumes).map_err(io("create", &volumes))?;
    fs::create_dir_all(&data).map_err(io("create", &data))?;
    let volume = Volume {
        name: name.clone(),
        created: crate::timefmt::now_rfc3339(),
        labels,
        options: BTreeMap::new(),
    };
    // The record last, renamed into place: a volume without one is not listed and the
    // next create of that name finishes it.
    let bytes = serde_json::to_vec_pretty(&volume).expect("a volume record serializes");
    write_atomic(store.root(), &record_path(store, &name), &bytes)?;
    Ok(volume)
}

pub fn list(store: &Store) -> Vec<Volume> {
    let mut out: Vec<Volume> = fs::read_dir(volumes_dir(store))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| find(store, &e.file_name().to_string_lossy()).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Names of the containers (any state) that mount the volume.
pub fn users(containers: &[ContainerRecord], name: &str) -> Vec<String> {
    containers
        .iter()
        .filter(|c| {
            c.host_config
                .binds
                .iter()
                .any(|b| b.volume.as_deref() == Some(name))
        })
        .map(|c| c.name.clone())
        .collect()
}

/// Removes the volume and its data. Refused while a container uses it, unless `force`.
/// The caller holds the writer lock.
pub fn remove(store: &Store, name: &str, force: bool) -> Result<(), VolumeError> {
    find(store, name)?;
    if !force {
        let users = users(&store.containers().unwrap_or_default(), name);
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                users: users.join(", "),
            });
        }
    }
    // Renamed out of the way first, so a kill -9 mid-delete leaves no half volume listed.
    let dir = volumes_dir(store).join(name);
    let doomed = store.temp_path("volume");
    fs::rename(&dir, &doomed).map_err(io("move away", &dir))?;
    fs::remove_dir_all(&doomed).map_err(io("remove", &doomed))
}

/// Volumes no container uses: anonymous ones, or all with `all` (Docker ≥ 23's rule).
/// Returns the removed names and the bytes freed.
pub fn prune(store: &Store, all: bool) -> Result<(Vec<String>, u64), VolumeError> {
    let containers = store.containers().unwrap_or_default();
    let mut removed = vec![];
    let mut freed = 0;
    for v in list(store) {
        if (all || v.anonymous()) && users(&containers, &v.name).is_empty() {
            let size = crate::store::gc::disk_usage(&data_dir(store, &v.name));
            remove(store, &v.name, true)?;
            freed += size;
            removed.push(v.name);
        }
    }
    Ok((removed, freed))
}

/// Fills a new, empty volume with what the image has at `path` (Docker's copy-up), applying
/// the unpacked layers bottom-up: a whiteout removes, an opaque directory starts empty.
/// Symlinked paths are not followed (the layer dirs are not a merged view).
pub fn copy_up(layers_bottom_first: &[PathBuf], path: &str, volume: &Path) -> std::io::Result<()> {
    let rel = path.trim_start_matches('/');
    for layer in layers_bottom_first {
        let src = layer.join(rel);
        match fs::symlink_metadata(&src) {
            Ok(m) if m.is_dir() => {
                if is_opaque(&src) {
                    clear_dir(volume)?;
                }
                copy_tree(&src, volume)?;
            }
            Ok(_) => clear_dir(volume)?,
            Err(_) => {}
        }
    }
    Ok(())
}

fn is_opaque(dir: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|x| xattr_is_y(dir, x))
}

fn xattr_is_y(path: &Path, name: &str) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(p), Ok(n)) = (
        std::ffi::CString::new(path.as_os_str().as_bytes()),
        std::ffi::CString::new(name),
    ) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: both strings are NUL-terminated; the buffer length is passed.
    let len = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), 4) };
    len == 1 && buf[0] == b'y'
}

fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if fs::symlink_metadata(&p)?.is_dir() {
            fs::remove_dir_all(&p)?;
        } else {
            fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Copies `src`'s entries into `dst` with owners, modes and times; a whiteout (0/0 char
/// device) in `src` removes the entry from `dst`.
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for e in fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            let _ = fs::remove_dir_all(&to).or_else(|_| fs::remove_file(&to));
            continue;
        }
        if fs::symlink_metadata(&to).is_ok_and(|t| !(t.is_dir() && ft.is_dir())) {
            fs::remove_file(&to).or_else(|_| fs::remove_dir_all(&to))?;
        }
        if ft.is_dir() {
            if !to.exists() {
                fs::create_dir(&to)?;
            }
            if is_opaque(&from) {
                clear_dir(&to)?;
            }
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            fs::copy(&from, &to)?;
        } else {
            continue; // devices, fifos and sockets stay in the image
        }
        std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
        if !ft.is_symlink() {
            fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(m.mode()))?;
        }
    }
    let m = fs::metadata(src)?;
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))?;
    fs::set_permissions(dst, std::os::unix::fs::PermissionsExt::from_mode(m.mode()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_idempotent_and_remove_refuses_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let a = create(&store, Some("data"), BTreeMap::new()).unwrap();
        fs::write(data_dir(&store, "data").join("f"), "x").unwrap();
        let again = create(&store, Some("data"), BTreeMap::new()).unwrap();
        assert_eq!(a, again);
        assert!(data_dir(&store, "data").join("f").exists());
        let anon = create(&store, None, BTreeMap::new()).unwrap();
        assert!(anon.anonymous() && anon.name.len() == 64);
        assert_eq!(list(&store).len(), 2);
        assert!(matches!(
            create(&store, Some("-x"), BTreeMap::new()),
            Err(VolumeError::InvalidName(_))
        ));
        let (removed, _) = prune(&store, false).unwrap();
        assert_eq!(removed, vec![anon.name]);
        remove(&store, "data", false).unwrap();
        assert!(matches!(
            remove(&store, "data", false),
            Err(VolumeError::NotFound(_))
        ));
        assert!(list(&store).is_empty());
    }

    #[test]
    fn copy_up_applies_layers_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (l1, l2, vol) = (
            tmp.path().join("l1"),
            tmp.path().join("l2"),
            tmp.path().join("v"),
        );
        fs::create_dir_all(l1.join("data/sub")).unwrap();
        fs::write(l1.join("data/a"), "1").unwrap();
        fs::write(l1.join("data/sub/b"), "2").unwrap();
        fs::create_dir_all(l2.join("data")).unwrap();
        fs::write(l2.join("data/a"), "new").unwrap();
        fs::create_dir(&vol).unwrap();
        copy_up(&[l1, l2], "/data", &vol).unwrap();
        assert_eq!(fs::read_to_string(vol.join("a")).unwrap(), "new");
        assert_eq!(fs::read_to_string(vol.join("sub/b")).unwrap(), "2");
    }
}
