//! A layer's bytes cross two threads on their way in: one fetches (socket, partial file,
//! blob digest), the other unpacks (decompression, diff_id, files). Each keeps a core busy,
//! as `tar xzf` does with its gzip child, instead of one thread doing all of it in turn.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes handed over at a time, and how many may wait: 4 MiB in flight at most.
const CHUNK: usize = 256 << 10;
const QUEUED: usize = 16;

/// The unpacking side: reads what the fetching side sent, in order; an error the fetching
/// side met arrives in its place.
pub struct Received {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Received {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // the sender is done: end of stream
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

pub fn channel() -> (SyncSender<io::Result<Vec<u8>>>, Received) {
    let (tx, rx) = sync_channel(QUEUED);
    (
        tx,
        Received {
            rx,
            chunk: Vec::new(),
            at: 0,
        },
    )
}

/// The fetching side: reads `source` to its end, sending each chunk while the unpacker
/// listens. When it stops listening (done with the archive, or failed), the rest is still
/// read, so the blob file and its digest are complete. A read error is sent on and ends it.
pub fn pump(mut source: impl Read, tx: SyncSender<io::Result<Vec<u8>>>) -> io::Result<()> {
    let mut listening = true;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let n = match source.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                if listening {
                    let _ = tx.send(Err(copy));
                }
                return Err(e);
            }
        };
        chunk.truncate(n);
        if listening && tx.send(Ok(chunk)).is_err() {
            listening = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_arrive_in_order_and_errors_in_place() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (tx, mut rx) = channel();
        let source = data.clone();
        let t = std::thread::spawn(move || pump(&source[..], tx));
        let mut got = Vec::new();
        rx.read_to_end(&mut got).unwrap();
        t.join().unwrap().unwrap();
        assert_eq!(got, data);

        struct Broken(u8);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
                }
                self.0 -= 1;
                buf[0] = 7;
                Ok(1)
            }
        }
        let (tx, mut rx) = channel();
        let t = std::thread::spawn(move || pump(Broken(2), tx));
        let mut got = Vec::new();
        let err = rx.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(got, [7, 7]);
        assert!(t.join().unwrap().is_err());
    }

    #[test]
    fn the_source_is_read_to_its_end_after_the_reader_stops() {
        let (tx, rx) = channel();
        drop(rx);
        let mut source = io::Cursor::new(vec![1u8; 5 * CHUNK]);
        pump(&mut source, tx).unwrap();
        assert_eq!(source.position(), 5 * CHUNK as u64);
    }
}
