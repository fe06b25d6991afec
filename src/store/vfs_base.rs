//! The starting state of a vfs copy: for every path, what `lstat` said when the copy was
//! made. A path whose type, mode, owner or device — and, for anything but a directory,
//! inode, size or modification time — differs now was changed by the container (the
//! comparison Docker's vfs driver makes; directory sizes and times move with their
//! contents and say nothing of the directory itself).
//!
//! Saved as text, one path a line: eight numbers, a tab, the path escaped (file names
//! are bytes, and may hold newlines or anything else).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    rdev: u64,
    ino: u64,
}

impl Stat {
    fn of(md: &fs::Metadata) -> Stat {
        Stat {
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            size: md.size(),
            mtime: md.mtime(),
            mtime_nsec: md.mtime_nsec(),
            rdev: md.rdev(),
            ino: md.ino(),
        }
    }

    fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    fn same_as(&self, now: &Stat) -> bool {
        let node = self.mode == now.mode
            && self.uid == now.uid
            && self.gid == now.gid
            && self.rdev == now.rdev;
        node && (self.is_dir()
            || (self.ino == now.ino
                && self.size == now.size
                && self.mtime == now.mtime
                && self.mtime_nsec == now.mtime_nsec))
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Base {
    entries: BTreeMap<PathBuf, Stat>,
}

impl Base {
    /// Everything under `root`, relative to it.
    pub fn record(root: &Path) -> io::Result<Base> {
        let mut base = Base::default();
        base.walk(root, Path::new(""))?;
        Ok(base)
    }

    fn walk(&mut self, root: &Path, rel: &Path) -> io::Result<()> {
        for entry in fs::read_dir(root.join(rel))? {
            let path = rel.join(entry?.file_name());
            let md = fs::symlink_metadata(root.join(&path))?;
            self.entries.insert(path.clone(), Stat::of(&md));
            if md.is_dir() {
                self.walk(root, &path)?;
            }
        }
        Ok(())
    }

    /// Whether `path` (relative) was there at the start, exactly as `now` describes it.
    pub fn unchanged(&self, path: &Path, now: &fs::Metadata) -> bool {
        self.entries
            .get(path)
            .is_some_and(|s| s.same_as(&Stat::of(now)))
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.entries.keys().map(PathBuf::as_path)
    }

    pub fn save(&self, file: &Path) -> io::Result<()> {
        let tmp = file.with_extension("tmp");
        let mut w = BufWriter::new(fs::File::create(&tmp)?);
        for (path, s) in &self.entries {
            writeln!(
                w,
                "{} {} {} {} {} {} {} {}\t{}",
                s.mode,
                s.uid,
                s.gid,
                s.size,
                s.mtime,
                s.mtime_nsec,
                s.rdev,
                s.ino,
                escape(path.as_os_str().as_bytes())
            )?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(tmp, file)
    }

    pub fn load(file: &Path) -> io::Result<Base> {
        let bad = |line: usize| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} line {line} is damaged; the container's changes cannot be found without it",
                    file.display()
                ),
            )
        };
        let mut base = Base::default();
        for (n, line) in io::BufReader::new(fs::File::open(file)?)
            .lines()
            .enumerate()
        {
            let line = line?;
            let (numbers, path) = line.split_once('\t').ok_or_else(|| bad(n + 1))?;
            let v: Vec<i64> = numbers
                .split(' ')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| bad(n + 1))?;
            let [mode, uid, gid, size, mtime, mtime_nsec, rdev, ino] = v[..] else {
                return Err(bad(n + 1));
            };
            let stat = Stat {
                mode: mode as u32,
                uid: uid as u32,
                gid: gid as u32,
                size: size as u64,
                mtime,
                mtime_nsec,
                rdev: rdev as u64,
                ino: ino as u64,
            };
            let path = unescape(path).ok_or_else(|| bad(n + 1))?;
            let path = PathBuf::from(OsStr::from_bytes(&path));
            base.entries.insert(path, stat);
        }
        Ok(base)
    }
}

/// Printable ASCII as it is; `\` doubled; every other byte (newlines, non-ASCII) as
/// `\xNN`: one rule, and any name round-trips.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

fn unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(b'x')) => {
                let hex = std::str::from_utf8(bytes.get(i + 2..i + 4)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            (b'\\', _) => return None,
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}
