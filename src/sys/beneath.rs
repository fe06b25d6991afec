//! Opening a file named inside a directory that someone else filled (an unpacked
//! archive), without ever leaving it: symlinks resolve as if the directory were `/`, so
//! a member linked to `/etc/shadow` or `/dev/zero` names a missing file inside instead.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Opens `rel` for reading beneath `root` (`openat2` with `RESOLVE_IN_ROOT`, no magic
/// links), non-blocking so that a FIFO cannot hang the caller; callers check the type
/// with `fstat` before reading. Without openat2 (Linux < 5.6) symlinks are refused.
pub fn open_beneath(root: &Path, rel: &Path) -> io::Result<File> {
    let dir = File::open(root)?;
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    match openat2_in_root(dir.as_fd(), rel, flags) {
        Ok(fd) => return Ok(File::from(fd)),
        Err(e) if e.raw_os_error() != Some(libc::ENOSYS) => return Err(e),
        Err(_) => {}
    }
    // Old kernel: no symlink anywhere on the way.
    let mut path = root.to_path_buf();
    for part in rel.components() {
        path.push(part);
        if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
    }
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(&path)
}

/// `openat2(dir, rel, flags)` resolving as if `dir` were `/` (`RESOLVE_IN_ROOT`) and
/// refusing `/proc` magic links. ENOSYS on kernels before 5.6: callers fall back.
pub fn openat2_in_root(dir: BorrowedFd, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c_rel = std::ffi::CString::new(rel.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain integers; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid directory fd, a NUL-terminated path and a properly sized open_how;
    // it returns a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c_rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Back to blocking reads (after the type check; regular files ignore it anyway).
pub fn set_blocking(file: &File) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let fl = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    if fl < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_directory() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("inside"), b"ok").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", t.path().join("out")).unwrap();
        std::os::unix::fs::symlink("../../inside", t.path().join("up")).unwrap();
        let e = open_beneath(t.path(), Path::new("out")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        // `..` stops at the directory, as at `/`.
        let mut s = String::new();
        io::Read::read_to_string(
            &mut open_beneath(t.path(), Path::new("up")).unwrap(),
            &mut s,
        )
        .unwrap();
        assert_eq!(s, "ok");
    }

    #[test]
    fn a_fifo_opens_without_blocking() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let f = open_beneath(t.path(), Path::new("fifo")).unwrap();
        assert!(!f.metadata().unwrap().is_file());
    }
}
