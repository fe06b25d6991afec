//! The parent/child protocol: one SOCK_SEQPACKET socketpair, one message per packet.
//!
//! ```text
//!   parent (hako)                                   child (becomes the container's PID 1)
//!   ─────────────                                   ──────────────────────────────────────
//!   clone(CLONE_NEW*) ───────────────────────────►  wait_go()
//!   join cgroup (and later: id maps, network)       │ blocks, so nothing runs outside the
//!   send_go()  ─────────────── Go ───────────────►  │ cgroup or before the maps exist
//!                                                   unshare(CLONE_NEWCGROUP), mounts, pivot…
//!   recv() ◄────────────── Pty(master fd) ───────── (with -t) the pty made in the new devpts
//!   recv() ◄────────────── Failed(kind, text) ───── on any error: what failed, then exit
//!   recv() → EOF ◄───────── (CLOEXEC closes it) ─── execve succeeded
//! ```
//!
//! EOF without `Failed` means the user's program is running: the socket is close-on-exec,
//! so the kernel closes the child's end exactly when `execve` succeeds.

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Why the child failed, so the parent can pick Docker's exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Setting up the container failed (125).
    Setup = 1,
    /// The command exists but cannot be run (126).
    CannotExecute = 2,
    /// The command was not found (127).
    NotFound = 3,
}

#[derive(Debug)]
pub enum Message {
    Go,
    /// Everything is set up; the process waits for `start` (OCI create).
    Created,
    Pty(OwnedFd),
    Failed(FailureKind, String),
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> nix::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

const TAG_GO: u8 = b'G';
const TAG_PTY: u8 = b'P';
const TAG_FAILED: u8 = b'F';
const TAG_CREATED: u8 = b'C';

impl Channel {
    pub(crate) fn as_fd_ref(&self) -> &OwnedFd {
        &self.fd
    }

    pub fn send_go(&self) -> nix::Result<()> {
        self.send(&[TAG_GO], None)
    }

    pub fn send_created(&self) -> nix::Result<()> {
        self.send(&[TAG_CREATED], None)
    }

    pub fn send_pty(&self, master: RawFd) -> nix::Result<()> {
        self.send(&[TAG_PTY], Some(master))
    }

    pub fn send_failed(&self, kind: FailureKind, text: &str) -> nix::Result<()> {
        let mut body = vec![TAG_FAILED, kind as u8];
        body.extend_from_slice(text.as_bytes());
        self.send(&body, None)
    }

    fn send(&self, bytes: &[u8], fd: Option<RawFd>) -> nix::Result<()> {
        let iov = [IoSlice::new(bytes)];
        let fds = fd.map(|f| [f]);
        let cmsg: Vec<ControlMessage> = fds
            .as_ref()
            .map(|f| vec![ControlMessage::ScmRights(f)])
            .unwrap_or_default();
        sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map(|_| ())
    }

    /// Blocks until the peer sends (`Some`) or its end is closed (`None`).
    pub fn recv(&self) -> nix::Result<Option<Message>> {
        let mut buf = vec![0u8; 8192];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let fd = msg.cmsgs().ok().and_then(|mut c| {
                        c.find_map(|m| match m {
                            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                            _ => None,
                        })
                    });
                    break (msg.bytes, fd);
                }
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(match buf[0] {
            TAG_GO => Message::Go,
            TAG_CREATED => Message::Created,
            // SAFETY: the kernel just installed this fd for us (SCM_RIGHTS).
            TAG_PTY => {
                Message::Pty(unsafe { OwnedFd::from_raw_fd(fd.ok_or(nix::Error::EBADMSG)?) })
            }
            TAG_FAILED if n >= 2 => {
                let kind = match buf[1] {
                    2 => FailureKind::CannotExecute,
                    3 => FailureKind::NotFound,
                    _ => FailureKind::Setup,
                };
                Message::Failed(kind, String::from_utf8_lossy(&buf[2..n]).into_owned())
            }
            _ => return Err(nix::Error::EBADMSG),
        }))
    }

    /// Whether the other end is still open (a dead parent closes it).
    pub fn peer_alive(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => true,
            Ok(_) => !fds[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
            Err(_) => false,
        }
    }

    /// The child's side: wait for the parent's go-ahead.
    pub fn wait_go(&self) -> Result<(), String> {
        match self.recv() {
            Ok(Some(Message::Go)) => Ok(()),
            Ok(other) => Err(format!("expected the parent's go-ahead, got {other:?}")),
            Err(e) => Err(format!("waiting for the parent: {e}")),
        }
    }
}
