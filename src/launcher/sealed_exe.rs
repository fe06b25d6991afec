//! The CVE-2019-5736 defence for runc mode. A container process that gets the runtime's
//! own binary executed inside the container (`#!/proc/self/exe`) can reopen that binary
//! through /proc for writing once the process has exited, and replace it on the host.
//!
//! hako's own verbs are safe without help: a container never outlives the hako process
//! that runs it (its foreground `run` or its keeper), and the kernel refuses writes to a
//! binary that is being executed (ETXTBSY). `hako runc create`, though, leaves the
//! container running with no hako process at all, as runc does. So there hako first
//! re-executes itself from a read-only view of its binary: a detached bind mount of the
//! binary alone (open_tree), made read-only (mount_setattr) and executed through its
//! descriptor (execveat). No mount namespace is touched, so runc mode runs in its caller's
//! mount namespace as runc does (a spec without a mount namespace shares it, and mounts
//! made with shared propagation reach the host). Every container process refers to the
//! binary through that read-only mount, and a write gets EROFS. Where the kernel (before
//! 5.12) or the privileges do not allow it, a sealed memfd copy is the fallback.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Set once running from the protected view, so the re-exec happens once.
const MARK: &str = "_HAKO_SEALED_EXE";

/// Re-executes this process from a read-only view (or a sealed copy) of its binary,
/// unless it already runs from one. Must be called before any thread starts; returns
/// only on failure.
pub fn reexec_protected() -> io::Result<()> {
    if std::env::var_os(MARK).is_some() {
        return Ok(());
    }
    std::env::set_var(MARK, "1");
    match read_only_mount_of_self() {
        Ok(view) => {
            let (args, env) = argv_and_env()?;
            crate::trace::note("launcher", "execveat", || {
                "hako from a detached read-only bind mount (CVE-2019-5736)".to_string()
            });
            execveat_empty_path(&view, &args, &env)?;
            unreachable!("execveat returns only on failure")
        }
        Err(_) => reexec_from_sealed_copy(),
    }
}

/// A detached, read-only bind mount of the running binary (Linux 5.12, CAP_SYS_ADMIN).
fn read_only_mount_of_self() -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: u64 = 1;
    // SAFETY: open_tree with a NUL-terminated path; the result is a new descriptor.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/proc/self/exe".as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us alone.
    let view = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // struct mount_attr { attr_set, attr_clr, propagation, userns_fd }
    let attr: [u64; 4] = [MOUNT_ATTR_RDONLY, 0, 0, 0];
    // SAFETY: mount_setattr reads `attr` (its size given) and changes only that mount.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            view.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(view)
}

fn execveat_empty_path(fd: &OwnedFd, args: &[CString], env: &[CString]) -> io::Result<()> {
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv, envp) = (ptrs(args), ptrs(env));
    let empty: &CStr = c"";
    // SAFETY: NULL-terminated arrays of pointers into `args` and `env`, alive here.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Err(io::Error::last_os_error())
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
