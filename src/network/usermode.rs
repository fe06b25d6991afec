//! User-mode networking for rootless containers: the bridge needs root (veth pairs and
//! nftables in the host's namespace), so an unprivileged container gets its outside
//! connectivity from a user-space TCP/IP stack that joins the container's network
//! namespace, creates a tap device there and turns the container's packets into
//! ordinary socket calls made by the user on the host. Published ports are host sockets
//! the helper opens and forwards to the container. Two helpers do this: slirp4netns, and
//! pasta (from passt, what Podman 5 uses; `pasta.rs`); hako takes whichever is
//! installed, slirp4netns first, or the one `--network` names.
//!
//! Either way the container sees 10.0.2.100/24, gateway 10.0.2.2 and DNS 10.0.2.3, and
//! the host's own loopback is not reachable from inside.

use crate::endpoint::ports::{PortMapping, Proto};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const CONTAINER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    Slirp4netns,
    Pasta,
}

impl Helper {
    pub fn name(self) -> &'static str {
        match self {
            Helper::Slirp4netns => "slirp4netns",
            Helper::Pasta => "pasta",
        }
    }

    /// The Debian package that has it.
    fn package(self) -> &'static str {
        match self {
            Helper::Slirp4netns => "slirp4netns",
            Helper::Pasta => "passt",
        }
    }

    pub fn installed(self) -> bool {
        crate::rootless::on_path(self.name())
    }

    /// The user-mode network's helper, for the two modes that have one.
    pub fn of(mode: &crate::spec::NetworkMode) -> Option<Helper> {
        match mode {
            crate::spec::NetworkMode::UserMode => Some(Helper::Slirp4netns),
            crate::spec::NetworkMode::Pasta => Some(Helper::Pasta),
            _ => None,
        }
    }

    pub fn network_mode(self) -> crate::spec::NetworkMode {
        match self {
            Helper::Slirp4netns => crate::spec::NetworkMode::UserMode,
            Helper::Pasta => crate::spec::NetworkMode::Pasta,
        }
    }
}

