//! A small tar writer with the control layers need: ustar headers, PAX records for long
//! names, big ids and xattrs, and nothing that varies between runs (no atime, no ctime, no
//! user or group names), so the same tree always gives the same bytes.
//!
//! Headers, padding and small files gather in one buffer and go out in few writes. Big
//! files go through `io::copy` (copy_file_range into a file), or, when the output is a
//! pipe (`export | …`), are spliced into it straight from the page cache: std's `io::copy`
//! falls back to 8 KiB reads and writes for a pipe, which made `export` a third slower
//! than `tar -c` there.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

const BLOCK: usize = 512;
/// Files up to this size are copied through the pending buffer.
const SMALL_FILE: usize = 64 << 10;
/// The pending buffer is written out once it holds this much.
const PENDING_LIMIT: usize = 256 << 10;
/// The pipe size asked for when splicing.
const PIPE_SIZE: i32 = 1 << 20;
/// Largest piece handed to one `splice`.
const SPLICE_CHUNK: usize = 1 << 20;
/// Largest value a 7-digit octal ustar field holds.
const USTAR_MAX_ID: u64 = 0o7_777_777;
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

impl Kind {
    fn flag(self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::Hardlink => b'1',
            Kind::Symlink => b'2',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
        }
    }
}

/// One entry's metadata. `path` is relative, without a leading `/`; directories get their
/// trailing `/` added here.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    /// Symlink or hardlink target.
    pub link: Vec<u8>,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    pub fn new(path: Vec<u8>, kind: Kind) -> Entry {
        Entry {
            path,
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 0,
            link: Vec::new(),
            dev_major: 0,
            dev_minor: 0,
            xattrs: vec![],
        }
    }
}

pub struct TarWriter<W: Write> {
    out: W,
    /// Bytes written so far (for padding and for reports).
    written: u64,
    /// Headers, padding and small files gathered into few large writes.
    pending: Vec<u8>,
    /// `out`'s file descriptor when it is a pipe, for `splice`.
    pipe: Option<OwnedFd>,
}

