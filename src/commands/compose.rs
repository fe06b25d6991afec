//! `hako compose …`: a compose project brought up, inspected and taken down with the same
//! pieces `build`, `run`, `network` and `volume` use, in this process (no daemon, no
//! external compose tool). Containers are named `<project>-<service>-<n>` and carry Docker
//! Compose's labels, so `hako ps --filter label=com.docker.compose.project=P` finds them.

use super::run::{create_container, split_mounts, CreateRequest, ImageParts};
use crate::cli::{BuildArgs, Cli, ComposeArgs, ComposeCommand};
use crate::compose::interpolate::{parse_env_file, Env};
use crate::compose::model::{order_by_dependencies, Healthcheck};
use crate::compose::{Project, Service};
use crate::flags::MountArg;
use crate::registry::config::RegistryConfig;
use crate::registry::ensure::{self, PullPolicy};
use crate::spec::frontend::RunOptions;
use crate::spec::NetworkMode;
use crate::state::{ContainerRecord, Status};
use crate::store::images::ImageRecord;
use crate::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PROJECT: &str = "com.docker.compose.project";
const SERVICE: &str = "com.docker.compose.service";
const NUMBER: &str = "com.docker.compose.container-number";
const ONEOFF: &str = "com.docker.compose.oneoff";
const CONFIG_HASH: &str = "com.docker.compose.config-hash";
const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
const CONFIG_FILES: &str = "com.docker.compose.project.config_files";

/// Compose's default file names, in its order of preference.
const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

struct Ctx<'a> {
    store: &'a Store,
    root: &'a Path,
    registries: &'a RegistryConfig,
    project: Project,
    file: PathBuf,
}

