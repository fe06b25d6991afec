//! A container's /etc/hosts, /etc/hostname and /etc/resolv.conf (bind-mounted from its
//! bundle), and keeping the /etc/hosts of the containers on one named network in step as
//! they come and go.

use crate::network;
use crate::spec::NetworkMode;
use crate::state::ContainerRecord;
use crate::store::Store;
use std::fs;
use std::path::Path;

/// The other containers on a named network, as /etc/hosts entries (names and aliases).
pub(super) fn peers_of(
    store: &Store,
    id: &str,
    settings: &crate::endpoint::Settings,
) -> Vec<network::hosts::Entry> {
    let Ok(def) = network::find(store, &settings.network) else {
        return vec![];
    };
    if !def.resolves_names() {
        return vec![];
    }
    network::members(store, &def.name)
        .into_iter()
        .filter(|(other, ..)| other != id)
        .map(|(_, name, ip, aliases)| network::hosts::Entry {
            ip,
            names: std::iter::once(name).chain(aliases).collect(),
        })
        .collect()
}

/// The other containers on every named network this one is on (started on, or connected).
fn all_peers(store: &Store, record: &ContainerRecord) -> Vec<network::hosts::Entry> {
    std::iter::once(&record.network)
        .chain(&record.extra_networks)
        .flat_map(|s| peers_of(store, &record.id, s))
        .collect()
}

/// Rewrites the /etc/hosts of every other running container on `network`.
pub fn refresh_network(store: &Store, network: &str, except: &str) {
    if network::find(store, network).map_or(true, |d| !d.resolves_names()) {
        return;
    }
    for (id, ..) in network::members(store, network) {
        if id == except {
            continue;
        }
        let Ok(peer) = store.lookup_container(&id) else {
            continue;
        };
        refresh_own(store, &peer);
    }
}

/// Rewrites one running container's /etc/hosts from what its networks hold now.
pub fn refresh_own(store: &Store, record: &ContainerRecord) {
    let peers = all_peers(store, record);
    let _ = write_etc_files(
        &store.container_dir(&record.id),
        record,
        Some(&record.network),
        &peers,
    );
}

/// Rewrites the /etc/hosts of every other running container on this one's networks.
pub(super) fn refresh_peers(store: &Store, record: &ContainerRecord) {
    for s in std::iter::once(&record.network).chain(&record.extra_networks) {
        if !s.network.is_empty() {
            refresh_network(store, &s.network, &record.id);
        }
    }
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf, bind-mounted as Docker does. Written in
/// place (same inode): a running container sees the new /etc/hosts through its mount.
pub(super) fn write_etc_files(
    dir: &Path,
    record: &ContainerRecord,
    net: Option<&crate::endpoint::Settings>,
    peers: &[network::hosts::Entry],
) -> std::io::Result<()> {
    use network::hosts;
    let hostname = &record.config.hostname;
    let request = &record.host_config.network;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (hosts_text, resolv) = match &record.host_config.network_mode {
        NetworkMode::Host => (
            fs::read_to_string("/etc/hosts").unwrap_or_default(),
            host_resolv,
        ),
        mode => {
            let own = match net.and_then(|n| n.ip) {
                Some(ip) => {
                    let mut names = vec![hostname.clone()];
                    if record.name != *hostname {
                        names.push(record.name.clone());
                    }
                    names.extend(request.aliases.iter().cloned());
                    hosts::Entry { ip, names }
                }
                None => hosts::Entry {
                    ip: std::net::Ipv4Addr::new(127, 0, 1, 1),
                    names: vec![hostname.clone()],
                },
            };
            let resolv = if matches!(mode, NetworkMode::Bridge(_)) {
                hosts::resolv_conf(&host_resolv, &request.dns)
            } else if network::usermode::Helper::of(mode).is_some() {
                network::usermode::resolv_conf(&request.dns)
            } else {
                host_resolv
            };
            (
                hosts::hosts_file(Some(&own), peers, &request.extra_hosts),
                resolv,
            )
        }
    };
    write_in_place(&dir.join("hosts"), &hosts_text)?;
    write_in_place(&dir.join("hostname"), &format!("{hostname}\n"))?;
    write_in_place(&dir.join("resolv.conf"), &resolv)
}

fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}
