//! Creating a container: its request checked, its volumes made, its spec built from the
//! image config and the request (`spec::frontend`), its bundle and record written.

use super::request::{Checked, CreateRequest, ImageParts};
use crate::flags::MountArg;
use crate::spec::{
    self,
    frontend::{self, ContainerPlace},
};
use crate::state::{self, ContainerConfig, ContainerRecord, HostConfig, RunState, Status};
use crate::store::Store;
use crate::timefmt::now_rfc3339;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Creates the container's bundle and record (a unique generated name if none is given).
/// The caller holds the store's writer lock.
pub fn create_container(
    store: &Store,
    request: Checked,
    image: ImageParts,
) -> Result<(ContainerRecord, oci_spec::runtime::Spec)> {
    let Checked(request) = request;
    let generated = request.name.is_none();
    if store.mode().rootless() {
        // The run directory a keeper needs: a squatted one is refused before any record.
        let run = crate::rootless::run_dir();
        crate::rootless::storage::ensure_private_dir(&run)
            .with_context(|| format!("create {}", run.display()))?;
    }
    let (mut record, spec) = prepare(store, request, image)?;
    create_with_unique_name(store, &mut record, &spec, generated)?;
    Ok((record, spec))
}

/// The container's record and spec, decided before anything is written (but volumes).
fn prepare(
    store: &Store,
    request: CreateRequest,
    image: ImageParts,
) -> Result<(ContainerRecord, oci_spec::runtime::Spec)> {
    let mut options = request.options;
    let layers = image.layers;
    let lower_dirs: Vec<PathBuf> = layers.iter().rev().map(|l| store.layer_dir(l)).collect();
    let img_cfg = image.config.config().clone().unwrap_or_default();
    let taken: Vec<String> = options
        .binds
        .iter()
        .map(|b| b.destination.clone())
        .chain(options.tmpfs.iter().map(|t| t.0.clone()))
        .collect();
    let bottom_first: Vec<PathBuf> = lower_dirs.iter().rev().cloned().collect();
    let volumes = volume_binds(
        store,
        &request.volume_requests,
        img_cfg.volumes().as_deref().unwrap_or_default(),
        &taken,
        &bottom_first,
    )?;
    options.binds.extend(volumes);
    let id = state::random_hex(32);
    let cgroup_path =
        crate::cgroups::delegation::container_cgroup_path(store.mode(), &id, &options.limits)
            .map_err(|e| anyhow::anyhow!(e))?
            .unwrap_or_default();
    let bundle = store.container_dir(&id);
    let fe = frontend::from_image(
        &img_cfg,
        &options,
        crate::rootfs::read_from_layers(&lower_dirs, "etc/passwd").as_deref(),
        crate::rootfs::read_from_layers(&lower_dirs, "etc/group").as_deref(),
        &|k| std::env::var(k).ok(),
        &ContainerPlace {
            id: &id,
            bundle: &bundle,
            cgroups_path: &cgroup_path,
        },
    )?;
    let mut labels = img_cfg.labels().clone().unwrap_or_default();
    labels.extend(request.labels);
    let mut network = request.network;
    if request.publish_all {
        publish_exposed(&mut network.ports, &img_cfg);
    }
    let record = ContainerRecord {
        id: id.clone(),
        name: request.name.unwrap_or_else(state::random_name),
        created: now_rfc3339(),
        image: image.id,
        image_name: request.image_name,
        layers,
        config: ContainerConfig {
            entrypoint: fe.entrypoint,
            cmd: fe.cmd,
            env: fe.env,
            working_dir: fe.cwd,
            user: fe.user,
            hostname: fe.hostname,
            tty: options.tty,
            open_stdin: request.interactive,
            labels: labels.into_iter().collect(),
        },
        host_config: HostConfig {
            binds: options.binds.clone(),
            limits: options.limits.clone(),
            cap_add: options.cap_add.clone(),
            cap_drop: options.cap_drop.clone(),
            privileged: options.privileged,
            readonly_rootfs: options.read_only,
            network_mode: options.network.clone().unwrap_or_default(),
            auto_remove: request.auto_remove,
            restart: request.restart,
            stop_signal: request
                .stop_signal
                .or_else(|| img_cfg.stop_signal().clone()),
            stop_timeout: request.stop_timeout,
            network,
            shm_size: options.shm_size,
        },
        cgroup_path,
        state: RunState {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            exit_code: 0,
            oom_killed: false,
            started_at: String::new(),
            finished_at: String::new(),
            error: String::new(),
            restart_count: 0,
            keeper_pid: 0,
            keeper_start: 0,
        },
        network: Default::default(),
        extra_networks: vec![],
    };
    Ok((record, fe.spec))
}

