//! Who the container's process is: rlimits, no_new_privs, capabilities, uid/gid. Every
//! call goes through the `Sys` seam, so the whole order is unit-tested with the fake.

use crate::spec::plan::{CapSets, ProcessPlan};
use crate::sys::{Sys, SysError};
use caps::{CapSet, Capability, CapsHashSet};
use std::collections::HashSet;

pub fn apply_rlimits(sys: &dyn Sys, process: &ProcessPlan) -> Result<(), String> {
    for r in &process.rlimits {
        sys.setrlimit(r.resource, r.soft, r.hard).map_err(|e| {
            format!(
                "setrlimit {:?} {}:{}: {e} (hard limits cannot be raised above the host's)",
                r.resource, r.soft, r.hard
            )
        })?;
    }
    Ok(())
}

/// Drops the bounding set, switches gid and uid, then sets the remaining capability sets.
///
/// Order matters: the bounding set needs CAP_SETPCAP and setresuid needs CAP_SETUID, so
/// both happen while we still hold everything; a switch to a non-zero uid then clears the
/// permitted and effective sets (capabilities(7), "Effect of user ID changes"), as Docker
/// does for `--user`. With `supervised` (a process that dies with hako), the switch
/// clears the parent-death signal, which is set again here and then checked with it:
/// it says whether hako is still there.
/// Whether hako (the parent that supervises this process) is still there.
pub type Supervised<'a> = Option<&'a dyn Fn(&dyn Sys) -> bool>;

pub fn switch_identity(
    sys: &dyn Sys,
    process: &ProcessPlan,
    supervised: Supervised,
) -> Result<(), String> {
    let caps = &process.caps;
    // Only what this process still holds can be kept (capabilities the kernel does not
    // know, or that hako's own caller dropped, cannot be set): the rest is skipped.
    let known = caps::read(None, CapSet::Bounding).unwrap_or_default();
    for cap in caps::all() {
        if !caps.bounding.contains(&cap) && known.contains(&cap) {
            sys.drop_bounding_cap(cap)
                .map_err(|e| format!("drop {cap} from the bounding set: {e}"))?;
        }
    }
    match sys.setgroups(&process.additional_gids) {
        // A user namespace whose creator gave up setgroups (a rootless single-id map)
        // keeps the groups it has; with none asked for, there is nothing to give up.
        Err(e) if process.additional_gids.is_empty() && e.errno() == nix::Error::EPERM => {}
        other => other.map_err(|e| format!("setgroups {:?}: {e}", process.additional_gids))?,
    }
    sys.setresgid(process.gid)
        .map_err(|e| format!("setresgid {}: {e}", process.gid))?;
    // Leaving uid 0 clears the permitted set unless told to keep it: kept, so that the
    // spec's five sets can be applied below for any user, as runc does.
    let leaves_root = process.uid != 0;
    if leaves_root {
        sys.set_keep_caps(true).map_err(|e| e.to_string())?;
    }
    sys.setresuid(process.uid)
        .map_err(|e| format!("setresuid {}: {e}", process.uid))?;
    // A uid change clears PR_SET_PDEATHSIG (prctl(2)): set it again, then make sure hako
    // did not die in between, when the signal could not have been sent (runc does both).
    if let Some(still_supervised) = supervised {
        sys.set_parent_death_signal(nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| e.to_string())?;
        if !still_supervised(sys) {
            return Err("hako exited while the container was starting".into());
        }
    }
    set_capabilities(sys, caps, &known).map_err(|e| e.to_string())?;
    if leaves_root {
        sys.set_keep_caps(false).map_err(|e| e.to_string())?;
    }
    crate::trace::note("identity", "capabilities", || {
        format!(
            "CapEff={:016x} CapBnd={:016x}",
            mask(&caps::read(None, CapSet::Effective).unwrap_or_default()),
            mask(&caps::read(None, CapSet::Bounding).unwrap_or_default())
        )
    });
    Ok(())
}

fn set_capabilities(
    sys: &dyn Sys,
    caps: &CapSets,
    supported: &CapsHashSet,
) -> Result<(), SysError> {
    let known = |wanted: &HashSet<Capability>| -> CapsHashSet {
        wanted.intersection(supported).copied().collect()
    };
    // Inheritable while the permitted set is still whole (it must stay within it), then
    // effective before permitted: capset(2) refuses a permitted set that the current
    // effective set is not a subset of, and the caps crate keeps the other sets as they are.
    sys.set_caps(CapSet::Inheritable, &known(&caps.inheritable))?;
    sys.set_caps(CapSet::Effective, &known(&caps.effective))?;
    sys.set_caps(CapSet::Permitted, &known(&caps.permitted))?;
    // The kernel raises an ambient capability only if it is both permitted and
    // inheritable; runc's own `spec` asks for ambient ones without inheritable, and runc
    // skips what cannot be raised. So does hako, saying so in the trace.
    let ambient: CapsHashSet = known(&caps.ambient)
        .into_iter()
        .filter(|c| caps.inheritable.contains(c) && caps.permitted.contains(c))
        .collect();
    if ambient.len() < caps.ambient.len() {
        crate::trace::note("identity", "ambient", || {
            "capabilities not both permitted and inheritable are left out".into()
        });
    }
    if !ambient.is_empty() {
        sys.set_caps(CapSet::Ambient, &ambient)?;
    }
    Ok(())
}

pub fn mask(set: &CapsHashSet) -> u64 {
    set.iter().map(|c| 1u64 << c.index()).sum()
}
