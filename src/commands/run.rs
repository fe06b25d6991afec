//! `hako run`: image → container record → cgroup → spec → plan → launch → supervise →
//! teardown.

use super::ExitCode;
use crate::cgroups::{ContainerCgroup, Limits};
use crate::cli::RunArgs;
use crate::image::Image;
use crate::launcher::{self, supervise};
use crate::rootfs::Overlay;
use crate::spec::plan::{self, HostCgroupLayout};
use crate::spec::{self, user, Bind, NetworkMode, RunConfig};
use crate::state::{self, ContainerConfig, ContainerRecord, HostConfig, RunState, Status};
use crate::store::images::ImageRecord;
use crate::store::Store;
use crate::timefmt::now_rfc3339;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn run(
    store: &Store,
    args: RunArgs,
    registries: &crate::registry::config::RegistryConfig,
) -> Result<i32> {
    let flags = check_flags(&args).context(ExitCode(125))?;
    // From image lookup until the container record names its layers, no collection.
    let writer = store.writer_guard().context(ExitCode(125))?;
    let image = find_image(store, &args, registries).context(ExitCode(125))?;
    let prepared = prepare(store, &args, flags, image).context(ExitCode(125))?;
    execute(store, prepared, writer)
}

/// The image to run, looked up once. With `--pull missing` (the default) a missing image
/// is pulled first, with `always` every time, as `docker run` does (progress is quiet
/// unless stdout is a terminal, so the container's stdout stays its own).
fn find_image(
    store: &Store,
    args: &RunArgs,
    registries: &crate::registry::config::RegistryConfig,
) -> Result<ImageRecord> {
    use crate::store::images::LookupError;
    let found = store.lookup_image(&args.image);
    let pull = match (&found, args.pull.as_str()) {
        (Err(LookupError::NotFound(_)), "missing") | (_, "always") => {
            args.image.parse::<crate::reference::Reference>().ok()
        }
        _ => None,
    };
    let Some(reference) = pull else {
        return found.map_err(|e| match e {
            LookupError::NotFound(_) => anyhow::anyhow!(
                "Unable to find image '{}' locally (run with --pull missing, or bring it in with hako pull, load or import)",
                args.image
            ),
            other => other.into(),
        });
    };
    if found.is_err() {
        eprintln!("Unable to find image '{}' locally", reference.familiar());
    }
    let stdout_is_container = !std::io::IsTerminal::is_terminal(&std::io::stdout());
    super::registry::pull_image(
        store,
        &reference,
        args.platform.as_deref(),
        registries,
        stdout_is_container,
    )
}

struct Prepared {
    record: ContainerRecord,
    run: RunConfig,
    overlay: Overlay,
    interactive: bool,
    generated_name: bool,
}

/// The flags, parsed and checked: bad input fails here, before any pull or write.
struct RunFlags {
    limits: Limits,
    network: NetworkMode,
    binds: Vec<Bind>,
    rlimits: Vec<(String, u64, u64)>,
    no_new_privileges: bool,
}

fn check_flags(args: &RunArgs) -> Result<RunFlags> {
    if args.detach {
        bail!("-d: detached containers arrive with the supervisor issue; run in the foreground for now");
    }
    let limits = parse_limits(args)?;
    let network = match args.network.as_str() {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => bail!("--network {other}: only \"none\" (own namespace, loopback only) and \"host\" are available until bridge networking lands"),
    };
    let binds = args
        .volumes
        .iter()
        .map(|v| parse_bind(v))
        .collect::<Result<Vec<_>>>()?;
    let rlimits = args
        .ulimits
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<Result<Vec<_>>>()?;
    let mut no_new_privileges = false;
    for opt in &args.security_opt {
        match opt.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                no_new_privileges = true
            }
            "no-new-privileges:false" | "no-new-privileges=false" => no_new_privileges = false,
            other => bail!("--security-opt {other}: only no-new-privileges is supported so far"),
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
            bail!("invalid container name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        }
    }

    Ok(RunFlags {
        limits,
        network,
        binds,
        rlimits,
        no_new_privileges,
    })
}

