//! Containers whose hako process was killed (`kill -9` of a foreground `run`, of a
//! keeper, of a `build`). Their processes died with it (the init's parent-death signal),
//! but nothing recorded the exit: the record still says running and the cgroup stays on
//! every hierarchy. The next command that touches such a container finishes what the
//! keeper could not — exit recorded (137, killed), cgroup removed, address released —
//! and a build step's container, which nobody else will ever use, is removed whole.

use super::finish::{finish, teardown};
use crate::state::{ContainerRecord, Status};
use crate::store::Store;

/// Label on a build step's container: the build process (`PID:START`) it belongs to.
pub const BUILD_OWNER_LABEL: &str = "org.hako.build-owner";

/// `PID:START` of this process, for `BUILD_OWNER_LABEL`.
pub fn this_process() -> String {
    format!("{}:{}", std::process::id(), crate::proc::own_start_time())
}

/// A build step's container whose build is gone.
fn orphaned_build_step(c: &ContainerRecord) -> bool {
    let Some(owner) = c.config.labels.get(BUILD_OWNER_LABEL) else {
        return false;
    };
    let alive = owner
        .split_once(':')
        .and_then(|(pid, start)| Some((pid.parse().ok()?, start.parse().ok()?)))
        .is_some_and(|(pid, start)| crate::proc::is_alive(pid, start));
    !alive
}

/// Says running, but neither its process nor the hako that kept it exists.
pub fn abandoned(c: &ContainerRecord) -> bool {
    matches!(c.state.status, Status::Running | Status::Paused)
        && !c.is_running()
        && !c.keeper_alive()
}

/// What `reap` would do to `c`, if anything.
pub fn verdict(c: &ContainerRecord) -> Option<&'static str> {
    if orphaned_build_step(c) {
        Some("a step of a build that was killed")
    } else if abandoned(c) {
        Some("its hako process was killed; the cgroup and record are left")
    } else {
        None
    }
}

/// Finishes `c` if it was abandoned; returns the problems met. The record is re-read
/// under the keeper's rules (`finish` writes it afresh), so a container that a live
/// process started meanwhile is not touched.
pub fn reap(store: &Store, c: &ContainerRecord) -> Vec<String> {
    if orphaned_build_step(c) {
        return teardown(store, c);
    }
    if !abandoned(c) {
        return vec![];
    }
    let mut record = c.clone();
    // Its init died of the parent-death signal: SIGKILL, as Docker reports it.
    finish(store, &mut record, &Ok(128 + libc::SIGKILL))
}

/// Reaps `c`, telling the user what could not be cleaned up.
fn reap_reporting(store: &Store, c: &ContainerRecord) {
    for p in reap(store, c) {
        eprintln!("hako: cleaning up container {}: {p}", c.short_id());
    }
}

/// `records` with every abandoned one reaped (for `ps`): only those are read again, so
/// listing costs one read of each record, as before.
pub fn reaped(store: &Store, records: Vec<ContainerRecord>) -> Vec<ContainerRecord> {
    records
        .into_iter()
        .filter_map(|c| {
            if verdict(&c).is_none() {
                return Some(c);
            }
            reap_reporting(store, &c);
            // A reaped build step is gone; any other is read back as it now is.
            store.lookup_container(&c.id).ok()
        })
        .collect()
}

/// The record of `name`, reaped first if it was abandoned.
pub fn lookup(store: &Store, name: &str) -> Result<ContainerRecord, crate::state::StateError> {
    let c = store.lookup_container(name)?;
    if verdict(&c).is_none() {
        return Ok(c);
    }
    reap_reporting(store, &c);
    store.lookup_container(&c.id)
}
