//! `-t`: the pty is created inside the container's own devpts (so `tty` and `ttyname`
//! work there), and its master is passed to the parent over the sync socket, as runc's
//! console socket does. The parent puts the user's terminal in raw mode and relays bytes.

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::dup2;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::path::Path;

/// Child side, after pivot_root: open a pty in the container's devpts, make the slave our
/// controlling terminal and stdio, and bind it over /dev/console. Returns the master.
pub fn open_container_pty(sys: &dyn crate::sys::Sys) -> Result<OwnedFd, String> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("open /dev/ptmx: {e}"))?;
    grantpt(&master).map_err(|e| format!("grantpt: {e}"))?;
    unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
    let slave_path = ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?;
    let slave = nix::fcntl::open(
        Path::new(&slave_path),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("open {slave_path}: {e}"))?;
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    // SAFETY: TIOCSCTTY on a terminal fd we own; 0 means "do not steal".
    if unsafe { libc::ioctl(slave, libc::TIOCSCTTY as _, 0) } < 0 {
        return Err(format!("TIOCSCTTY: {}", std::io::Error::last_os_error()));
    }
    // Stdio is still the user's terminal: its size goes on the pty now, so the program
    // sees it from its first instruction (the parent only gets the master later).
    copy_window_size(&master);
    for fd in 0..=2 {
        dup2(slave, fd).map_err(|e| format!("dup2 pty to fd {fd}: {e}"))?;
    }
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    let console = super::mounts::console_path();
    sys.touch(&console).map_err(|e| e.to_string())?;
    sys.mount(
        Some(&slave_path),
        &console,
        None,
        nix::mount::MsFlags::MS_BIND,
        None,
    )
    .map_err(|e| e.to_string())?;
    // SAFETY: into_raw_fd hands over the fd from PtyMaster; we wrap it once.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(master.into_raw_fd()) })
}

/// Restores the user's terminal when dropped (also on error paths).
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin in raw mode if it is a terminal.
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// Copies our terminal's window size to the container's pty (on start and on SIGWINCH).
pub fn copy_window_size(master: &impl AsRawFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize pointer.
    unsafe {
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) == 0
            || libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0
        {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}
