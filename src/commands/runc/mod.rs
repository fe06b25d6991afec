//! runc's command line over hako's launcher: the bundle's config.json is compiled into the
//! same `LaunchPlan` the Docker-style verbs use. `create` leaves the container's init set up
//! and blocked on `exec.fifo` (the OCI two-phase contract); `start` opens the FIFO. Like
//! runc, nothing stays resident: the caller (containerd's shim, say) is the parent that
//! reaps, and the status is read from the process itself.

mod exec;
mod resources;
mod state;

use crate::cgroups::{self, ContainerCgroup};
use crate::cli::{CreateArgs, RuncArgs, RuncCommand};
use crate::hooks;
use crate::launcher::{self, supervise, StartOptions};
use crate::spec::plan::{self, LaunchPlan};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use state::{State, Status};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs one runc verb; errors also go to `--log` in the format asked for (containerd reads
/// them from there).
pub fn runc(args: RuncArgs) -> Result<i32> {
    let log = args.log.clone();
    let json = args.log_format == "json";
    let result = dispatch(args);
    if let (Err(e), Some(path)) = (&result, log) {
        let msg = crate::exit::describe(e);
        let time = crate::timefmt::now_rfc3339();
        let line = if json {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level=error msg={msg:?}")
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
    result
}

fn state_root(args: &RuncArgs) -> PathBuf {
    args.root.clone().unwrap_or_else(|| {
        if nix::unistd::geteuid().is_root() {
            PathBuf::from("/run/hako-runc")
        } else {
            let run = std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_else(|| "/tmp".into());
            PathBuf::from(run).join("hako-runc")
        }
    })
}

fn dispatch(args: RuncArgs) -> Result<i32> {
    let root = state_root(&args);
    match &args.command {
        RuncCommand::Spec { bundle, rootless } => spec(bundle.as_deref(), *rootless),
        RuncCommand::Create(c) => create(&root, &args, c, true, false).map(|_| 0),
        RuncCommand::Start { id } => start(&root, id),
        RuncCommand::Run {
            create: c,
            detach,
            keep,
        } => run(&root, &args, c, *detach, *keep),
        RuncCommand::State { id } => {
            let s = state::load(&root, id)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&state::document(&root, &s))?
            );
            Ok(0)
        }
        RuncCommand::Kill { all, id, signal } => kill_verb(&root, id, signal.as_deref(), *all),
        RuncCommand::Delete { force, id } => delete(&root, id, *force),
        RuncCommand::Exec { .. } => exec::exec(&root, &args.command),
        RuncCommand::Ps { format, id } => ps(&root, id, format),
        RuncCommand::List { format, quiet } => list(&root, format, *quiet),
        RuncCommand::Pause { id } => pause(&root, id, true),
        RuncCommand::Resume { id } => pause(&root, id, false),
        RuncCommand::Update { .. } => resources::update(&root, &args.command),
        RuncCommand::Events {
            stats,
            interval,
            id,
        } => resources::events(&root, id, *stats, interval),
        RuncCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            Ok(0)
        }
    }
}

