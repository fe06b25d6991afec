//! A service's image (built or pulled), the project's networks and volumes, and the
//! container for a service (or a one-off `compose run`), labelled as Docker Compose does.

use super::*;

pub(super) fn build_service(ctx: &Ctx, s: &Service, no_cache: bool) -> Result<ImageRecord> {
    let b = s.build.as_ref().expect("a service with a build section");
    eprintln!(" Service {}  Building", s.name);
    let args = BuildArgs {
        tags: vec![image_name(ctx, s)],
        file: b.dockerfile.clone(),
        build_args: b.args.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        target: b.target.clone(),
        no_cache,
        network: "default".into(),
        progress: "auto".into(),
        context: b.context.clone(),
        ..Default::default()
    };
    crate::commands::build::build_image(ctx.store, &args, ctx.registries)
        .with_context(|| format!("build service {}", s.name))
}

/// The service's image: built when it has a build section and (`--build` or) no image of
/// that name yet; otherwise looked up, pulled if missing.
pub(super) fn service_image(ctx: &Ctx, s: &Service, force_build: bool) -> Result<ImageRecord> {
    let name = image_name(ctx, s);
    if s.build.is_some() && (force_build || ctx.store.lookup_image(&name).is_err()) {
        return build_service(ctx, s, false);
    }
    ensure::ensure(
        ctx.store,
        &name,
        PullPolicy::Missing,
        None,
        ctx.registries,
        false,
    )
    .with_context(|| format!("image of service {}", s.name))
}

/// The networks and volumes the file declares (and the default network), made if missing.
pub(super) fn prepare_resources(ctx: &Ctx) -> Result<()> {
    let uses_default = ctx.project.services.iter().any(|s| {
        s.network_mode.is_none()
            && (s.networks.is_empty() || s.networks.iter().any(|(n, _)| n == "default"))
    });
    let mut networks: Vec<(String, bool)> = ctx
        .project
        .networks
        .values()
        .map(|r| (r.name.clone(), r.external))
        .collect();
    if uses_default && !ctx.project.networks.contains_key("default") {
        networks.push((default_network(ctx), false));
    }
    for (name, external) in networks {
        match crate::network::find(ctx.store, &name) {
            Ok(_) => {}
            Err(_) if external => bail!("network {name} declared as external, but could not be found (hako network create {name})"),
            Err(_) => {
                crate::network::create(ctx.store, &name, None, None)
                    .with_context(|| format!("create network {name}"))?;
                eprintln!(" Network {name}  Created");
            }
        }
    }
    let _writer = ctx.store.writer_guard()?;
    for r in ctx.project.volumes.values() {
        match crate::volumes::find(ctx.store, &r.name) {
            Ok(_) => {}
            Err(_) if r.external => bail!(
                "volume {} declared as external, but could not be found (hako volume create {})",
                r.name,
                r.name
            ),
            Err(_) => {
                let labels = [
                    (PROJECT.to_string(), ctx.project.name.clone()),
                    ("com.docker.compose.volume".into(), r.name.clone()),
                ]
                .into_iter()
                .collect();
                crate::volumes::create(ctx.store, Some(&r.name), labels)?;
                eprintln!(" Volume {}  Created", r.name);
            }
        }
    }
    Ok(())
}

pub(super) fn default_network(ctx: &Ctx) -> String {
    ctx.project.networks.get("default").map_or_else(
        || format!("{}_default", ctx.project.name),
        |r| r.name.clone(),
    )
}

/// What `compose run` changes about a service's container.
pub(super) struct OneOff {
    pub command: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub rm: bool,
    pub tty: bool,
    pub ports: bool,
}

/// A digest of everything that decides a service's container: a change recreates it.
pub(super) fn config_hash(s: &Service, image: &ImageRecord) -> String {
    let text = format!(
        "{}\n{}",
        serde_json::to_string(s).unwrap_or_default(),
        image.config
    );
    crate::digest::Digest::of_bytes(text.as_bytes())
        .hex()
        .to_string()
}

