//! `hako runc exec`: a new process in a running container's namespaces and cgroup, from
//! a process.json or the command line, and the console socket both exec and create use.

use super::read_spec;
use super::state::{self, Status};
use crate::cgroups::{self, ContainerCgroup};
use crate::cli::RuncCommand;
use crate::launcher::exec::{self as launch_exec, Target};
use crate::launcher::{supervise, StartOptions};
use crate::spec::plan;
use anyhow::{anyhow, bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

pub(super) fn exec(root: &Path, command: &RuncCommand) -> Result<i32> {
    let RuncCommand::Exec {
        process,
        detach,
        pid_file,
        console_socket,
        tty,
        cwd,
        env,
        user,
        preserve_fds,
        cap,
        ignore_paused,
        id,
        command,
    } = command
    else {
        unreachable!("called for exec");
    };
    let s = state::load(root, id)?;
    match state::status(root, &s) {
        Status::Running => {}
        Status::Paused if *ignore_paused => {}
        Status::Paused => {
            bail!("cannot exec in a paused container (unpause it first, or use --ignore-paused)")
        }
        other => bail!("cannot exec in a container that is {}", other.name()),
    }
    let mut spec = read_spec(&s.bundle)?;
    if let Some(p) = process {
        let text = std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
        let proc: oci_spec::runtime::Process =
            serde_json::from_str(&text).with_context(|| format!("parse {}", p.display()))?;
        spec.set_process(Some(proc));
    }
    let plan = plan::compile(&spec, &crate::launcher::host_facts(None))?;
    let mut proc = plan.process.clone();
    if process.is_none() {
        if command.is_empty() {
            bail!("exec needs a command (or --process process.json)");
        }
        proc.args = command.clone();
        proc.terminal = *tty;
    }
    if let Some(w) = cwd {
        proc.cwd = w.into();
    }
    for name in cap {
        // runc's spelling: CAP_NET_ADMIN; the short form is accepted too.
        let c: caps::Capability = crate::spec::defaults::cap_name(name)
            .parse()
            .map_err(|_| anyhow!("--cap {name}: not a capability (see capabilities(7))"))?;
        for set in [
            &mut proc.caps.bounding,
            &mut proc.caps.effective,
            &mut proc.caps.permitted,
        ] {
            set.insert(c);
        }
    }
    for kv in env {
        let key = kv.split('=').next().unwrap_or("");
        proc.env.retain(|e| e.split('=').next() != Some(key));
        proc.env.push(kv.clone());
    }
    if let Some(u) = user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        proc.uid = uid
            .parse()
            .map_err(|_| anyhow!("--user {u}: expected UID[:GID]"))?;
        proc.gid = gid
            .parse()
            .map_err(|_| anyhow!("--user {u}: expected UID[:GID]"))?;
    }
    if proc.terminal && *detach && console_socket.is_none() {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    let target = Target {
        pid: s.pid,
        start_time: s.pid_start,
        namespaces: nix::sched::CloneFlags::from_bits_truncate(s.namespaces),
    };
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &s.cgroup_path);
    let mut signals = supervise::Signals::block().context("block signals")?;
    let options = StartOptions {
        interactive: true,
        preserve_fds: *preserve_fds,
        die_with_parent: !detach,
        start_fifo: None,
        stdio: None,
    };
    let mut started = launch_exec::exec(&target, &proc, &options, &cgroup)?;
    if let Some(p) = pid_file {
        std::fs::write(p, started.pid.as_raw().to_string())?;
    }
    let pty = match (console_socket, started.pty_master.take()) {
        (Some(sock), Some(master)) => {
            send_console(sock, &master)?;
            None
        }
        (_, pty) => pty,
    };
    if *detach {
        return Ok(0);
    }
    supervise::supervise(started.pid, &mut signals, pty).context("wait for the process")
}

/// Sends the pty master to `--console-socket`, as runc does (SCM_RIGHTS, one message).
pub(super) fn send_console(path: &Path, master: &OwnedFd) -> Result<()> {
    use nix::sys::socket::{
        connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
        UnixAddr,
    };
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(sock.as_raw_fd(), &UnixAddr::new(path)?)
        .with_context(|| format!("connect to the console socket {}", path.display()))?;
    let fds = [master.as_raw_fd()];
    let name = b"/dev/ptmx";
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("send the pty master to the console socket")?;
    Ok(())
}
