//! Supervising a foreground container: signals hako receives go to the container's PID 1,
//! the terminal is relayed through the pty, and the exit status comes back as
//! `docker run` reports it (the code, or 128+N for a signal).

use super::tty::{copy_window_size, RawMode};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Signals relayed to the container, plus SIGCHLD (its exit) and SIGWINCH (resizes).
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGTSTP,
];

pub struct Signals {
    fd: SignalFd,
    old_mask: SigSet,
}

impl Signals {
    /// Blocks the relayed signals before the clone, so none is lost between the clone
    /// and the first poll; they queue for the signalfd instead.
    pub fn block() -> nix::Result<Signals> {
        let mut set = SigSet::empty();
        for s in FORWARDED.iter().chain(&[Signal::SIGCHLD, Signal::SIGWINCH]) {
            set.add(*s);
        }
        let mut old_mask = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old_mask))?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        Ok(Signals { fd, old_mask })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }
}

/// Waits for any of `fds`; once PID 1 has exited, only briefly. `false`: nothing more
/// came after the exit, so the output is drained.
fn poll_or_drain(fds: &mut [PollFd], exited: bool) -> nix::Result<bool> {
    let timeout = if exited {
        PollTimeout::from(100u16)
    } else {
        PollTimeout::NONE
    };
    loop {
        match poll(fds, timeout) {
            Ok(0) if exited => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// How the container's PID 1 ended.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Relays until the container's PID 1 exits; returns its exit code.
pub fn supervise(pid: Pid, signals: &mut Signals, pty_master: Option<OwnedFd>) -> nix::Result<i32> {
    let _raw = pty_master.as_ref().and_then(|m| {
        copy_window_size(m);
        RawMode::enter()
    });
    let stdin = std::io::stdin();
    let mut stdin_open = pty_master.is_some();
    let mut master_open = pty_master.is_some();
    let mut buf = vec![0u8; 64 * 1024];
    let mut exit = None;
    loop {
        let mut fds = vec![PollFd::new(signals.fd.as_fd(), PollFlags::POLLIN)];
        let master_fd: Option<BorrowedFd> = pty_master.as_ref().map(|m| m.as_fd());
        if let (Some(m), true) = (master_fd, master_open) {
            fds.push(PollFd::new(m, PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if exit.is_some() && !master_open {
            break;
        }
        // Once PID 1 has exited, only drain what the pty still holds.
        if !poll_or_drain(&mut fds, exit.is_some())? {
            break;
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, master_ready) = (ready(0), master_open && ready(1));
        let stdin_ready = stdin_open && ready(if master_open { 2 } else { 1 });
        drop(fds);
        if sig_ready {
            while let Ok(Some(info)) = signals.fd.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => {
                        if let Ok(status) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                            exit = exit.or(exit_code(status));
                        }
                    }
                    Ok(Signal::SIGWINCH) => {
                        if let Some(m) = &pty_master {
                            copy_window_size(m);
                        }
                    }
                    Ok(sig) if exit.is_none() => {
                        let _ = kill(pid, sig);
                    }
                    _ => {}
                }
            }
            if exit.is_none() {
                if let Ok(status) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                    exit = exit_code(status);
                }
            }
        }
        if master_ready {
            let m = pty_master.as_ref().unwrap();
            match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                Ok(0) | Err(nix::Error::EIO) => master_open = false,
                Ok(n) => write_all(libc::STDOUT_FILENO, &buf[..n]),
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                Err(_) => master_open = false,
            }
        }
        if stdin_ready {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = &pty_master {
                        write_all(m.as_raw_fd(), &buf[..n]);
                    }
                }
            }
        }
        if exit.is_some() && pty_master.is_none() {
            break;
        }
    }
    Ok(exit.unwrap_or(255))
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: fd stays open for the call; bytes is a live slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Where a detached container's output comes from: its stdout and stderr pipes, or the
/// pty master with `-t` (one stream, as Docker logs it: stdout).
pub struct Outputs {
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
}

