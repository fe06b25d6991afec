//! Bridge networking, as root: named networks, one bridge each (`hako0` for the default
//! `bridge` network, 10.88.0.0/16), a veth pair per container, addresses from a file-locked
//! lease table, NAT and published ports in hako's own nftables table, and /etc/hosts
//! entries for the containers of a named network.
//!
//! Nothing here runs in the background. A container's network is set up by the process
//! that starts it (`attach`, while the new process waits) and released when it ends
//! (`detach`); leases and rules left by a crashed hako are recognised by their holder
//! process being gone and corrected by the next change (`sync`).

pub mod hosts;
pub mod ipam;
pub mod links;
pub mod nat;
mod pasta;
pub mod usermode;

use crate::endpoint::{ports, Request, Settings};
use crate::state::{ContainerRecord, StateError};
use crate::store::lock::FileLock;
use crate::store::Store;
use ipam::{Leases, Subnet};
use ports::{PortMapping, Reservation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub const DEFAULT_NETWORK: &str = "bridge";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDef {
    pub name: String,
    pub id: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    pub created: String,
}

impl NetworkDef {
    fn default_bridge() -> NetworkDef {
        NetworkDef {
            name: DEFAULT_NETWORK.into(),
            id: crate::digest::Digest::of_bytes(b"hako default bridge")
                .hex()
                .to_string(),
            subnet: "10.88.0.0/16".parse().expect("valid"),
            gateway: Ipv4Addr::new(10, 88, 0, 1),
            bridge: "hako0".into(),
            created: String::new(),
        }
    }

    /// Named networks (not the default one) resolve their containers' names.
    pub fn resolves_names(&self) -> bool {
        self.name != DEFAULT_NETWORK
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(
        "network {0} not found (hako network ls lists them; hako network create {0} makes it)"
    )]
    NotFound(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("{0}")]
    Invalid(String),
    #[error("network {name} has active endpoints ({containers}): stop or remove them first")]
    InUse { name: String, containers: String },
    #[error(transparent)]
    Link(#[from] links::LinkError),
    #[error(transparent)]
    Nat(#[from] nat::NatError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> NetworkError + 'a {
    move |source| NetworkError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn dir(store: &Store) -> PathBuf {
    store.root().join("networks")
}

/// Host-wide network state: bridges, addresses and the nftables table belong to the host,
/// not to one data root, so every hako (whatever its `--root`) shares one lease table.
fn run_dir() -> PathBuf {
    std::env::var_os("HAKO_NETWORK_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::rootless::run_dir().join("network"))
}

fn lock(store: &Store) -> Result<FileLock, NetworkError> {
    crate::store::private::create_dir(&dir(store)).map_err(io_err("create", &dir(store)))?;
    std::fs::create_dir_all(run_dir()).map_err(io_err("create", &run_dir()))?;
    FileLock::exclusive(&run_dir().join("lock")).map_err(|e| NetworkError::Invalid(e.to_string()))
}

pub fn list(store: &Store) -> Result<Vec<NetworkDef>, NetworkError> {
    let mut out = vec![NetworkDef::default_bridge()];
    if let Ok(entries) = std::fs::read_dir(dir(store)) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") && e.file_name() != "leases.json" {
                if let Ok(def) = serde_json::from_slice::<NetworkDef>(
                    &std::fs::read(e.path()).unwrap_or_default(),
                ) {
                    out.push(def);
                }
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn find(store: &Store, name: &str) -> Result<NetworkDef, NetworkError> {
    list(store)?
        .into_iter()
        .find(|n| n.name == name || (name.len() >= 6 && n.id.starts_with(name)))
        .ok_or_else(|| NetworkError::NotFound(name.to_string()))
}

/// `hako network create`: a subnet of its own (the next free 10.89.N.0/24 unless given).
pub fn create(
    store: &Store,
    name: &str,
    subnet: Option<Subnet>,
    gateway: Option<Ipv4Addr>,
) -> Result<NetworkDef, NetworkError> {
    if !crate::state::valid_name(name) || name == "none" || name == "host" {
        return Err(NetworkError::BadName(name.to_string()));
    }
    let _lock = lock(store)?;
    let existing = list(store)?;
    if existing.iter().any(|n| n.name == name) {
        return Err(NetworkError::Exists(name.to_string()));
    }
    let routes = host_routes();
    let clash = |s: &Subnet| -> Option<String> {
        if let Some(other) = existing.iter().find(|n| n.subnet.overlaps(s)) {
            return Some(format!("network {} ({})", other.name, other.subnet));
        }
        routes
            .iter()
            .find(|(r, _)| r.overlaps(s))
            .map(|(r, dev)| format!("this host's route {r} on {dev}"))
    };
    let subnet = match subnet {
        Some(s) => {
            if let Some(what) = clash(&s) {
                return Err(NetworkError::Invalid(format!(
                    "--subnet {s} overlaps {what}: pick another subnet"
                )));
            }
            s
        }
        None => (89..=255)
            .map(|n| format!("10.{n}.0.0/24").parse::<Subnet>().expect("valid"))
            .find(|s| clash(s).is_none())
            .ok_or_else(|| {
                NetworkError::Invalid("no free 10.x.0.0/24 subnet left: give --subnet".into())
            })?,
    };
    let gateway = gateway.unwrap_or_else(|| subnet.first_host());
    if !subnet.contains(gateway) {
        return Err(NetworkError::Invalid(format!(
            "--gateway {gateway} is not in --subnet {subnet}"
        )));
    }
    let id = crate::state::random_hex(32);
    let def = NetworkDef {
        name: name.to_string(),
        bridge: format!("hk-{}", &id[..10]),
        id,
        subnet,
        gateway,
        created: crate::timefmt::now_rfc3339(),
    };
    let path = dir(store).join(format!("{name}.json"));
    crate::store::write_atomic(
        store.root(),
        &path,
        &serde_json::to_vec_pretty(&def).expect("serialises"),
    )
    .map_err(|e| NetworkError::Invalid(e.to_string()))?;
    // The bridge now, as Docker makes it: its route then tells every later `network
    // create` (from any data root) that this subnet is taken.
    links::ensure_bridge(&def.bridge, def.gateway, def.subnet.prefix)?;
    let mut bridges = read_bridges();
    bridges.insert(def.bridge.clone(), def.subnet);
    write_bridges(&bridges)?;
    Ok(def)
}

/// The host's routes (from /proc/net/route), so a new network never shadows one.
fn host_routes() -> Vec<(Subnet, String)> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if mask == 0 {
                return None; // the default route overlaps everything by design
            }
            // The kernel prints the network-order bytes as a native integer.
            let (dest, mask) = (
                u32::from_be_bytes(dest.to_ne_bytes()),
                u32::from_be_bytes(mask.to_ne_bytes()),
            );
            let prefix = mask.count_ones() as u8;
            Some((
                Subnet {
                    network: Ipv4Addr::from(dest),
                    prefix,
                },
                f[0].to_string(),
            ))
        })
        .collect()
}

/// `hako network rm`: refused while containers use it; its bridge goes with it.
pub fn remove(store: &Store, name: &str) -> Result<(), NetworkError> {
    let def = find(store, name)?;
    if def.name == DEFAULT_NETWORK {
        return Err(NetworkError::Invalid(
            "the default bridge network cannot be removed".into(),
        ));
    }
    let _lock = lock(store)?;
    let users: Vec<String> = store
        .containers()?
        .into_iter()
        .filter(|c| {
            c.host_config.network_mode == crate::spec::NetworkMode::Bridge(def.name.clone())
        })
        .map(|c| c.name)
        .collect();
    if !users.is_empty() {
        return Err(NetworkError::InUse {
            name: def.name,
            containers: users.join(", "),
        });
    }
    links::delete_link(&def.bridge)?;
    let mut bridges = read_bridges();
    if bridges.remove(&def.bridge).is_some() {
        write_bridges(&bridges)?;
        sync_rules(store, &read_leases(store))?;
    }
    let path = dir(store).join(format!("{}.json", def.name));
    std::fs::remove_file(&path).map_err(io_err("remove", &path))
}

/// A lease: the container and the hako process holding its network (its keeper, or the
/// foreground `hako run`): a lease whose holder is gone is free again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Lease {
    container: String,
    holder: i32,
    /// The holder's start time: a PID alone is reused by the kernel.
    #[serde(default)]
    holder_start: u64,
    subnet: Subnet,
    #[serde(default)]
    ports: Vec<PortMapping>,
}

/// Bridge name → address → lease.
type LeaseTable = BTreeMap<String, BTreeMap<Ipv4Addr, Lease>>;

fn leases_path(_store: &Store) -> PathBuf {
    run_dir().join("leases.json")
}

fn holder_alive(lease: &Lease) -> bool {
    if lease.holder_start == 0 {
        // Written by a hako before start times were kept: the PID is all there is.
        return crate::proc::legacy_hako_alive(lease.holder);
    }
    crate::proc::is_alive(lease.holder, lease.holder_start)
}

/// The lease table with every stale lease (holder gone) dropped.
fn read_leases(store: &Store) -> LeaseTable {
    let mut table: LeaseTable = std::fs::read(leases_path(store))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for leases in table.values_mut() {
        leases.retain(|_, l| holder_alive(l));
    }
    table.retain(|_, l| !l.is_empty());
    table
}

fn write_leases(store: &Store, table: &LeaseTable) -> Result<(), NetworkError> {
    let path = leases_path(store);
    let tmp = run_dir().join(format!(".leases.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(table).expect("serialises"))
        .map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))
}

/// The bridges that exist (made on first use, like docker0, and gone with `network rm`):
/// their NAT rules stay as long as they do, so a run without `-p` changes no rule.
fn bridges_path() -> PathBuf {
    run_dir().join("bridges.json")
}

fn read_bridges() -> BTreeMap<String, Subnet> {
    std::fs::read(bridges_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_bridges(bridges: &BTreeMap<String, Subnet>) -> Result<(), NetworkError> {
    let tmp = run_dir().join(format!(".bridges.{}", std::process::id()));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(bridges).expect("serialises"),
    )
    .map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, bridges_path()).map_err(io_err("rename", &bridges_path()))
}

/// The rules for the bridges and the ports that hold a lease now, applied when they
/// changed since the last time.
fn sync_rules(_store: &Store, table: &LeaseTable) -> Result<(), NetworkError> {
    let mut networks = vec![];
    let mut forwards = vec![];
    // Only bridges that still exist: one deleted by hand takes its rules with it.
    for (bridge, subnet) in read_bridges() {
        if std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists()
        {
            networks.push(nat::ActiveNetwork { bridge, subnet });
        }
    }
    for leases in table.values() {
        for (ip, lease) in leases {
            for m in &lease.ports {
                forwards.push(nat::Forward {
                    mapping: m.clone(),
                    container_ip: *ip,
                });
            }
        }
    }
    let rules = nat::ruleset(&networks, &forwards);
    let applied = run_dir().join("rules.json");
    let text = rules.to_string();
    if std::fs::read_to_string(&applied).is_ok_and(|t| t == text) {
        return Ok(());
    }
    if !networks.is_empty() {
        // Routing between the bridge and the world (Docker turns it on as well).
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
    }
    crate::trace::step(
        "network",
        "nft",
        || format!("{} port rules, {} networks", forwards.len(), networks.len()),
        || nat::apply(&rules),
    )?;
    let _ = std::fs::write(&applied, text);
    Ok(())
}

/// What `attach` hands back: the settings, and the reserved host ports that must stay
/// open as long as the container runs.
pub struct Attachment {
    pub settings: Settings,
    pub reservations: Vec<Reservation>,
}

fn parse_mac(s: &str) -> Result<[u8; 6], NetworkError> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            NetworkError::Invalid(format!(
                "--mac-address {s}: expected six hex bytes, aa:bb:cc:dd:ee:ff"
            ))
        })?;
    parts
        .try_into()
        .map_err(|_| NetworkError::Invalid(format!("--mac-address {s}: expected six hex bytes")))
}

