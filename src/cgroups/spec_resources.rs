//! The rest of a spec's `linux.resources`: block I/O, hugetlb, cpuset, real-time CPU,
//! soft memory limits, net_cls/net_prio, RDMA and v2's `unified` map. Each becomes a file write
//! hako makes itself (cgroups-rs would ignore a failed write, and a bundle must never run
//! with less than it asked for), translated for the host's cgroup version as runc does.

use super::Version;
use std::collections::BTreeMap;

/// One throttle rule: `major:minor` limited to `rate` bytes or operations per second.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Throttle {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

/// A per-device block I/O weight.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceWeight {
    pub major: i64,
    pub minor: i64,
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
}

/// The settings beyond memory/swap/CPU quota and shares/pids/devices.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SpecResources {
    /// v1's blkio scale, 10–1000 (0 means unset, as Docker sends it).
    pub blkio_weight: Option<u16>,
    pub blkio_leaf_weight: Option<u16>,
    pub blkio_weight_device: Vec<DeviceWeight>,
    pub read_bps: Vec<Throttle>,
    pub write_bps: Vec<Throttle>,
    pub read_iops: Vec<Throttle>,
    pub write_iops: Vec<Throttle>,
    /// Page size as the kernel names it (`2MB`, `1GB`) → bytes.
    pub hugepages: Vec<(String, i64)>,
    pub memory_reservation: Option<i64>,
    pub kernel_tcp: Option<i64>,
    pub swappiness: Option<u64>,
    pub disable_oom_killer: bool,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub rt_runtime: Option<i64>,
    pub rt_period: Option<u64>,
    pub cpu_idle: Option<i64>,
    pub net_class_id: Option<u32>,
    pub net_priorities: Vec<(String, u32)>,
    /// v2 file name → value, written as given.
    pub unified: BTreeMap<String, String>,
    /// RDMA device → (HCA handles, HCA objects); `None` is "max".
    pub rdma: BTreeMap<String, (Option<u32>, Option<u32>)>,
}

/// One write: `file` in the container's directory of `controller` (v1), or in its one
/// directory (v2, where `controller` only names what must be enabled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

impl Write {
    /// Why the kernel refused this write, in the spec's terms where they say more.
    pub fn explain(&self, e: &std::io::Error) -> String {
        match e.raw_os_error() {
            // The kernel's answer for an RDMA device name it does not know.
            Some(libc::ENODEV) if self.file == "rdma.max" => format!(
                "linux.resources.rdma names {:?}, but this host has no RDMA device of that name (ls /sys/class/infiniband)",
                self.value.split(' ').next().unwrap_or_default()
            ),
            _ => format!("write {:?} to {}: {e}", self.value, self.file),
        }
    }
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        controller,
        file: file.into(),
        value: value.to_string(),
    }
}