/// `hako attach`'s way in: a unix socket the keeper listens on. Each attached client gets
/// the output as frames (`[stream: 1 byte][length: 4 bytes, big-endian][bytes]`, stream 1
/// stdout, 2 stderr) and may send raw input, which goes to the container's stdin (the
/// pty, or the pipe a `-i` container reads).
pub struct AttachPoint {
    pub listener: std::os::unix::net::UnixListener,
    pub stdin: Option<OwnedFd>,
}

/// Keeps a detached container: its output goes to `sink(is_stderr, bytes)` and to every
/// attached client, signals sent to the keeper go to PID 1, and it returns PID 1's exit
/// code once PID 1 has exited and its output is drained.
pub fn keep(
    pid: Pid,
    signals: &mut Signals,
    outputs: Outputs,
    attach: Option<AttachPoint>,
    mut sink: impl FnMut(bool, &[u8]),
) -> nix::Result<i32> {
    use std::io::{Read, Write};
    let mut sources: Vec<(OwnedFd, bool)> = vec![];
    if let Some(fd) = outputs.stdout.or(outputs.pty) {
        sources.push((fd, false));
    }
    if let Some(fd) = outputs.stderr {
        sources.push((fd, true));
    }
    let mut clients: Vec<std::os::unix::net::UnixStream> = vec![];
    let mut buf = vec![0u8; 64 * 1024];
    let mut exit = None;
    loop {
        if exit.is_some() && sources.is_empty() {
            break;
        }
        let mut fds = vec![PollFd::new(signals.fd.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            sources
                .iter()
                .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
        );
        if let Some(a) = &attach {
            fds.push(PollFd::new(a.listener.as_fd(), PollFlags::POLLIN));
        }
        fds.extend(
            clients
                .iter()
                .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)),
        );
        // Once PID 1 has exited, only drain what is left; a grandchild that kept a pipe
        // open cannot hold the keeper forever.
        if !poll_or_drain(&mut fds, exit.is_some())? {
            break;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = signals.fd.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => {}
                    Ok(Signal::SIGWINCH) => {}
                    Ok(sig) if exit.is_none() => {
                        let _ = kill(pid, sig);
                    }
                    _ => {}
                }
            }
            if exit.is_none() {
                if let Ok(status) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                    exit = exit_code(status);
                }
            }
        }
        let mut closed = vec![];
        for (i, (fd, is_stderr)) in sources.iter().enumerate() {
            if !ready[i + 1] {
                continue;
            }
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) | Err(nix::Error::EIO) => closed.push(i),
                Ok(n) => {
                    sink(*is_stderr, &buf[..n]);
                    let mut frame = vec![if *is_stderr { 2 } else { 1 }];
                    frame.extend_from_slice(&(n as u32).to_be_bytes());
                    frame.extend_from_slice(&buf[..n]);
                    // A client that cannot keep up (or is gone) is dropped, never waited on.
                    clients.retain_mut(|c| c.write_all(&frame).is_ok());
                }
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                Err(_) => closed.push(i),
            }
        }
        let mut at = 1 + sources.len();
        if let Some(a) = &attach {
            if ready[at] {
                if let Ok((c, _)) = a.listener.accept() {
                    let _ = c.set_write_timeout(Some(std::time::Duration::from_millis(200)));
                    clients.push(c);
                }
            }
            at += 1;
            let mut gone = vec![];
            for (i, c) in clients.iter_mut().enumerate() {
                if !ready.get(at + i).copied().unwrap_or(false) {
                    continue;
                }
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => gone.push(i),
                    Ok(n) => {
                        if let Some(stdin) = &a.stdin {
                            write_all(stdin.as_raw_fd(), &buf[..n]);
                        }
                    }
                }
            }
            for i in gone.into_iter().rev() {
                clients.remove(i);
            }
        }
        for i in closed.into_iter().rev() {
            sources.remove(i);
        }
        // Output closed before the exit was signalled: wait for it.
        if sources.is_empty() && exit.is_none() {
            if let Ok(status) = waitpid(pid, None) {
                exit = exit_code(status);
            }
        }
    }
    Ok(exit.unwrap_or(255))
}
