//! `hako run`: flags → image → bundle (spec + record) → start → supervise → finish.
//!
//! Glue only: the flags are typed by clap (`flags`), the spec comes from the front end
//! (`spec::frontend`), the image from the image service (`registry::ensure`), and
//! starting and tearing down are shared with the other verbs (`lifecycle`).

use super::{lifecycle, ExitCode};
use crate::cgroups::Limits;
use crate::cli::RunArgs;
use crate::flags::MountArg;
use crate::image::Image;
use crate::launcher::StartOptions;
use crate::registry::config::RegistryConfig;
use crate::registry::ensure;
use crate::spec::frontend::{self, ContainerPlace, RunOptions};
use crate::spec::{self, NetworkMode};
use crate::state::{self, ContainerConfig, ContainerRecord, HostConfig, RunState, Status};
use crate::store::images::ImageRecord;
use crate::store::Store;
use crate::timefmt::now_rfc3339;
use anyhow::{bail, Context, Result};

use std::path::PathBuf;

pub fn run(store: &Store, args: RunArgs, registries: &RegistryConfig) -> Result<i32> {
    let (mut record, spec) = create(store, &args, registries)?;
    if args.detach {
        // The keeper starts it; a failure to start still leaves the container (as Docker).
        super::supervise::spawn_keeper(store, &record.id)?;
        println!("{}", record.id);
        return Ok(0);
    }
    let start = StartOptions {
        interactive: args.interactive,
        preserve_fds: args.preserve_fds,
        die_with_parent: true,
        start_fifo: None,
        stdio: None,
    };
    // The spec just written to the bundle, not read back from it.
    lifecycle::run_foreground(store, &mut record, Some(spec), &start)
}

/// `hako create`: the container's bundle and record, ready for `start`.
pub fn create_verb(store: &Store, args: RunArgs, registries: &RegistryConfig) -> Result<i32> {
    let (record, _) = create(store, &args, registries)?;
    println!("{}", record.id);
    Ok(0)
}

/// Flags → image → spec and record, written as the container's bundle.
fn create(
    store: &Store,
    args: &RunArgs,
    registries: &RegistryConfig,
) -> Result<(ContainerRecord, oci_spec::runtime::Spec)> {
    let (options, volume_requests) = check_flags(store, args).context(ExitCode(125))?;
    // From image lookup until the container record names its layers, no collection.
    let writer = store.writer_guard().context(ExitCode(125))?;
    // Progress stays quiet unless stdout is a terminal: stdout is the container's.
    let quiet = !std::io::IsTerminal::is_terminal(&std::io::stdout());
    let image = ensure::ensure(
        store,
        &args.image,
        args.pull,
        args.platform.as_deref(),
        registries,
        quiet,
    )
    .context(ExitCode(125))?;
    let parts = ImageParts::of(store, &image, &args.image).context(ExitCode(125))?;
    let request = CreateRequest {
        image_name: args.image.clone(),
        name: args.name.clone(),
        options,
        volume_requests,
        interactive: args.interactive,
        auto_remove: args.rm,
        restart: args.restart.clone(),
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        network: network_request(args),
        publish_all: args.publish_all,
        labels: super::volume::parse_labels(&args.labels)?,
    };
    let created = create_container(store, request, parts).context(ExitCode(125))?;
    drop(writer);
    Ok(created)
}

/// The flags, checked together: bad input fails here, before any pull or write.
/// `--network`: none, host, container:NAME, or a network (bridge by default, as root).
pub(crate) fn network_mode(store: &Store, name: &str) -> Result<NetworkMode> {
    Ok(match name {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        // Rootless: the bridge needs root; user-mode networking stands in for it.
        "default" | "bridge" | "slirp4netns" | "pasta" if crate::rootless::active() => {
            crate::network::usermode::choose(name.parse().ok())?.network_mode()
        }
        "slirp4netns" | "pasta" => bail!("--network {name} is the user-mode network of rootless containers; as root, containers get a bridge (the default) with -p"),
        "default" => NetworkMode::Bridge(crate::network::DEFAULT_NETWORK.into()),
        other => match other.strip_prefix("container:") {
            Some(c) => NetworkMode::Container(store.lookup_container(c)?.id),
            None => NetworkMode::Bridge(crate::network::find(store, other)?.name),
        },
    })
}