/// Docker's MAC for an address: 02:42 then the four bytes of the IP.
fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Connects the container whose init is `pid` (waiting, not yet running anything) to its
/// bridge network: address, veth, rules, /etc/hosts.
pub fn attach(
    store: &Store,
    c: &ContainerRecord,
    network: &str,
    request: &Request,
    pid: i32,
) -> Result<Attachment, NetworkError> {
    let iface = Interface {
        name: "eth0".into(),
        host_link: format!("hv{}", &c.id[..10]),
        holder: std::process::id() as i32,
        default_route: true,
    };
    attach_interface(store, c, network, request, pid, &iface)
}

/// One interface of a container on one network.
struct Interface {
    name: String,
    host_link: String,
    /// The process whose life the lease follows.
    holder: i32,
    default_route: bool,
}

/// `hako network connect`: one more interface (eth1, eth2…) in a running container, its
/// lease held by the container's keeper.
pub fn connect(
    store: &Store,
    c: &ContainerRecord,
    network: &str,
    aliases: &[String],
) -> Result<Settings, NetworkError> {
    if !c.host_config.network_mode.own_namespace() || !c.is_running() {
        return Err(NetworkError::Invalid(format!(
            "container {} must be running with a network namespace of its own (not host or container:)",
            c.name
        )));
    }
    let def = find(store, network)?;
    let on = |s: &Settings| s.network == def.name;
    if on(&c.network) || c.extra_networks.iter().any(on) {
        return Err(NetworkError::Invalid(format!(
            "container {} is already connected to network {}",
            c.name, def.name
        )));
    }
    let n = c.extra_networks.len() + 1;
    let iface = Interface {
        name: format!("eth{n}"),
        host_link: format!("hx{}{n:02}", &c.id[..8]),
        holder: c.state.keeper_pid,
        default_route: false,
    };
    let request = Request {
        aliases: aliases.to_vec(),
        ..Request::default()
    };
    let mut a = attach_interface(store, c, &def.name, &request, c.state.pid, &iface)?;
    a.settings.interface = iface.host_link;
    Ok(a.settings)
}

