//! `hako compose …`: a compose project brought up, inspected and taken down with the same
//! pieces `build`, `run`, `network` and `volume` use, in this process (no daemon, no
//! external compose tool). Containers are named `<project>-<service>-<n>` and carry Docker
//! Compose's labels, so `hako ps --filter label=com.docker.compose.project=P` finds them.

use crate::cli::{BuildArgs, Cli, ComposeArgs, ComposeCommand};
use crate::compose::interpolate::{parse_env_file, Env};
use crate::compose::model::{order_by_dependencies, Healthcheck};
use crate::compose::{Project, Service};
use crate::container::create::create_container;
use crate::container::request::{split_mounts, CreateRequest, ImageParts};
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

mod create;
mod logs;
mod up_down;

use create::*;
use logs::*;
use up_down::*;

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
                crate::container::keeper::spawn_keeper(ctx.store, &record.id)?;
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
            crate::container::start::run_foreground(ctx.store, &mut record, Some(spec), &start)
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
                    crate::container::keeper::spawn_keeper(ctx.store, &c.id)?;
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
