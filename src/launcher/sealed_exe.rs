//! The CVE-2019-5736 defence for runc mode. A container process that gets the runtime's
//! own binary executed inside the container (`#!/proc/self/exe`) can reopen that binary
//! through /proc for writing once the process has exited, and replace it on the host.
//!
//! hako's own verbs are safe without help: a container never outlives the hako process
//! that runs it (its foreground `run` or its keeper), and the kernel refuses writes to a
//! binary that is being executed (ETXTBSY). `hako runc create`, though, leaves the
//! container running with no hako process at all, as runc does. So there hako first
//! re-executes itself from a read-only view of its binary: in a mount namespace of its
//! own (a slave of the host's, so nothing leaks back) the binary is bind-mounted read-only
//! over itself and executed from there. Every container process then refers to the binary
//! through that read-only mount, and a write gets EROFS. This is what runc settled on
//! after copying the binary into a sealed memfd each time proved slow; the memfd copy
//! remains the fallback where the bind mount is not possible (no privilege over mounts).

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

/// Set once running from the sealed copy, so the re-exec happens once.
const MARK: &str = "_HAKO_SEALED_EXE";
/// A descriptor of the root of the mount namespace hako was started in, kept across the
/// re-exec into a namespace of its own (see `open_on_host`).
const HOST_ROOT_FD: &str = "_HAKO_HOST_ROOT_FD";
const HIGH_FD: std::os::fd::RawFd = 1000;

fn host_root_fd() -> Option<std::os::fd::RawFd> {
    std::env::var(HOST_ROOT_FD).ok()?.parse().ok()
}

/// Re-executes this process from a read-only view (or a sealed copy) of its binary,
/// unless it already runs from one. Must be called before any thread starts; returns
/// only on failure.
pub fn reexec_protected() -> io::Result<()> {
    if std::env::var_os(MARK).is_some() {
        // The host's root must reach no container process: closed by any exec from now.
        if let Some(fd) = host_root_fd() {
            use nix::fcntl::{fcntl, FcntlArg, FdFlag};
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        }
        return Ok(());
    }
    std::env::set_var(MARK, "1");
    let exe = std::fs::read_link("/proc/self/exe")?;
    match read_only_view(&exe) {
        Ok(()) => {
            let path = CString::new(exe.as_os_str().as_bytes()).map_err(io::Error::other)?;
            crate::trace::note("launcher", "execve", || {
                format!(
                    "{} from a read-only bind mount (CVE-2019-5736)",
                    exe.display()
                )
            });
            let (args, env) = argv_and_env()?;
            nix::unistd::execve(&path, &args, &env)?;
            unreachable!("execve returns only on failure")
        }
        Err(_) => reexec_from_sealed_copy(),
    }
}

/// A mount namespace of our own in which `exe` is read-only.
fn read_only_view(exe: &std::path::Path) -> nix::Result<()> {
    use nix::fcntl::{open, OFlag};
    use nix::mount::{mount, MsFlags};
    // Opened before the unshare, without close-on-exec: it survives both. Moved high,
    // clear of the descriptors a caller hands on with --preserve-fds.
    let opened = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )?;
    let host_root = nix::fcntl::fcntl(opened, nix::fcntl::FcntlArg::F_DUPFD(HIGH_FD))?;
    nix::unistd::close(opened)?;
    std::env::set_var(HOST_ROOT_FD, host_root.to_string());
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    let none: Option<&str> = None;
    // Host mount events still reach us; ours never reach the host.
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SLAVE, none)?;
    mount(Some(exe), exe, none, MsFlags::MS_BIND, none)?;
    let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(none, exe, none, ro, none)
}

fn argv_and_env() -> io::Result<(Vec<CString>, Vec<CString>)> {
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
    Ok((args, env))
}

/// The fallback: a sealed memfd copy of the binary (its seals forbid every write).
fn reexec_from_sealed_copy() -> io::Result<()> {
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
    let (args, env) = argv_and_env()?;
    crate::trace::note("launcher", "fexecve", || {
        "a sealed memfd copy of hako (CVE-2019-5736)".to_string()
    });
    nix::unistd::fexecve(copy.as_raw_fd(), &args, &env)?;
    unreachable!("fexecve returns only on failure")
}

/// Opens a file the caller named, in the mount namespace hako was started in. The
/// re-exec above moved runc mode into a copy of it, and the kernel leaves one kind of
/// mount out of every copy: a mount namespace's own file bound somewhere (`unshare
/// --mount=FILE`, a pod's sandbox), which would otherwise be a reference loop. So a
/// namespace path is resolved from the host's root, kept open across the re-exec.
pub fn open_on_host(path: &std::path::Path) -> io::Result<std::fs::File> {
    let (Some(root), Ok(relative)) = (host_root_fd(), path.strip_prefix("/")) else {
        return std::fs::File::open(path);
    };
    let fd = nix::fcntl::openat(
        Some(root),
        relative,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}