impl SpecResources {
    pub fn from_resources(r: &oci_spec::runtime::LinuxResources) -> SpecResources {
        let mut s = SpecResources::default();
        if let Some(b) = r.block_io() {
            s.blkio_weight = b.weight().filter(|w| *w != 0);
            s.blkio_leaf_weight = b.leaf_weight().filter(|w| *w != 0);
            s.blkio_weight_device = b
                .weight_device()
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|d| DeviceWeight {
                    major: d.major(),
                    minor: d.minor(),
                    weight: d.weight(),
                    leaf_weight: d.leaf_weight(),
                })
                .collect();
            let throttles = |v: &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>| {
                v.clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|t| Throttle {
                        major: t.major(),
                        minor: t.minor(),
                        rate: t.rate(),
                    })
                    .collect()
            };
            s.read_bps = throttles(b.throttle_read_bps_device());
            s.write_bps = throttles(b.throttle_write_bps_device());
            s.read_iops = throttles(b.throttle_read_iops_device());
            s.write_iops = throttles(b.throttle_write_iops_device());
        }
        s.hugepages = r
            .hugepage_limits()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|h| (h.page_size().clone(), h.limit()))
            .collect();
        if let Some(m) = r.memory() {
            s.memory_reservation = m.reservation();
            s.kernel_tcp = m.kernel_tcp();
            s.swappiness = m.swappiness();
            s.disable_oom_killer = m.disable_oom_killer().unwrap_or(false);
        }
        if let Some(c) = r.cpu() {
            s.cpuset_cpus = c.cpus().clone().filter(|v| !v.is_empty());
            s.cpuset_mems = c.mems().clone().filter(|v| !v.is_empty());
            s.rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
            s.rt_period = c.realtime_period().filter(|v| *v != 0);
            s.cpu_idle = c.idle();
        }
        if let Some(n) = r.network() {
            s.net_class_id = n.class_id();
            s.net_priorities = n
                .priorities()
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|p| (p.name().clone(), p.priority()))
                .collect();
        }
        s.rdma = r
            .rdma()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(device, l)| (device, (l.hca_handles(), l.hca_objects())))
            .collect();
        s.unified = r
            .unified()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        s
    }

    pub fn is_empty(&self) -> bool {
        *self == SpecResources::default()
    }

    /// The writes on `version`. `exists(controller, file)` says whether the host offers a
    /// file (BFQ's weights replace the old CFQ ones on current kernels). A setting the
    /// version cannot express is refused, naming it and the version.
    pub fn writes(
        &self,
        version: Version,
        exists: &dyn Fn(&'static str, &str) -> bool,
    ) -> Result<Vec<Write>, String> {
        let mut out = vec![];
        let v1 = version == Version::V1;
        let needs_v1 = |what: &str| {
            format!("{what} needs cgroup v1 (this host's hierarchy is cgroup v2, which has no equivalent); remove it from the spec")
        };
        // Block I/O: v1's blkio files, or v2's io.weight/io.bfq.weight and io.max.
        if v1 {
            let weight_file = |name: &str| {
                let bfq = format!("blkio.bfq.{name}");
                if exists("blkio", &bfq) {
                    bfq
                } else {
                    format!("blkio.{name}")
                }
            };
            if let Some(wt) = self.blkio_weight {
                out.push(w("blkio", weight_file("weight"), wt));
            }
            if let Some(wt) = self.blkio_leaf_weight {
                out.push(w("blkio", "blkio.leaf_weight", wt));
            }
            for d in &self.blkio_weight_device {
                if let Some(wt) = d.weight {
                    out.push(w(
                        "blkio",
                        weight_file("weight_device"),
                        format!("{}:{} {wt}", d.major, d.minor),
                    ));
                }
                if let Some(wt) = d.leaf_weight {
                    out.push(w(
                        "blkio",
                        "blkio.leaf_weight_device",
                        format!("{}:{} {wt}", d.major, d.minor),
                    ));
                }
            }
            for (file, list) in [
                ("blkio.throttle.read_bps_device", &self.read_bps),
                ("blkio.throttle.write_bps_device", &self.write_bps),
                ("blkio.throttle.read_iops_device", &self.read_iops),
                ("blkio.throttle.write_iops_device", &self.write_iops),
            ] {
                for t in list {
                    out.push(w(
                        "blkio",
                        file,
                        format!("{}:{} {}", t.major, t.minor, t.rate),
                    ));
                }
            }
        } else {
            let bfq = exists("io", "io.bfq.weight");
            let (file, convert): (&str, fn(u16) -> u64) = if bfq {
                ("io.bfq.weight", |w| w as u64)
            } else {
                ("io.weight", blkio_weight_to_io_weight)
            };
            if let Some(wt) = self.blkio_weight {
                out.push(w("io", file, convert(wt)));
            }
            if self.blkio_leaf_weight.is_some()
                || self
                    .blkio_weight_device
                    .iter()
                    .any(|d| d.leaf_weight.is_some())
            {
                return Err(
                    "linux.resources.blockIO.leafWeight has no cgroup v2 equivalent; remove it from the spec".into(),
                );
            }
            for d in &self.blkio_weight_device {
                if let Some(wt) = d.weight {
                    out.push(w(
                        "io",
                        file,
                        format!("{}:{} {}", d.major, d.minor, convert(wt)),
                    ));
                }
            }
            // io.max takes one line per device with the keys it sets.
            let mut max: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
            for (key, list) in [
                ("rbps", &self.read_bps),
                ("wbps", &self.write_bps),
                ("riops", &self.read_iops),
                ("wiops", &self.write_iops),
            ] {
                for t in list {
                    let v = if t.rate == 0 {
                        "max".to_string()
                    } else {
                        t.rate.to_string()
                    };
                    max.entry((t.major, t.minor))
                        .or_default()
                        .push(format!("{key}={v}"));
                }
            }
            for ((major, minor), keys) in max {
                out.push(w(
                    "io",
                    "io.max",
                    format!("{major}:{minor} {}", keys.join(" ")),
                ));
            }
        }
        for (size, limit) in &self.hugepages {
            let file = if v1 {
                format!("hugetlb.{size}.limit_in_bytes")
            } else {
                format!("hugetlb.{size}.max")
            };
            out.push(w("hugetlb", file, limit));
        }
        if let Some(r) = self.memory_reservation {
            let file = if v1 {
                "memory.soft_limit_in_bytes"
            } else {
                "memory.low"
            };
            let value = if r < 0 && !v1 {
                "max".to_string()
            } else {
                r.to_string()
            };
            out.push(w("memory", file, value));
        }
        // runc leaves these out on v2 too: v2 accounts TCP memory with the rest and has
        // no swappiness or OOM-killer switch per cgroup.
        if v1 {
            if let Some(k) = self.kernel_tcp {
                out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", k));
            }
            if let Some(s) = self.swappiness {
                out.push(w("memory", "memory.swappiness", s));
            }
            if self.disable_oom_killer {
                out.push(w("memory", "memory.oom_control", 1));
            }
        }
        if let Some(c) = &self.cpuset_cpus {
            out.push(w("cpuset", "cpuset.cpus", c));
        }
        if let Some(m) = &self.cpuset_mems {
            out.push(w("cpuset", "cpuset.mems", m));
        }
        if self.rt_runtime.is_some() || self.rt_period.is_some() {
            if !v1 {
                return Err(needs_v1(
                    "linux.resources.cpu.realtimeRuntime/realtimePeriod",
                ));
            }
            // The period first: the kernel checks the runtime against it.
            if let Some(p) = self.rt_period {
                out.push(w("cpu", "cpu.rt_period_us", p));
            }
            if let Some(r) = self.rt_runtime {
                out.push(w("cpu", "cpu.rt_runtime_us", r));
            }
        }
        if let Some(i) = self.cpu_idle {
            if v1 {
                return Err("linux.resources.cpu.idle needs cgroup v2 (this host's hierarchy is cgroup v1); remove it from the spec".into());
            }
            out.push(w("cpu", "cpu.idle", i));
        }
        if self.net_class_id.is_some() || !self.net_priorities.is_empty() {
            if !v1 {
                return Err(needs_v1("linux.resources.network"));
            }
            if let Some(id) = self.net_class_id {
                out.push(w("net_cls", "net_cls.classid", id));
            }
            for (name, prio) in &self.net_priorities {
                out.push(w(
                    "net_prio",
                    "net_prio.ifpriomap",
                    format!("{name} {prio}"),
                ));
            }
        }
        // The same file on both versions: one line per device.
        for (device, (handles, objects)) in &self.rdma {
            let limit = |v: &Option<u32>| v.map_or("max".to_string(), |n| n.to_string());
            out.push(w(
                "rdma",
                "rdma.max",
                format!(
                    "{device} hca_handle={} hca_object={}",
                    limit(handles),
                    limit(objects)
                ),
            ));
        }
        if !self.unified.is_empty() {
            if v1 {
                return Err("linux.resources.unified needs cgroup v2 (this host's hierarchy is cgroup v1 or hybrid); remove it from the spec".into());
            }
            for (file, value) in &self.unified {
                // A file in the container's own directory, never a path out of it.
                let controller = unified_controller(file)?;
                out.push(w(controller, file.clone(), value));
            }
        }
        Ok(out)
    }
}

