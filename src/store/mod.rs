//! The on-disk store under the data root.
//!
//! ```text
//! <root>/oci-layout, index.json   a valid OCI image layout: skopeo/umoci read it as is
//! <root>/blobs/sha256/<hex>       content-addressed blobs, verified before they get a name
//! <root>/layers/<diff_id hex>/    each layer unpacked once, shared by every image using it
//! <root>/l/<short>                short symlinks to layers, for overlay's one-page option limit
//! <root>/containers/<id>/         container record, overlay upper/ and work/
//! <root>/tmp/                     everything in progress; renamed into place when complete
//! ```
//!
//! Every write that can be interrupted goes to `tmp/` first and is renamed into place, so a
//! `kill -9` at any moment leaves a store the next command can use. Read-modify-write of
//! `index.json` happens under an exclusive `flock` on `store.lock`.

pub mod blobs;
pub mod build_cache;
pub mod check;
pub mod driver;
pub mod gc;
pub mod images;
pub mod layers;
pub mod leftovers;
pub mod lock;
pub mod private;
pub mod vfs;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Removes a file, link or whole directory; a path already gone is fine.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("blob {expected} failed verification: got {actual} ({size} bytes)")]
    DigestMismatch {
        expected: String,
        actual: String,
        size: u64,
    },
    #[error("blob {digest} has {actual} bytes, expected {expected}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0} is not in the store")]
    MissingBlob(String),
    #[error("{0}")]
    Driver(String),
    #[error("corrupt {what} {path}: {detail}")]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Handle on a data root. Cheap to create; `open` makes the directories on first use.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    driver: driver::Driver,
    mode: crate::rootless::Mode,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_with_driver(root, None)
    }

    /// Opens (creating) the data root; `driver` is what `--storage-driver` asked for.
    pub fn open_with_driver(
        root: &Path,
        driver: Option<driver::Driver>,
    ) -> Result<Store, StoreError> {
        // Closed to other users from the start (see `private`): the root and every
        // directory below it that holds image or container trees.
        private::create_dir(root).map_err(io_err("create directory", root))?;
        for sub in ["blobs", "blobs/sha256", "layers", "l", "containers", "tmp"] {
            let p = root.join(sub);
            private::create_dir(&p).map_err(io_err("create directory", &p))?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            // A new store in a directory made beforehand (`mkdir` then `--root`) is closed
            // too; an existing store is judged by `system check` instead.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(root, fs::Permissions::from_mode(private::DIR_MODE))
                .map_err(io_err("close", root))?;
            write_atomic(root, &layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let mode = crate::rootless::Mode::of_this_process();
        let driver = driver::settle(root, driver, mode).map_err(StoreError::Driver)?;
        let store = Store {
            root: root.to_path_buf(),
            driver,
            mode,
        };
        store.sweep_dead_tmp();
        Ok(store)
    }

    pub fn driver(&self) -> driver::Driver {
        self.driver
    }

    /// Whether this store is used as root or rootless (decided when it was opened).
    pub fn mode(&self) -> crate::rootless::Mode {
        self.mode
    }

    /// How a layer is unpacked into this store: rootless keeps overlay's markers in
    /// `user.*` xattrs, and `--userns=squash` gives every owner to the user.
    pub fn unpack_options(&self) -> crate::layer::UnpackOptions {
        crate::layer::UnpackOptions {
            rootless: self.mode.rootless(),
            squash: crate::rootless::squash(),
            budget: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Compiled seccomp filters, reused across runs (see `seccomp::compile_cached`).
    pub fn seccomp_cache_dir(&self) -> PathBuf {
        self.root.join("cache").join("seccomp")
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// A container's bundle: its record, spec, upper layer and logs.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// A fresh, unique path under `tmp/` (same filesystem as everything else, so renames work).
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.tmp_dir().join(unique_name(what))
    }
}

/// `what-<pid>-<nanos>-<counter>`: unique across processes and within one.
pub fn unique_name(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{what}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `bytes` to a temporary file in `root/tmp`, fsyncs it and renames it over `dest`.
/// The file is the owner's alone (`0600`): records and bundles carry `-e` secrets.
pub fn write_atomic(root: &Path, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp_dir = root.join("tmp");
    private::create_dir(&tmp_dir).map_err(io_err("create directory", &tmp_dir))?;
    let tmp = tmp_dir.join(unique_name("write"));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(private::FILE_MODE)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, dest).map_err(io_err("rename into place", dest))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