fn check_flags(store: &Store, args: &RunArgs) -> Result<(RunOptions, Vec<MountArg>)> {
    if args.rm && args.restart != crate::state::RestartPolicy::No {
        bail!("conflicting options: --restart and --rm (a container removed when it exits cannot be restarted)");
    }
    if args.tty
        && args.interactive
        && !args.detach
        && !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        eprintln!("hako: warning: -t asks for a terminal, but stdin is not one (a pipe or file); the container gets a pty all the same");
    }
    if let Some(sig) = &args.stop_signal {
        crate::signals::parse(sig)?;
    }
    let network = network_mode(store, &args.network)?;
    let has_own = network.own_namespace();
    if !matches!(network, NetworkMode::Bridge(_)) {
        let publishes = crate::network::usermode::Helper::of(&network).is_none();
        let extras = [
            (
                publishes && (!args.publish.is_empty() || args.publish_all),
                "-p/-P",
            ),
            (args.ip.is_some(), "--ip"),
            (args.mac_address.is_some(), "--mac-address"),
            (!args.network_alias.is_empty(), "--network-alias"),
        ];
        if let Some((_, flag)) = extras.iter().find(|(given, _)| *given) {
            bail!(
                "{flag} needs a bridge network; --network {} has none{}",
                args.network,
                if has_own { "" } else { " of its own" }
            );
        }
    }
    let mut no_new_privileges = false;
    let mut seccomp = spec::SeccompChoice::Default;
    for opt in &args.security_opt {
        match opt.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                no_new_privileges = true
            }
            "no-new-privileges:false" | "no-new-privileges=false" => no_new_privileges = false,
            "seccomp=unconfined" | "seccomp:unconfined" => {
                seccomp = spec::SeccompChoice::Unconfined
            }
            other => match other
                .strip_prefix("seccomp=")
                .or_else(|| other.strip_prefix("seccomp:"))
            {
                Some(file) => seccomp = seccomp_profile(file, args)?,
                None => bail!("--security-opt {other}: hako knows no-new-privileges, seccomp=unconfined and seccomp=PROFILE.json"),
            },
        }
    }
    for c in args.cap_add.iter().chain(&args.cap_drop) {
        if !c.eq_ignore_ascii_case("ALL")
            && spec::defaults::cap_name(c)
                .parse::<caps::Capability>()
                .is_err()
        {
            bail!("unknown capability {c:?}: see capabilities(7) for the names (e.g. NET_ADMIN)");
        }
    }
    if let Some(n) = &args.name {
        if !state::valid_name(n) {
            bail!("invalid container name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most {} characters", state::MAX_NAME_LEN);
        }
    }
    for e in &args.env {
        crate::flags::check_env(e).map_err(anyhow::Error::msg)?;
    }
    if let Some(h) = &args.hostname {
        crate::flags::check_hostname(h).map_err(anyhow::Error::msg)?;
    }
    let (binds, tmpfs, volume_requests) = split_mounts(
        args.volumes
            .iter()
            .chain(&args.mounts)
            .chain(&args.tmpfs)
            .cloned(),
    )?;
    let id_maps = keep_id_maps(args.userns);
    let options = RunOptions {
        id_maps: id_maps.clone(),
        entrypoint: args.entrypoint.clone(),
        command: args.command.clone(),
        env: args.env.clone(),
        // keep-id runs the process as the user, as Podman does, unless -u says otherwise.
        user: args.user.clone().or_else(|| {
            let u = crate::rootless::host_user().filter(|_| id_maps.is_some())?;
            Some(format!("{}:{}", u.uid, u.gid))
        }),
        workdir: args.workdir.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
        read_only: args.read_only,
        privileged: args.privileged,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        no_new_privileges,
        seccomp,
        binds,
        tmpfs,
        sysctls: args
            .sysctls
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| anyhow::anyhow!("--sysctl {kv}: expected KEY=VALUE"))
            })
            .collect::<Result<_>>()?,
        network: Some(network),
        ulimits: args.ulimits.clone(),
        limits: limits(args)?,
    };
    Ok((options, volume_requests))
}