/// `spec`: a config.json for a `rootfs/` beside it, running `sh` on a terminal, with
/// Docker's default capabilities, masked paths and mounts (hako's front end builds it).
fn spec(bundle: Option<&Path>, rootless: bool) -> Result<i32> {
    let dir = bundle.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let cfg = crate::spec::RunConfig {
        args: vec!["sh".into()],
        env: vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "TERM=xterm".into(),
        ],
        cwd: "/".into(),
        hostname: "hako".into(),
        terminal: true,
        readonly_rootfs: true,
        no_new_privileges: true,
        network: crate::spec::NetworkMode::None,
        rlimits: vec![("RLIMIT_NOFILE".into(), 1024, 1024)],
        ..Default::default()
    };
    let mut v = serde_json::to_value(crate::spec::build(&cfg, "rootfs")?)?;
    if let Some(a) = v.as_object_mut() {
        a.remove("annotations");
    }
    if let Some(l) = v["linux"].as_object_mut() {
        l.remove("cgroupsPath");
    }
    if rootless {
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        v["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        v["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
            ns.push(serde_json::json!({"type": "user"}));
        }
        // As runc's rootless spec: no cgroup settings (nothing to write them to without
        // delegation), sysfs bound from the host (mounting one needs a network namespace
        // of our own), and no gid= options naming groups the namespace does not map.
        if let Some(l) = v["linux"].as_object_mut() {
            l.remove("resources");
        }
        if let Some(mounts) = v["mounts"].as_array_mut() {
            mounts.retain(|m| {
                !m["destination"]
                    .as_str()
                    .is_some_and(|d| d == "/sys" || d.starts_with("/sys/"))
            });
            for m in mounts.iter_mut() {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| {
                        !o.as_str()
                            .is_some_and(|o| o.starts_with("gid=") || o.starts_with("uid="))
                    });
                }
            }
            mounts.push(
                serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
            );
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&v)?)?;
    Ok(0)
}

pub(super) fn read_spec(bundle: &Path) -> Result<Spec> {
    crate::container::start::read_bundle(bundle)
}

