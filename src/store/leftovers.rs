//! What interrupted commands leave in `tmp/`, and who still owns it.
//!
//! Every temporary name is `what-PID-NANOS-N` (`unique_name`): the process that made it
//! and when. An entry whose maker is gone — no such PID, or a PID the kernel has since
//! given to a process that started later — is a leftover of a crash or a `kill -9` (a
//! half-unpacked bomb, an archive being loaded) and is removed by the next command that
//! opens the store. Partial downloads (`pull-<digest>.partial`) are kept on purpose, for
//! the next pull to resume; they belong to whoever holds their `.lock` (`flock`, freed by
//! the kernel when the holder dies) and are counted by `system df`, reported by `system
//! check`, and removed by `--repair` and `system prune` when no pull holds them.

use super::lock::FileLock;
use super::{remove_any, Store};
use std::fs;
use std::path::{Path, PathBuf};

pub const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The process that made it still runs.
    Alive,
    /// Its maker is gone.
    Dead,
    /// A partial download; `held` while a pull has it locked.
    Partial { held: bool },
    /// A pull's lock file (goes with its partial download).
    Lock,
}

/// `what-PID-NANOS-N` → (PID, NANOS); `what` may contain dashes itself.
fn maker(name: &str) -> Option<(i32, u128)> {
    let mut fields = name.rsplitn(4, '-');
    let _counter: u64 = fields.next()?.parse().ok()?;
    let nanos: u128 = fields.next()?.parse().ok()?;
    let pid: i32 = fields.next()?.parse().ok()?;
    fields.next()?;
    Some((pid, nanos))
}

fn lock_of(partial: &Path) -> PathBuf {
    partial.with_extension("lock")
}

/// Who owns `tmp/<name>`.
pub fn owner(tmp: &Path, name: &str) -> Owner {
    if name.ends_with(PARTIAL_SUFFIX) {
        // No lock file: no pull holds it (and asking must not create one).
        let lock = lock_of(&tmp.join(name));
        let held = lock.exists() && !matches!(FileLock::try_exclusive(&lock), Ok(Some(_)));
        return Owner::Partial { held };
    }
    if name.ends_with(".lock") {
        return Owner::Lock;
    }
    match maker(name) {
        Some((pid, nanos)) if crate::proc::ran_at(pid, nanos) => Owner::Alive,
        Some(_) => Owner::Dead,
        // Not a name hako makes: leave it to `system check`.
        None => Owner::Alive,
    }
}

/// One entry of `tmp/`.
pub struct Leftover {
    pub name: String,
    pub path: PathBuf,
    pub owner: Owner,
}

impl Store {
    pub fn leftovers(&self) -> Vec<Leftover> {
        let tmp = self.tmp_dir();
        let Ok(entries) = fs::read_dir(&tmp) else {
            return vec![];
        };
        entries
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                Leftover {
                    owner: owner(&tmp, &name),
                    path: e.path(),
                    name,
                }
            })
            .collect()
    }

    /// Removes what dead processes left in `tmp/`; run when the store is opened, so the
    /// command after a crash cleans up after it.
    pub fn sweep_dead_tmp(&self) {
        let tmp = self.tmp_dir();
        let Ok(entries) = fs::read_dir(&tmp) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            // Partial downloads are judged by `check` and `prune`: no flock on every
            // command's start-up.
            if name.ends_with(PARTIAL_SUFFIX) || name.ends_with(".lock") {
                continue;
            }
            if owner(&tmp, &name) == Owner::Dead {
                let _ = remove_any(&e.path());
            }
        }
    }

    /// Removes partial downloads no pull holds (with their locks); returns bytes freed.
    pub fn remove_unheld_partials(&self) -> u64 {
        let mut freed = 0;
        for l in self.leftovers() {
            if l.owner == (Owner::Partial { held: false }) {
                // Hold the lock while removing, so a pull starting now waits for us.
                let lock = lock_of(&l.path);
                if let Ok(Some(_held)) = FileLock::try_exclusive(&lock) {
                    freed += fs::metadata(&l.path).map_or(0, |m| m.len());
                    let _ = fs::remove_file(&l.path);
                    let _ = fs::remove_file(&lock);
                }
            }
        }
        freed
    }

    /// (count, held, bytes, bytes not held) of partial downloads, for `system df`.
    pub fn partial_usage(&self) -> (usize, usize, u64, u64) {
        let mut out = (0, 0, 0, 0);
        for l in self.leftovers() {
            if let Owner::Partial { held } = l.owner {
                let size = fs::metadata(&l.path).map_or(0, |m| m.len());
                out.0 += 1;
                out.2 += size;
                if held {
                    out.1 += 1;
                } else {
                    out.3 += size;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tell_their_maker() {
        assert_eq!(
            maker("save-layer-42-1700000000000000000-3"),
            Some((42, 1_700_000_000_000_000_000))
        );
        assert_eq!(maker("layer-7-5-0"), Some((7, 5)));
        assert_eq!(maker("layer-7"), None);
        assert_eq!(maker("x-y-z-w"), None);
    }

    #[test]
    fn dead_makers_are_swept_live_ones_and_held_partials_stay() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let tmp = store.tmp_dir();
        let mine = store.temp_path("layer");
        fs::create_dir(&mine).unwrap();
        // PID 1 started at boot: a name stamped before 1971 cannot be its.
        let dead = tmp.join("layer-999999999-5-0");
        let reused = tmp.join("layer-1-5-0");
        fs::create_dir(&dead).unwrap();
        fs::write(&reused, b"x").unwrap();
        let partial = tmp.join("pull-abc.partial");
        let unheld = tmp.join("pull-def.partial");
        fs::write(&partial, b"12345").unwrap();
        fs::write(&unheld, b"123").unwrap();
        let _held = FileLock::exclusive(&lock_of(&partial)).unwrap();
        // flock is per open file: another open of the lock file sees it taken.
        assert_eq!(
            owner(&tmp, "pull-abc.partial"),
            Owner::Partial { held: true }
        );
        store.sweep_dead_tmp();
        assert!(mine.exists() && partial.exists() && unheld.exists());
        assert!(!dead.exists() && !reused.exists());
        assert_eq!(store.partial_usage(), (2, 1, 8, 3));
        assert_eq!(store.remove_unheld_partials(), 3);
        assert!(partial.exists() && !unheld.exists());
    }
}
