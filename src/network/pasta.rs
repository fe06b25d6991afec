//! pasta (from the passt package) as the user-mode network: it joins the container's
//! network namespace, makes a tap device there with the address we give, and splices
//! the container's traffic to ordinary sockets on the host; `-t`/`-u` publish ports.
//!
//! It must be handed the namespace as an open descriptor. pasta drops most capabilities
//! before it opens the namespace, and the kernel lets a process open another's
//! `/proc/PID/ns/*` only if its own capabilities cover the other's: a rootless container's
//! init (root of our user namespace) holds more than pasta keeps. So hako opens
//! `/proc/PID/ns/net` itself and pasta opens `/proc/self/fd/3`, which needs no such check
//! (`--netns-only`: it is already in the namespace's owning user namespace, ours).

use super::usermode::{helper_file, with_host_port, UserNetError, CONTAINER_IP, DNS, GATEWAY};
use crate::endpoint::ports::{PortMapping, Proto};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROGRAM: &str = "pasta";
/// How long the tap device and its route may take to appear.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Starts pasta for the container whose init is `pid`; returns it with the ports as
/// published (free host ports chosen where none were given).
pub fn start(
    pid: i32,
    id: &str,
    ports: &[PortMapping],
    run_dir: &Path,
) -> Result<(Child, Vec<PortMapping>), UserNetError> {
    let start_err = |e: &dyn std::fmt::Display| UserNetError::Start(PROGRAM, e.to_string());
    let published: Vec<PortMapping> = ports.iter().map(with_host_port).collect::<Result<_, _>>()?;
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| start_err(&e))?;
    let log = helper_file(run_dir, "pasta", id, "log");
    let log_file = std::fs::File::create(&log).map_err(|e| start_err(&e))?;
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    let mut cmd = Command::new(PROGRAM);
    cmd.args(["--config-net", "--foreground", "--quiet"])
        // As root of our user namespace it would switch to `nobody`, unmapped in a
        // single-id namespace: it stays who we are (the user, outside).
        .arg(format!("--runas={uid}:{gid}"))
        .args(["--address", &CONTAINER_IP.to_string(), "--netmask", "24"])
        .args(["--gateway", &GATEWAY.to_string()])
        .args(["--dns-forward", &DNS.to_string()])
        // The host's loopback stays out of reach: no gateway-to-host mapping, and no
        // ports of the host forwarded into the container.
        .args(["--no-map-gw", "-T", "none", "-U", "none"])
        .args(port_args(&published))
        .args(["--netns", "/proc/self/fd/3", "--netns-only"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let fd = netns.as_raw_fd();
    // SAFETY: dup2 and prctl are async-signal-safe, as pre_exec requires; the copy loses
    // close-on-exec, so the namespace passes to pasta as descriptor 3.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            nix::unistd::dup2(fd, 3).map_err(std::io::Error::from)?;
            // pasta holds the namespace open and its ports bound for as long as it runs:
            // it goes with us even after a SIGKILL (dropping capabilities, as pasta does,
            // keeps the parent-death signal; only a change of ids would clear it).
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = crate::trace::step(
        "network",
        "spawn",
        || format!("{PROGRAM} --config-net --netns /proc/{pid}/ns/net (as fd 3)"),
        || cmd.spawn(),
    )
    .map_err(|e| start_err(&e))?;
    drop(netns);
    // Up once the container's namespace has its default route, which pasta adds last.
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if has_default_route(pid) {
            let _ = std::fs::remove_file(&log);
            return Ok((child, published));
        }
        let exited = child.try_wait().map_err(|e| start_err(&e))?;
        if exited.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let why = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(UserNetError::Start(
                PROGRAM,
                match exited {
                    Some(status) => format!(
                        "it exited ({status}) before the network was up: {}",
                        why.trim()
                    ),
                    None => format!(
                        "the container's network was not up after {READY_WITHIN:?}: {}",
                        why.trim()
                    ),
                },
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `-t`/`-u` for each published port: `[HOST_IP/]HOST_PORT:CONTAINER_PORT`, or `none`.
fn port_args(ports: &[PortMapping]) -> Vec<String> {
    let spec = |m: &PortMapping| match m.host_ip {
        Some(ip) => format!("{ip}/{}:{}", m.host_port, m.container_port),
        None => format!("{}:{}", m.host_port, m.container_port),
    };
    let mut args = vec![];
    for (flag, proto) in [("-t", Proto::Tcp), ("-u", Proto::Udp)] {
        let specs: Vec<String> = ports
            .iter()
            .filter(|m| m.proto == proto)
            .map(spec)
            .collect();
        args.push(flag.to_string());
        args.push(if specs.is_empty() {
            "none".into()
        } else {
            specs.join(",")
        });
    }
    args
}

/// Whether the namespace of `pid` has a default IPv4 route (`/proc/PID/net/route` shows
/// that process's network namespace).
fn has_default_route(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/net/route")).is_ok_and(|table| {
        table
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("00000000"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_become_pasta_specs() {
        let m = |host_ip: Option<&str>, host_port, container_port, proto| PortMapping {
            host_ip: host_ip.map(|ip| ip.parse().unwrap()),
            host_port,
            container_port,
            proto,
        };
        assert_eq!(port_args(&[]), ["-t", "none", "-u", "none"]);
        assert_eq!(
            port_args(&[
                m(Some("127.0.0.1"), 8080, 80, Proto::Tcp),
                m(None, 5353, 53, Proto::Udp),
                m(None, 2222, 22, Proto::Tcp),
            ]),
            ["-t", "127.0.0.1/8080:80,2222:22", "-u", "5353:53"]
        );
    }
}