/// What `create` and `run` share: the plan, the cgroup, the launch. With `two_phase`, the
/// process waits on the FIFO for `start`.
fn create(
    root: &Path,
    args: &RuncArgs,
    c: &CreateArgs,
    two_phase: bool,
    keep_parent: bool,
) -> Result<(State, launcher::Started)> {
    state::check_id(&c.id)?;
    let dir = state::dir(root, &c.id);
    if dir.exists() {
        bail!("container with id exists: {}", c.id);
    }
    let bundle = c
        .bundle
        .canonicalize()
        .with_context(|| format!("bundle {}", c.bundle.display()))?;
    let spec = read_spec(&bundle)?;
    let mut plan: LaunchPlan = plan::compile(&spec, &crate::launcher::host_facts(None))?;
    plan.hooks.state = hooks::state(&c.id, "creating", 0, &bundle, &spec);
    if plan.process.terminal && c.console_socket.is_none() && two_phase {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let result = (|| {
        let fifo = dir.join(state::FIFO);
        if two_phase {
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
                .context("create exec.fifo")?;
            // The init opens it for writing, as its container's root: in a user namespace
            // that is another host uid, so the FIFO is given to it, as runc does.
            if let Some(maps) = &plan.id_maps {
                let host_id = |ranges: &[crate::rootless::idmap::IdRange]| {
                    ranges.iter().find(|r| r.inside == 0).map(|r| r.outside)
                };
                nix::unistd::chown(
                    &fifo,
                    host_id(&maps.uids).map(nix::unistd::Uid::from_raw),
                    host_id(&maps.gids).map(nix::unistd::Gid::from_raw),
                )
                .context("give exec.fifo to the container's root")?;
            }
        }
        let limits = resources::runc_limits(&spec);
        // runc mode has no store: the mode is this process's.
        let mode = crate::rootless::Mode::of_this_process();
        let cgroup_path = if mode.rootless() {
            resources::rootless_cgroup_path(&c.id, &limits)?
        } else {
            resources::cgroup_path(&spec, &c.id, args.systemd_cgroup)
        };
        let cgroup =
            ContainerCgroup::create(cgroups::host_hierarchy(), &cgroup_path, &limits, mode)?;
        let options = StartOptions {
            interactive: true,
            preserve_fds: c.preserve_fds,
            die_with_parent: keep_parent,
            start_fifo: two_phase.then_some(fifo),
            stdio: None,
        };
        let started = launcher::spawn(&plan, None, &options, &cgroup, |pid| {
            // The container exists and its process waits: the runtime's hooks now. The
            // old prestart stage sees "created", as crun shows it (and the suite expects).
            for (stage, status) in [
                (hooks::Stage::Prestart, "created"),
                (hooks::Stage::CreateRuntime, "creating"),
            ] {
                hooks::run(
                    stage,
                    &spec,
                    &hooks::state(&c.id, status, pid, &bundle, &spec),
                )?;
            }
            Ok(())
        });
        let started = match started {
            Ok(s) => s,
            Err(e) => {
                let _ = cgroup.delete();
                return Err(anyhow::Error::new(e));
            }
        };
        if let (Some(sock), Some(master)) = (&c.console_socket, &started.pty_master) {
            exec::send_console(sock, master)?;
        }
        let pid = started.pid.as_raw();
        let st = State {
            id: c.id.clone(),
            pid,
            pid_start: crate::state::process_start_time(pid).unwrap_or(0),
            bundle: bundle.clone(),
            rootfs: plan.rootfs.clone(),
            created: crate::timefmt::now_rfc3339(),
            cgroup_path,
            annotations: spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            // runc's column: who created it (empty reads as root).
            owner: crate::rootless::host_user()
                .and_then(|u| nix::unistd::User::from_uid(u.uid.into()).ok().flatten())
                .map(|u| u.name)
                .unwrap_or_default(),
            namespaces: plan.entered_namespaces().bits(),
            paused: false,
        };
        state::save(root, &st)?;
        if let Some(p) = &c.pid_file {
            std::fs::write(p, pid.to_string()).with_context(|| format!("write {}", p.display()))?;
        }
        Ok((st, started))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn start(root: &Path, id: &str) -> Result<i32> {
    let s = state::load(root, id)?;
    match state::status(root, &s) {
        Status::Created => {}
        other => bail!("cannot start a container that is {}", other.name()),
    }
    let fifo = state::dir(root, id).join(state::FIFO);
    launcher::start_created(&fifo).context("release the container from exec.fifo")?;
    poststart(&s);
    Ok(0)
}

/// The `poststart` hooks of a container whose process now runs.
fn poststart(s: &State) {
    if let Ok(spec) = read_spec(&s.bundle) {
        let doc = hooks::state(&s.id, "running", s.pid, &s.bundle, &spec);
        hooks::run_warning(hooks::Stage::Poststart, &spec, &doc);
    }
}

fn run(root: &Path, args: &RuncArgs, c: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let mut signals = supervise::Signals::block().context("block signals")?;
    let (st, mut started) = create(root, args, c, false, !detach)?;
    poststart(&st);
    if detach {
        return Ok(0);
    }
    let pty = if c.console_socket.is_some() {
        None
    } else {
        started.pty_master.take()
    };
    let code =
        supervise::supervise(started.pid, &mut signals, pty).context("wait for the container");
    if !keep {
        let _ = remove(root, &st);
    }
    code
}

fn signal_of(s: Option<&str>) -> Result<Signal> {
    match s {
        None => Ok(Signal::SIGTERM),
        Some(s) => Ok(crate::signals::parse(s)?),
    }
}

fn kill_verb(root: &Path, id: &str, sig: Option<&str>, all: bool) -> Result<i32> {
    let s = state::load(root, id)?;
    let sig = signal_of(sig)?;
    if all {
        // Everything left in the container's cgroup, even once its init has exited (a
        // pod's shared PID namespace keeps the rest alive): runc signals them too.
        for pid in container_pids(&s) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
        return Ok(0);
    }
    if state::status(root, &s) == Status::Stopped {
        bail!("container not running");
    }
    kill(Pid::from_raw(s.pid), sig).with_context(|| format!("kill {} {sig}", s.pid))?;
    Ok(0)
}

fn remove(root: &Path, s: &State) -> Result<()> {
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &s.cgroup_path);
    let mut problems = vec![];
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    if let Err(e) = std::fs::remove_dir_all(state::dir(root, &s.id)) {
        problems.push(format!("remove the state of {}: {e}", s.id));
    }
    if let Ok(spec) = read_spec(&s.bundle) {
        let doc = hooks::state(&s.id, "stopped", s.pid, &s.bundle, &spec);
        hooks::run_warning(hooks::Stage::Poststop, &spec, &doc);
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

fn delete(root: &Path, id: &str, force: bool) -> Result<i32> {
    let s = match state::load(root, id) {
        Ok(s) => s,
        // runc: deleting what is not there is an error, except with --force.
        Err(_) if force => return Ok(0),
        Err(e) => return Err(e),
    };
    match state::status(root, &s) {
        Status::Stopped => {}
        // A created container never ran the user's program: delete kills it (runc does).
        Status::Created => {
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
        }
        other if force => {
            if other == Status::Paused {
                let _ = ContainerCgroup::load(cgroups::host_hierarchy(), &s.cgroup_path).thaw();
            }
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
        }
        other => bail!(
            "cannot delete container {id} that is not stopped: {} (stop it, or delete --force)",
            other.name()
        ),
    }
    // The kill is asynchronous: wait (briefly) for the init to be gone.
    for _ in 0..500 {
        if state::status(root, &s) == Status::Stopped {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    remove(root, &s)?;
    Ok(0)
}

fn ps(root: &Path, id: &str, format: &str) -> Result<i32> {
    let s = state::load(root, id)?;
    let pids = container_pids(&s);
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    println!("{:>8}  CMD", "PID");
    for pid in pids {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        println!("{pid:>8}  {cmd}");
    }
    Ok(0)
}

/// The container's processes: its cgroup's, or (rootless, without a cgroup) those in
/// its PID namespace.
fn container_pids(s: &State) -> Vec<i32> {
    if s.cgroup_path.is_empty() {
        return super::top_stats::in_pid_namespace_of(s.pid);
    }
    ContainerCgroup::load(cgroups::host_hierarchy(), &s.cgroup_path).pids()
}

fn list(root: &Path, format: &str, quiet: bool) -> Result<i32> {
    let all = state::list(root);
    if quiet {
        all.iter().for_each(|s| println!("{}", s.id));
    } else if format == "json" {
        let docs: Vec<_> = all.iter().map(|s| state::document(root, s)).collect();
        println!("{}", serde_json::to_string(&docs)?);
    } else {
        println!(
            "{:<12} {:<8} {:<10} {:<40} {:<32} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for s in &all {
            let status = state::status(root, s);
            let pid = if status == Status::Stopped { 0 } else { s.pid };
            println!(
                "{:<12} {:<8} {:<10} {:<40} {:<32} {}",
                s.id,
                pid,
                status.name(),
                s.bundle.display(),
                s.created,
                if s.owner.is_empty() { "root" } else { &s.owner }
            );
        }
    }
    Ok(0)
}

fn pause(root: &Path, id: &str, freeze: bool) -> Result<i32> {
    let mut s = state::load(root, id)?;
    let status = state::status(root, &s);
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &s.cgroup_path);
    match (freeze, status) {
        (true, Status::Running) => cgroup.freeze()?,
        (false, Status::Paused) => cgroup.thaw()?,
        (true, other) => bail!("cannot pause a container that is {}", other.name()),
        (false, other) => bail!("cannot resume a container that is {}", other.name()),
    }
    s.paused = freeze;
    state::save(root, &s)?;
    Ok(0)
}

/// The OCI features document: what this runtime honours.
fn features() -> serde_json::Value {
    let caps: Vec<String> = caps::all()
        .into_iter()
        .map(|c| format!("CAP_{}", c.to_string().trim_start_matches("CAP_")))
        .collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "remount",
            "bind", "rbind", "private", "rprivate", "shared", "rshared", "slave", "rslave",
            "noatime", "relatime", "strictatime", "nodiratime", "mand", "nomand"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": std::env::consts::ARCH == "x86_64",
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_GT",
                    "SCMP_CMP_GE", "SCMP_CMP_LT", "SCMP_CMP_LE"],
                "archs": ["SCMP_ARCH_X86_64"],
            },
            "apparmor": {"enabled": launcher::lsm::host_support().apparmor},
            "selinux": {"enabled": launcher::lsm::host_support().selinux},
        },
        "annotations": {"org.opencontainers.runc.version": "hako"},
    })
}
