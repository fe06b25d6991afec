//! The one syscall seam: what the launcher and rootfs need from the kernel to build a
//! container's filesystem and to become the user's process. `LinuxSys` makes the calls (and reports them to `--trace`);
//! `FakeSys` records them in one ordered list so tests can assert a whole mount/pivot
//! sequence without root, and can fail the Nth call of a kind.

pub mod beneath;
mod kernel_types;
pub use kernel_types::{describe_clone_flags, Insn, Program, SchedAttr};
#[cfg(test)]
mod fake;
mod linux;

#[cfg(test)]
pub use fake::{Call, FakeSys};
pub use linux::LinuxSys;

use caps::{CapSet, Capability, CapsHashSet};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;
use std::ffi::{CStr, CString};
use std::os::fd::BorrowedFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("mount {fstype} {from} on {target} ({flags}){data}: {errno}")]
    Mount {
        from: String,
        target: String,
        fstype: String,
        flags: String,
        data: String,
        errno: nix::Error,
    },
    #[error("{op} {path}: {errno}")]
    Path {
        op: &'static str,
        path: String,
        errno: nix::Error,
    },
    #[error("{op}: {errno}")]
    Call { op: &'static str, errno: nix::Error },
}

/// A mount target held open (`O_PATH`): `path` is `/proc/self/fd/N`, which mount(2)
/// follows to exactly that file; without openat2 (Linux < 5.6) it is the resolved path.
pub struct Pinned {
    pub path: std::path::PathBuf,
    /// Kept open while `path` is in use.
    pub fd: Option<std::os::fd::OwnedFd>,
}

/// `(major, minor)` of a kernel release string such as `6.1.0-13-amd64`.
pub fn kernel_version(release: &str) -> (u32, u32) {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// This machine's kernel release (`uname -r`).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl SysError {
    pub fn errno(&self) -> nix::Error {
        match self {
            SysError::Mount { errno, .. }
            | SysError::Path { errno, .. }
            | SysError::Call { errno, .. } => *errno,
        }
    }
}