pub fn compose(
    store: &Store,
    root: &Path,
    args: &ComposeArgs,
    registries: &RegistryConfig,
) -> Result<i32> {
    let (project, file) = load_project(args)?;
    for w in &project.warnings {
        eprintln!("hako compose: warning: {w}");
    }
    let ctx = Ctx {
        store,
        root,
        registries,
        project,
        file,
    };
    match &args.command {
        ComposeCommand::Up {
            detach,
            build,
            remove_orphans,
            force_recreate,
            services,
        } => up(
            &ctx,
            services,
            *detach,
            *build,
            *remove_orphans,
            *force_recreate,
        ),
        ComposeCommand::Down {
            volumes,
            remove_orphans,
            timeout,
        } => down(&ctx, *volumes, *remove_orphans, *timeout),
        ComposeCommand::Ps { quiet, all } => {
            let mut argv = vec![
                "ps".to_string(),
                "--filter".into(),
                format!("label={PROJECT}={}", ctx.project.name),
            ];
            if *all {
                argv.push("-a".into());
            }
            if *quiet {
                argv.push("-q".into());
            }
            verb(&ctx, &argv)
        }
        ComposeCommand::Logs {
            follow,
            timestamps,
            services,
        } => {
            let containers = project_containers(&ctx, services)?;
            follow_logs(&ctx, &containers, *follow, *timestamps, None)
        }
        ComposeCommand::Run {
            rm,
            detach,
            env,
            entrypoint,
            no_tty,
            no_deps,
            service_ports,
            service,
            command,
        } => {
            let s = find_service(&ctx, service)?;
            if !no_deps {
                let deps: Vec<String> = s.depends_on.iter().map(|d| d.service.clone()).collect();
                if !deps.is_empty() {
                    up(&ctx, &deps, true, false, false, false)?;
                }
            }
            prepare_resources(&ctx)?;
            let image = service_image(&ctx, s, false)?;
            let tty = !no_tty && std::io::stdin().is_terminal();
            let name = format!(
                "{}-{}-run-{}",
                ctx.project.name,
                s.name,
                crate::state::random_hex(6)
            );
            let one_off = OneOff {
                command: command.clone(),
                entrypoint: entrypoint.clone(),
                env: env.clone(),
                rm: *rm,
                tty,
                ports: *service_ports,
            };
            let (mut record, spec) = {
                let _writer = ctx.store.writer_guard()?;
                create_for(&ctx, s, &image, &name, Some(&one_off))?
            };
            if *detach {
                super::supervise::spawn_keeper(ctx.store, &record.id)?;
                println!("{name}");
                return Ok(0);
            }
            let start = crate::launcher::StartOptions {
                interactive: true,
                preserve_fds: 0,
                die_with_parent: true,
                start_fifo: None,
                stdio: None,
            };
            super::lifecycle::run_foreground(ctx.store, &mut record, Some(spec), &start)
        }
        ComposeCommand::Exec {
            detach,
            no_tty,
            env,
            user,
            service,
            command,
        } => {
            let c = running_container(&ctx, service)?;
            let mut argv = vec!["exec".to_string()];
            if *detach {
                argv.push("-d".into());
            } else {
                argv.push("-i".into());
                if !no_tty && std::io::stdin().is_terminal() {
                    argv.push("-t".into());
                }
            }
            for e in env {
                argv.extend(["-e".into(), e.clone()]);
            }
            if let Some(u) = user {
                argv.extend(["-u".into(), u.clone()]);
            }
            argv.push(c.id);
            argv.extend(command.iter().cloned());
            verb(&ctx, &argv)
        }
        ComposeCommand::Build { no_cache, services } => {
            for s in selected(&ctx, services)? {
                if s.build.is_some() {
                    build_service(&ctx, s, *no_cache)?;
                }
            }
            Ok(0)
        }
        ComposeCommand::Pull { services } => {
            for s in selected(&ctx, services)? {
                if let (Some(image), None) = (&s.image, &s.build) {
                    ensure::ensure(
                        ctx.store,
                        image,
                        PullPolicy::Always,
                        None,
                        ctx.registries,
                        false,
                    )?;
                }
            }
            Ok(0)
        }
        ComposeCommand::Push { services } => {
            for s in selected(&ctx, services)? {
                if let (Some(image), Some(_)) = (&s.image, &s.build) {
                    verb(&ctx, &["push".into(), image.clone()])?;
                }
            }
            Ok(0)
        }
        ComposeCommand::Start { services } => {
            for c in project_containers(&ctx, services)? {
                if !c.is_running() {
                    super::supervise::spawn_keeper(ctx.store, &c.id)?;
                    eprintln!(" Container {}  Started", c.name);
                }
            }
            Ok(0)
        }
        ComposeCommand::Stop { timeout, services }
        | ComposeCommand::Restart { timeout, services } => {
            let restart = matches!(args.command, ComposeCommand::Restart { .. });
            let ids: Vec<String> = project_containers(&ctx, services)?
                .into_iter()
                .filter(|c| restart || c.is_running())
                .map(|c| c.name)
                .collect();
            if ids.is_empty() {
                return Ok(0);
            }
            let mut argv = vec![if restart { "restart" } else { "stop" }.to_string()];
            if let Some(t) = timeout {
                argv.extend(["-t".into(), t.to_string()]);
            }
            argv.extend(ids);
            verb(&ctx, &argv)
        }
        ComposeCommand::Config { services, quiet } => {
            if *quiet {
                return Ok(0);
            }
            if *services {
                ctx.project
                    .services
                    .iter()
                    .for_each(|s| println!("{}", s.name));
            } else {
                print!("{}", serde_yaml_ng::to_string(&ctx.project.resolved())?);
            }
            Ok(0)
        }
    }
}

