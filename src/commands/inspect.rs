//! `hako inspect`: Docker-shaped JSON for containers and images.

use crate::cli::InspectArgs;
use crate::image::Image;
use crate::state::ContainerRecord;
use crate::store::Store;
use anyhow::{bail, Result};
use serde_json::{json, Value};

pub fn inspect(store: &Store, args: &InspectArgs) -> Result<i32> {
    let mut out = vec![];
    let mut missing = vec![];
    for name in &args.names {
        let want_container = args.kind.as_deref() != Some("image");
        let want_image = args.kind.as_deref() != Some("container");
        if let (true, Ok(c)) = (want_container, crate::container::reap::lookup(store, name)) {
            out.push(container_json(store, &c));
        } else if let (true, Ok(rec)) = (want_image, store.lookup_image(name)) {
            let img = Image::load(store, &rec)?;
            out.push(image_json(store, &img));
        } else {
            missing.push(name.clone());
        }
    }
    match &args.format {
        Some(f) => {
            let format = crate::format::Format::parse(f, &[])?;
            for o in &out {
                println!("{}", format.render(o)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(out))?),
    }
    if !missing.is_empty() {
        bail!("No such object: {}", missing.join(", "));
    }
    Ok(0)
}

/// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`, Docker's port map.
fn port_map(ports: &[crate::endpoint::ports::PortMapping]) -> Value {
    let mut map = serde_json::Map::new();
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.proto.name());
        let entry = map.entry(key).or_insert_with(|| json!([]));
        entry.as_array_mut().expect("array").push(json!({
            "HostIp": p.host_ip.map_or("0.0.0.0".to_string(), |i| i.to_string()),
            "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
        }));
    }
    Value::Object(map)
}

