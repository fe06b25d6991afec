//! Published ports: `-p [IP:][HOST[-HOST]:]CTR[-CTR][/tcp|/udp]` parsed into mappings,
//! and the host port held by hako for as long as the container runs (so a second user of
//! the port is refused, as with Docker's proxy, and a crash frees it with the process).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port. `host_port` 0 means "any free port" until it is reserved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortMapping {
    /// `0.0.0.0:8080->80/tcp`, as `docker ps` shows it.
    pub fn display(&self) -> String {
        format!(
            "{}:{}->{}/{}",
            self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            self.host_port,
            self.container_port,
            self.proto.name()
        )
    }
}

fn range(s: &str, what: &str, spec: &str) -> Result<(u16, u16), String> {
    let num = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{spec}: invalid {what} port {p:?} (1-65535)"))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("{spec}: invalid {what} port range {s}"));
            }
            Ok((a, b))
        }
        None => num(s).map(|n| (n, n)),
    }
}

/// `-p` as Docker reads it; a range gives one mapping per port.
pub fn parse(spec: &str) -> Result<Vec<PortMapping>, String> {
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, "tcp")) => (a, Proto::Tcp),
        Some((a, "udp")) => (a, Proto::Udp),
        Some((_, other)) => return Err(format!("{spec}: unknown protocol {other:?} (tcp or udp)")),
        None => (spec, Proto::Tcp),
    };
    let parts: Vec<&str> = addr.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (None, None, *c),
        [h, c] => (None, Some(*h), *c),
        [ip, h, c] => (Some(*ip), (!h.is_empty()).then_some(*h), *c),
        _ => {
            return Err(format!(
                "{spec}: expected [IP:][HOST-PORT:]CONTAINER-PORT[/PROTO]"
            ))
        }
    };
    let host_ip = match ip {
        Some(i) => Some(
            i.parse::<Ipv4Addr>()
                .map_err(|_| format!("{spec}: invalid IP address {i:?} (IPv4)"))?,
        ),
        None => None,
    };
    let (c0, c1) = range(ctr, "container", spec)?;
    let hosts = match host {
        Some(h) => {
            let (h0, h1) = range(h, "host", spec)?;
            if h1 - h0 != c1 - c0 {
                return Err(format!(
                    "{spec}: the host and container port ranges differ in size"
                ));
            }
            Some(h0)
        }
        None => None,
    };
    Ok((c0..=c1)
        .map(|c| PortMapping {
            host_ip,
            host_port: hosts.map_or(0, |h0| h0 + (c - c0)),
            container_port: c,
            proto,
        })
        .collect())
}

/// A host port held for the container, so the kernel refuses it to anyone else while DNAT
/// sends its traffic to the container.
pub enum Reservation {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Binds the mapping's host port (choosing one for port 0) and fills in the port.
pub fn reserve(m: &mut PortMapping) -> Result<Reservation, String> {
    let addr = SocketAddrV4::new(m.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), m.host_port);
    let taken = |e: std::io::Error| {
        let owner = owner_of(m.host_port, m.proto)
            .map(|o| format!(" by {o}"))
            .unwrap_or_default();
        format!(
            "-p {}: host port {} is already in use{owner} ({e}); free it or publish another port",
            m.display(),
            m.host_port
        )
    };
    let reservation = match m.proto {
        // A listener that never accepts, as Docker's proxy holds the port: DNAT sends the
        // traffic to the container before any socket here is looked up, and the port
        // shows in `ss -ltnp` as hako's.
        Proto::Tcp => Reservation::Tcp(TcpListener::bind(addr).map_err(taken)?),
        Proto::Udp => Reservation::Udp(UdpSocket::bind(addr).map_err(taken)?),
    };
    if m.host_port == 0 {
        m.host_port = match &reservation {
            Reservation::Tcp(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Reservation::Udp(u) => u.local_addr().map(|a| a.port()).unwrap_or(0),
        };
    }
    Ok(reservation)
}

/// Who holds a port, from /proc/net/{tcp,udp} and the processes' descriptors: "sshd
/// (pid 812)", for the error a user sees.
pub fn owner_of(port: u16, proto: Proto) -> Option<String> {
    let table = std::fs::read_to_string(format!("/proc/net/{}", proto.name())).ok()?;
    let inode = table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
        (local_port == port).then(|| f.get(9).map(|s| s.to_string()))?
    })?;
    let needle = format!("socket:[{inode}]");
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = proc_entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == needle) {
                let comm =
                    std::fs::read_to_string(proc_entry.path().join("comm")).unwrap_or_default();
                return Some(format!("{} (pid {pid})", comm.trim()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_forms() {
        let m = |s| parse(s).unwrap();
        assert_eq!(m("8080:80")[0].display(), "0.0.0.0:8080->80/tcp");
        assert_eq!(
            m("127.0.0.1:5353:53/udp")[0].display(),
            "127.0.0.1:5353->53/udp"
        );
        assert_eq!(m("80")[0].host_port, 0);
        assert_eq!(m("127.0.0.1::80")[0].host_port, 0);
        let r = m("8000-8002:9000-9002");
        assert_eq!(r.len(), 3);
        assert_eq!((r[2].host_port, r[2].container_port), (8002, 9002));
        for bad in [
            "0:80",
            "x:80",
            "80/sctp",
            "1.2.3:80:80",
            "8000-8001:80",
            "9-8:9-8",
            "a:b:c:d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reserved_port_is_refused_to_the_next_user() {
        let mut a = parse("127.0.0.1::9").unwrap().remove(0);
        let _held = reserve(&mut a).unwrap();
        assert_ne!(a.host_port, 0);
        let mut b = a.clone();
        let err = reserve(&mut b).err().unwrap();
        assert!(err.contains("already in use"), "{err}");
    }
}