/// `-f FILE` or the first default name in the working directory; `.env` beside it (or
/// `--env-file`), the process environment winning over it.
fn load_project(args: &ComposeArgs) -> Result<(Project, PathBuf)> {
    let file = match args.files.first() {
        Some(f) => f.clone(),
        None => {
            let cwd = std::env::current_dir()?;
            DEFAULT_FILES
                .iter()
                .map(|n| cwd.join(n))
                .find(|p| p.exists())
                .ok_or_else(|| anyhow!(
                    "no configuration file provided: not found (looked for {} in {}; give one with -f)",
                    DEFAULT_FILES.join(", "),
                    cwd.display()
                ))?
        }
    };
    if args.files.len() > 1 {
        bail!("several -f files are not supported yet: merge them into one compose file");
    }
    let file = file
        .canonicalize()
        .map_err(|e| anyhow!("compose file {}: {e}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    let mut env: Env = BTreeMap::new();
    let env_file = args.env_file.clone().unwrap_or_else(|| dir.join(".env"));
    if let Ok(t) = std::fs::read_to_string(&env_file) {
        for (k, v) in parse_env_file(&t).map_err(|e| anyhow!("{}: {e}", env_file.display()))? {
            env.insert(k, v);
        }
    } else if args.env_file.is_some() {
        bail!("--env-file {}: cannot read it", env_file.display());
    }
    env.extend(std::env::vars());
    let project = crate::compose::load(&crate::compose::Load {
        text: &text,
        dir: &dir,
        project_name: args.project_name.as_deref(),
        env: &env,
    })
    .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    Ok((project, file))
}

/// Runs another hako verb in this process, with this data root.
fn verb(ctx: &Ctx, argv: &[String]) -> Result<i32> {
    let mut full = vec![
        "hako".to_string(),
        "--root".into(),
        ctx.root.display().to_string(),
    ];
    full.extend(argv.iter().cloned());
    let cli = Cli::try_parse_from(&full).map_err(|e| anyhow!("{}", e.render()))?;
    super::dispatch(cli)
}

fn find_service<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a Service> {
    ctx.project
        .services
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow!("no such service: {name}"))
}

/// The named services and what they depend on, in dependency order (all if none named).
fn selected<'a>(ctx: &'a Ctx, names: &[String]) -> Result<Vec<&'a Service>> {
    let ordered = order_by_dependencies(&ctx.project.services).map_err(anyhow::Error::msg)?;
    if names.is_empty() {
        return Ok(ordered);
    }
    let mut wanted: Vec<String> = vec![];
    let mut stack: Vec<String> = names.to_vec();
    while let Some(n) = stack.pop() {
        let s = find_service(ctx, &n)?;
        if !wanted.contains(&n) {
            wanted.push(n);
            stack.extend(s.depends_on.iter().map(|d| d.service.clone()));
        }
    }
    Ok(ordered
        .into_iter()
        .filter(|s| wanted.contains(&s.name))
        .collect())
}

fn project_containers(ctx: &Ctx, services: &[String]) -> Result<Vec<ContainerRecord>> {
    Ok(ctx
        .store
        .containers()?
        .into_iter()
        .filter(|c| c.config.labels.get(PROJECT) == Some(&ctx.project.name))
        .filter(|c| {
            services.is_empty()
                || c.config
                    .labels
                    .get(SERVICE)
                    .is_some_and(|s| services.contains(s))
        })
        .rev()
        .collect())
}

fn service_container(ctx: &Ctx, s: &Service) -> Result<Option<ContainerRecord>> {
    Ok(ctx.store.containers()?.into_iter().find(|c| {
        c.config.labels.get(PROJECT) == Some(&ctx.project.name)
            && c.config.labels.get(SERVICE) == Some(&s.name)
            && c.config.labels.get(ONEOFF).map(String::as_str) != Some("True")
    }))
}

fn running_container(ctx: &Ctx, service: &str) -> Result<ContainerRecord> {
    let s = find_service(ctx, service)?;
    match service_container(ctx, s)? {
        Some(c) if c.is_running() => Ok(c),
        _ => bail!("service {service:?} is not running (hako compose up -d {service})"),
    }
}

fn container_name(ctx: &Ctx, s: &Service) -> String {
    s.container_name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-1", ctx.project.name, s.name))
}

/// The image a service runs: its `image:`, or `<project>-<service>` when it is built.
fn image_name(ctx: &Ctx, s: &Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{}", ctx.project.name, s.name))
}

