//! `hako run` and `hako create`: flags → request → image → container → start.
//!
//! Glue only: the flags are typed by clap (`flags`) and turned into a `CreateRequest`
//! here; the container service (`container`) checks it, creates, starts and keeps the
//! container; the image comes from the image service (`registry::ensure`).

use super::ExitCode;
use crate::cgroups::Limits;
use crate::cli::RunArgs;
use crate::container::request::{network_mode, split_mounts, CreateRequest, ImageParts};
use crate::container::{create::create_container, keeper, start};
use crate::launcher::StartOptions;
use crate::registry::config::RegistryConfig;
use crate::registry::ensure;
use crate::spec::{self, frontend::RunOptions};
use crate::state::ContainerRecord;
use crate::store::Store;
use anyhow::{bail, Context, Result};

pub fn run(store: &Store, args: RunArgs, registries: &RegistryConfig) -> Result<i32> {
    let (mut record, spec) = create(store, &args, registries)?;
    if args.detach {
        // The keeper starts it; a failure to start still leaves the container (as Docker).
        keeper::spawn_keeper(store, &record.id)?;
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
    start::run_foreground(store, &mut record, Some(spec), &start)
}

/// `hako create`: the container's bundle and record, ready for `start`.
pub fn create_verb(store: &Store, args: RunArgs, registries: &RegistryConfig) -> Result<i32> {
    let (record, _) = create(store, &args, registries)?;
    println!("{}", record.id);
    Ok(0)
}

/// Flags → request (checked before anything is pulled) → image → spec and record,
/// written as the container's bundle.
fn create(
    store: &Store,
    args: &RunArgs,
    registries: &RegistryConfig,
) -> Result<(ContainerRecord, oci_spec::runtime::Spec)> {
    if let Some(path) = &args.cidfile {
        // Refused before anything is pulled or made, as Docker does.
        if path.exists() {
            return Err(anyhow::anyhow!(
                "--cidfile {}: the container ID file exists; make sure the container it names is not running, or delete the file",
                path.display()
            )
            .context(ExitCode(125)));
        }
    }
    let request = request_from(store, args)
        .and_then(|r| r.check(store.mode()))
        .context(ExitCode(125))?;
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
    let created = create_container(store, request, parts).context(ExitCode(125))?;
    drop(writer);
    if let Some(path) = &args.cidfile {
        write_cidfile(path, &created.0.id).context(ExitCode(125))?;
    }
    Ok(created)
}

/// `--cidfile`: the ID, in a file made for it (never over another one).
fn write_cidfile(path: &std::path::Path, id: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(id.as_bytes()))
        .with_context(|| format!("--cidfile {}: write the container ID", path.display()))
}

/// `--env-file` entries first, then `-e`: a later entry wins, so `-e` overrides a file.
fn env_of(args: &RunArgs) -> Result<Vec<String>> {
    let mut env = vec![];
    for path in &args.env_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--env-file {}: read it", path.display()))?;
        env.extend(
            crate::flags::parse_env_file(&text)
                .map_err(|e| anyhow::anyhow!("--env-file {}: {e}", path.display()))?,
        );
    }
    env.extend(args.env.iter().cloned());
    Ok(env)
}

/// The flags as a request for the container service, which checks it.
fn request_from(store: &Store, args: &RunArgs) -> Result<CreateRequest> {
    if args.tty
        && args.interactive
        && !args.detach
        && !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        eprintln!("hako: warning: -t asks for a terminal, but stdin is not one (a pipe or file); the container gets a pty all the same");
    }
    let network = network_mode(store, &args.network)?;
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
    let (binds, tmpfs, volume_requests) = split_mounts(
        args.volumes
            .iter()
            .chain(&args.mounts)
            .chain(&args.tmpfs)
            .cloned(),
    );
    let id_maps = keep_id_maps(args.userns);
    let options = RunOptions {
        id_maps: id_maps.clone(),
        entrypoint: args.entrypoint.clone(),
        command: args.command.clone(),
        env: env_of(args)?,
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
        shm_size: args.shm_size,
        network: Some(network),
        ulimits: args.ulimits.clone(),
        limits: limits(args),
    };
    Ok(CreateRequest {
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
    })
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

/// The resource flags as limits; `CreateRequest::check` judges them.
fn limits(args: &RunArgs) -> Limits {
    Limits {
        memory: args.memory,
        memory_swap: args.memory_swap,
        cpu_quota: args.cpus.map(Limits::cpus_to_quota),
        pids: args.pids_limit.map(|p| if p <= 0 { -1 } else { p }),
        // Docker reads 0 as "not set" for shares and the block I/O weight.
        cpu_shares: args.cpu_shares.filter(|s| *s != 0),
        spec: crate::cgroups::SpecResources {
            blkio_weight: args.blkio_weight.filter(|w| *w != 0),
            read_bps: args.device_read_bps.clone(),
            write_bps: args.device_write_bps.clone(),
            read_iops: args.device_read_iops.clone(),
            write_iops: args.device_write_iops.clone(),
            memory_reservation: args.memory_reservation,
            cpuset_cpus: args.cpuset_cpus.clone(),
            cpuset_mems: args.cpuset_mems.clone(),
            ..Default::default()
        },
        ..Limits::default()
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