/// Volumes become binds of their data directories: named ones are created if missing,
/// anonymous ones made for `-v /path` and for each image `VOLUME` no mount covers. A new
/// volume starts with the image's files at its path (Docker's copy-up). Runs under the
/// writer lock, so no `volume rm` slips between this and the record naming the volume.
fn volume_binds(
    store: &Store,
    requests: &[MountArg],
    image_volumes: &[String],
    taken: &[String],
    layers_bottom_first: &[PathBuf],
) -> Result<Vec<spec::Bind>> {
    let clean = |p: &str| p.trim_end_matches('/').to_string();
    let mut wanted: Vec<(Option<String>, String, bool)> = requests
        .iter()
        .filter_map(|m| match m {
            MountArg::Volume {
                name,
                destination,
                readonly,
            } => Some((name.clone(), destination.clone(), *readonly)),
            _ => None,
        })
        .collect();
    for path in image_volumes {
        let covered = taken
            .iter()
            .chain(wanted.iter().map(|(_, d, _)| d))
            .any(|d| clean(d) == clean(path));
        if !covered {
            wanted.push((None, path.clone(), false));
        }
    }
    let mut binds = vec![];
    for (name, destination, readonly) in wanted {
        let fresh = name
            .as_deref()
            .is_none_or(|n| crate::volumes::find(store, n).is_err());
        let volume = crate::volumes::create(store, name.as_deref(), Default::default())?;
        let data = crate::volumes::data_dir(store, &volume.name);
        if fresh {
            crate::volumes::copy_up(layers_bottom_first, &destination, &data).with_context(
                || format!("copy the image's {destination} into volume {}", volume.name),
            )?;
        }
        binds.push(spec::Bind {
            source: data.display().to_string(),
            destination,
            readonly,
            volume: Some(volume.name),
        });
    }
    Ok(binds)
}

/// `-P`: every port the image exposes, on a random host port (unless already published).
fn publish_exposed(
    ports: &mut Vec<crate::endpoint::ports::PortMapping>,
    img: &oci_spec::image::Config,
) {
    use crate::endpoint::ports::{PortMapping, Proto};
    for exposed in img.exposed_ports().clone().unwrap_or_default() {
        let (port, proto) = exposed.split_once('/').unwrap_or((&exposed, "tcp"));
        let Ok(port) = port.parse() else { continue };
        let proto = if proto == "udp" {
            Proto::Udp
        } else {
            Proto::Tcp
        };
        if !ports
            .iter()
            .any(|p| p.container_port == port && p.proto == proto)
        {
            ports.push(PortMapping {
                host_ip: None,
                host_port: 0,
                container_port: port,
                proto,
            });
        }
    }
}

/// A generated name may collide with an existing one (the pool is finite): pick another,
/// as Docker does. A name the user chose is never changed.
fn create_with_unique_name(
    store: &Store,
    record: &mut ContainerRecord,
    spec: &oci_spec::runtime::Spec,
    generated: bool,
) -> Result<(), state::StateError> {
    let mut attempt = 0;
    loop {
        match store.create_container(record, spec) {
            Err(state::StateError::NameInUse(..)) if generated && attempt < 20 => {
                attempt += 1;
                record.name = format!(
                    "{}{}",
                    state::random_name(),
                    if attempt > 5 {
                        attempt.to_string()
                    } else {
                        String::new()
                    }
                );
            }
            other => return other,
        }
    }
}