fn build_service(ctx: &Ctx, s: &Service, no_cache: bool) -> Result<ImageRecord> {
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
    super::build::build_image(ctx.store, &args, ctx.registries)
        .with_context(|| format!("build service {}", s.name))
}

/// The service's image: built when it has a build section and (`--build` or) no image of
/// that name yet; otherwise looked up, pulled if missing.
fn service_image(ctx: &Ctx, s: &Service, force_build: bool) -> Result<ImageRecord> {
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
fn prepare_resources(ctx: &Ctx) -> Result<()> {
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

fn default_network(ctx: &Ctx) -> String {
    ctx.project.networks.get("default").map_or_else(
        || format!("{}_default", ctx.project.name),
        |r| r.name.clone(),
    )
}

/// What `compose run` changes about a service's container.
struct OneOff {
    command: Vec<String>,
    entrypoint: Option<String>,
    env: Vec<String>,
    rm: bool,
    tty: bool,
    ports: bool,
}

/// A digest of everything that decides a service's container: a change recreates it.
fn config_hash(s: &Service, image: &ImageRecord) -> String {
    let text = format!(
        "{}\n{}",
        serde_json::to_string(s).unwrap_or_default(),
        image.config
    );
    crate::digest::Digest::of_bytes(text.as_bytes())
        .hex()
        .to_string()
}

fn create_for(
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
    let (binds, tmpfs, volume_requests) = split_mounts(mounts.into_iter())?;
    let (network, aliases) = match s.network_mode.as_deref() {
        Some(mode) => {
            let mode = match mode.strip_prefix("service:") {
                Some(other) => {
                    let o = find_service(ctx, other)?;
                    format!("container:{}", container_name(ctx, o))
                }
                None => mode.to_string(),
            };
            (super::run::network_mode(ctx.store, &mode)?, vec![])
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
                crate::network::ports::parse(p)
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
        ..Default::default()
    };
    let request = CreateRequest {
        image_name: image_name(ctx, s),
        name: Some(name.to_string()),
        options: RunOptions {
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
        network: crate::network::Request {
            ports,
            aliases,
            dns: s.dns.clone(),
            extra_hosts: s.extra_hosts.clone(),
            ..Default::default()
        },
        publish_all: false,
        labels,
    };
    create_container(ctx.store, request, parts)
}

fn up(
    ctx: &Ctx,
    names: &[String],
    detach: bool,
    build: bool,
    remove_orphans: bool,
    force_recreate: bool,
) -> Result<i32> {
    let services = selected(ctx, names)?;
    prepare_resources(ctx)?;
    // Images first (builds print their own progress), then containers in dependency order.
    let mut images = BTreeMap::new();
    for s in &services {
        images.insert(s.name.clone(), service_image(ctx, s, build)?);
    }
    let mut started = vec![];
    // Keepers of independent services start side by side; a service with dependencies
    // waits for everything launched before it.
    let mut pending: Vec<(String, super::supervise::PendingKeeper)> = vec![];
    let settle = |pending: &mut Vec<(String, super::supervise::PendingKeeper)>| -> Result<()> {
        for (name, keeper) in pending.drain(..) {
            keeper
                .wait()
                .with_context(|| format!("start container {name}"))?;
            eprintln!(" Container {name}  Started");
        }
        Ok(())
    };
    for s in &services {
        if !s.depends_on.is_empty() {
            settle(&mut pending)?;
        }
        wait_for_dependencies(ctx, s)?;
        let image = &images[&s.name];
        let name = container_name(ctx, s);
        let hash = config_hash(s, image);
        let existing = service_container(ctx, s)?;
        let record = match existing {
            Some(c) if !force_recreate && c.config.labels.get(CONFIG_HASH) == Some(&hash) => c,
            other => {
                if let Some(old) = other {
                    eprintln!(" Container {}  Recreate", old.name);
                    super::rm::remove_one(ctx.store, &old.id, true, false)?;
                }
                let _writer = ctx.store.writer_guard()?;
                let (record, _) = create_for(ctx, s, image, &name, None)?;
                eprintln!(" Container {name}  Created");
                record
            }
        };
        if record.is_running() {
            eprintln!(" Container {name}  Running");
        } else {
            pending.push((
                name,
                super::supervise::launch_keeper(ctx.store, &record.id)?,
            ));
        }
        started.push(record);
    }
    settle(&mut pending)?;
    if remove_orphans {
        remove_orphan_containers(ctx)?;
    }
    if detach {
        return Ok(0);
    }
    follow_logs(ctx, &started, true, false, Some(&started))
}

fn remove_orphan_containers(ctx: &Ctx) -> Result<()> {
    for c in project_containers(ctx, &[])? {
        let service = c.config.labels.get(SERVICE).cloned().unwrap_or_default();
        if !ctx.project.services.iter().any(|s| s.name == service) {
            super::rm::remove_one(ctx.store, &c.id, true, false)?;
            eprintln!(" Container {}  Removed (orphan)", c.name);
        }
    }
    Ok(())
}

/// depends_on: started, healthy (its healthcheck run from here until it passes) or
/// completed successfully.
fn wait_for_dependencies(ctx: &Ctx, s: &Service) -> Result<()> {
    for d in &s.depends_on {
        let dep = find_service(ctx, &d.service)?;
        let Some(c) = service_container(ctx, dep)? else {
            bail!("dependency {} of {} has no container", d.service, s.name);
        };
        match d.condition.as_str() {
            "service_healthy" => {
                let check = dep.healthcheck.clone().ok_or_else(|| {
                    anyhow!(
                        "{} waits for {} to be healthy, but {} has no healthcheck",
                        s.name,
                        dep.name,
                        dep.name
                    )
                })?;
                wait_healthy(ctx, &c, &check).with_context(|| {
                    format!(
                        "dependency failed to start: container {} is unhealthy",
                        c.name
                    )
                })?;
                eprintln!(" Container {}  Healthy", c.name);
            }
            "service_completed_successfully" => {
                let code = wait_exit(ctx.store, &c.id)?;
                if code != 0 {
                    bail!(
                        "service {:?} didn't complete successfully: exit {code}",
                        dep.name
                    );
                }
            }
            _ => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !ctx.store.lookup_container(&c.id)?.is_running() && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    Ok(())
}

fn wait_exit(store: &Store, id: &str) -> Result<i32> {
    loop {
        let c = store.lookup_container(id)?;
        if c.state.status == Status::Exited {
            return Ok(c.state.exit_code);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the healthcheck in the container (as `hako exec`) until it passes; failures count
/// once the start period is over, and `retries` of them in a row make it unhealthy.
fn wait_healthy(ctx: &Ctx, c: &ContainerRecord, check: &Healthcheck) -> Result<()> {
    let argv: Vec<String> = match check.test.first().map(String::as_str) {
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), check.test[1..].join(" ")],
        _ => check.test[1..].to_vec(),
    };
    let started = Instant::now();
    let mut failures = 0;
    loop {
        let fresh = ctx.store.lookup_container(&c.id)?;
        if fresh.state.status == Status::Exited {
            bail!("it exited with code {}", fresh.state.exit_code);
        }
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.arg("--root")
            .arg(ctx.root)
            .arg("exec")
            .arg(&c.id)
            .args(&argv);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().context("run the healthcheck")?;
        let deadline = Instant::now() + Duration::from_millis(check.timeout_ms.max(100));
        let passed = loop {
            if let Some(status) = child.try_wait()? {
                break status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if passed {
            return Ok(());
        }
        if started.elapsed().as_millis() as u64 >= check.start_period_ms {
            failures += 1;
            if failures >= check.retries.max(1) {
                bail!(
                    "{} healthchecks failed in a row ({:?})",
                    failures,
                    check.test
                );
            }
        }
        std::thread::sleep(Duration::from_millis(check.interval_ms.max(50)));
    }
}

fn down(ctx: &Ctx, volumes: bool, remove_orphans: bool, timeout: Option<u64>) -> Result<i32> {
    let mut problems = vec![];
    for c in project_containers(ctx, &[])? {
        let service = c.config.labels.get(SERVICE).cloned().unwrap_or_default();
        let defined = ctx.project.services.iter().any(|s| s.name == service);
        let oneoff = c.config.labels.get(ONEOFF).map(String::as_str) == Some("True");
        if !defined && !remove_orphans && !oneoff {
            eprintln!("hako compose: warning: container {} is an orphan (service {service} is not in the file); --remove-orphans removes it", c.name);
            continue;
        }
        if c.is_running() {
            if let Err(e) = super::start_stop::stop_one(ctx.store, &c.id, timeout, None) {
                problems.push(super::describe(&e));
            }
        }
        match super::rm::remove_one(ctx.store, &c.id, true, volumes) {
            Ok(()) => eprintln!(" Container {}  Removed", c.name),
            Err(e) => problems.push(format!("{}: {}", c.name, super::describe(&e))),
        }
    }
    let mut networks: Vec<String> = ctx
        .project
        .networks
        .values()
        .filter(|r| !r.external)
        .map(|r| r.name.clone())
        .collect();
    networks.push(default_network(ctx));
    networks.dedup();
    for n in networks {
        if crate::network::find(ctx.store, &n).is_ok() {
            match crate::network::remove(ctx.store, &n) {
                Ok(()) => eprintln!(" Network {n}  Removed"),
                Err(e) => problems.push(e.to_string()),
            }
        }
    }
    if volumes {
        let _writer = ctx.store.writer_guard()?;
        for r in ctx.project.volumes.values().filter(|r| !r.external) {
            if crate::volumes::find(ctx.store, &r.name).is_ok() {
                match crate::volumes::remove(ctx.store, &r.name, false) {
                    Ok(()) => eprintln!(" Volume {}  Removed", r.name),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(0)
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Each container's log lines, prefixed with its name as Compose does. With `until_exit`
/// (`up` in the foreground), returns when they have all stopped; Ctrl-C stops them.
fn follow_logs(
    ctx: &Ctx,
    containers: &[ContainerRecord],
    follow: bool,
    timestamps: bool,
    until_exit: Option<&[ContainerRecord]>,
) -> Result<i32> {
    let width = containers.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut children = vec![];
    let mut pumps = vec![];
    for c in containers {
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.arg("--root").arg(ctx.root).arg("logs");
        if follow {
            cmd.arg("-f");
        }
        if timestamps {
            cmd.arg("-t");
        }
        cmd.arg(&c.id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().context("follow the logs")?;
        let prefix = format!("{:width$} | ", c.name);
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let prefix = prefix.clone();
            pumps.push(std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    println!("{prefix}{line}");
                }
            }));
        }
        children.push(child);
    }
    if let Some(watched) = until_exit {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                libc::SIGINT,
                on_interrupt as *const () as libc::sighandler_t,
            );
            libc::signal(
                libc::SIGTERM,
                on_interrupt as *const () as libc::sighandler_t,
            );
        }
        loop {
            if INTERRUPTED.load(Ordering::SeqCst) {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                for c in watched {
                    let _ = super::start_stop::stop_one(ctx.store, &c.id, None, None);
                }
                break;
            }
            let any_running = watched.iter().any(|c| {
                ctx.store
                    .lookup_container(&c.id)
                    .is_ok_and(|r| r.is_running())
            });
            if !any_running {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Let the last lines through before the followers go.
        std::thread::sleep(Duration::from_millis(200));
        for c in &mut children {
            let _ = c.kill();
        }
    }
    for c in &mut children {
        let _ = c.wait();
    }
    for p in pumps {
        let _ = p.join();
    }
    Ok(0)
}
