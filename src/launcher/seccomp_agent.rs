//! `SCMP_ACT_NOTIFY`: the filter's listener goes to the seccomp agent at
//! `linux.seccomp.listenerPath`, as runc sends it: one message on a unix stream socket
//! whose payload is the container process state JSON (`fds: ["seccompFd"]`, the pid, the
//! spec's `listenerMetadata`, the container's state) and whose SCM_RIGHTS carry the fd.
//!
//! The init connects before `pivot_root` (the socket's path is on the host) and sends once
//! the filter is installed, just before `execve`: the agent hears from a `create`d
//! container when it is started.

use crate::spec::plan::SeccompListener;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

pub struct AgentConnection {
    stream: UnixStream,
    message: Vec<u8>,
}

impl AgentConnection {
    /// Connects to the agent; `state` is the container's state document.
    pub fn connect(
        listener: &SeccompListener,
        state: &serde_json::Value,
    ) -> Result<AgentConnection, String> {
        let stream = UnixStream::connect(&listener.path).map_err(|e| {
            format!(
                "connect to the seccomp agent at {} (linux.seccomp.listenerPath): {e}",
                listener.path.display()
            )
        })?;
        let pid = host_pid();
        let mut state = state.clone();
        state["status"] = "creating".into();
        state["pid"] = pid.into();
        let message = serde_json::json!({
            "ociVersion": "1.0.2",
            "fds": ["seccompFd"],
            "pid": pid,
            "metadata": listener.metadata,
            "state": state,
        });
        Ok(AgentConnection {
            stream,
            message: message.to_string().into_bytes(),
        })
    }

    /// Hands the listener over (the agent now answers the notified calls).
    pub fn send(&self, listener: RawFd) -> Result<(), String> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let fds = [listener];
        sendmsg::<()>(
            self.stream.as_raw_fd(),
            &[IoSlice::new(&self.message)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| format!("send the seccomp listener to the agent: {e}"))?;
        Ok(())
    }
}

/// Our pid as the host sees it (NSpid's first field): the agent's view, not the
/// container's, where the init is PID 1. Read while the host's /proc is ours.
fn host_pid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or_else(std::process::id)
}