/// `hako network disconnect`: the interface goes (deleting the host end of a veth pair
/// deletes both), and its address with it.
pub fn disconnect(
    store: &Store,
    c: &ContainerRecord,
    settings: &Settings,
) -> Result<(), NetworkError> {
    let def = find(store, &settings.network)?;
    links::delete_link(&settings.interface)?;
    let _lock = lock(store)?;
    let mut table = read_leases(store);
    if let (Some(leases), Some(ip)) = (table.get_mut(&def.bridge), settings.ip) {
        leases.retain(|lip, l| !(l.container == c.id && *lip == ip));
    }
    table.retain(|_, l| !l.is_empty());
    write_leases(store, &table)?;
    sync_rules(store, &table)
}

fn attach_interface(
    store: &Store,
    c: &ContainerRecord,
    network: &str,
    request: &Request,
    pid: i32,
    iface: &Interface,
) -> Result<Attachment, NetworkError> {
    let def = find(store, network)?;
    let mut reservations = vec![];
    let mut ports = request.ports.clone();
    for m in &mut ports {
        reservations.push(ports::reserve(m).map_err(NetworkError::Invalid)?);
    }
    let ip = {
        let _lock = lock(store)?;
        let mut table = read_leases(store);
        let leases = table.entry(def.bridge.clone()).or_default();
        let taken: Leases = leases
            .iter()
            .map(|(ip, l)| (*ip, l.container.clone()))
            .collect();
        let ip = ipam::allocate(&def.subnet, def.gateway, &taken, request.ip)
            .map_err(NetworkError::Invalid)?;
        leases.insert(
            ip,
            Lease {
                container: c.id.clone(),
                holder: iface.holder,
                holder_start: crate::proc::start_time(iface.holder).unwrap_or(0),
                subnet: def.subnet,
                ports: ports.clone(),
            },
        );
        write_leases(store, &table)?;
        links::ensure_bridge(&def.bridge, def.gateway, def.subnet.prefix)?;
        let mut bridges = read_bridges();
        if bridges.insert(def.bridge.clone(), def.subnet) != Some(def.subnet) {
            write_bridges(&bridges)?;
        }
        sync_rules(store, &table)?;
        ip
    };
    let mac = match &request.mac {
        Some(m) => parse_mac(m)?,
        None => mac_for(ip),
    };
    let result = crate::trace::step(
        "network",
        "veth",
        || {
            format!(
                "{} on {} ↔ {} {ip}/{} via {}",
                iface.host_link, def.bridge, iface.name, def.subnet.prefix, def.gateway
            )
        },
        || {
            links::connect(
                &def.bridge,
                &iface.host_link,
                pid,
                &links::Inside {
                    name: iface.name.clone(),
                    address: ip,
                    prefix: def.subnet.prefix,
                    gateway: def.gateway,
                    mac: Some(mac),
                    default_route: iface.default_route,
                },
            )
        },
    );
    if let Err(e) = result {
        let _lock = lock(store);
        let mut table = read_leases(store);
        if let Some(leases) = table.get_mut(&def.bridge) {
            leases.remove(&ip);
        }
        let _ = write_leases(store, &table);
        return Err(e.into());
    }
    let settings = Settings {
        network: def.name.clone(),
        ip: Some(ip),
        prefix: def.subnet.prefix,
        gateway: Some(def.gateway),
        mac: mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        ports,
        aliases: request.aliases.clone(),
        interface: iface.host_link.clone(),
    };
    Ok(Attachment {
        settings,
        reservations,
    })
}

