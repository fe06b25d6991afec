//! `up` (in dependency order, waiting for started, healthy or completed dependencies) and
//! `down` (containers, networks and, with -v, volumes).

use super::*;

pub(super) fn up(
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
    let mut pending: Vec<(String, crate::container::keeper::PendingKeeper)> = vec![];
    let settle =
        |pending: &mut Vec<(String, crate::container::keeper::PendingKeeper)>| -> Result<()> {
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
                    crate::commands::rm::remove_one(ctx.store, &old.id, true, false)?;
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
                crate::container::keeper::launch_keeper(ctx.store, &record.id)?,
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

pub(super) fn remove_orphan_containers(ctx: &Ctx) -> Result<()> {
    for c in project_containers(ctx, &[])? {
        let service = c.config.labels.get(SERVICE).cloned().unwrap_or_default();
        if !ctx.project.services.iter().any(|s| s.name == service) {
            crate::commands::rm::remove_one(ctx.store, &c.id, true, false)?;
            eprintln!(" Container {}  Removed (orphan)", c.name);
        }
    }
    Ok(())
}

/// depends_on: started, healthy (its healthcheck run from here until it passes) or
/// completed successfully.
pub(super) fn wait_for_dependencies(ctx: &Ctx, s: &Service) -> Result<()> {
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

pub(super) fn wait_exit(store: &Store, id: &str) -> Result<i32> {
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
pub(super) fn wait_healthy(ctx: &Ctx, c: &ContainerRecord, check: &Healthcheck) -> Result<()> {
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

pub(super) fn down(
    ctx: &Ctx,
    volumes: bool,
    remove_orphans: bool,
    timeout: Option<u64>,
) -> Result<i32> {
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
            if let Err(e) = crate::commands::start_stop::stop_one(ctx.store, &c.id, timeout, None) {
                problems.push(crate::exit::describe(&e));
            }
        }
        match crate::commands::rm::remove_one(ctx.store, &c.id, true, volumes) {
            Ok(()) => eprintln!(" Container {}  Removed", c.name),
            Err(e) => problems.push(format!("{}: {}", c.name, crate::exit::describe(&e))),
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