/// The controller a v2 file belongs to (`memory.high` → memory), so it can be enabled;
/// refuses names that are not a plain interface file of the container's cgroup.
fn unified_controller(file: &str) -> Result<&'static str, String> {
    let bad = || {
        format!("linux.resources.unified: {file:?} is not a cgroup interface file name (expected controller.setting, e.g. memory.high)")
    };
    if file.contains('/') || file.starts_with('.') || !file.contains('.') {
        return Err(bad());
    }
    let prefix = file.split('.').next().unwrap_or_default();
    const KNOWN: [&str; 9] = [
        "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc", "cgroup",
    ];
    match KNOWN.iter().find(|k| **k == prefix) {
        Some(&"cgroup")
            if file != "cgroup.freeze"
                && file != "cgroup.max.depth"
                && file != "cgroup.max.descendants" =>
        {
            Err(format!(
                "linux.resources.unified: {file} is managed by the runtime, not a resource setting"
            ))
        }
        Some(k) => Ok(k),
        None => Err(bad()),
    }
}

/// v1's blkio weight (10–1000) on v2's io.weight scale (1–10000), as runc converts it.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.clamp(10, 1000) as u64 - 10) * 9999 / 990
}

#[cfg(test)]
#[path = "spec_resources_tests.rs"]
mod tests;