type Tmpfs = Vec<(String, Vec<String>)>;

/// `-v`, `--mount` and `--tmpfs` apart: host binds, tmpfs, and volumes (looked up once the
/// image is known). Two mounts on one path are refused, as Docker does.
pub(crate) fn split_mounts(
    all: impl Iterator<Item = MountArg>,
) -> Result<(Vec<spec::Bind>, Tmpfs, Vec<MountArg>)> {
    let (mut binds, mut tmpfs, mut volumes) = (vec![], vec![], vec![]);
    let mut seen = std::collections::HashSet::new();
    for m in all {
        let dest = m.destination().trim_end_matches('/').to_string();
        if !seen.insert(dest.clone()) {
            bail!("duplicate mount point: {dest} (each container path takes one -v, --mount or --tmpfs)");
        }
        match m {
            MountArg::Bind(b) => binds.push(b),
            MountArg::Tmpfs {
                destination,
                options,
            } => tmpfs.push((destination, options)),
            v @ MountArg::Volume { .. } => volumes.push(v),
        }
    }
    Ok((binds, tmpfs, volumes))
}

/// Volumes become binds of their data directories: named ones are created if missing,
/// anonymous ones made for `-v /path` and for each image `VOLUME` no mount covers. A new
/// volume starts with the image's files at its path (Docker's copy-up). Runs under the
/// writer lock, so no `volume rm` slips between this and the record naming the volume.
pub(crate) fn volume_binds(
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

/// `--security-opt seccomp=FILE`: a Docker or OCI profile, decided for this container's
/// capabilities; a bad file is refused here, before anything is pulled or created.
fn seccomp_profile(file: &str, args: &RunArgs) -> Result<spec::SeccompChoice> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--security-opt seccomp={file}: read the profile"))?;
    let caps = spec::defaults::capabilities(args.privileged, &args.cap_add, &args.cap_drop);
    let kernel = crate::sys::kernel_version(&crate::sys::kernel_release());
    let profile = crate::seccomp::default_profile::from_docker_json(&text, &caps, kernel)
        .map_err(|e| anyhow::anyhow!("--security-opt seccomp={file}: {e}"))?;
    // Compiled once now, so an unsupported rule is reported before anything is created.
    crate::seccomp::compile(&profile)
        .map_err(|e| anyhow::anyhow!("--security-opt seccomp={file}: {e}"))?;
    Ok(spec::SeccompChoice::Profile(Box::new(profile)))
}

/// `--userns=keep-id` (rootless; checked at dispatch): the container's own user namespace
/// in which the user's uid and gid are their own.
fn keep_id_maps(mode: crate::cli::UsernsMode) -> Option<crate::spec::plan::IdMaps> {
    use crate::rootless::idmap::keep_id;
    let user = crate::rootless::host_user()?;
    (mode == crate::cli::UsernsMode::KeepId).then(|| {
        let size = crate::rootless::mapped_ids();
        crate::spec::plan::IdMaps {
            uids: keep_id(user.uid, size),
            gids: keep_id(user.gid, size),
        }
    })
}