impl TarWriter<File> {
    /// A writer into `out`, splicing big files when `out` is a pipe.
    pub fn for_file(out: File) -> io::Result<TarWriter<File>> {
        let is_pipe = std::os::unix::fs::FileTypeExt::is_fifo(&out.metadata()?.file_type());
        let fd = out.as_fd().try_clone_to_owned()?;
        let mut tar = TarWriter::new(out);
        if is_pipe {
            tar.splice_into(fd.as_fd())?;
        }
        Ok(tar)
    }
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter {
            out,
            written: 0,
            pending: Vec::with_capacity(PENDING_LIMIT + SMALL_FILE),
            pipe: None,
        }
    }

    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Writes the header(s) and, for regular files, exactly `entry.size` bytes from
    /// `data`. A file that shrank while being read is padded with zeros and reported.
    /// Appends an entry without data (anything but a non-empty regular file).
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        self.append_data(entry, io::empty())
    }

    /// Declares that `out` writes to the pipe `fd`, so big files may be spliced into it.
    fn splice_into(&mut self, fd: BorrowedFd) -> io::Result<()> {
        // A bigger pipe means fewer hand-overs between us and the reader; the kernel caps
        // it (/proc/sys/fs/pipe-max-size), so failure just keeps the default.
        let _ = nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE),
        );
        self.pipe = Some(fd.try_clone_to_owned()?);
        Ok(())
    }

    /// A regular file's entry, its data read from `file`.
    pub fn append_file(&mut self, entry: &Entry, file: &File) -> io::Result<()> {
        self.append_with(entry, file, Some(file))
    }

    pub fn append_data<R: Read>(&mut self, entry: &Entry, data: R) -> io::Result<()> {
        self.append_with(entry, data, None)
    }

    fn append_with<R: Read>(
        &mut self,
        entry: &Entry,
        data: R,
        file: Option<&File>,
    ) -> io::Result<()> {
        let mut path = entry.path.clone();
        if entry.kind == Kind::Dir && !path.ends_with(b"/") {
            path.push(b'/');
        }
        let mut pax: Vec<(String, Vec<u8>)> = vec![];
        let (name, prefix) = split_ustar_name(&path).unwrap_or_else(|| {
            pax.push(("path".into(), path.clone()));
            (path[..100].to_vec(), Vec::new())
        });
        if entry.link.len() > 100 {
            pax.push(("linkpath".into(), entry.link.clone()));
        }
        if entry.uid > USTAR_MAX_ID {
            pax.push(("uid".into(), entry.uid.to_string().into_bytes()));
        }
        if entry.gid > USTAR_MAX_ID {
            pax.push(("gid".into(), entry.gid.to_string().into_bytes()));
        }
        if entry.size > USTAR_MAX_SIZE {
            pax.push(("size".into(), entry.size.to_string().into_bytes()));
        }
        for (k, v) in &entry.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            let body = pax_records(&pax);
            let mut h = [0u8; BLOCK];
            write_str(&mut h[0..100], &[b"PaxHeaders/", &name[..]].concat());
            write_octal(&mut h[100..108], 0o644);
            write_octal(&mut h[108..116], 0);
            write_octal(&mut h[116..124], 0);
            write_octal(&mut h[124..136], body.len() as u64);
            write_octal(&mut h[136..148], 0);
            h[156] = b'x';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            finish_header(&mut h);
            self.write(&h)?;
            self.write(&body)?;
            self.pad(body.len() as u64)?;
        }

        let mut h = [0u8; BLOCK];
        write_str(&mut h[0..100], &name);
        write_octal(&mut h[100..108], u64::from(entry.mode & 0o7777));
        write_octal(&mut h[108..116], entry.uid.min(USTAR_MAX_ID));
        write_octal(&mut h[116..124], entry.gid.min(USTAR_MAX_ID));
        let size = if entry.kind == Kind::File {
            entry.size
        } else {
            0
        };
        write_octal(&mut h[124..136], size.min(USTAR_MAX_SIZE));
        write_octal(&mut h[136..148], entry.mtime.min(0o77_777_777_777));
        h[156] = entry.kind.flag();
        write_str(&mut h[157..257], &entry.link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        if matches!(entry.kind, Kind::Char | Kind::Block) {
            write_octal(&mut h[329..337], u64::from(entry.dev_major));
            write_octal(&mut h[337..345], u64::from(entry.dev_minor));
        }
        write_str(&mut h[345..500], &prefix);
        finish_header(&mut h);
        self.write(&h)?;

        if size > 0 {
            let copied = if size <= SMALL_FILE as u64 {
                // Small files join the pending buffer: one read, no extra write.
                let n = data.take(size).read_to_end(&mut self.pending)? as u64;
                self.written += n;
                n
            } else {
                // Big ones go straight through.
                self.flush_pending()?;
                let n = match (&self.pipe, file) {
                    (Some(pipe), Some(file)) => {
                        self.out.flush()?;
                        splice_all(file.as_fd(), pipe.as_fd(), size)?
                    }
                    _ => io::copy(&mut data.take(size), &mut self.out)?,
                };
                self.written += n;
                n
            };
            if copied < size {
                // The file shrank under us: keep the archive well-formed.
                self.write_zeros(size - copied)?;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} shrank while being archived",
                        String::from_utf8_lossy(&entry.path)
                    ),
                ));
            }
            self.pad(size)?;
        }
        Ok(())
    }

    /// The two zero blocks that end an archive; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_zeros(2 * BLOCK as u64)?;
        self.flush_pending()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        if self.pending.len() >= PENDING_LIMIT {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.out.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = len % BLOCK as u64;
        if rem == 0 {
            return Ok(());
        }
        self.write_zeros(BLOCK as u64 - rem)
    }

    fn write_zeros(&mut self, mut n: u64) -> io::Result<()> {
        let zeros = [0u8; 4096];
        while n > 0 {
            let chunk = n.min(zeros.len() as u64) as usize;
            self.write(&zeros[..chunk])?;
            n -= chunk as u64;
        }
        Ok(())
    }
}

