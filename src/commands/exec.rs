//! `hako exec`: a second process in a running container, with the container's
//! namespaces, cgroup, capabilities, no_new_privs and user unless told otherwise.

use super::ExitCode;
use crate::cgroups::{self, ContainerCgroup};
use crate::cli::ExecArgs;
use crate::container::start;
use crate::launcher::exec::{self, Target};
use crate::launcher::{supervise, StartOptions};
use crate::rootfs::secure_join;
use crate::spec::{plan, user};
use crate::state::Status;
use crate::store::Store;
use anyhow::{Context, Result};
use std::os::fd::AsRawFd;
use std::path::Path;

pub fn exec_verb(store: &Store, args: &ExecArgs) -> Result<i32> {
    let c = store
        .lookup_container(&args.container)
        .context(ExitCode(125))?;
    if !c.is_running() {
        return Err(anyhow::anyhow!(ExitCode(125)).context(format!(
            "container {} is not running (start it with hako start {})",
            c.short_id(),
            args.container
        )));
    }
    if c.state.status == Status::Paused {
        return Err(anyhow::anyhow!(ExitCode(125)).context(format!(
            "container {} is paused, unpause the container before exec",
            c.short_id()
        )));
    }
    let spec = start::read_bundle(&store.container_dir(&c.id)).context(ExitCode(125))?;
    let plan = plan::compile(
        &spec,
        &crate::launcher::host_facts(Some(store.seccomp_cache_dir())),
    )
    .context(ExitCode(125))?;
    let mut process = plan.process.clone();
    process.args = args.command.clone();
    process.terminal = args.tty;
    for kv in &args.env {
        let key = kv.split('=').next().unwrap_or("");
        process.env.retain(|e| e.split('=').next() != Some(key));
        process.env.push(kv.clone());
    }
    if let Some(w) = &args.workdir {
        if !w.starts_with('/') {
            return Err(anyhow::anyhow!(ExitCode(125)).context(format!(
                "-w {w}: the working directory must be an absolute path"
            )));
        }
        process.cwd = w.into();
    }
    if let Some(u) = &args.user {
        // The container's own passwd and group, read inside its root.
        let root = Path::new("/proc")
            .join(c.state.pid.to_string())
            .join("root");
        let read = |p: &str| {
            secure_join(&root, Path::new(p))
                .ok()
                .and_then(|f| std::fs::read_to_string(f).ok())
        };
        let resolved = user::resolve(
            u,
            read("/etc/passwd").as_deref(),
            read("/etc/group").as_deref(),
        )
        .context(ExitCode(125))?;
        process.uid = resolved.uid;
        process.gid = resolved.gid;
        process.additional_gids = resolved.additional_gids;
    }
    if args.privileged {
        let all: std::collections::HashSet<caps::Capability> = caps::all().into_iter().collect();
        process.caps.bounding = all.clone();
        process.caps.effective = all.clone();
        process.caps.permitted = all;
    }
    if process.uid != 0 {
        // Another user than root holds no capabilities, as in the container's own spec.
        process.caps.effective.clear();
        process.caps.permitted.clear();
        process.caps.inheritable.clear();
    }
    let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
    let options = StartOptions {
        interactive: args.interactive,
        preserve_fds: 0,
        die_with_parent: !args.detach,
        start_fifo: None,
        // -d: nobody reads its output, as with docker exec -d.
        stdio: args
            .detach
            .then(|| [null.as_raw_fd(), null.as_raw_fd(), null.as_raw_fd()]),
    };
    let target = Target {
        pid: c.state.pid,
        start_time: c.state.pid_start,
        namespaces: plan.entered_namespaces(),
    };
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &c.cgroup_path);
    let mut signals = supervise::Signals::block()
        .context("block signals")
        .context(ExitCode(125))?;
    let started = exec::exec(&target, &process, &options, &cgroup).map_err(|e| {
        let code = e.exit_code();
        anyhow::Error::new(e).context(ExitCode(code))
    })?;
    if args.detach {
        return Ok(0);
    }
    supervise::supervise(started.pid, &mut signals, started.pty_master)
        .context("wait for the command")
}
