//! How far a layer may expand when it is unpacked.
//!
//! A layer is small on the wire and can be huge on disk: a 1 MB gzip of zeros becomes a
//! gigabyte, and a 2 KB tar can declare an 8 GiB sparse file. Unbounded, one hostile image
//! fills the data root's filesystem for every user of it. So each unpack carries a budget:
//! the bytes it writes may not exceed `ratio ×` the compressed size (what the registry or
//! archive declared, else what has been read so far) plus a fixed slack, nor an absolute
//! cap where one is set, and the filesystem must keep a reserve free. Every file byte
//! counts (holes of sparse files too: they are written as zeros), and every entry costs a
//! header's worth, so a million empty files count as well.
//!
//! Defaults are generous for real images; `HAKO_MAX_LAYER_RATIO` (default 100) and
//! `HAKO_MAX_LAYER_SIZE` (bytes, or with a k/m/g suffix; default unset) change them.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a layer may write beyond `ratio ×` its compressed size: small layers of very
/// compressible files (a zeroed image) stay possible.
const SLACK: u64 = 64 << 20;
/// Each tar entry costs at least this much (its header): inodes are not free either.
pub const ENTRY_COST: u64 = 512;
/// How often (in bytes written) the filesystem's free space is looked at.
const SPACE_CHECK_EVERY: u64 = 8 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub ratio: u64,
    pub cap: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ratio: 100,
            cap: None,
        }
    }
}

impl Limits {
    /// The defaults, changed by `HAKO_MAX_LAYER_RATIO` / `HAKO_MAX_LAYER_SIZE`.
    pub fn from_env() -> Result<Limits, String> {
        let mut l = Limits::default();
        if let Some(v) = std::env::var("HAKO_MAX_LAYER_RATIO")
            .ok()
            .filter(|v| !v.is_empty())
        {
            l.ratio = v.parse().ok().filter(|r| *r > 0).ok_or(format!(
                "HAKO_MAX_LAYER_RATIO={v:?}: expected a whole number above 0"
            ))?;
        }
        if let Some(v) = std::env::var("HAKO_MAX_LAYER_SIZE")
            .ok()
            .filter(|v| !v.is_empty())
        {
            let cap =
                crate::units::parse_bytes(&v).map_err(|e| format!("HAKO_MAX_LAYER_SIZE: {e}"))?;
            l.cap = Some(cap as u64);
        }
        Ok(l)
    }
}

/// Why an unpack was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("the layer expands beyond {limit} bytes ({ratio}× its {compressed} compressed bytes plus 64 MiB): a decompression bomb or a hostile sparse file (raise HAKO_MAX_LAYER_RATIO if the image is genuine)")]
    Ratio {
        limit: u64,
        ratio: u64,
        compressed: u64,
    },
    #[error("the layer expands beyond HAKO_MAX_LAYER_SIZE ({cap} bytes)")]
    Cap { cap: u64 },
    #[error("the filesystem of {path} has {free} bytes free{}, and hako keeps {reserve} free: free space there, or move the data root with --root", if *need > 0 { format!(" for {need} bytes") } else { String::new() })]
    NoSpace {
        path: PathBuf,
        free: u64,
        need: u64,
        reserve: u64,
    },
}

/// One unpack's account. Shared (`Arc`) between the reader that counts compressed bytes
/// and the unpacker that writes.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    /// The compressed size declared up front (a manifest's or a file's size), if known.
    declared: Option<u64>,
    compressed: AtomicU64,
    written: AtomicU64,
    next_space_check: AtomicU64,
    /// A path on the filesystem being written (its free space is watched).
    space_of: PathBuf,
}

impl Budget {
    pub fn new(limits: Limits, declared: Option<u64>, space_of: &Path) -> Arc<Budget> {
        Arc::new(Budget {
            limits,
            declared: declared.filter(|d| *d > 0),
            compressed: AtomicU64::new(0),
            written: AtomicU64::new(0),
            next_space_check: AtomicU64::new(0),
            space_of: space_of.to_path_buf(),
        })
    }

    /// Wraps the compressed stream so that what passes through raises the limit.
    pub fn count_compressed<R: Read>(self: &Arc<Self>, inner: R) -> CountingReader<R> {
        CountingReader {
            inner,
            budget: Arc::clone(self),
        }
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Records `n` more bytes written; refuses once the layer is over its budget.
    pub fn charge(&self, n: u64) -> Result<(), Exceeded> {
        let written = self.written.fetch_add(n, Ordering::Relaxed) + n;
        let compressed = self
            .declared
            .unwrap_or(0)
            .max(self.compressed.load(Ordering::Relaxed));
        let limit = compressed
            .saturating_mul(self.limits.ratio)
            .saturating_add(SLACK);
        if written > limit {
            return Err(Exceeded::Ratio {
                limit,
                ratio: self.limits.ratio,
                compressed,
            });
        }
        if let Some(cap) = self.limits.cap.filter(|c| written > *c) {
            return Err(Exceeded::Cap { cap });
        }
        if written >= self.next_space_check.load(Ordering::Relaxed) {
            self.next_space_check
                .store(written + SPACE_CHECK_EVERY, Ordering::Relaxed);
            check_free_space(&self.space_of)?;
        }
        Ok(())
    }
}

/// Refuses when the filesystem holding `path` is down to its reserve: 5% of its size, at
/// most 256 MiB, so a full disk never comes from a layer.
pub fn check_free_space(path: &Path) -> Result<(), Exceeded> {
    ensure_room(path, 0)
}

/// Refuses when writing `need` more bytes on the filesystem of `path` would eat into
/// its reserve.
pub fn ensure_room(path: &Path, need: u64) -> Result<(), Exceeded> {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return Ok(()); // not knowable: the writes themselves will tell
    };
    let frsize = st.fragment_size();
    let free = st.blocks_available().saturating_mul(frsize);
    let total = st.blocks().saturating_mul(frsize);
    let reserve = (total / 20).min(256 << 20);
    if free < reserve.saturating_add(need) {
        return Err(Exceeded::NoSpace {
            path: path.to_path_buf(),
            free,
            need,
            reserve,
        });
    }
    Ok(())
}

/// Counts the compressed bytes of a layer as they are read.
pub struct CountingReader<R> {
    inner: R,
    budget: Arc<Budget>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.budget
            .compressed
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(declared: Option<u64>, cap: Option<u64>) -> Arc<Budget> {
        Budget::new(Limits { ratio: 10, cap }, declared, Path::new("/"))
    }

    #[test]
    fn a_layer_may_write_ratio_times_its_size_plus_slack() {
        let b = budget(Some(1000), None);
        assert!(b.charge(10_000 + SLACK).is_ok());
        let e = b.charge(1).unwrap_err();
        assert!(
            matches!(
                e,
                Exceeded::Ratio {
                    compressed: 1000,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn without_a_declared_size_what_was_read_counts() {
        let b = budget(None, None);
        let mut r = b.count_compressed(&[0u8; 4096][..]);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert!(b.charge(40_960 + SLACK).is_ok());
        assert!(b.charge(1).is_err());
    }

    #[test]
    fn the_cap_applies_whatever_the_ratio() {
        let b = budget(Some(1 << 30), Some(5000));
        assert!(b.charge(5000).is_ok());
        assert_eq!(b.charge(1).unwrap_err(), Exceeded::Cap { cap: 5000 });
    }
}
