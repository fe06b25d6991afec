//! Processes known by PID *and* start time: a PID alone is reused by the kernel, and a
//! command line can be anything (any process named "hako…" would pass for a keeper).

use std::fs;

/// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot.
/// None for a process that is gone or has died and waits to be reaped (a zombie is not
/// running).
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// This process's start time (always readable: we are running).
pub fn own_start_time() -> u64 {
    start_time(std::process::id() as i32).unwrap_or(0)
}

/// Whether the process that was `pid`, started at `start`, still runs.
pub fn is_alive(pid: i32, start: u64) -> bool {
    start != 0 && start_time(pid) == Some(start)
}

/// For records written before start times were kept: the PID runs a hako binary (its
/// executable, not its command line, which a process can set to anything).
pub fn legacy_hako_alive(pid: i32) -> bool {
    pid > 0
        && fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
            exe.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hako"))
        })
}

/// Clock ticks per second, for turning start times into wall-clock times.
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// When the machine booted, in seconds since the epoch (`btime` in /proc/stat).
fn boot_time() -> Option<u64> {
    fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Whether `pid` is a process that already ran at `unix_nanos` (so it may have made a
/// name stamped with that time): a process with the same PID started later is another.
pub fn ran_at(pid: i32, unix_nanos: u128) -> bool {
    let (Some(start), Some(boot)) = (start_time(pid), boot_time()) else {
        return false;
    };
    let started_ns = (u128::from(boot) * 1_000_000_000)
        + u128::from(start) * 1_000_000_000 / u128::from(ticks_per_second());
    // btime has one-second resolution: allow for it.
    started_ns <= unix_nanos + 2_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_is_not() {
        let me = std::process::id() as i32;
        let start = own_start_time();
        assert!(start > 0);
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(me, 0));
    }

    #[test]
    fn a_name_made_now_was_made_by_this_process() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        assert!(ran_at(std::process::id() as i32, now));
        // Long before this process started: a name another process with our PID made.
        assert!(!ran_at(std::process::id() as i32, 1_000_000_000));
    }
}
