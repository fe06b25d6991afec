//! The CVE-2019-5736 defence for runc mode. A container process that gets the runtime's
//! own binary executed inside the container (`#!/proc/self/exe`) can reopen that binary
//! through /proc for writing once the process has exited, and replace it on the host.
//!
//! hako's own verbs are safe without help: a container never outlives the hako process
//! that runs it (its foreground `run` or its keeper), and the kernel refuses writes to a
//! binary that is being executed (ETXTBSY). `hako runc create`, though, leaves the
//! container running with no hako process at all, as runc does. So there, as runc does,
//! hako first re-executes itself from a sealed in-memory copy: the container's processes
//! can only ever see that copy, and its seals forbid every write.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

/// Set once running from the sealed copy, so the re-exec happens once.
const MARK: &str = "_HAKO_SEALED_EXE";

/// Re-executes this process from a sealed memfd copy of its binary, unless it already
/// runs from one. Must be called before any thread starts; returns only on failure.
pub fn reexec_from_sealed_copy() -> io::Result<()> {
    if std::env::var_os(MARK).is_some() {
        return Ok(());
    }
    let mut binary = std::fs::File::open("/proc/self/exe")?;
    let name = CString::new("hako-sealed").expect("no NUL");
    let flags = nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC
        | nix::sys::memfd::MemFdCreateFlag::MFD_ALLOW_SEALING;
    let copy = nix::sys::memfd::memfd_create(&name, flags)?;
    let mut copy = std::fs::File::from(copy);
    // std's copy uses copy_file_range/sendfile: the bytes never pass through user space.
    io::copy(&mut binary, &mut copy)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own, with an integer argument.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_var(MARK, "1");
    let to_c = |s: &std::ffi::OsStr| CString::new(s.as_bytes()).map_err(io::Error::other);
    let args: Vec<CString> = std::env::args_os()
        .map(|a| to_c(&a))
        .collect::<io::Result<_>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(io::Error::other)
        })
        .collect::<io::Result<_>>()?;
    crate::trace::note("launcher", "fexecve", || {
        "a sealed memfd copy of hako (CVE-2019-5736)".to_string()
    });
    nix::unistd::fexecve(copy.as_raw_fd(), &args, &env)?;
    unreachable!("fexecve returns only on failure")
}
