//! Who the container's process is: rlimits, capabilities, uid/gid, no_new_privs.

use crate::spec::plan::{CapSets, LaunchPlan};
use crate::trace;
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};

pub fn apply_rlimits(plan: &LaunchPlan) -> Result<(), String> {
    for r in &plan.rlimits {
        trace::step(
            "identity",
            "setrlimit",
            || format!("{:?}, {}, {}", r.resource, r.soft, r.hard),
            || nix::sys::resource::setrlimit(r.resource, r.soft, r.hard),
        )
        .map_err(|e| {
            format!(
                "setrlimit {:?} {}:{}: {e} (hard limits cannot be raised above the host's)",
                r.resource, r.soft, r.hard
            )
        })?;
    }
    Ok(())
}

pub fn set_no_new_privs() -> Result<(), String> {
    trace::step(
        "identity",
        "prctl",
        || "PR_SET_NO_NEW_PRIVS, 1".into(),
        nix::sys::prctl::set_no_new_privs,
    )
    .map_err(|e| format!("prctl(PR_SET_NO_NEW_PRIVS): {e}"))
}

/// Drops the bounding set, switches uid/gid, then sets the remaining sets.
///
/// Order matters: the bounding set needs CAP_SETPCAP and setuid needs CAP_SETUID, so both
/// happen while we still hold everything; a switch to a non-zero uid then clears the
/// permitted and effective sets (capabilities(7), "Effect of user ID changes"), as Docker
/// does for `--user`.
pub fn switch_identity(plan: &LaunchPlan) -> Result<(), String> {
    let caps = &plan.caps;
    for cap in caps::all() {
        if !caps.bounding.contains(&cap) {
            // Capabilities the running kernel does not know read as EINVAL: skip them.
            if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| format!("drop {cap} from the bounding set: {e}"))?;
            }
        }
    }
    let groups: Vec<Gid> = plan
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    trace::step(
        "identity",
        "setgroups",
        || format!("{:?}", plan.additional_gids),
        || setgroups(&groups),
    )
    .map_err(|e| format!("setgroups: {e}"))?;
    trace::step(
        "identity",
        "setgid",
        || plan.gid.to_string(),
        || setgid(Gid::from_raw(plan.gid)),
    )
    .map_err(|e| format!("setgid {}: {e}", plan.gid))?;
    trace::step(
        "identity",
        "setuid",
        || plan.uid.to_string(),
        || setuid(Uid::from_raw(plan.uid)),
    )
    .map_err(|e| format!("setuid {}: {e}", plan.uid))?;
    set_capabilities(caps, plan.uid == 0)?;
    trace::note("identity", "capabilities", || {
        format!(
            "CapEff={:016x} CapBnd={:016x}",
            mask(&caps::read(None, CapSet::Effective).unwrap_or_default()),
            mask(&caps::read(None, CapSet::Bounding).unwrap_or_default())
        )
    });
    Ok(())
}

fn set_capabilities(caps: &CapSets, root: bool) -> Result<(), String> {
    let set =
        |which: CapSet, wanted: &std::collections::HashSet<Capability>| -> Result<(), String> {
            let known: CapsHashSet = wanted
                .iter()
                .copied()
                .filter(|c| caps::has_cap(None, CapSet::Bounding, *c).unwrap_or(false))
                .collect();
            caps::set(None, which, &known).map_err(|e| format!("set {which:?} capabilities: {e}"))
        };
    set(CapSet::Inheritable, &caps.inheritable)?;
    if root {
        // Effective first: capset(2) refuses a permitted set that the current effective
        // set is not a subset of, and the caps crate keeps the other sets as they are.
        set(CapSet::Effective, &caps.effective)?;
        set(CapSet::Permitted, &caps.permitted)?;
    }
    if !caps.ambient.is_empty() {
        set(CapSet::Ambient, &caps.ambient)?;
    }
    Ok(())
}

pub fn mask(set: &CapsHashSet) -> u64 {
    set.iter().map(|c| 1u64 << c.index()).sum()
}
