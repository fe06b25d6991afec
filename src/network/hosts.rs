//! /etc/hosts and /etc/resolv.conf as a container on a network sees them.

use std::net::Ipv4Addr;

/// One host entry: address and names.
pub struct Entry {
    pub ip: Ipv4Addr,
    pub names: Vec<String>,
}

/// Docker's header, the container's own entry, the other containers of a named network,
/// then `--add-host` lines.
pub fn hosts_file(own: Option<&Entry>, peers: &[Entry], extra: &[String]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for e in own.into_iter().chain(peers) {
        out.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    for h in extra {
        if let Some((name, ip)) = h.split_once(':') {
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    out
}

/// `--add-host NAME:IP`, checked at the command line.
pub fn parse_add_host(s: &str) -> Result<String, String> {
    let (name, ip) = s
        .split_once(':')
        .ok_or_else(|| format!("--add-host {s}: expected HOST:IP"))?;
    if name.is_empty() || ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!(
            "--add-host {s}: expected HOST:IP with a valid IP address"
        ));
    }
    Ok(s.to_string())
}

/// The host's resolv.conf for a container with a network of its own: loopback servers
/// (a local resolver such as systemd-resolved) cannot be reached from there, so they are
/// left out; `--dns` replaces the servers.
pub fn resolv_conf(host: &str, dns: &[String]) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let server = line.strip_prefix("nameserver").map(str::trim);
        match server {
            Some(_) if !dns.is_empty() => {}
            Some(s) if s.starts_with("127.") || s == "::1" => {}
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_resolv() {
        let own = Entry {
            ip: "10.89.0.2".parse().unwrap(),
            names: vec!["abc123".into(), "web".into()],
        };
        let peer = Entry {
            ip: "10.89.0.3".parse().unwrap(),
            names: vec!["db".into(), "database".into()],
        };
        let h = hosts_file(Some(&own), &[peer], &["gw:10.0.0.1".into()]);
        assert!(h.contains("10.89.0.2\tabc123 web\n"));
        assert!(h.contains("10.89.0.3\tdb database\n"));
        assert!(h.ends_with("10.0.0.1\tgw\n"));
        let r = resolv_conf(
            "search lan\nnameserver 127.0.0.53\nnameserver 9.9.9.9\n",
            &[],
        );
        assert_eq!(r, "search lan\nnameserver 9.9.9.9\n");
        assert_eq!(
            resolv_conf("nameserver 1.1.1.1\n", &["10.0.0.2".into()]),
            "nameserver 10.0.0.2\n"
        );
        assert!(parse_add_host("x:not-ip").is_err());
    }
}