/// Everything else that can fail on bad input, checked before anything is written.
fn prepare(
    store: &Store,
    args: &RunArgs,
    flags: RunFlags,
    record: ImageRecord,
) -> Result<Prepared> {
    let RunFlags {
        limits,
        network,
        binds,
        rlimits,
        no_new_privileges,
    } = flags;
    let image = Image::load(store, &record)?;
    let layers = image.diff_ids();
    image.ensure_layers(store).with_context(|| {
        format!(
            "prepare the layers of image {} (if a blob is missing, load or pull the image again)",
            args.image
        )
    })?;
    let lower_dirs: Vec<PathBuf> = layers.iter().rev().map(|l| store.layer_dir(l)).collect();
    let img_cfg = image.config.config().clone().unwrap_or_default();

    // Entrypoint and command, as Docker combines them.
    let entrypoint: Vec<String> = match &args.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => img_cfg.entrypoint().clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if !args.command.is_empty() || args.entrypoint.is_some() {
        args.command.clone()
    } else {
        img_cfg.cmd().clone().unwrap_or_default()
    };
    let argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
    if argv.is_empty() {
        bail!("no command specified: the image has no Cmd or Entrypoint; give one after the image name");
    }

    let user_spec = args
        .user
        .clone()
        .or_else(|| img_cfg.user().clone())
        .unwrap_or_default();
    let passwd = read_from_layers(&lower_dirs, "etc/passwd");
    let group = read_from_layers(&lower_dirs, "etc/group");
    let resolved = user::resolve(&user_spec, passwd.as_deref(), group.as_deref())?;

    let id = state::random_hex(32);
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    let env = merge_env(
        img_cfg.env().clone().unwrap_or_default(),
        &args.env,
        &hostname,
        &resolved.home,
        args.tty,
    );
    let cwd = args
        .workdir
        .clone()
        .or_else(|| img_cfg.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        bail!("-w {cwd}: the working directory must be an absolute path");
    }

    let dir = store.container_dir(&id);
    let record = ContainerRecord {
        id: id.clone(),
        name: args.name.clone().unwrap_or_else(state::random_name),
        created: now_rfc3339(),
        image: record.config.clone(),
        image_name: args.image.clone(),
        layers: layers.clone(),
        config: ContainerConfig {
            entrypoint,
            cmd,
            env: env.clone(),
            working_dir: cwd.clone(),
            user: user_spec,
            hostname: hostname.clone(),
            tty: args.tty,
            open_stdin: args.interactive,
        },
        host_config: HostConfig {
            binds: binds.clone(),
            limits: limits.clone(),
            cap_add: args.cap_add.clone(),
            cap_drop: args.cap_drop.clone(),
            privileged: args.privileged,
            readonly_rootfs: args.read_only,
            network_mode: network.clone(),
            auto_remove: args.rm,
        },
        cgroup_path: format!("hako/{id}"),
        state: RunState {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            exit_code: 0,
            oom_killed: false,
            started_at: String::new(),
            finished_at: String::new(),
            error: String::new(),
        },
    };
    let mut all_binds = binds;
    for f in ["hosts", "hostname", "resolv.conf"] {
        all_binds.push(Bind {
            source: dir.join(f).display().to_string(),
            destination: format!("/etc/{f}"),
            readonly: false,
        });
    }
    let run = RunConfig {
        args: argv,
        env,
        cwd,
        uid: resolved.uid,
        gid: resolved.gid,
        additional_gids: resolved.additional_gids,
        hostname,
        terminal: args.tty,
        readonly_rootfs: args.read_only,
        privileged: args.privileged,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        no_new_privileges,
        binds: all_binds,
        host_network: network == NetworkMode::Host,
        rlimits,
        cgroups_path: record.cgroup_path.clone(),
        limits,
        volumes: img_cfg
            .volumes()
            .as_ref()
            .map(|v| v.to_vec())
            .unwrap_or_default(),
    };
    let overlay = crate::rootfs::container_overlay(store, &record);
    Ok(Prepared {
        record,
        run,
        overlay,
        interactive: args.interactive,
        generated_name: args.name.is_none(),
    })
}

fn execute(store: &Store, p: Prepared, writer: crate::store::lock::FileLock) -> Result<i32> {
    let Prepared {
        mut record,
        run,
        overlay,
        interactive,
        generated_name,
    } = p;
    create_with_unique_name(store, &mut record, generated_name).context(ExitCode(125))?;
    drop(writer);
    let result = start_and_wait(store, &mut record, &run, &overlay, interactive);
    // Teardown collects: every step runs, and every failure is reported.
    let mut problems = vec![];
    let cgroup = ContainerCgroup::load(cgroups_rs::hierarchies::auto(), &record.cgroup_path);
    record.state.oom_killed = cgroup.oom_killed();
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    record.state.status = Status::Exited;
    record.state.finished_at = now_rfc3339();
    match &result {
        Ok(code) => record.state.exit_code = *code,
        Err(e) => {
            record.state.exit_code = super::exit_code_for(e);
            record.state.error = super::describe(e);
        }
    }
    // `rm -f` from another hako may have removed the container already: nothing to save.
    let gone = !store.container_dir(&record.id).exists();
    let saved = if gone {
        Ok(())
    } else if record.host_config.auto_remove {
        store.remove_container_dir(&record.id)
    } else {
        store.save_container(&record)
    };
    // Removed by `rm -f` while we were saving: nothing is lost.
    if let Err(e) = saved.map_err(|e| e.to_string()) {
        if store.container_dir(&record.id).exists() {
            problems.push(e);
        }
    }
    for p in &problems {
        eprintln!("hako: cleanup: {p}");
    }
    result
}