impl std::str::FromStr for Helper {
    type Err = ();
    fn from_str(s: &str) -> Result<Helper, ()> {
        match s {
            "slirp4netns" => Ok(Helper::Slirp4netns),
            "pasta" => Ok(Helper::Pasta),
            _ => Err(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserNetError {
    #[error("rootless networking needs slirp4netns or pasta, and neither is installed (apt-get install slirp4netns, or apt-get install passt; or run with --network none or --network host)")]
    NotInstalled,
    #[error("--network {0} needs {0}, which is not installed (apt-get install {1}; or run with --network none or --network host)")]
    HelperMissing(&'static str, &'static str),
    #[error("/dev/net/tun is not open to users on this host (mode {0:o}; distributions ship it 0666): the user-mode network cannot create the container's tap device (an admin runs chmod 0666 /dev/net/tun; or run with --network none or --network host)")]
    TunClosed(u32),
    #[error("start {0}: {1}")]
    Start(&'static str, String),
    #[error("-p {mapping}: {detail}")]
    Publish { mapping: String, detail: String },
}

/// The helper to use: the one asked for, which must be installed, or the first of
/// slirp4netns and pasta that is.
pub fn choose(asked: Option<Helper>) -> Result<Helper, UserNetError> {
    match asked {
        Some(h) if h.installed() => Ok(h),
        Some(h) => Err(UserNetError::HelperMissing(h.name(), h.package())),
        None => [Helper::Slirp4netns, Helper::Pasta]
            .into_iter()
            .find(|h| h.installed())
            .ok_or(UserNetError::NotInstalled),
    }
}

/// A running helper serving one container; it exits when this is dropped (or when hako
/// dies: slirp4netns watches a pipe whose only writer is us, pasta gets a signal).
pub struct UserNet {
    helper: Helper,
    child: Child,
    /// slirp4netns's API socket, removed with it.
    api_socket: Option<PathBuf>,
    /// Held, never written: its closing tells slirp4netns to exit.
    _exit_writer: Option<OwnedFd>,
    pub ports: Vec<PortMapping>,
}

impl Drop for UserNet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(socket) = &self.api_socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}

/// Starts `helper` for the container whose init is `pid` (waiting in its new network
/// namespace), publishing `ports` on the host. `run_dir` holds sockets and logs.
pub fn start(
    helper: Helper,
    pid: i32,
    id: &str,
    ports: &[PortMapping],
    run_dir: &Path,
) -> Result<UserNet, UserNetError> {
    check_prerequisites(helper)?;
    crate::rootless::storage::ensure_private_dir(run_dir)
        .map_err(|e| UserNetError::Start(helper.name(), e.to_string()))?;
    match helper {
        Helper::Slirp4netns => start_slirp4netns(pid, id, ports, run_dir),
        Helper::Pasta => {
            let (child, ports) = super::pasta::start(pid, id, ports, run_dir)?;
            Ok(UserNet {
                helper,
                child,
                api_socket: None,
                _exit_writer: None,
                ports,
            })
        }
    }
}

/// slirp4netns: `--configure` sets the container's address; its API socket publishes.
fn start_slirp4netns(
    pid: i32,
    id: &str,
    ports: &[PortMapping],
    run_dir: &Path,
) -> Result<UserNet, UserNetError> {
    const HELPER: &str = "slirp4netns";
    let start_err = |e: &dyn std::fmt::Display| UserNetError::Start(HELPER, e.to_string());
    let api_socket = helper_file(run_dir, "slirp", id, "sock");
    let log = helper_file(run_dir, "slirp", id, "log");
    let _ = std::fs::remove_file(&api_socket);
    let (ready_read, ready_write) = pipe().map_err(|e| start_err(&e))?;
    let (exit_read, exit_write) = pipe().map_err(|e| start_err(&e))?;
    let log_file = std::fs::File::create(&log).map_err(|e| start_err(&e))?;
    let mut cmd = Command::new(HELPER);
    cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .arg("--api-socket")
        .arg(&api_socket)
        .args(["--ready-fd=3", "--exit-fd=4"])
        .arg(pid.to_string())
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let (ready_fd, exit_fd) = (ready_write.as_raw_fd(), exit_read.as_raw_fd());
    // SAFETY: dup2 is async-signal-safe, as pre_exec requires; the copies lose
    // close-on-exec, so exactly these two descriptors pass to slirp4netns.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            nix::unistd::dup2(ready_fd, 3).map_err(std::io::Error::from)?;
            nix::unistd::dup2(exit_fd, 4).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = crate::trace::step(
        "network",
        "spawn",
        || format!("{HELPER} --configure {pid} tap0"),
        || cmd.spawn(),
    )
    .map_err(|e| start_err(&e))?;
    drop(ready_write);
    drop(exit_read);
    let mut net = UserNet {
        helper: Helper::Slirp4netns,
        child,
        api_socket: Some(api_socket.clone()),
        _exit_writer: Some(exit_write),
        ports: vec![],
    };
    let mut ready = [0u8; 1];
    if std::fs::File::from(ready_read)
        .read_exact(&mut ready)
        .is_err()
    {
        let why = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(UserNetError::Start(
            HELPER,
            format!("it exited before the network was up: {}", why.trim()),
        ));
    }
    let _ = std::fs::remove_file(&log);
    for m in ports {
        net.ports.push(publish(&api_socket, m)?);
    }
    Ok(net)
}

/// What the helper needs from the host, checked before starting it so the error says
/// what to fix rather than what failed.
pub fn check_prerequisites(helper: Helper) -> Result<(), UserNetError> {
    if !helper.installed() {
        return Err(UserNetError::HelperMissing(helper.name(), helper.package()));
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata("/dev/net/tun").map_or(0, |m| m.permissions().mode() & 0o777);
    if mode & 0o006 != 0o006 {
        return Err(UserNetError::TunClosed(mode));
    }
    Ok(())
}

/// A helper's socket or log for one container in the run directory: `PREFIX-ID12.EXT`.
pub(super) fn helper_file(run_dir: &Path, prefix: &str, id: &str, ext: &str) -> PathBuf {
    run_dir.join(format!("{prefix}-{}.{ext}", &id[..12.min(id.len())]))
}

fn pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
}

/// One `-p` through slirp4netns: a free host port is chosen first when none was given
/// (and a taken one is reported by name), then slirp4netns is asked to listen on it.
fn publish(api_socket: &Path, wanted: &PortMapping) -> Result<PortMapping, UserNetError> {
    let m = with_host_port(wanted)?;
    let fail = |m: &PortMapping, detail: String| UserNetError::Publish {
        mapping: m.display(),
        detail,
    };
    let request = serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": match m.proto { Proto::Tcp => "tcp", Proto::Udp => "udp" },
            "host_addr": m.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
            "host_port": m.host_port,
            "guest_addr": CONTAINER_IP.to_string(),
            "guest_port": m.container_port,
        }
    });
    let reply = crate::trace::step(
        "network",
        "add_hostfwd",
        || m.display(),
        || api_call(api_socket, &request),
    )
    .map_err(|e| fail(&m, format!("slirp4netns API: {e}")))?;
    if let Some(err) = reply.get("error") {
        return Err(fail(&m, format!("slirp4netns refused it: {err}")));
    }
    Ok(m)
}

/// `wanted` with its host port: a free one when none was given. Binding it ourselves
/// finds one, or says who holds a taken port.
pub(super) fn with_host_port(wanted: &PortMapping) -> Result<PortMapping, UserNetError> {
    let mut m = wanted.clone();
    drop(
        crate::endpoint::ports::reserve(&mut m).map_err(|detail| UserNetError::Publish {
            mapping: wanted.display(),
            detail,
        })?,
    );
    Ok(m)
}

fn api_call(socket: &Path, request: &serde_json::Value) -> std::io::Result<serde_json::Value> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.write_all(request.to_string().as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    serde_json::from_str(&reply).map_err(std::io::Error::other)
}

/// What `inspect` and `port` show for a container on the user-mode network.
pub fn settings(net: &UserNet) -> super::Settings {
    super::Settings {
        network: net.helper.name().into(),
        ip: Some(CONTAINER_IP),
        prefix: 24,
        gateway: Some(GATEWAY),
        ports: net.ports.clone(),
        ..Default::default()
    }
}

/// The helper's DNS forwarder, unless `--dns` names others.
pub fn resolv_conf(dns: &[String]) -> String {
    let servers: Vec<String> = if dns.is_empty() {
        vec![DNS.to_string()]
    } else {
        dns.to_vec()
    };
    servers
        .iter()
        .map(|s| format!("nameserver {s}\n"))
        .collect()
}