pub(super) fn create_for(
    ctx: &Ctx,
    s: &Service,
    image: &ImageRecord,
    name: &str,
    one_off: Option<&OneOff>,
) -> Result<(ContainerRecord, oci_spec::runtime::Spec)> {
    let parts = ImageParts::of(ctx.store, image, &image_name(ctx, s))?;
    // Compose's entrypoint is a list; hako's is a program, so the rest leads the command.
    let mut entrypoint = None;
    let mut command: Vec<String> = vec![];
    if let Some(e) = &s.entrypoint {
        entrypoint = Some(e.first().cloned().unwrap_or_default());
        command.extend(e.iter().skip(1).cloned());
    }
    match one_off {
        Some(o) if !o.command.is_empty() => command.extend(o.command.iter().cloned()),
        _ => command.extend(s.command.clone().unwrap_or_default()),
    }
    if let Some(e) = one_off.and_then(|o| o.entrypoint.clone()) {
        entrypoint = Some(e);
    }
    let mut mounts = vec![];
    for m in &s.volumes {
        mounts.push(match m.kind.as_str() {
            "bind" => MountArg::Bind(crate::flags::Bind {
                source: m
                    .source
                    .clone()
                    .ok_or_else(|| anyhow!("service {}: a bind mount needs a source", s.name))?,
                destination: m.target.clone(),
                readonly: m.read_only,
                volume: None,
            }),
            "tmpfs" => MountArg::Tmpfs {
                destination: m.target.clone(),
                options: vec![],
            },
            _ => MountArg::Volume {
                name: m
                    .source
                    .as_ref()
                    .map(|k| ctx.project.volumes[k].name.clone()),
                destination: m.target.clone(),
                readonly: m.read_only,
            },
        });
    }
    for t in &s.tmpfs {
        mounts.push(crate::flags::parse_tmpfs(t).map_err(anyhow::Error::msg)?);
    }
    let (binds, tmpfs, volume_requests) = split_mounts(mounts.into_iter());
    let (network, aliases) = match s.network_mode.as_deref() {
        Some(mode) => {
            let mode = match mode.strip_prefix("service:") {
                Some(other) => {
                    let o = find_service(ctx, other)?;
                    format!("container:{}", container_name(ctx, o))
                }
                None => mode.to_string(),
            };
            (
                crate::container::request::network_mode(ctx.store, &mode)?,
                vec![],
            )
        }
        None => {
            let (key, extra) = s
                .networks
                .first()
                .cloned()
                .unwrap_or(("default".into(), vec![]));
            let net = if key == "default" {
                default_network(ctx)
            } else {
                ctx.project.networks[&key].name.clone()
            };
            let mut aliases = vec![s.name.clone()];
            aliases.extend(extra);
            (NetworkMode::Bridge(net), aliases)
        }
    };
    let mut ports = vec![];
    if one_off.is_none_or(|o| o.ports) {
        for p in &s.ports {
            ports.extend(
                crate::endpoint::ports::parse(p)
                    .map_err(|e| anyhow!("service {}: ports: {e}", s.name))?,
            );
        }
    }
    let mut env = s.environment.clone();
    if let Some(o) = one_off {
        env.extend(o.env.iter().cloned());
    }
    let mut labels: BTreeMap<String, String> = s.labels.clone();
    labels.insert(PROJECT.into(), ctx.project.name.clone());
    labels.insert(SERVICE.into(), s.name.clone());
    labels.insert(NUMBER.into(), "1".into());
    labels.insert(
        ONEOFF.into(),
        if one_off.is_some() { "True" } else { "False" }.into(),
    );
    labels.insert(CONFIG_HASH.into(), config_hash(s, image));
    labels.insert(WORKING_DIR.into(), ctx.project.dir.display().to_string());
    labels.insert(CONFIG_FILES.into(), ctx.file.display().to_string());
    let limits = crate::cgroups::Limits {
        memory: s
            .mem_limit
            .as_deref()
            .map(crate::flags::parse_memory)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        cpu_quota: s.cpus.map(crate::cgroups::Limits::cpus_to_quota),
        pids: s.pids_limit,
        cpu_shares: s.cpu_shares.filter(|c| *c != 0),
        spec: crate::cgroups::SpecResources {
            cpuset_cpus: s
                .cpuset
                .as_deref()
                .map(crate::flags::parse_cpu_list)
                .transpose()
                .map_err(|e| anyhow::anyhow!("service {}: cpuset: {e}", s.name))?,
            memory_reservation: s
                .mem_reservation
                .as_deref()
                .map(crate::units::parse_bytes)
                .transpose()
                .map_err(|e| anyhow::anyhow!("service {}: mem_reservation: {e}", s.name))?,
            ..Default::default()
        },
        ..Default::default()
    };
    let request = CreateRequest {
        image_name: image_name(ctx, s),
        name: Some(name.to_string()),
        options: RunOptions {
            id_maps: None,
            seccomp: Default::default(),
            entrypoint,
            command,
            env,
            user: s.user.clone(),
            workdir: s.working_dir.clone(),
            hostname: s.hostname.clone(),
            tty: one_off.map_or(s.tty, |o| o.tty),
            read_only: s.read_only,
            privileged: s.privileged,
            cap_add: s.cap_add.clone(),
            cap_drop: s.cap_drop.clone(),
            no_new_privileges: false,
            binds,
            tmpfs,
            sysctls: vec![],
            shm_size: s
                .shm_size
                .as_deref()
                .map(crate::units::parse_bytes)
                .transpose()
                .map_err(|e| anyhow!("service {}: shm_size: {e}", s.name))?,
            network: Some(network),
            ulimits: vec![],
            limits,
        },
        volume_requests,
        interactive: one_off.is_some() || s.stdin_open,
        auto_remove: one_off.is_some_and(|o| o.rm),
        restart: match (one_off, &s.restart) {
            (None, Some(r)) => r
                .parse()
                .map_err(|e: String| anyhow!("service {}: restart: {e}", s.name))?,
            _ => Default::default(),
        },
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s.stop_grace_period,
        network: crate::endpoint::Request {
            ports,
            aliases,
            dns: s.dns.clone(),
            extra_hosts: s.extra_hosts.clone(),
            ..Default::default()
        },
        publish_all: false,
        labels,
    };
    let request = request
        .check(ctx.store.mode())
        .with_context(|| format!("service {}", s.name))?;
    create_container(ctx.store, request, parts)
}