/// A generated name may collide with an existing one (the pool is finite): pick another,
/// as Docker does. A name the user chose is never changed.
fn create_with_unique_name(
    store: &Store,
    record: &mut ContainerRecord,
    generated: bool,
) -> Result<(), state::StateError> {
    let mut attempt = 0;
    loop {
        match store.create_container(record) {
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

fn start_and_wait(
    store: &Store,
    record: &mut ContainerRecord,
    run: &RunConfig,
    overlay: &Overlay,
    interactive: bool,
) -> Result<i32> {
    let dir = store.container_dir(&record.id);
    write_etc_files(
        &dir,
        &record.config.hostname,
        record.host_config.network_mode == NetworkMode::Host,
    )
    .context(ExitCode(125))?;
    let spec = spec::build(run, &dir.join("merged").display().to_string())
        .context("build the runtime spec")
        .context(ExitCode(125))?;
    let plan = plan::compile(&spec, host_cgroup_layout()).context(ExitCode(125))?;
    let cgroup = ContainerCgroup::create(
        cgroups_rs::hierarchies::auto(),
        &record.cgroup_path,
        &run.limits,
    )
    .context(ExitCode(125))?;
    let mut signals = supervise::Signals::block()
        .context("block signals")
        .context(ExitCode(125))?;
    let cgroup_dir = cgroup.clone_target();
    let started = launcher::spawn(
        &plan,
        Some(overlay),
        interactive,
        cgroup_dir.as_ref().map(std::os::fd::AsFd::as_fd),
        |pid, in_cgroup| {
            if in_cgroup {
                return Ok(());
            }
            cgroup.add_process(pid).map_err(|e| e.to_string())
        },
    )
    .map_err(|e| {
        let code = e.exit_code();
        anyhow::Error::new(e).context(ExitCode(code))
    })?;
    record.state.status = Status::Running;
    record.state.pid = started.pid.as_raw();
    record.state.pid_start = state::process_start_time(record.state.pid).unwrap_or(0);
    record.state.started_at = now_rfc3339();
    store.save_container(record)?;
    let code = supervise::supervise(started.pid, &mut signals, started.pty_master)
        .context("wait for the container")?;
    Ok(code)
}

pub fn host_cgroup_layout() -> HostCgroupLayout {
    if cgroups_rs::hierarchies::is_cgroup2_unified_mode() {
        HostCgroupLayout::V2
    } else {
        HostCgroupLayout::V1(plan::v1_mounts_from_mountinfo(
            &fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
        ))
    }
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf, bind-mounted as Docker does.
fn write_etc_files(dir: &Path, hostname: &str, host_network: bool) -> std::io::Result<()> {
    let hosts = if host_network {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n")
    };
    fs::write(dir.join("hosts"), hosts)?;
    fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    fs::write(
        dir.join("resolv.conf"),
        fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    )
}

/// Reads a file as the container will see it: the topmost layer that has it wins, and a
/// whiteout in a higher layer hides it.
fn read_from_layers(top_first: &[PathBuf], rel: &str) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    for layer in top_first {
        match fs::symlink_metadata(layer.join(rel)) {
            Ok(m) if m.file_type().is_char_device() => return None,
            Ok(_) => return fs::read_to_string(layer.join(rel)).ok(),
            Err(_) => continue,
        }
    }
    None
}

fn merge_env(
    image_env: Vec<String>,
    flags: &[String],
    hostname: &str,
    home: &str,
    tty: bool,
) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    if !image_env.iter().any(|e| e.starts_with("PATH=")) {
        set(DEFAULT_PATH.to_string());
    }
    set(format!("HOSTNAME={hostname}"));
    for e in image_env {
        set(e);
    }
    if tty {
        set("TERM=xterm".into());
    }
    for f in flags {
        if f.contains('=') {
            set(f.clone());
        } else if let Ok(v) = std::env::var(f) {
            // `-e KEY` copies the host's value, as Docker does.
            set(format!("{f}={v}"));
        }
    }
    let has_home = env.iter().any(|e| e.starts_with("HOME="));
    if !has_home {
        env.push(format!("HOME={home}"));
    }
    env
}

/// `256m`, `1g`, `1024k`, `512` (bytes).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| {
        anyhow::anyhow!(
            "invalid size {s:?}: expected a number with an optional unit (b, k, m, g), e.g. 256m"
        )
    })?;
    if n < 0.0 {
        bail!("invalid size {s:?}: must not be negative");
    }
    Ok((n * mult as f64) as i64)
}

