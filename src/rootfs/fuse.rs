//! The fuse-overlayfs storage driver's mount. hako mounts the FUSE filesystem itself, on
//! a `/dev/fuse` descriptor, and hands that descriptor to fuse-overlayfs as its mount
//! point (`/dev/fd/N`, libfuse's convention for "already mounted"). The daemon then runs
//! in a mount namespace of its own where the container's mount is detached again:
//!
//! - `pivot_root` moves the root of every process of the container's mount namespace; a
//!   daemon there would find its layer paths through its own mount and deadlock;
//! - with no mount of its own, the daemon ends when the container's namespace (the last
//!   one holding the mount) goes away: nothing to unmount, nothing left running.

use super::{Overlay, RootfsError};
use nix::fcntl::OFlag;
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::store::driver::FUSE_PROGRAM;

/// The descriptor number the daemon finds the FUSE connection on.
const DAEMON_FD: i32 = 3;

pub fn mount(overlay: &Overlay, target: &Path) -> Result<(), RootfsError> {
    let fail = |detail: String| RootfsError::Fuse {
        target: target.display().to_string(),
        detail,
    };
    let (options, relative) = overlay.options()?;
    let options = options.replace(",userxattr", "");
    let fuse = open_fuse_device().map_err(fail)?;
    // As fuse-overlayfs mounts itself: every user of the container may use it (the
    // container's processes run as many ids), the kernel checks permissions.
    let data = format!(
        "fd={},rootmode=40000,user_id={},group_id={},allow_other,default_permissions",
        fuse.as_raw_fd(),
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    crate::trace::step(
        "rootfs",
        "mount",
        || format!("fuse.{FUSE_PROGRAM} on {} ({data})", target.display()),
        || {
            nix::mount::mount(
                Some(FUSE_PROGRAM),
                target,
                Some("fuse.fuse-overlayfs"),
                MsFlags::MS_NODEV | MsFlags::MS_NOATIME,
                Some(data.as_str()),
            )
        },
    )
    .map_err(|e| fail(format!("mount the FUSE filesystem: {e}")))?;
    let started = start_daemon(&fuse, &options, relative.then_some(&overlay.base), target);
    if let Err(detail) = started {
        let _ = umount2(target, MntFlags::MNT_DETACH);
        return Err(fail(detail));
    }
    Ok(())
}

fn open_fuse_device() -> Result<OwnedFd, String> {
    let fd = nix::fcntl::open("/dev/fuse", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| match e {
            nix::Error::EACCES | nix::Error::EPERM => "/dev/fuse is not readable and writable for this user: `chmod 0666 /dev/fuse` (the distribution's default) fixes it".to_string(),
            nix::Error::ENOENT => "/dev/fuse is missing: load the fuse module (modprobe fuse)".to_string(),
            e => format!("open /dev/fuse: {e}"),
        })?;
    // SAFETY: open just returned this descriptor to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs fuse-overlayfs on the connection; it returns once it serves (it daemonizes).
fn start_daemon(
    fuse: &OwnedFd,
    options: &str,
    cwd: Option<&std::path::PathBuf>,
    target: &Path,
) -> Result<(), String> {
    let mut cmd = std::process::Command::new(FUSE_PROGRAM);
    cmd.arg("-o")
        .arg(options)
        .arg(format!("/dev/fd/{DAEMON_FD}"))
        .stdin(std::process::Stdio::null());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let fuse_fd = fuse.as_raw_fd();
    let target = target.to_path_buf();
    // SAFETY: between fork and exec only syscalls run (dup2, unshare, mount, umount2);
    // hako is single-threaded wherever it mounts a rootfs.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::dup2(fuse_fd, DAEMON_FD)?;
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            // Private first, so the detach below stays in the daemon's namespace.
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            umount2(&target, MntFlags::MNT_DETACH)?;
            Ok(())
        });
    }
    let out = crate::trace::step(
        "rootfs",
        FUSE_PROGRAM,
        || format!("-o {options} /dev/fd/{DAEMON_FD}"),
        || cmd.output(),
    )
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{FUSE_PROGRAM} is not installed (apt-get install fuse-overlayfs)")
        }
        _ => format!("start {FUSE_PROGRAM}: {e}"),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{FUSE_PROGRAM} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
