//! What a container uses, read from its cgroup (`hako stats`, `hako top`): the same
//! counters on v1 and v2, from the files the kernel documents for each.

use super::Version;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used so far, nanoseconds.
    pub cpu_ns: u64,
    pub memory_bytes: u64,
    /// None when unlimited.
    pub memory_limit: Option<u64>,
    pub pids: u64,
    pub block_read: u64,
    pub block_write: u64,
}

/// Where one controller's files for `path` are.
fn dir(version: Version, controller: &str, path: &str) -> PathBuf {
    match version {
        Version::V2 => Path::new("/sys/fs/cgroup").join(path),
        Version::V1 => Path::new("/sys/fs/cgroup").join(controller).join(path),
    }
}

fn read(p: PathBuf) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn number(p: PathBuf) -> Option<u64> {
    read(p)?.trim().parse().ok()
}

/// `key value` lines (cpu.stat, memory.stat).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

pub fn usage(version: Version, path: &str) -> Usage {
    let mut u = Usage::default();
    if path.is_empty() {
        // No cgroup (rootless without delegation): nothing is counted.
        return u;
    }
    match version {
        Version::V2 => {
            let d = dir(version, "", path);
            u.cpu_ns = read(d.join("cpu.stat"))
                .and_then(|s| keyed(&s, "usage_usec"))
                .unwrap_or(0)
                * 1000;
            u.memory_bytes = number(d.join("memory.current")).unwrap_or(0);
            u.memory_limit = number(d.join("memory.max"));
            u.pids = number(d.join("pids.current")).unwrap_or(0);
            (u.block_read, u.block_write) = read(d.join("io.stat"))
                .map(|s| io_stat(&s))
                .unwrap_or_default();
        }
        Version::V1 => {
            u.cpu_ns = number(dir(version, "cpuacct", path).join("cpuacct.usage")).unwrap_or(0);
            let mem = dir(version, "memory", path);
            u.memory_bytes = number(mem.join("memory.usage_in_bytes")).unwrap_or(0);
            // v1 says "unlimited" with a huge page-aligned number.
            u.memory_limit = number(mem.join("memory.limit_in_bytes")).filter(|l| *l < 1 << 62);
            u.pids = number(dir(version, "pids", path).join("pids.current")).unwrap_or(0);
            (u.block_read, u.block_write) =
                read(dir(version, "blkio", path).join("blkio.throttle.io_service_bytes"))
                    .map(|s| blkio_v1(&s))
                    .unwrap_or_default();
        }
    }
    u
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 …` per device.
fn io_stat(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            r += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            w += v.parse::<u64>().unwrap_or(0);
        }
    }
    (r, w)
}

/// v1 `blkio.throttle.io_service_bytes`: `8:0 Read 123` lines.
fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, n] = f.as_slice() {
            let n: u64 = n.parse().unwrap_or(0);
            match *op {
                "Read" => r += n,
                "Write" => w += n,
                _ => {}
            }
        }
    }
    (r, w)
}

/// The pids in the container's cgroup (any controller lists them; pids is always there).
pub fn processes(version: Version, path: &str) -> Vec<i32> {
    if path.is_empty() {
        return vec![];
    }
    let d = dir(version, "pids", path);
    read(d.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernels_formats() {
        assert_eq!(
            io_stat("8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n"),
            (11, 22)
        );
        assert_eq!(
            blkio_v1("8:0 Read 5\n8:0 Write 7\n8:0 Total 12\nTotal 12\n"),
            (5, 7)
        );
        assert_eq!(
            keyed("usage_usec 42\nuser_usec 1\n", "usage_usec"),
            Some(42)
        );
    }
}