/// ustar keeps up to 100 bytes of name and 155 of prefix, split at a `/`.
/// Moves up to `len` bytes from `file` (at its offset) into `pipe`; fewer at end of file.
fn splice_all(file: BorrowedFd, pipe: BorrowedFd, len: u64) -> io::Result<u64> {
    let mut moved = 0;
    while moved < len {
        let want = (len - moved).min(SPLICE_CHUNK as u64) as usize;
        let n = nix::fcntl::splice(
            file,
            None,
            pipe,
            None,
            want,
            nix::fcntl::SpliceFFlags::SPLICE_F_MORE,
        )?;
        if n == 0 {
            break;
        }
        moved += n as u64;
    }
    Ok(moved)
}

fn split_ustar_name(path: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if path.len() <= 100 {
        return Some((path.to_vec(), Vec::new()));
    }
    let bytes = path;
    // The split must leave a non-empty name (a directory's trailing '/' is not a split).
    let search_end = bytes.len().saturating_sub(1).min(156);
    let split = (0..search_end)
        .rev()
        .find(|&i| bytes[i] == b'/' && bytes.len() - i - 1 <= 100 && i <= 155)?;
    Some((path[split + 1..].to_vec(), path[..split].to_vec()))
}

/// `"%d %s=%s\n"`, where the length counts its own digits.
fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![];
    for (k, v) in records {
        let base = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = base + base.to_string().len();
        if len.to_string().len() != base.to_string().len() {
            len = base + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn write_str(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
}

fn write_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

fn finish_header(h: &mut [u8; BLOCK]) {
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_crate_reads_what_we_write() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let very_long = "x/".repeat(150) + "end";
        let mut w = TarWriter::new(Vec::new());
        let mut dir = Entry::new(b"etc".to_vec(), Kind::Dir);
        dir.mode = 0o755;
        w.append(&dir).unwrap();
        for (path, xattrs) in [
            ("etc/hosts".to_string(), vec![]),
            (long.clone(), vec![]),
            (
                very_long.clone(),
                vec![("security.capability".to_string(), vec![1u8, 0, 0, 2])],
            ),
        ] {
            let mut e = Entry::new(path.into_bytes(), Kind::File);
            e.size = 5;
            e.uid = 3_000_000;
            e.mtime = 1_700_000_000;
            e.xattrs = xattrs;
            w.append_data(&e, &b"hello"[..]).unwrap();
        }
        let mut link = Entry::new(b"etc/l".to_vec(), Kind::Symlink);
        link.link = ("/".to_string() + &"t".repeat(150)).into_bytes();
        w.append(&link).unwrap();
        let bytes = w.finish().unwrap();

        let mut ar = tar::Archive::new(&bytes[..]);
        let mut seen = vec![];
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            if path == very_long {
                let xattrs: Vec<String> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .filter_map(|x| x.ok().map(|x| x.key().unwrap().to_string()))
                    .collect();
                assert!(xattrs.contains(&"SCHILY.xattr.security.capability".to_string()));
            }
            if e.header().entry_type() == tar::EntryType::Symlink {
                assert_eq!(
                    e.link_name().unwrap().unwrap().display().to_string().len(),
                    151
                );
            }
            if e.header().entry_type() == tar::EntryType::Regular {
                let uid = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .filter_map(|x| x.ok())
                    .find(|x| x.key().unwrap() == "uid")
                    .map(|x| x.value().unwrap().to_string());
                assert_eq!(uid.as_deref(), Some("3000000"), "big ids go to PAX");
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                assert_eq!(s, "hello");
            }
            seen.push(path);
        }
        assert_eq!(
            seen,
            vec![
                "etc/".to_string(),
                "etc/hosts".into(),
                long,
                very_long,
                "etc/l".into()
            ]
        );
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_records(&[("path".into(), b"a".repeat(93))]);
        let len: usize = String::from_utf8_lossy(&r)
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, r.len());
    }
}
