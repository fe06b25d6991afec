//! The real kernel. Every call retries EINTR and reports itself to `--trace`.

use super::{describe_flags, Sys, SysError};
use crate::trace;
use caps::{CapSet, Capability, CapsHashSet};
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{fchdir, pivot_root};
use nix::unistd::{Gid, Uid};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

pub struct LinuxSys;

fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match f() {
            Err(nix::Error::EINTR) => continue,
            other => return other,
        }
    }
}

fn path_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> SysError + 'a {
    move |errno| SysError::Path {
        op,
        path: path.display().to_string(),
        errno,
    }
}

fn call_err(op: &'static str) -> impl FnOnce(nix::Error) -> SysError {
    move |errno| SysError::Call { op, errno }
}

/// The fallback for kernels without `CLOSE_RANGE_CLOEXEC`: every open descriptor from
/// `first` up, as listed in /proc/self/fd, gets FD_CLOEXEC.
fn cloexec_by_walking(first: u32) -> nix::Result<()> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|_| nix::Error::EBADF)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first as i32)
        .collect();
    for fd in fds {
        // The directory's own descriptor is gone by now: EBADF is fine.
        match nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        ) {
            Ok(_) | Err(nix::Error::EBADF) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Sys for LinuxSys {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), SysError> {
        trace::step(
            "mounts",
            "mount",
            || {
                format!(
                    "{:?}, {:?}, {:?}, {}, {:?}",
                    source.unwrap_or(""),
                    target,
                    fstype.unwrap_or(""),
                    describe_flags(flags),
                    data.unwrap_or("")
                )
            },
            || retry(|| mount(source, target, fstype, flags, data)),
        )
        .map_err(|errno| SysError::Mount {
            from: source.unwrap_or("none").into(),
            target: target.display().to_string(),
            fstype: fstype.unwrap_or("").into(),
            flags: describe_flags(flags),
            data: data
                .map(|d| format!(" [{}]", if d.len() > 200 { &d[..200] } else { d }))
                .unwrap_or_default(),
            errno,
        })
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), SysError> {
        trace::step(
            "mounts",
            "umount2",
            || format!("{target:?}, {flags:?}"),
            || retry(|| umount2(target, flags)),
        )
        .map_err(path_err("umount", target))
    }

    fn open_path(&self, path: &Path) -> Result<OwnedFd, SysError> {
        retry(|| open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()))
            // SAFETY: open just returned this descriptor to us alone.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .map_err(path_err("open", path))
    }

    fn open_read(&self, path: &Path) -> Result<OwnedFd, SysError> {
        retry(|| open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()))
            // SAFETY: open just returned this descriptor to us alone.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .map_err(path_err("open", path))
    }

    fn fchdir(&self, dir: BorrowedFd, what: &Path) -> Result<(), SysError> {
        fchdir(dir.as_raw_fd()).map_err(path_err("fchdir", what))
    }

    fn pivot_root_onto_cwd(&self) -> Result<(), SysError> {
        trace::step(
            "pivot",
            "pivot_root",
            || "\".\", \".\" (the old root stacked under the new one)".into(),
            || pivot_root(".", "."),
        )
        .map_err(call_err("pivot_root"))
    }

    fn dup2(&self, fd: std::os::fd::RawFd, target: std::os::fd::RawFd) -> Result<(), SysError> {
        retry(|| nix::unistd::dup2(fd, target))
            .map(drop)
            .map_err(call_err("dup2"))
    }

    fn setsid(&self) -> Result<(), SysError> {
        nix::unistd::setsid().map(drop).map_err(call_err("setsid"))
    }

    fn reset_signals(&self) {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow};
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        for sig in Signal::iterator() {
            if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
                // SAFETY: installing SIG_DFL is always sound.
                let _ = unsafe { sigaction(sig, &default) };
            }
        }
        let _ =
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), SysError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .map_err(|e| SysError::Path {
                op: "mkdir",
                path: path.display().to_string(),
                errno: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })
    }

    fn write_file(&self, path: &Path, value: &str) -> Result<(), SysError> {
        trace::step(
            "sysctl",
            "write",
            || format!("{} = {value}", path.display()),
            || {
                use std::io::Write;
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|mut f| f.write_all(value.as_bytes()))
            },
        )
        .map_err(|e| SysError::Path {
            op: "write",
            path: path.display().to_string(),
            errno: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
    }

    fn pin_beneath(
        &self,
        root: &Path,
        inside: &Path,
        resolved: &Path,
    ) -> Result<super::Pinned, SysError> {
        let fallback = || super::Pinned {
            path: resolved.to_path_buf(),
            fd: None,
        };
        let err = |errno| SysError::Path {
            op: "open beneath the rootfs",
            path: resolved.display().to_string(),
            errno,
        };
        let dir = open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        // SAFETY: `open` just returned this descriptor; we own it.
        let dir = unsafe { std::os::fd::OwnedFd::from_raw_fd(dir) };
        let rel = inside.strip_prefix("/").unwrap_or(inside);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let fd = match super::beneath::openat2_in_root(
            std::os::fd::AsFd::as_fd(&dir),
            rel,
            libc::O_PATH | libc::O_CLOEXEC,
        ) {
            Ok(fd) => fd,
            // No openat2 (Linux < 5.6): the user-space resolution stands alone.
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Ok(fallback()),
            Err(e) => {
                return Err(err(nix::Error::from_raw(
                    e.raw_os_error().unwrap_or(libc::EIO),
                )))
            }
        };
        Ok(super::Pinned {
            path: format!("/proc/self/fd/{}", fd.as_raw_fd()).into(),
            fd: Some(fd),
        })
    }
    fn touch(&self, path: &Path) -> Result<(), SysError> {
        match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Ok(()),
            Err(e) => Err(SysError::Path {
                op: "create mount target",
                path: path.display().to_string(),
                errno: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            }),
        }
    }

    fn mknod(&self, path: &Path, kind: SFlag, mode: u32, dev: u64) -> Result<(), SysError> {
        trace::step(
            "devices",
            "mknod",
            || {
                format!(
                    "{path:?}, {kind:?}|{mode:o}, {}:{}",
                    nix::sys::stat::major(dev),
                    nix::sys::stat::minor(dev)
                )
            },
            || retry(|| nix::sys::stat::mknod(path, kind, Mode::from_bits_truncate(mode), dev)),
        )
        .map_err(path_err("mknod", path))?;
        // mknod's mode is filtered by the umask; devices need exactly what the spec says.
        nix::sys::stat::fchmodat(
            None,
            path,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(path_err("chmod", path))
    }

    fn symlink(&self, target: &str, link: &Path) -> Result<(), SysError> {
        match nix::unistd::symlinkat(target, None, link) {
            Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
            Err(e) => Err(path_err("symlink", link)(e)),
        }
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), SysError> {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(path_err("chown", path))
    }

    fn sethostname(&self, name: &str) -> Result<(), SysError> {
        trace::step(
            "identity",
            "sethostname",
            || format!("{name:?}"),
            || nix::unistd::sethostname(name),
        )
        .map_err(|errno| SysError::Call {
            op: "sethostname",
            errno,
        })
    }

    fn chdir(&self, path: &Path) -> Result<(), SysError> {
        nix::unistd::chdir(path).map_err(path_err("chdir", path))
    }

    fn chroot(&self, path: &Path) -> Result<(), SysError> {
        trace::step(
            "rootfs",
            "chroot",
            || path.display().to_string(),
            || nix::unistd::chroot(path),
        )
        .map_err(path_err("chroot", path))
    }

    fn unshare(&self, flags: CloneFlags) -> Result<(), SysError> {
        trace::step(
            "namespaces",
            "unshare",
            || super::describe_clone_flags(flags),
            || nix::sched::unshare(flags),
        )
        .map_err(call_err("unshare"))
    }

    fn setns(&self, fd: BorrowedFd, flags: CloneFlags) -> Result<(), SysError> {
        trace::step(
            "namespaces",
            "setns",
            || {
                format!(
                    "fd {}, {}",
                    fd.as_raw_fd(),
                    super::describe_clone_flags(flags)
                )
            },
            || nix::sched::setns(fd, flags),
        )
        .map_err(call_err("setns"))
    }

    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> Result<(), SysError> {
        trace::step(
            "identity",
            "setrlimit",
            || format!("{resource:?}, {soft}, {hard}"),
            || nix::sys::resource::setrlimit(resource, soft, hard),
        )
        .map_err(call_err("setrlimit"))
    }

    fn set_parent_death_signal(&self, signal: Signal) -> Result<(), SysError> {
        trace::step(
            "identity",
            "prctl",
            || format!("PR_SET_PDEATHSIG, {signal}"),
            || nix::sys::prctl::set_pdeathsig(signal),
        )
        .map_err(call_err("prctl(PR_SET_PDEATHSIG)"))
    }

    fn getppid(&self) -> i32 {
        nix::unistd::getppid().as_raw()
    }

    fn set_scheduler(&self, attr: &super::SchedAttr) -> Result<(), SysError> {
        // The kernel's struct sched_attr, first version (48 bytes).
        #[repr(C)]
        struct KernelSchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime: u64,
            deadline: u64,
            period: u64,
        }
        let k = KernelSchedAttr {
            size: std::mem::size_of::<KernelSchedAttr>() as u32,
            policy: attr.policy,
            flags: attr.flags,
            nice: attr.nice,
            priority: attr.priority,
            runtime: attr.runtime,
            deadline: attr.deadline,
            period: attr.period,
        };
        trace::step(
            "identity",
            "sched_setattr",
            || {
                format!(
                    "0, {{policy={}, nice={}, priority={}, flags={:#x}}}, 0",
                    attr.policy, attr.nice, attr.priority, attr.flags
                )
            },
            || {
                // SAFETY: `k` is a live, correctly sized sched_attr; pid 0 is this thread.
                match unsafe {
                    libc::syscall(libc::SYS_sched_setattr, 0, &k as *const KernelSchedAttr, 0)
                } {
                    -1 => Err(nix::Error::last()),
                    _ => Ok(()),
                }
            },
        )
        .map_err(call_err("sched_setattr (process.scheduler)"))
    }

    fn set_io_priority(&self, value: u32) -> Result<(), SysError> {
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        trace::step(
            "identity",
            "ioprio_set",
            || format!("IOPRIO_WHO_PROCESS, 0, {value:#x}"),
            || {
                // SAFETY: plain integers; who=0 is this process.
                match unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } {
                    -1 => Err(nix::Error::last()),
                    _ => Ok(()),
                }
            },
        )
        .map_err(call_err("ioprio_set (process.ioPriority)"))
    }

    fn set_personality(&self, persona: u64) -> Result<(), SysError> {
        trace::step(
            "identity",
            "personality",
            || format!("{persona:#x}"),
            || {
                // SAFETY: personality(2) takes a plain integer and changes only this process.
                match unsafe { libc::personality(persona as libc::c_ulong) } {
                    -1 => Err(nix::Error::last()),
                    _ => Ok(()),
                }
            },
        )
        .map_err(call_err("personality"))
    }
    fn set_no_new_privs(&self) -> Result<(), SysError> {
        trace::step(
            "identity",
            "prctl",
            || "PR_SET_NO_NEW_PRIVS, 1".into(),
            nix::sys::prctl::set_no_new_privs,
        )
        .map_err(call_err("prctl(PR_SET_NO_NEW_PRIVS)"))
    }

    fn set_keep_caps(&self, keep: bool) -> Result<(), SysError> {
        trace::step(
            "identity",
            "prctl",
            || format!("PR_SET_KEEPCAPS, {}", keep as u8),
            || nix::sys::prctl::set_keepcaps(keep),
        )
        .map_err(call_err("prctl(PR_SET_KEEPCAPS)"))
    }

    fn set_seccomp(&self, program: &super::Program) -> Result<(), SysError> {
        install_filter(program, 0).map(drop)
    }

    fn set_seccomp_listener(
        &self,
        program: &super::Program,
    ) -> Result<std::os::fd::OwnedFd, SysError> {
        use std::os::fd::FromRawFd;
        let fd = install_filter(program, SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
        // SAFETY: with NEW_LISTENER the kernel returns a fresh descriptor of ours.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
    }

    fn drop_bounding_cap(&self, cap: Capability) -> Result<(), SysError> {
        caps::drop(None, CapSet::Bounding, cap).map_err(|_| SysError::Call {
            op: "drop from the bounding set",
            errno: nix::Error::last(),
        })
    }

    fn set_caps(&self, set: CapSet, wanted: &CapsHashSet) -> Result<(), SysError> {
        caps::set(None, set, wanted).map_err(|_| SysError::Call {
            op: match set {
                CapSet::Ambient => "set ambient capabilities",
                CapSet::Bounding => "set bounding capabilities",
                CapSet::Effective => "set effective capabilities",
                CapSet::Inheritable => "set inheritable capabilities",
                CapSet::Permitted => "set permitted capabilities",
            },
            errno: nix::Error::last(),
        })
    }

    fn setgroups(&self, gids: &[u32]) -> Result<(), SysError> {
        let groups: Vec<Gid> = gids.iter().map(|g| Gid::from_raw(*g)).collect();
        trace::step(
            "identity",
            "setgroups",
            || format!("{gids:?}"),
            || nix::unistd::setgroups(&groups),
        )
        .map_err(call_err("setgroups"))
    }

    fn setresgid(&self, gid: u32) -> Result<(), SysError> {
        let g = Gid::from_raw(gid);
        trace::step(
            "identity",
            "setresgid",
            || format!("{gid}, {gid}, {gid}"),
            || nix::unistd::setresgid(g, g, g),
        )
        .map_err(call_err("setresgid"))
    }

    fn setresuid(&self, uid: u32) -> Result<(), SysError> {
        let u = Uid::from_raw(uid);
        trace::step(
            "identity",
            "setresuid",
            || format!("{uid}, {uid}, {uid}"),
            || nix::unistd::setresuid(u, u, u),
        )
        .map_err(call_err("setresuid"))
    }

    fn close_fds_from(&self, first: u32) -> Result<(), SysError> {
        trace::step(
            "exec",
            "close_range",
            || format!("{first}, ~0, CLOSE_RANGE_CLOEXEC"),
            || {
                // SAFETY: close_range only changes flags on this process's descriptors.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_close_range,
                        first,
                        u32::MAX,
                        libc::CLOSE_RANGE_CLOEXEC,
                    )
                };
                if r == 0 {
                    Ok(())
                } else {
                    Err(nix::Error::last())
                }
            },
        )
        .or_else(|errno| match errno {
            // Before 5.11 (no CLOSE_RANGE_CLOEXEC), or a filter that refuses the call:
            // walk /proc/self/fd instead.
            nix::Error::ENOSYS | nix::Error::EINVAL | nix::Error::EPERM => {
                cloexec_by_walking(first)
            }
            e => Err(e),
        })
        .map_err(call_err("close_range"))
    }

    fn execve(&self, path: &CStr, argv: &[CString], envp: &[CString]) -> Result<(), SysError> {
        let errno = nix::unistd::execve(path, argv, envp).unwrap_err();
        Err(SysError::Path {
            op: "execve",
            path: path.to_string_lossy().into_owned(),
            errno,
        })
    }
}

const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 8;

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, program): 0, or the listener's descriptor.
fn install_filter(program: &super::Program, flags: u32) -> Result<i64, SysError> {
    trace::step(
        "identity",
        "seccomp",
        || {
            format!(
                "SECCOMP_SET_MODE_FILTER, flags {flags:#x}, {} instructions",
                program.0.len()
            )
        },
        || {
            let fprog = libc::sock_fprog {
                len: program.0.len() as u16,
                // Insn is laid out as struct sock_filter (repr(C)); the kernel copies it.
                filter: program.0.as_ptr() as *mut libc::sock_filter,
            };
            // SAFETY: fprog points at a live, correctly sized instruction array.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    1, // SECCOMP_SET_MODE_FILTER
                    flags,
                    &fprog as *const libc::sock_fprog,
                )
            };
            if r < 0 {
                Err(nix::Error::last())
            } else {
                Ok(r)
            }
        },
    )
    .map_err(call_err("seccomp(SECCOMP_SET_MODE_FILTER)"))
}