/// Docker's `NetworkSettings`: the address and ports while it runs, per network too.
fn network_settings(c: &ContainerRecord, running: bool) -> Value {
    let n = &c.network;
    let live = running && n.ip.is_some();
    let text = |v: Option<std::net::Ipv4Addr>| {
        if live {
            v.map(|i| i.to_string()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut networks = serde_json::Map::new();
    if let crate::spec::NetworkMode::Bridge(name) = &c.host_config.network_mode {
        networks.insert(
            name.clone(),
            json!({
                "IPAddress": text(n.ip),
                "IPPrefixLen": if live { n.prefix } else { 0 },
                "Gateway": text(n.gateway),
                "MacAddress": if live { n.mac.clone() } else { String::new() },
                "Aliases": c.host_config.network.aliases,
            }),
        );
    }
    for extra in c.extra_networks.iter().filter(|_| running) {
        networks.insert(
            extra.network.clone(),
            json!({
                "IPAddress": extra.ip.map(|i| i.to_string()).unwrap_or_default(),
                "IPPrefixLen": extra.prefix,
                "Gateway": extra.gateway.map(|i| i.to_string()).unwrap_or_default(),
                "MacAddress": extra.mac,
                "Aliases": extra.aliases,
            }),
        );
    }
    json!({
        "IPAddress": text(n.ip),
        "IPPrefixLen": if live { n.prefix } else { 0 },
        "Gateway": text(n.gateway),
        "MacAddress": if live { n.mac.clone() } else { String::new() },
        "Ports": if live { port_map(&n.ports) } else { json!({}) },
        "Networks": networks,
    })
}

fn container_json(store: &Store, c: &ContainerRecord) -> Value {
    let dir = store.container_dir(&c.id);
    let running = c.is_running();
    let lower: Vec<String> = c
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_dir(l).display().to_string())
        .collect();
    let argv: Vec<&String> = c.config.entrypoint.iter().chain(&c.config.cmd).collect();
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": argv.first(),
        "Args": argv.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": match (running, c.state.status) {
                (true, crate::state::Status::Paused) => "paused",
                (true, _) => "running",
                (false, crate::state::Status::Created) => "created",
                _ => "exited",
            },
            "Running": running,
            "Paused": running && c.state.status == crate::state::Status::Paused,
            "Restarting": false,
            "Pid": if running { c.state.pid } else { 0 },
            "ExitCode": c.state.exit_code,
            "OOMKilled": c.state.oom_killed,
            "Error": c.state.error,
            "StartedAt": c.state.started_at,
            "FinishedAt": c.state.finished_at,
        },
        "RestartCount": c.state.restart_count,
        "NetworkSettings": network_settings(c, running),
        "LogPath": dir.join("container.log"),
        "Image": c.image.to_string(),
        "Name": format!("/{}", c.name),
        "HostConfig": {
            "Binds": c.host_config.binds.iter().map(|b| format!("{}:{}{}", b.source, b.destination, if b.readonly { ":ro" } else { "" })).collect::<Vec<_>>(),
            "NetworkMode": c.host_config.network_mode.name(),
            "PortBindings": port_map(&c.host_config.network.ports),
            "Dns": c.host_config.network.dns,
            "ExtraHosts": c.host_config.network.extra_hosts,
            "AutoRemove": c.host_config.auto_remove,
            "RestartPolicy": {
                "Name": c.host_config.restart.name(),
                "MaximumRetryCount": match c.host_config.restart { crate::state::RestartPolicy::OnFailure { max_retries } => max_retries, _ => 0 },
            },
            "Privileged": c.host_config.privileged,
            "ReadonlyRootfs": c.host_config.readonly_rootfs,
            "CapAdd": c.host_config.cap_add,
            "CapDrop": c.host_config.cap_drop,
            "Memory": c.host_config.limits.memory.unwrap_or(0),
            "MemorySwap": c.host_config.limits.memory_swap.unwrap_or(0),
            "NanoCpus": c.host_config.limits.cpu_quota.filter(|q| *q > 0).map_or(0, |q| {
                q * 1_000_000_000 / c.host_config.limits.period() as i64
            }),
            "PidsLimit": c.host_config.limits.pids,
            "ShmSize": c.host_config.shm_size.unwrap_or(64 << 20),
            "CgroupParent": "hako",
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": lower.join(":"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
                "MergedDir": dir.join("merged"),
            },
        },
        "Config": {
            "Hostname": c.config.hostname,
            "User": c.config.user,
            "Env": c.config.env,
            "Cmd": c.config.cmd,
            "Entrypoint": c.config.entrypoint,
            "WorkingDir": c.config.working_dir,
            "Tty": c.config.tty,
            "OpenStdin": c.config.open_stdin,
            "Image": c.image_name,
            "StopSignal": c.host_config.stop_signal,
            "StopTimeout": c.host_config.stop_timeout,
        },
    })
}

fn image_json(store: &Store, img: &Image) -> Value {
    // The config as stored: Docker's fields the OCI type lacks (Healthcheck, OnBuild,
    // Shell) stay visible.
    let cfg = store
        .read_blob(&img.record.config)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::to_value(&img.config).unwrap_or(Value::Null));
    let names: Vec<String> = img
        .record
        .names
        .iter()
        .filter_map(|n| n.parse::<crate::reference::Reference>().ok())
        .map(|r| r.familiar())
        .collect();
    // Docker shows the comment of the newest history entry (commit -m, import -m).
    let comment = cfg["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"))
        .cloned()
        .unwrap_or(json!(""));
    json!({
        "Id": img.record.config.to_string(),
        "RepoTags": names,
        "Comment": comment,
        "Author": cfg.get("author").cloned().unwrap_or(json!("")),
        "Created": cfg.get("created"),
        "Architecture": cfg.get("architecture"),
        "Os": cfg.get("os"),
        "Size": img.size(store),
        "Config": cfg.get("config"),
        // Docker's spelling of the config's rootfs: {"Type": "layers", "Layers": [diff_id…]}.
        "RootFS": {
            "Type": cfg["rootfs"].get("type").cloned().unwrap_or(json!("layers")),
            "Layers": cfg["rootfs"].get("diff_ids").cloned().unwrap_or(json!([])),
        },
        "History": cfg.get("history"),
        "Manifest": img.record.manifest.to_string(),
    })
}
