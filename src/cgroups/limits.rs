//! A container's limits: what the flags and the spec ask for (`Limits`), and the exact
//! files and values they become on each cgroup version (`limit_files`, and cgroups-rs's
//! `Resources` for the writes it makes).

use super::{SpecResources, Version, CPU_PERIOD_US};
use cgroups_rs::{MaxValue, Resources};

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory plus swap, bytes; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    /// CPU quota per period, microseconds (-1: unlimited).
    pub cpu_quota: Option<i64>,
    /// The period the quota is counted in, microseconds: `CPU_PERIOD_US` (Docker's
    /// 100 ms) unless a bundle names another.
    #[serde(default)]
    pub cpu_period: Option<u64>,
    pub pids: Option<i64>,
    /// Relative CPU weight, v1's `cpu.shares` scale (2–262144; 1024 is the default).
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    /// `linux.resources.devices`, in order (the device cgroup; enforced on v1).
    #[serde(default)]
    pub devices: Vec<DeviceRule>,
    /// The rest of a spec's `linux.resources` (block I/O, hugetlb, cpuset, `unified`…).
    #[serde(default)]
    pub spec: SpecResources,
}

/// One device cgroup rule: `allow`/deny `kind` (`a`, `c`, `b`) `major:minor` `access`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl DeviceRule {
    /// The line v1's `devices.allow`/`devices.deny` takes: `c 1:3 rwm`, `a *:* rwm`.
    pub fn line(&self) -> String {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

impl Limits {
    /// Whether any limit a user asks for with flags is set (the device rules every
    /// container carries do not count: they need no delegated cgroup to be meaningful).
    pub fn has_resource_limits(&self) -> bool {
        self.memory.is_some()
            || self.memory_swap.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_period.is_some()
            || self.pids.is_some()
            || self.cpu_shares.is_some()
            || !self.spec.is_empty()
    }
}

/// v1 shares → v2 `cpu.weight` (1–10000), the conversion runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

impl Limits {
    /// The limits a runtime spec asks for in `linux.resources`: the bundle is the
    /// contract, so nothing downstream reads the flags.
    pub fn from_spec(spec: &oci_spec::runtime::Spec) -> Limits {
        match spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
            Some(r) => Limits::from_resources(r),
            None => Limits::default(),
        }
    }

    /// The limits of an OCI `LinuxResources` (a spec's, or runc's `update --resources`).
    pub fn from_resources(r: &oci_spec::runtime::LinuxResources) -> Limits {
        let memory = r.memory().as_ref();
        let cpu = r.cpu().as_ref();
        // As in runc, zero means "not set" (Docker sends `"shares": 0` and the like).
        let set = |v: Option<i64>| v.filter(|v| *v != 0);
        Limits {
            memory: set(memory.and_then(|m| m.limit())),
            memory_swap: set(memory.and_then(|m| m.swap())),
            // Both as the bundle gives them: the period is part of the contract (a
            // 50 ms quota in a 250 ms period is not the same as 20 ms in 100 ms).
            cpu_quota: set(cpu.and_then(|c| c.quota())),
            cpu_period: cpu.and_then(|c| c.period()).filter(|p| *p != 0),
            pids: set(r.pids().as_ref().map(|p| p.limit())),
            cpu_shares: cpu.and_then(|c| c.shares()).filter(|s| *s != 0),
            devices: r
                .devices()
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|d| DeviceRule {
                    allow: d.allow(),
                    kind: d
                        .typ()
                        .map_or('a', |t| t.as_str().chars().next().unwrap_or('a')),
                    major: d.major(),
                    minor: d.minor(),
                    access: d.access().clone().unwrap_or_else(|| "rwm".into()),
                })
                .collect(),
            spec: SpecResources::from_resources(r),
        }
    }

    /// The CFS period in microseconds.
    pub fn period(&self) -> u64 {
        self.cpu_period.unwrap_or(CPU_PERIOD_US)
    }

    /// Docker's `--cpus 1.5` → quota 150000 per 100000 µs period.
    pub fn cpus_to_quota(cpus: f64) -> i64 {
        (cpus * CPU_PERIOD_US as f64).round() as i64
    }

    /// `--memory-swap` unset means twice `--memory` (Docker's default).
    fn effective_swap_total(&self) -> Option<i64> {
        match (self.memory, self.memory_swap) {
            (_, Some(s)) => Some(s),
            (Some(m), None) => Some(m * 2),
            _ => None,
        }
    }
}

/// The exact (file, value) writes `limits` turn into on `version`.
pub fn limit_files(limits: &Limits, version: Version) -> Vec<(&'static str, String)> {
    let mut out = vec![];
    let max = |v: i64| {
        if v < 0 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    match version {
        Version::V1 => {
            if let Some(m) = limits.memory {
                out.push(("memory.limit_in_bytes", m.to_string()));
            }
            if let (Some(_), Some(s)) = (limits.memory, limits.effective_swap_total()) {
                out.push(("memory.memsw.limit_in_bytes", s.to_string()));
            }
            if limits.cpu_quota.is_some() || limits.cpu_period.is_some() {
                out.push(("cpu.cfs_period_us", limits.period().to_string()));
            }
            if let Some(q) = limits.cpu_quota {
                out.push(("cpu.cfs_quota_us", q.to_string()));
            }
            if let Some(p) = limits.pids {
                out.push(("pids.max", max(p)));
            }
            if let Some(sh) = limits.cpu_shares {
                out.push(("cpu.shares", sh.to_string()));
            }
        }
        Version::V2 => {
            if let Some(m) = limits.memory {
                out.push(("memory.max", m.to_string()));
            }
            // v2 counts swap on its own: swap.max = (memory+swap) − memory.
            if let (Some(m), Some(s)) = (limits.memory, limits.effective_swap_total()) {
                out.push((
                    "memory.swap.max",
                    if s < 0 {
                        "max".into()
                    } else {
                        (s - m).max(0).to_string()
                    },
                ));
            }
            if limits.cpu_quota.is_some() || limits.cpu_period.is_some() {
                let quota = limits.cpu_quota.map_or("max".into(), max);
                out.push(("cpu.max", format!("{quota} {}", limits.period())));
            }
            if let Some(p) = limits.pids {
                out.push(("pids.max", max(p)));
            }
            if let Some(sh) = limits.cpu_shares {
                out.push(("cpu.weight", shares_to_weight(sh).to_string()));
            }
        }
    }
    out
}

pub(super) fn resources(limits: &Limits, version: Version) -> Resources {
    let mut r = Resources::default();
    r.memory.memory_hard_limit = limits.memory;
    if let (Some(m), Some(s)) = (limits.memory, limits.effective_swap_total()) {
        r.memory.memory_swap_limit = Some(match version {
            Version::V1 => s,
            Version::V2 if s < 0 => -1,
            Version::V2 => (s - m).max(0),
        });
    }
    if limits.cpu_quota.is_some() || limits.cpu_period.is_some() {
        r.cpu.quota = Some(limits.cpu_quota.unwrap_or(-1));
        r.cpu.period = Some(limits.period());
    }
    // cgroups-rs writes the number as given: cpu.shares on v1, cpu.weight on v2.
    r.cpu.shares = limits.cpu_shares.map(|sh| match version {
        Version::V1 => sh,
        Version::V2 => shares_to_weight(sh),
    });
    if let Some(p) = limits.pids {
        r.pid.maximum_number_of_processes = Some(if p < 0 {
            MaxValue::Max
        } else {
            MaxValue::Value(p)
        });
    }
    r
}