/// Frees the container's address and rules (its veth went with its namespace). Quiet
/// and idempotent: teardown calls it whatever happened before.
/// Frees the container's addresses and ports; returns every problem met (teardown goes
/// on: a lease left behind is freed anyway once its holder is gone).
pub fn release(store: &Store, container: &str) -> Vec<String> {
    let short = &container[..12.min(container.len())];
    let _lock = match lock(store) {
        Ok(l) => l,
        Err(e) => return vec![format!("release the addresses of {short}: {e}")],
    };
    let mut table = read_leases(store);
    for leases in table.values_mut() {
        leases.retain(|_, l| l.container != container);
    }
    table.retain(|_, l| !l.is_empty());
    let mut problems = vec![];
    if let Err(e) = write_leases(store, &table) {
        problems.push(format!("release the addresses of {short}: {e}"));
    }
    if let Err(e) = sync_rules(store, &table) {
        problems.push(format!("remove the port rules of {short}: {e}"));
    }
    problems
}

/// `system prune` and `network prune`: stale leases, rules and veths of containers that
/// no longer run (after a crash), and named networks nobody uses (with `networks`).
pub fn cleanup(store: &Store) -> Result<Vec<String>, NetworkError> {
    let _lock = lock(store)?;
    let table = read_leases(store);
    write_leases(store, &table)?;
    sync_rules(store, &table)?;
    let mut removed = vec![];
    let live: Vec<String> = table
        .values()
        .flat_map(|l| l.values().map(|x| x.container[..10].to_string()))
        .collect();
    for link in links::links_named("hv").unwrap_or_default() {
        if !live.iter().any(|id| link == format!("hv{id}")) {
            links::delete_link(&link)?;
            removed.push(link);
        }
    }
    // The default bridge and its NAT rules go with their last user (it comes back on the
    // next run); a named network's bridge lives as long as the network.
    let default = NetworkDef::default_bridge();
    if !table.contains_key(&default.bridge)
        && std::path::Path::new("/sys/class/net")
            .join(&default.bridge)
            .exists()
    {
        links::delete_link(&default.bridge)?;
        let mut bridges = read_bridges();
        bridges.remove(&default.bridge);
        write_bridges(&bridges)?;
        removed.push(default.bridge);
    }
    sync_rules(store, &table)?;
    Ok(removed)
}

/// The containers with an address on `network`, for /etc/hosts: (name, ip, aliases).
pub fn members(store: &Store, network: &str) -> Vec<(String, String, Ipv4Addr, Vec<String>)> {
    let Ok(def) = find(store, network) else {
        return vec![];
    };
    let table = read_leases(store);
    let Some(leases) = table.get(&def.bridge) else {
        return vec![];
    };
    leases
        .iter()
        .filter_map(|(ip, l)| {
            let c = store.lookup_container(&l.container).ok()?;
            let aliases = std::iter::once(&c.network)
                .chain(&c.extra_networks)
                .find(|s| s.network == def.name)
                .map(|s| s.aliases.clone())
                .unwrap_or_default();
            Some((c.id.clone(), c.name.clone(), *ip, aliases))
        })
        .collect()
}
