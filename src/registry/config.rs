//! Where a registry's settings come from: `--insecure-registry` flags, `insecure-registries`
//! in hako's config file, and the `certs.d/HOST[:PORT]/` folders that hold a registry's own
//! CA and client certificate, laid out as Docker and Podman lay them out.

use std::path::PathBuf;

#[derive(Clone, Debug, Default)]
pub struct RegistryConfig {
    /// Registries (`host` or `host:port`) reached without checking their certificate, or
    /// over plain HTTP when they do not speak TLS.
    pub insecure: Vec<String>,
    /// Folders searched for `REGISTRY/ca.crt` and friends, hako's own first.
    pub certs_dirs: Vec<PathBuf>,
}

impl RegistryConfig {
    /// The flags plus hako's config file (a missing or unreadable file adds nothing).
    pub fn load(insecure_flags: &[String], mode: crate::rootless::Mode) -> RegistryConfig {
        let path = config_path(mode);
        let mut insecure = insecure_flags.to_vec();
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                insecure.extend(
                    v["insecure-registries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(String::from)),
                );
            }
        }
        let own = path.parent().map(|dir| dir.join("certs.d"));
        RegistryConfig {
            insecure,
            certs_dirs: own
                .into_iter()
                .chain(["/etc/docker/certs.d", "/etc/containers/certs.d"].map(PathBuf::from))
                .collect(),
        }
    }

    /// Loopback (as Docker: `localhost`, 127.0.0.0/8, `[::1]`) or named insecure.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = host_of(registry);
        host == "localhost"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
            || host == "::1"
            || self
                .insecure
                .iter()
                .any(|n| n == registry || (host_of(n) == host && !n.contains(':')))
    }

    /// The registry's `certs.d` folders that exist, in search order.
    pub fn certs_for(&self, registry: &str) -> Vec<PathBuf> {
        self.certs_dirs
            .iter()
            .map(|d| d.join(registry))
            .filter(|d| d.is_dir())
            .collect()
    }

    /// Where a user is told to put a registry's CA.
    pub fn own_certs_dir(&self, registry: &str) -> PathBuf {
        self.certs_dirs
            .first()
            .map_or_else(|| PathBuf::from(registry), |d| d.join(registry))
    }
}

/// `host` of `host:port`, without the brackets of an IPv6 address.
pub fn host_of(registry: &str) -> &str {
    let host = registry
        .rsplit_once(':')
        .filter(|(h, port)| port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':'))
        .map_or(registry, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `$HAKO_CONFIG`, else `/etc/hako/config.json` for root and
/// `~/.config/hako/config.json` for users.
pub fn config_path(mode: crate::rootless::Mode) -> PathBuf {
    if let Some(p) = std::env::var_os("HAKO_CONFIG") {
        return p.into();
    }
    if !mode.rootless() {
        return "/etc/hako/config.json".into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".config/hako/config.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(insecure: &[&str]) -> RegistryConfig {
        RegistryConfig {
            insecure: insecure.iter().map(|s| s.to_string()).collect(),
            certs_dirs: vec![],
        }
    }

    #[test]
    fn loopback_and_named_registries_are_insecure() {
        let c = config(&["reg.lab:5000", "plain.lab"]);
        for yes in [
            "localhost:5000",
            "127.0.0.1",
            "127.3.4.5:80",
            "[::1]:5000",
            "reg.lab:5000",
            "plain.lab:8080",
            "plain.lab",
        ] {
            assert!(c.is_insecure(yes), "{yes}");
        }
        for no in [
            "docker.io",
            "reg.lab",
            "reg.lab:5001",
            "128.0.0.1:5000",
            "[::2]:5000",
            "198.18.0.1:443",
        ] {
            assert!(!c.is_insecure(no), "{no}");
        }
    }

    #[test]
    fn host_strips_port_and_brackets() {
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("reg:5000"), "reg");
        assert_eq!(host_of("reg"), "reg");
    }
}
