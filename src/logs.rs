//! Container logs, in Docker's json-file format: one JSON object a line,
//! `{"log":"text\n","stream":"stdout","time":"2026-12-04T10:00:00.123456789Z"}`, so stdout
//! and stderr stay apart and every line keeps the time it was written.

use crate::timefmt::{now_rfc3339, parse_rfc3339};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: Stream,
    pub time: String,
}

/// Appends a stream's bytes as entries, one per line; a partial line waits for its end
/// (or for `flush`), as Docker's json-file driver does.
pub struct Writer {
    file: File,
    pending: [Vec<u8>; 2],
}

impl Writer {
    pub fn open(path: &Path) -> std::io::Result<Writer> {
        // The log is the container's output: its owner's alone.
        let file = crate::store::private::open_append(path)?;
        Ok(Writer {
            file,
            pending: [vec![], vec![]],
        })
    }

    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        let buf = &mut self.pending[stream as usize];
        buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            out.extend(encode(stream, &line));
        }
        // A line that never ends must not grow without bound.
        if buf.len() > 16 * 1024 {
            let line: Vec<u8> = std::mem::take(buf);
            out.extend(encode(stream, &line));
        }
        self.file.write_all(&out)
    }

    /// Writes what is left of unfinished lines (the container exited mid-line).
    pub fn flush(&mut self) -> std::io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.pending[stream as usize]);
            if !line.is_empty() {
                self.file.write_all(&encode(stream, &line))?;
            }
        }
        Ok(())
    }
}

fn encode(stream: Stream, line: &[u8]) -> Vec<u8> {
    let entry = Entry {
        log: String::from_utf8_lossy(line).into_owned(),
        stream,
        time: now_rfc3339(),
    };
    let mut json = serde_json::to_vec(&entry).expect("entry serialises");
    json.push(b'\n');
    json
}

/// Which entries `hako logs` shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only the last N entries.
    pub tail: Option<usize>,
    /// Only entries at or after this time (seconds since the epoch).
    pub since: Option<i64>,
}

/// Reads every complete entry from `offset`; returns them and the offset after the last.
pub fn read_from(path: &Path, offset: u64) -> std::io::Result<(Vec<Entry>, u64)> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let (mut entries, mut at) = (vec![], offset);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        // A line still being written has no newline yet: read it next time.
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        at += n as u64;
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            entries.push(e);
        }
    }
    Ok((entries, at))
}

pub fn select(entries: Vec<Entry>, filter: &Filter) -> Vec<Entry> {
    let mut kept: Vec<Entry> = entries
        .into_iter()
        .filter(|e| match filter.since {
            Some(t) => parse_rfc3339(&e.time).is_some_and(|s| s >= t),
            None => true,
        })
        .collect();
    if let Some(n) = filter.tail {
        let skip = kept.len().saturating_sub(n);
        kept.drain(..skip);
    }
    kept
}

/// `--since`: RFC 3339, seconds since the epoch, or a duration ago (`10s`, `42m`, `2h`).
pub fn parse_since(s: &str, now: i64) -> Option<i64> {
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    Some(now - secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_apart_by_stream_and_split_at_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut w = Writer::open(&path).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"err\n").unwrap();
        w.write(Stream::Stdout, b"o\nthree").unwrap();
        let (entries, _) = read_from(&path, 0).unwrap();
        let logs: Vec<_> = entries.iter().map(|e| (e.stream, e.log.as_str())).collect();
        assert_eq!(
            logs,
            [
                (Stream::Stdout, "one\n"),
                (Stream::Stderr, "err\n"),
                (Stream::Stdout, "two\n")
            ]
        );
        w.flush().unwrap();
        let (entries, end) = read_from(&path, 0).unwrap();
        assert_eq!(entries.last().unwrap().log, "three");
        assert_eq!(read_from(&path, end).unwrap().0, vec![]);
        let tail = select(
            entries,
            &Filter {
                tail: Some(2),
                since: None,
            },
        );
        assert_eq!(tail.len(), 2);
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("10s", 100), Some(90));
        assert_eq!(parse_since("2m", 1000), Some(880));
        assert_eq!(parse_since("1970-01-01T00:01:00Z", 0), Some(60));
        assert_eq!(parse_since("soon", 0), None);
    }
}