fn parse_limits(args: &RunArgs) -> Result<Limits> {
    let mut limits = Limits::default();
    if let Some(m) = &args.memory {
        let bytes = parse_bytes(m)?;
        // Docker's floor: below this the container cannot even start its runtime.
        if bytes < 6 << 20 {
            bail!("--memory {m}: minimum memory limit allowed is 6MB");
        }
        limits.memory = Some(bytes);
    }
    if let Some(s) = &args.memory_swap {
        let swap = if s.trim() == "-1" {
            -1
        } else {
            parse_bytes(s)?
        };
        match limits.memory {
            None => bail!("--memory-swap needs --memory as well (it is the memory+swap total)"),
            Some(m) if swap >= 0 && swap < m => bail!("--memory-swap {s} is smaller than --memory: it is the memory+swap total, so it must be at least the memory limit"),
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
    Ok(limits)
}

fn parse_bind(v: &str) -> Result<Bind> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, "rw"),
        [s, d, m] => (*s, *d, *m),
        _ => bail!("-v {v}: expected HOST-PATH:CONTAINER-PATH[:ro|rw]"),
    };
    if !source.starts_with('/') {
        bail!("-v {v}: named volumes are not supported yet; give an absolute host path");
    }
    if !destination.starts_with('/') {
        bail!("-v {v}: the container path must be absolute");
    }
    let readonly = match mode {
        "ro" => true,
        "rw" | "" => false,
        other => bail!("-v {v}: unknown mode {other:?} (use ro or rw)"),
    };
    if !Path::new(source).exists() {
        // Docker creates a missing bind source as a directory.
        fs::create_dir_all(source).with_context(|| format!("-v {v}: create {source}"))?;
    }
    Ok(Bind {
        source: source.to_string(),
        destination: destination.to_string(),
        readonly,
    })
}

fn parse_ulimit(u: &str) -> Result<(String, u64, u64)> {
    let (name, values) = u.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("--ulimit {u}: expected NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    })?;
    plan::rlimit_resource(name).ok_or_else(|| {
        anyhow::anyhow!(
            "--ulimit {u}: unknown limit {name:?} (nofile, nproc, core, memlock, stack, …)"
        )
    })?;
    let parse = |s: &str| {
        if s == "-1" || s == "unlimited" {
            Ok(u64::MAX)
        } else {
            s.parse::<u64>()
                .map_err(|_| anyhow::anyhow!("--ulimit {u}: {s:?} is not a number"))
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (parse(s)?, parse(h)?),
        None => (parse(values)?, parse(values)?),
    };
    if soft > hard {
        bail!("--ulimit {u}: the soft limit cannot exceed the hard limit");
    }
    Ok((format!("RLIMIT_{}", name.to_ascii_uppercase()), soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256m").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn binds_and_ulimits() {
        let b = parse_bind("/tmp:/data:ro").unwrap();
        assert!(b.readonly && b.destination == "/data");
        assert!(parse_bind("vol:/data").is_err());
        assert!(parse_bind("/tmp:data").is_err());
        assert!(parse_bind("/tmp:/data:xx").is_err());
        assert_eq!(
            parse_ulimit("nofile=10:20").unwrap(),
            ("RLIMIT_NOFILE".into(), 10, 20)
        );
        assert!(parse_ulimit("nofile=30:20").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
    }

    #[test]
    fn env_merging() {
        let env = merge_env(
            vec!["PATH=/x".into(), "A=1".into()],
            &["A=2".into(), "B=3".into()],
            "box",
            "/root",
            true,
        );
        assert_eq!(
            env,
            vec![
                "HOSTNAME=box",
                "PATH=/x",
                "TERM=xterm",
                "A=2",
                "B=3",
                "HOME=/root"
            ]
        );
    }
}
