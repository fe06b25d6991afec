//! Content-addressed blobs: `blobs/sha256/<hex>`, hashed while written, renamed into place
//! only once size and digest check out.

use super::{io_err, Store, StoreError};
use crate::digest::{Digest, HashingWriter};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

/// A layer blob already in the store, as a manifest lists it.
#[derive(Clone, Debug)]
pub struct LayerBlob {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

impl Store {
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root().join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).exists()
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.to_string()),
            _ => StoreError::Io {
                op: "read blob",
                path: p.clone(),
                source: e,
            },
        })
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.to_string()),
            _ => StoreError::Io {
                op: "open blob",
                path: p.clone(),
                source: e,
            },
        })
    }

    pub fn put_blob_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let (d, _) = self.put_blob(bytes, None)?;
        Ok(d)
    }

    /// Streams `reader` into the store. With `expected`, a digest or size mismatch is an
    /// error and nothing is left behind.
    pub fn put_blob(
        &self,
        mut reader: impl Read,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<(Digest, u64), StoreError> {
        let (digest, size, _) = self.write_blob(expected, |w| io::copy(&mut reader, w))?;
        Ok((digest, size))
    }

    /// Writes a new blob with `produce`: the bytes are hashed as they go to a file in
    /// `tmp/`, which is synced and renamed to its digest only when complete (and, with
    /// `expected`, only if digest and size match). On any error nothing is left behind.
    pub fn write_blob<T>(
        &self,
        expected: Option<(&Digest, Option<u64>)>,
        produce: impl FnOnce(&mut dyn Write) -> io::Result<T>,
    ) -> Result<(Digest, u64, T), StoreError> {
        let tmp = self.temp_path("blob");
        let result = (|| {
            let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
            let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
            let produced = produce(&mut w).map_err(io_err("write blob", &tmp))?;
            let (buf, digest, size) = w.finish();
            let file = buf
                .into_inner()
                .map_err(|e| io_err("write blob", &tmp)(e.into_error()))?;
            if let Some((want, want_size)) = expected {
                if let Some(s) = want_size.filter(|s| *s != size) {
                    return Err(StoreError::SizeMismatch {
                        digest: want.to_string(),
                        expected: s,
                        actual: size,
                    });
                }
                if *want != digest {
                    return Err(StoreError::DigestMismatch {
                        expected: want.to_string(),
                        actual: digest.to_string(),
                        size,
                    });
                }
            }
            file.sync_all().map_err(io_err("fsync", &tmp))?;
            self.adopt_blob(&tmp, &digest)?;
            Ok((digest, size, produced))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Hard-links or copies an existing file into the store after hashing it.
    pub fn put_blob_file(
        &self,
        path: &std::path::Path,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<(Digest, u64), StoreError> {
        let f = File::open(path).map_err(io_err("open", path))?;
        self.put_blob(io::BufReader::with_capacity(1 << 20, f), expected)
    }

    /// Moves a file already written under `tmp/` (synced, and hashed by the caller while
    /// it was written) into place as blob `digest`.
    pub fn adopt_blob(&self, tmp: &std::path::Path, digest: &Digest) -> Result<(), StoreError> {
        let dest = self.blob_path(digest);
        fs::rename(tmp, &dest).map_err(io_err("rename into place", &dest))
    }

    /// Whether any recorded image names this blob (checked before removing a blob that a
    /// failed operation just wrote).
    pub fn blob_in_use(&self, digest: &Digest) -> bool {
        self.references().is_ok_and(|r| r.blobs.contains(digest))
    }

    /// Sizes of blobs, for `images` and `system df`.
    pub fn blob_size(&self, digest: &Digest) -> u64 {
        fs::metadata(self.blob_path(digest)).map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_write_and_mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.put_blob_bytes(b"layer").unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), b"layer");

        let wrong = Digest::of_bytes(b"other");
        let err = store
            .put_blob(&b"layer"[..], Some((&wrong, None)))
            .unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        let err = store
            .put_blob(&b"layer"[..], Some((&d, Some(99))))
            .unwrap_err();
        assert!(matches!(err, StoreError::SizeMismatch { .. }), "{err}");
        assert_eq!(
            fs::read_dir(store.tmp_dir()).unwrap().count(),
            0,
            "temp files left behind"
        );
        assert!(!store.has_blob(&wrong));
    }
}
