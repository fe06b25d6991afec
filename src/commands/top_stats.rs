//! `hako top` (the container's processes, seen from the host) and `hako stats` (what
//! each container uses, from its cgroup).

use super::ps::print_table;
use crate::cgroups::{self, stats, ContainerCgroup};
use crate::cli::{StatsArgs, TopArgs};
use crate::state::ContainerRecord;
use crate::store::Store;
use crate::units::human_size;
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

pub fn top(store: &Store, args: &TopArgs) -> Result<i32> {
    let c = store.lookup_container(&args.container)?;
    if !c.is_running() {
        bail!("container {} is not running", c.short_id());
    }
    let version = ContainerCgroup::load(cgroups::host_hierarchy(), &c.cgroup_path).version();
    let mut rows = vec![];
    let pids = if c.cgroup_path.is_empty() {
        // Rootless without a cgroup: the processes of its PID namespace instead.
        in_pid_namespace_of(c.state.pid)
    } else {
        stats::processes(version, &c.cgroup_path)
    };
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .trim()
            .to_string();
        rows.push([field("Uid:"), pid.to_string(), field("PPid:"), cmd]);
    }
    print_table(&["UID", "PID", "PPID", "CMD"], &rows);
    Ok(0)
}

pub fn stats(store: &Store, args: &StatsArgs) -> Result<i32> {
    let mut containers: Vec<ContainerRecord> = if args.containers.is_empty() {
        store
            .containers()?
            .into_iter()
            .filter(|c| args.all || c.is_running())
            .collect()
    } else {
        args.containers
            .iter()
            .map(|n| store.lookup_container(n))
            .collect::<Result<_, _>>()?
    };
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    loop {
        let rows = sample(&containers);
        if !args.no_stream {
            // Clear the screen and go home, as docker stats redraws.
            print!("\x1b[2J\x1b[H");
        }
        print_table(
            &[
                "CONTAINER ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "BLOCK I/O",
                "PIDS",
            ],
            &rows,
        );
        if args.no_stream {
            return Ok(0);
        }
    }
}

/// The processes that share `init`'s PID namespace, seen from the host's /proc.
pub fn in_pid_namespace_of(init: i32) -> Vec<i32> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(want) = ns(&init.to_string()) else {
        return vec![];
    };
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| ns(&p.to_string()).as_ref() == Some(&want))
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// Two readings half a second apart: CPU % is the CPU time used between them.
fn sample(containers: &[ContainerRecord]) -> Vec<[String; 7]> {
    let read = |c: &ContainerRecord| {
        let version = ContainerCgroup::load(cgroups::host_hierarchy(), &c.cgroup_path).version();
        stats::usage(version, &c.cgroup_path)
    };
    let first: Vec<_> = containers.iter().map(read).collect();
    let began = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let elapsed = began.elapsed().as_nanos() as f64;
    let host_memory = host_memory_bytes();
    containers
        .iter()
        .zip(first)
        .map(|(c, before)| {
            let now = read(c);
            let running = c.is_running();
            let cpu = if running {
                (now.cpu_ns.saturating_sub(before.cpu_ns)) as f64 / elapsed * 100.0
            } else {
                0.0
            };
            let limit = now.memory_limit.unwrap_or(host_memory);
            let mem_pct = if limit > 0 {
                now.memory_bytes as f64 / limit as f64 * 100.0
            } else {
                0.0
            };
            [
                c.short_id().to_string(),
                c.name.clone(),
                format!("{cpu:.2}%"),
                format!("{} / {}", human_size(now.memory_bytes), human_size(limit)),
                format!("{mem_pct:.2}%"),
                format!(
                    "{} / {}",
                    human_size(now.block_read),
                    human_size(now.block_write)
                ),
                now.pids.to_string(),
            ]
        })
        .collect()
}

fn host_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
