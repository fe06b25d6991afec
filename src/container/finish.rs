//! The end of a container's run and of the container: `finish` records how it ended and
//! releases what it held while running; `teardown` removes it. Each step runs whatever the
//! others met, and every problem is returned to the caller, which reports it.

use super::hosts::refresh_peers;
use crate::cgroups::{self, ContainerCgroup};
use crate::network;
use crate::spec::NetworkMode;
use crate::state::{self, ContainerRecord, Status};
use crate::store::Store;
use crate::timefmt::now_rfc3339;
use anyhow::Result;

/// Records how the container ended (exit code, OOM, time) and releases what it held while
/// running (its cgroup). Returns every problem, having tried every step.
pub fn finish(store: &Store, record: &mut ContainerRecord, result: &Result<i32>) -> Vec<String> {
    let mut problems = vec![];
    // Its address and rules go now; the veth went with its network namespace.
    // Afresh: `network connect` (another process) may have added interfaces meanwhile.
    let fresh = store
        .lookup_container(&record.id)
        .unwrap_or_else(|_| record.clone());
    if matches!(record.host_config.network_mode, NetworkMode::Bridge(_))
        || !fresh.extra_networks.is_empty()
    {
        problems.extend(network::release(store, &record.id));
        refresh_peers(store, &fresh);
    }
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &record.cgroup_path);
    let oom_killed = cgroup.oom_killed();
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    let (exit_code, error) = match result {
        Ok(code) => (*code, String::new()),
        Err(e) => (crate::exit::exit_code_for(e), crate::exit::describe(e)),
    };
    record.network = Default::default();
    record.extra_networks.clear();
    let ended = |s: &mut state::RunState| {
        s.status = Status::Exited;
        s.pid = 0;
        s.finished_at = now_rfc3339();
        s.oom_killed = oom_killed;
        s.exit_code = exit_code;
        s.error = error.clone();
        s.keeper_pid = 0;
        s.keeper_start = 0;
    };
    ended(&mut record.state);
    if record.host_config.auto_remove {
        problems.extend(teardown(store, record));
        // `run --rm` takes the anonymous volumes with it, as Docker does.
        problems.extend(remove_anonymous_volumes(store, record));
    } else if store.container_dir(&record.id).exists() {
        // Afresh from disk: a rename while it ran must not be undone here.
        match store.update_container(&record.id, |r| {
            ended(&mut r.state);
            r.network = Default::default();
            r.extra_networks.clear();
        }) {
            Ok(fresh) => *record = fresh,
            // Removed by `rm -f` meanwhile: nothing is lost.
            Err(_) if !store.container_dir(&record.id).exists() => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    problems
}

/// Removes a container that no longer runs: its cgroup and its directory (upper layer,
/// bundle, record). Serves `run --rm`, `rm` and, later, `delete`. Every step runs; every
/// failure is returned.
pub fn teardown(store: &Store, record: &ContainerRecord) -> Vec<String> {
    let mut problems = vec![];
    if matches!(record.host_config.network_mode, NetworkMode::Bridge(_)) {
        problems.extend(network::release(store, &record.id));
    }
    let cgroup = ContainerCgroup::load(cgroups::host_hierarchy(), &record.cgroup_path);
    if let Err(e) = cgroup.delete() {
        problems.push(e.to_string());
    }
    if let Err(e) = store.remove_container_dir(&record.id) {
        problems.push(e.to_string());
    }
    problems
}

/// `rm -v`: the container's anonymous volumes go too, unless another container mounts one
/// (`--volumes-from` style sharing); named volumes always stay.
pub fn remove_anonymous_volumes(store: &Store, record: &ContainerRecord) -> Vec<String> {
    let Ok(_writer) = store.writer_guard() else {
        return vec!["take the store's writer lock to remove volumes".into()];
    };
    let others = store.containers().unwrap_or_default();
    let mut problems = vec![];
    for name in record
        .host_config
        .binds
        .iter()
        .filter_map(|b| b.volume.as_ref())
    {
        let anonymous = crate::volumes::find(store, name).is_ok_and(|v| v.anonymous());
        if anonymous && crate::volumes::users(&others, name).is_empty() {
            if let Err(e) = crate::volumes::remove(store, name, false) {
                problems.push(e.to_string());
            }
        }
    }
    problems
}
