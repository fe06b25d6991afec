//! The one syscall seam: what the launcher and rootfs need from the kernel to build a
//! container's filesystem. `LinuxSys` makes the calls (and reports them to `--trace`);
//! `FakeSys` records them in one ordered list so tests can assert a whole mount/pivot
//! sequence without root, and can fail the Nth call of a kind.

mod fake;
mod linux;

pub use fake::{Call, FakeSys};
pub use linux::LinuxSys;

use nix::mount::{MntFlags, MsFlags};
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
    /// The pivot idiom, whole: see `LinuxSys::pivot_root` for the steps.
    fn pivot_root(&self, new_root: &Path) -> Result<(), SysError>;
    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), SysError>;
    /// Creates an empty file (a bind-mount target) if nothing is there.
    fn touch(&self, path: &Path) -> Result<(), SysError>;
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
