//! `hako network …` and `hako port`.

use super::ps::print_table;
use crate::cli::{NetworkCommand, PortArgs};
use crate::network::{self, ipam::Subnet};
use crate::spec::NetworkMode;
use crate::store::Store;
use anyhow::{bail, Result};
use serde_json::json;

pub fn network(store: &Store, command: &NetworkCommand) -> Result<i32> {
    match command {
        NetworkCommand::Create {
            subnet,
            gateway,
            name,
            ..
        } => {
            let subnet = subnet
                .as_deref()
                .map(|s| s.parse::<Subnet>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let def = network::create(store, name, subnet, *gateway)?;
            println!("{}", def.id);
        }
        NetworkCommand::Ls { quiet } => {
            let defs = network::list(store)?;
            if *quiet {
                defs.iter().for_each(|d| println!("{}", &d.id[..12]));
                return Ok(0);
            }
            let rows: Vec<[String; 4]> = defs
                .iter()
                .map(|d| {
                    [
                        d.id[..12].to_string(),
                        d.name.clone(),
                        "bridge".into(),
                        d.subnet.to_string(),
                    ]
                })
                .collect();
            print_table(&["NETWORK ID", "NAME", "DRIVER", "SUBNET"], &rows);
        }
        NetworkCommand::Inspect { names } => {
            let mut out = vec![];
            for name in names {
                let d = network::find(store, name)?;
                let mut containers = serde_json::Map::new();
                for (id, cname, ip, _) in network::members(store, &d.name) {
                    containers.insert(
                        id,
                        json!({"Name": cname, "IPv4Address": format!("{ip}/{}", d.subnet.prefix)}),
                    );
                }
                out.push(json!({
                    "Name": d.name, "Id": d.id, "Created": d.created, "Driver": "bridge",
                    "IPAM": {"Config": [{"Subnet": d.subnet.to_string(), "Gateway": d.gateway.to_string()}]},
                    "Options": {"com.docker.network.bridge.name": d.bridge},
                    "Containers": containers,
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCommand::Rm { names } => {
            for name in names {
                network::remove(store, name)?;
                println!("{name}");
            }
        }
        NetworkCommand::Connect {
            alias,
            network: net,
            container,
        } => {
            let c = store.lookup_container(container)?;
            let settings = network::connect(store, &c, net, alias)?;
            let name = settings.network.clone();
            let updated = store.update_container(&c.id, |r| r.extra_networks.push(settings))?;
            // Its own /etc/hosts learns the new network's names, and they learn its name.
            crate::container::hosts::refresh_own(store, &updated);
            crate::container::hosts::refresh_network(store, &name, &c.id);
        }
        NetworkCommand::Disconnect {
            network: net,
            container,
        } => {
            let c = store.lookup_container(container)?;
            let def = network::find(store, net)?;
            let Some(settings) = c.extra_networks.iter().find(|s| s.network == def.name) else {
                if c.network.network == def.name {
                    bail!("container {container} was started on network {}: it stays on it while it runs (stop it, or start it with another --network)", def.name);
                }
                bail!(
                    "container {container} is not connected to network {}",
                    def.name
                );
            };
            network::disconnect(store, &c, settings)?;
            let updated = store.update_container(&c.id, |r| {
                r.extra_networks.retain(|s| s.network != def.name)
            })?;
            crate::container::hosts::refresh_own(store, &updated);
            crate::container::hosts::refresh_network(store, &def.name, &c.id);
        }
        NetworkCommand::Prune { force } => {
            if !force
                && !super::prune::confirm(
                    "This will remove all custom networks not used by at least one container.",
                )
            {
                return Ok(0);
            }
            for link in network::cleanup(store)? {
                println!("Deleted stale link: {link}");
            }
            let used: Vec<String> = store
                .containers()?
                .into_iter()
                .filter_map(|c| match c.host_config.network_mode {
                    NetworkMode::Bridge(n) => Some(n),
                    _ => None,
                })
                .collect();
            let mut first = true;
            for d in network::list(store)? {
                if d.name == network::DEFAULT_NETWORK || used.contains(&d.name) {
                    continue;
                }
                network::remove(store, &d.name)?;
                if first {
                    println!("Deleted Networks:");
                    first = false;
                }
                println!("{}", d.name);
            }
        }
    }
    Ok(0)
}

pub fn port(store: &Store, args: &PortArgs) -> Result<i32> {
    let c = store.lookup_container(&args.container)?;
    if !c.is_running() {
        bail!(
            "container {} is not running: its ports are published only while it runs",
            c.short_id()
        );
    }
    let wanted = args.port.as_deref().map(|p| {
        let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        (port.to_string(), proto.to_string())
    });
    let mut found = false;
    for m in &c.network.ports {
        let matches = wanted
            .as_ref()
            .is_none_or(|(p, proto)| *p == m.container_port.to_string() && proto == m.proto.name());
        if !matches {
            continue;
        }
        found = true;
        let host = format!(
            "{}:{}",
            m.host_ip.map_or("0.0.0.0".into(), |i| i.to_string()),
            m.host_port
        );
        if wanted.is_some() {
            println!("{host}");
        } else {
            println!("{}/{} -> {host}", m.container_port, m.proto.name());
        }
    }
    if let (Some((p, proto)), false) = (&wanted, found) {
        bail!(
            "no public port '{p}/{proto}' published for {}",
            args.container
        );
    }
    Ok(0)
}
