//! Time limits on registry transfers. A registry that trickles one byte every two seconds
//! never trips a per-read timeout, and a pull that never ends holds its locks and disk
//! forever. So every blob transfer has a whole-transfer deadline and a stall timeout: a
//! transfer that moves less than `STALL_MIN_BYTES` in any window of the stall timeout is
//! given up (with its partial download kept for the next pull to resume).
//!
//! `HAKO_PULL_TIMEOUT` (default 1h; 0 = none) and `HAKO_PULL_STALL_TIMEOUT` (default 30s)
//! change them, in Go's duration syntax (`90s`, `2h`) or seconds.

use std::io;
use std::time::{Duration, Instant};

/// Less than this many bytes in one stall window is a stall (1 KiB/s at the default).
pub const STALL_MIN_BYTES: u64 = 30 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferLimits {
    /// The longest one blob may take; None: no limit.
    pub deadline: Option<Duration>,
    pub stall: Duration,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            deadline: Some(Duration::from_secs(3600)),
            stall: Duration::from_secs(30),
        }
    }
}

impl TransferLimits {
    pub fn from_env() -> Result<TransferLimits, String> {
        let mut l = TransferLimits::default();
        let read = |name: &str| -> Result<Option<Duration>, String> {
            match std::env::var(name).ok().filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => crate::units::parse_duration(&v)
                    .map(Some)
                    .map_err(|e| format!("{name}: {e}")),
            }
        };
        if let Some(d) = read("HAKO_PULL_TIMEOUT")? {
            l.deadline = Some(d).filter(|d| !d.is_zero());
        }
        if let Some(d) = read("HAKO_PULL_STALL_TIMEOUT")? {
            if d.is_zero() {
                return Err("HAKO_PULL_STALL_TIMEOUT must be above 0".into());
            }
            l.stall = d;
        }
        Ok(l)
    }
}

/// Watches one transfer: call `progress` with every read's byte count.
#[derive(Debug)]
pub struct Watchdog {
    limits: TransferLimits,
    started: Instant,
    window_started: Instant,
    window_bytes: u64,
}

impl Watchdog {
    pub fn start(limits: TransferLimits) -> Watchdog {
        let now = Instant::now();
        Watchdog {
            limits,
            started: now,
            window_started: now,
            window_bytes: 0,
        }
    }

    pub fn progress(&mut self, n: u64) -> io::Result<()> {
        self.progress_at(n, Instant::now())
    }

    fn progress_at(&mut self, n: u64, now: Instant) -> io::Result<()> {
        if let Some(deadline) = self.limits.deadline {
            if now.duration_since(self.started) > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the transfer took longer than {}s (HAKO_PULL_TIMEOUT)",
                        deadline.as_secs()
                    ),
                ));
            }
        }
        self.window_bytes += n;
        if now.duration_since(self.window_started) >= self.limits.stall {
            if self.window_bytes < STALL_MIN_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the registry sent {} bytes in {}s: stalled (HAKO_PULL_STALL_TIMEOUT)",
                        self.window_bytes,
                        self.limits.stall.as_secs_f64()
                    ),
                ));
            }
            self.window_started = now;
            self.window_bytes = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickle_is_a_stall_and_a_stream_is_not() {
        let limits = TransferLimits {
            deadline: Some(Duration::from_secs(100)),
            stall: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let mut w = Watchdog::start(limits);
        for s in 1..10 {
            w.progress_at(1, t0 + Duration::from_secs(s)).unwrap();
        }
        assert!(w.progress_at(1, t0 + Duration::from_secs(11)).is_err());
        let mut w = Watchdog::start(limits);
        for s in 1..90 {
            w.progress_at(STALL_MIN_BYTES, t0 + Duration::from_secs(s))
                .unwrap();
        }
        let e = w
            .progress_at(STALL_MIN_BYTES, t0 + Duration::from_secs(101))
            .unwrap_err();
        assert!(e.to_string().contains("HAKO_PULL_TIMEOUT"), "{e}");
    }
}