pub trait Sys {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), SysError>;
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), SysError>;
    /// An `O_PATH` descriptor: a handle that later path lookups cannot move (a root
    /// across the pivot, the start FIFO outside the new root).
    fn open_path(&self, path: &Path) -> Result<std::os::fd::OwnedFd, SysError>;
    /// A file opened for reading (`/dev/null` as the container's stdin).
    fn open_read(&self, path: &Path) -> Result<std::os::fd::OwnedFd, SysError>;
    /// `fchdir` into `dir`; `what` names it for errors and the trace.
    fn fchdir(&self, dir: BorrowedFd, what: &Path) -> Result<(), SysError>;
    /// `pivot_root(".", ".")`: the current directory becomes the root, the old root is
    /// stacked underneath it (see `launcher::mounts::pivot_into` for the whole idiom).
    fn pivot_root_onto_cwd(&self) -> Result<(), SysError>;
    /// `dup2(fd, target)`: `fd` becomes `target` (stdio), close-on-exec cleared.
    fn dup2(&self, fd: std::os::fd::RawFd, target: std::os::fd::RawFd) -> Result<(), SysError>;
    /// A session (and process group) of its own.
    fn setsid(&self) -> Result<(), SysError>;
    /// Every signal back to its default disposition and unblocked, as the program is to
    /// find them (both survive execve).
    fn reset_signals(&self);
    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), SysError>;
    /// Creates an empty file (a bind-mount target) if nothing is there.
    fn touch(&self, path: &Path) -> Result<(), SysError>;
    /// Pins `inside` (a path in the container, already resolved to `resolved` by
    /// `secure_join`) for a mount: opened beneath `root` by the kernel itself, so a
    /// symlink swapped in since cannot lead out of it. Mount onto `Pinned::path`.
    fn pin_beneath(&self, root: &Path, inside: &Path, resolved: &Path) -> Result<Pinned, SysError>;
    /// Writes a value into an existing file (a sysctl under /proc/sys).
    fn write_file(&self, path: &Path, value: &str) -> Result<(), SysError>;
    fn mknod(
        &self,
        path: &Path,
        kind: nix::sys::stat::SFlag,
        mode: u32,
        dev: u64,
    ) -> Result<(), SysError>;
    fn symlink(&self, target: &str, link: &Path) -> Result<(), SysError>;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), SysError>;
    fn sethostname(&self, name: &str) -> Result<(), SysError>;
    fn chdir(&self, path: &Path) -> Result<(), SysError>;
    /// chroot(2): for a container without a mount namespace, which cannot pivot.
    fn chroot(&self, path: &Path) -> Result<(), SysError>;

    // The identity half: what turns a prepared process into the user's program.
    fn unshare(&self, flags: CloneFlags) -> Result<(), SysError>;
    /// Joins the namespace behind `fd` (a pidfd with `flags`, or a /proc/PID/ns file).
    fn setns(&self, fd: BorrowedFd, flags: CloneFlags) -> Result<(), SysError>;
    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> Result<(), SysError>;
    /// `prctl(PR_SET_PDEATHSIG)`: the signal this process gets when its parent dies.
    fn set_parent_death_signal(&self, signal: Signal) -> Result<(), SysError>;
    fn getppid(&self) -> i32;
    fn set_no_new_privs(&self) -> Result<(), SysError>;
    /// PR_SET_KEEPCAPS: whether the permitted set survives a switch away from uid 0.
    fn set_keep_caps(&self, keep: bool) -> Result<(), SysError>;
    /// personality(2): the execution domain (`linux.personality`, e.g. LINUX32).
    fn set_personality(&self, persona: u64) -> Result<(), SysError>;
    /// sched_setattr(2) on this process (`process.scheduler`).
    fn set_scheduler(&self, attr: &SchedAttr) -> Result<(), SysError>;
    /// ioprio_set(2) on this process (`process.ioPriority`).
    fn set_io_priority(&self, value: u32) -> Result<(), SysError>;
    fn drop_bounding_cap(&self, cap: Capability) -> Result<(), SysError>;
    fn set_caps(&self, set: CapSet, caps: &CapsHashSet) -> Result<(), SysError>;
    fn setgroups(&self, gids: &[u32]) -> Result<(), SysError>;
    fn setresgid(&self, gid: u32) -> Result<(), SysError>;
    fn setresuid(&self, uid: u32) -> Result<(), SysError>;
    /// Installs a seccomp filter (needs no_new_privs or CAP_SYS_ADMIN).
    fn set_seccomp(&self, program: &Program) -> Result<(), SysError>;
    /// The same, keeping a listener for its SCMP_ACT_NOTIFY rules (seccomp(2) with
    /// SECCOMP_FILTER_FLAG_NEW_LISTENER, Linux 5.0).
    fn set_seccomp_listener(&self, program: &Program) -> Result<std::os::fd::OwnedFd, SysError>;
    /// Marks every descriptor from `first` up close-on-exec (`close_range(2)`).
    fn close_fds_from(&self, first: u32) -> Result<(), SysError>;
    /// Replaces the process; returns only on failure (the fake records and returns Ok).
    fn execve(&self, path: &CStr, argv: &[CString], envp: &[CString]) -> Result<(), SysError>;
}

/// `MS_NOSUID|MS_NODEV`, for error messages and trace lines.
pub fn describe_flags(flags: MsFlags) -> String {
    const NAMES: &[(MsFlags, &str)] = &[
        (MsFlags::MS_RDONLY, "MS_RDONLY"),
        (MsFlags::MS_NOSUID, "MS_NOSUID"),
        (MsFlags::MS_NODEV, "MS_NODEV"),
        (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
        (MsFlags::MS_REMOUNT, "MS_REMOUNT"),
        (MsFlags::MS_BIND, "MS_BIND"),
        (MsFlags::MS_REC, "MS_REC"),
        (MsFlags::MS_PRIVATE, "MS_PRIVATE"),
        (MsFlags::MS_SLAVE, "MS_SLAVE"),
        (MsFlags::MS_SHARED, "MS_SHARED"),
        (MsFlags::MS_RELATIME, "MS_RELATIME"),
        (MsFlags::MS_STRICTATIME, "MS_STRICTATIME"),
        (MsFlags::MS_NOATIME, "MS_NOATIME"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}
