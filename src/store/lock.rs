//! Advisory file locks (`flock`): concurrent hako processes are normal (compose starts many).

use super::{io_err, StoreError};
#[allow(deprecated)]
use nix::fcntl::{flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Held until dropped; the kernel releases it if the process dies, so `kill -9` never
/// leaves a stale lock behind.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    pub fn exclusive(path: &Path) -> Result<FileLock, StoreError> {
        Self::take(path, FlockArg::LockExclusive)
    }

    pub fn shared(path: &Path) -> Result<FileLock, StoreError> {
        Self::take(path, FlockArg::LockShared)
    }

    /// Returns `None` when another process holds the lock.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>, StoreError> {
        match Self::take(path, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(l)),
            Err(StoreError::Io { source, .. })
                if source.raw_os_error() == Some(libc::EWOULDBLOCK) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    #[allow(deprecated)]
    fn take(path: &Path, how: FlockArg) -> Result<FileLock, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err("open lock", path))?;

        flock(file.as_raw_fd(), how).map_err(|e| StoreError::Io {
            op: "flock",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(FileLock { _file: file })
    }
}
