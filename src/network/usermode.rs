//! User-mode networking for rootless containers: the bridge needs root (veth pairs and
//! nftables in the host's namespace), so an unprivileged container gets its outside
//! connectivity from slirp4netns, a user-space TCP/IP stack that joins the container's
//! network namespace, creates `tap0` there and turns the container's packets into
//! ordinary socket calls made by the user on the host. Published ports are host sockets
//! slirp4netns opens and forwards to the container (asked for over its API socket).
//!
//! The container sees 10.0.2.100/24, gateway 10.0.2.2 and DNS 10.0.2.3. The host's own
//! loopback is not reachable from inside (`--disable-host-loopback`).

use super::ports::{PortMapping, Proto};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const HELPER: &str = "slirp4netns";
pub const CONTAINER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

#[derive(Debug, thiserror::Error)]
pub enum UserNetError {
    #[error("rootless networking needs slirp4netns, which is not installed (apt-get install slirp4netns; or run with --network none or --network host)")]
    NotInstalled,
    #[error("/dev/net/tun is not open to users on this host (mode {0:o}; distributions ship it 0666): slirp4netns cannot create the container's tap device (an admin runs chmod 0666 /dev/net/tun; or run with --network none or --network host)")]
    TunClosed(u32),
    #[error("start slirp4netns: {0}")]
    Start(String),
    #[error("-p {mapping}: {detail}")]
    Publish { mapping: String, detail: String },
}

/// A running slirp4netns serving one container; it exits when this is dropped (or when
/// hako dies: it watches a pipe whose only writer is us).
pub struct UserNet {
    child: Child,
    api_socket: PathBuf,
    /// Held, never written: its closing tells slirp4netns to exit.
    _exit_writer: OwnedFd,
    pub ports: Vec<PortMapping>,
}

impl Drop for UserNet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.api_socket);
    }
}

/// Whether the helper is installed (for `hako info` and the default network).
pub fn available() -> bool {
    crate::rootless::on_path(HELPER)
}

/// Starts slirp4netns for the container whose init is `pid` (waiting in its new network
/// namespace), and publishes `ports` on the host. `run_dir` holds the API socket and log.
pub fn start(
    pid: i32,
    id: &str,
    ports: &[PortMapping],
    run_dir: &Path,
) -> Result<UserNet, UserNetError> {
    check_prerequisites()?;
    let start_err = |e: &dyn std::fmt::Display| UserNetError::Start(e.to_string());
    crate::rootless::storage::ensure_private_dir(run_dir).map_err(|e| start_err(&e))?;
    let api_socket = run_dir.join(format!("slirp-{}.sock", &id[..12.min(id.len())]));
    let log = run_dir.join(format!("slirp-{}.log", &id[..12.min(id.len())]));
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
        child,
        api_socket,
        _exit_writer: exit_write,
        ports: vec![],
    };
    let mut ready = [0u8; 1];
    if std::fs::File::from(ready_read)
        .read_exact(&mut ready)
        .is_err()
    {
        let why = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(UserNetError::Start(format!(
            "it exited before the network was up: {}",
            why.trim()
        )));
    }
    let _ = std::fs::remove_file(&log);
    for m in ports {
        net.ports.push(publish(&net.api_socket, m)?);
    }
    Ok(net)
}

/// What slirp4netns needs from the host, checked before starting it so the error says
/// what to fix rather than what failed.
pub fn check_prerequisites() -> Result<(), UserNetError> {
    if !available() {
        return Err(UserNetError::NotInstalled);
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata("/dev/net/tun").map_or(0, |m| m.permissions().mode() & 0o777);
    if mode & 0o006 != 0o006 {
        return Err(UserNetError::TunClosed(mode));
    }
    Ok(())
}

fn pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
}

/// One `-p`: a free host port is chosen first when none was given (and a taken one is
/// reported by name), then slirp4netns is asked to listen on it.
fn publish(api_socket: &Path, wanted: &PortMapping) -> Result<PortMapping, UserNetError> {
    let mut m = wanted.clone();
    let fail = |m: &PortMapping, detail: String| UserNetError::Publish {
        mapping: m.display(),
        detail,
    };
    // Binding it ourselves finds a free port, or says who holds a taken one.
    drop(super::ports::reserve(&mut m).map_err(|e| fail(&m, e))?);
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
        network: HELPER.into(),
        ip: Some(CONTAINER_IP),
        prefix: 24,
        gateway: Some(GATEWAY),
        ports: net.ports.clone(),
        ..Default::default()
    }
}

/// slirp4netns's DNS forwarder, unless `--dns` names others.
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
