//! Who the container's process becomes: rlimits, capabilities, ids, environment,
//! seccomp, LSM labels, scheduling. The half of the plan `exec` reuses.

use super::{CapSets, PlanError, ProcessPlan, Rlimit, SeccompListener};
use crate::spec::labels::Labels;
use caps::Capability;
use nix::sys::resource::Resource;
use std::collections::HashSet;
use std::str::FromStr;

pub fn compile(
    process: &oci_spec::runtime::Process,
    linux: &oci_spec::runtime::Linux,
    labels: Labels,
    seccomp_cache: Option<&std::path::Path>,
) -> Result<ProcessPlan, PlanError> {
    let args = process.args().clone().unwrap_or_default();
    let cwd = process.cwd().clone();
    let caps = match process.capabilities() {
        Some(c) => CapSets {
            bounding: cap_set(c.bounding().as_ref()),
            effective: cap_set(c.effective().as_ref()),
            permitted: cap_set(c.permitted().as_ref()),
            inheritable: cap_set(c.inheritable().as_ref()),
            ambient: cap_set(c.ambient().as_ref()),
        },
        None => CapSets::default(),
    };

    let mut rlimits = vec![];
    for r in process.rlimits().as_deref().unwrap_or_default() {
        let name = format!("{:?}", r.typ());
        let resource =
            rlimit_resource(&name.replace("Rlimit", "")).ok_or(PlanError::UnknownRlimit(name))?;
        rlimits.push(Rlimit {
            resource,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    let user = process.user();
    Ok(ProcessPlan {
        rlimits,
        caps,
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        cwd,
        env: process.env().clone().unwrap_or_default(),
        args,
        terminal: process.terminal().unwrap_or(false),
        seccomp: linux
            .seccomp()
            .as_ref()
            .map(|s| crate::seccomp::compile_cached(s, seccomp_cache))
            .transpose()?,
        seccomp_listener: linux.seccomp().as_ref().and_then(|s| {
            Some(SeccompListener {
                path: s.listener_path().clone()?,
                metadata: s.listener_metadata().clone().unwrap_or_default(),
            })
        }),
        labels,
        oom_score_adj: process.oom_score_adj(),
        personality: personality(linux)?,
        scheduler: process
            .scheduler()
            .as_ref()
            .map(crate::spec::sched::sched_attr)
            .transpose()
            .map_err(PlanError::Setting)?,
        io_priority: process
            .io_priority()
            .as_ref()
            .map(crate::spec::sched::io_priority)
            .transpose()
            .map_err(PlanError::Setting)?,
    })
}

/// `linux.personality`: the domain as personality(2) wants it; flags are not supported.
fn personality(linux: &oci_spec::runtime::Linux) -> Result<Option<u64>, PlanError> {
    use oci_spec::runtime::LinuxPersonalityDomain;
    let Some(p) = linux.personality() else {
        return Ok(None);
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(PlanError::Unsupported("linux.personality.flags"));
    }
    Ok(Some(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    }))
}

const RLIMITS: &[(&str, Resource)] = &[
    ("RLIMIT_AS", Resource::RLIMIT_AS),
    ("RLIMIT_CORE", Resource::RLIMIT_CORE),
    ("RLIMIT_CPU", Resource::RLIMIT_CPU),
    ("RLIMIT_DATA", Resource::RLIMIT_DATA),
    ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", Resource::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", Resource::RLIMIT_NICE),
    ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
    ("RLIMIT_RSS", Resource::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
    ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", Resource::RLIMIT_STACK),
];

pub fn rlimit_resource(name: &str) -> Option<Resource> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("RLIMIT_") {
        up
    } else {
        format!("RLIMIT_{up}")
    };
    RLIMITS.iter().find(|(n, _)| *n == full).map(|(_, r)| *r)
}

fn cap_set(names: Option<&HashSet<oci_spec::runtime::Capability>>) -> HashSet<Capability> {
    // oci-spec's capability type already validated the names; map it onto the caps crate.
    names
        .map(|set| {
            set.iter()
                .filter_map(|c| {
                    Capability::from_str(&c.to_string())
                        .ok()
                        .or_else(|| Capability::from_str(&format!("CAP_{c}")).ok())
                })
                .collect()
        })
        .unwrap_or_default()
}