fn limits(args: &RunArgs) -> Result<Limits> {
    let mut limits = Limits {
        memory: args.memory,
        ..Limits::default()
    };
    if let Some(swap) = args.memory_swap {
        match limits.memory {
            None => bail!("--memory-swap needs --memory as well (it is the memory+swap total)"),
            Some(m) if swap >= 0 && swap < m => bail!("--memory-swap {swap} is smaller than --memory: it is the memory+swap total, so it must be at least the memory limit"),
            _ => limits.memory_swap = Some(swap),
        }
    }
    if let Some(c) = args.cpus {
        let online = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        if !(0.01..=online).contains(&c) {
            bail!("--cpus {c}: range of CPUs is from 0.01 to {online:.2}, as there are only {online} CPUs available");
        }
        limits.cpu_quota = Some(Limits::cpus_to_quota(c));
    }
    if let Some(p) = args.pids_limit {
        limits.pids = Some(if p <= 0 { -1 } else { p });
    }
    // Docker reads 0 as "not set" for shares and the block I/O weight.
    limits.cpu_shares = args.cpu_shares.filter(|s| *s != 0);
    limits.spec = crate::cgroups::SpecResources {
        blkio_weight: match args.blkio_weight {
            Some(w @ 1..=9) => {
                bail!("--blkio-weight {w}: the range is from 10 to 1000 (0 disables)")
            }
            w => w.filter(|w| *w != 0),
        },
        read_bps: args.device_read_bps.clone(),
        write_bps: args.device_write_bps.clone(),
        read_iops: args.device_read_iops.clone(),
        write_iops: args.device_write_iops.clone(),
        memory_reservation: args.memory_reservation,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        ..Default::default()
    };
    if let (Some(r), Some(m)) = (args.memory_reservation, limits.memory) {
        if r > m {
            bail!("--memory-reservation {r} is larger than --memory {m}: the soft limit must be below the hard one");
        }
    }
    // Rootless without a delegated cgroup: refused now, before any pull.
    if limits.has_resource_limits() {
        crate::cgroups::delegation::container_cgroup_path("-", &limits)
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(limits)
}

/// Everything a new container needs besides its image: from `run`/`create` flags, a
/// compose service, or a build step.
pub(crate) struct CreateRequest {
    /// The image as the user named it (shown by `ps`).
    pub image_name: String,
    pub name: Option<String>,
    pub options: RunOptions,
    pub volume_requests: Vec<MountArg>,
    pub interactive: bool,
    pub auto_remove: bool,
    pub restart: crate::state::RestartPolicy,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    pub network: crate::endpoint::Request,
    /// `-P`: every port the image exposes, on a random host port.
    pub publish_all: bool,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The image side of a new container: its config and its unpacked layers.
pub(crate) struct ImageParts {
    /// The config's digest (the image ID).
    pub id: crate::digest::Digest,
    pub config: oci_spec::image::ImageConfiguration,
    /// Bottom first; every one unpacked in the store.
    pub layers: Vec<crate::digest::Digest>,
}

impl ImageParts {
    /// The parts of a stored image, its layers unpacked if they are not yet.
    pub fn of(store: &Store, record: &ImageRecord, name: &str) -> Result<ImageParts> {
        let image = Image::load(store, record)?;
        image.ensure_layers(store).with_context(|| {
            format!(
                "prepare the layers of image {name} (if a blob is missing, load or pull the image again)"
            )
        })?;
        Ok(ImageParts {
            id: record.config.clone(),
            layers: image.diff_ids(),
            config: image.config,
        })
    }
}

/// Creates the container's bundle and record (a unique generated name if none is given).
/// The caller holds the store's writer lock.
pub(crate) fn create_container(
    store: &Store,
    request: CreateRequest,
    image: ImageParts,
) -> Result<(ContainerRecord, oci_spec::runtime::Spec)> {
    let generated = request.name.is_none();
    if crate::rootless::active() {
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
    let cgroup_path = crate::cgroups::delegation::container_cgroup_path(&id, &options.limits)
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

/// `-p`, `--ip` and the rest of a bridge attachment.
fn network_request(args: &RunArgs) -> crate::endpoint::Request {
    crate::endpoint::Request {
        ports: args.publish.iter().flatten().cloned().collect(),
        ip: args.ip,
        mac: args.mac_address.clone(),
        aliases: args.network_alias.clone(),
        dns: args.dns.iter().map(|d| d.to_string()).collect(),
        extra_hosts: args.add_host.clone(),
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
