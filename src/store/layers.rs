//! The unpacked-layer cache: `layers/<diff_id hex>/`, one directory per layer, shared by
//! every image and container that uses it.
//!
//! A layer is unpacked into `tmp/` and renamed into place only when complete, so a
//! half-unpacked layer never carries a diff_id name. Two processes unpacking the same layer
//! at once both succeed: the second rename finds the first's result and discards its own.

use super::{io_err, Store, StoreError};
use crate::digest::{Digest, HashingReader};
use crate::layer::budget::{Budget, Limits};
use crate::layer::{self, UnpackError, UnpackOptions};
use std::fs;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("layer content does not match its diff_id: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: Digest, actual: Digest },
    #[error("{0}")]
    Limits(String),
}

/// Characters of the diff_id used in the short link name. 16 hex digits keep a 60-layer
/// lowerdir well under a page; a clash is detected, never silently shared.
const SHORT_LEN: usize = 16;

impl Store {
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root().join("layers").join(diff_id.hex())
    }

    /// `layers/<hex>.size`: the layer's uncompressed tar size, for `images`.
    fn layer_size_path(&self, diff_id: &Digest) -> PathBuf {
        self.root()
            .join("layers")
            .join(format!("{}.size", diff_id.hex()))
    }

    pub fn layer_size(&self, diff_id: &Digest) -> Option<u64> {
        fs::read_to_string(self.layer_size_path(diff_id))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// `l/<short>` relative to the data root: what overlay's lowerdir lists when the
    /// option string must stay short.
    pub fn layer_short_link(&self, diff_id: &Digest) -> PathBuf {
        PathBuf::from("l").join(&diff_id.hex()[..SHORT_LEN])
    }

    /// `opts` with an expansion budget for a layer of `declared` compressed bytes (see
    /// `layer::budget`), unless it carries one already.
    pub fn bounded(
        &self,
        opts: &UnpackOptions,
        declared: Option<u64>,
    ) -> Result<UnpackOptions, LayerError> {
        if opts.budget.is_some() {
            return Ok(opts.clone());
        }
        let limits = Limits::from_env().map_err(LayerError::Limits)?;
        Ok(UnpackOptions {
            budget: Some(Budget::new(limits, declared, &self.tmp_dir())),
            ..opts.clone()
        })
    }

    /// Unpacks a (possibly compressed) layer stream; returns its diff_id. With
    /// `expected`, content that hashes differently is refused and nothing is kept. The
    /// unpack is bounded (`bounded`): a bomb is refused before it fills the disk.
    pub fn unpack_layer(
        &self,
        raw: impl Read,
        expected: Option<&Digest>,
        opts: &UnpackOptions,
    ) -> Result<Digest, LayerError> {
        if let Some(d) = expected.filter(|d| self.has_layer(d)) {
            return Ok(d.clone());
        }
        let opts = &self.bounded(opts, None)?;
        let budget = opts.budget.as_ref().expect("bounded sets a budget");
        let raw = budget.count_compressed(raw);
        let tmp = self.temp_path("layer");
        fs::create_dir(&tmp).map_err(io_err("create directory", &tmp))?;
        let result = (|| {
            let (_, decoded) = layer::decoder(raw).map_err(UnpackError::Tar)?;
            let mut hashing = HashingReader::new(decoded);
            layer::unpack(&mut hashing, &tmp, opts)?;
            let (diff_id, tar_size) = hashing.finish().map_err(UnpackError::Tar)?;
            if let Some(want) = expected.filter(|w| **w != diff_id) {
                return Err(LayerError::DiffIdMismatch {
                    expected: want.clone(),
                    actual: diff_id,
                });
            }
            self.commit_layer_dir(&tmp, &diff_id)?;
            // Best effort: without it, `images` counts the blob instead.
            let _ = super::write_atomic(
                self.root(),
                &self.layer_size_path(&diff_id),
                tar_size.to_string().as_bytes(),
            );
            Ok(diff_id)
        })();
        if tmp.exists() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn commit_layer_dir(&self, tmp: &std::path::Path, diff_id: &Digest) -> Result<(), StoreError> {
        let dest = self.layer_dir(diff_id);
        match fs::rename(tmp, &dest) {
            Ok(()) => {}
            // Another process finished the same layer first: keep theirs.
            Err(_) if dest.is_dir() => {}
            Err(e) => return Err(io_err("rename into place", &dest)(e)),
        }
        let link = self.root().join(self.layer_short_link(diff_id));
        let target = PathBuf::from("../layers").join(diff_id.hex());
        match fs::read_link(&link) {
            Ok(existing) if existing == target => Ok(()),
            Ok(existing) => Err(StoreError::Corrupt {
                what: "layer link",
                path: link,
                detail: format!(
                    "points at {} instead of {}",
                    existing.display(),
                    target.display()
                ),
            }),
            Err(_) => {
                let tmp_link = self.temp_path("link");
                std::os::unix::fs::symlink(&target, &tmp_link)
                    .map_err(io_err("symlink", &tmp_link))?;
                fs::rename(&tmp_link, &link).map_err(io_err("rename into place", &link))
            }
        }
    }

    /// Removes an unpacked layer (its link first, so no overlay can pick up a half-removed
    /// directory). Renamed into `tmp/` before deletion so an interrupted removal leaves no
    /// partial layer under its name.
    pub fn remove_layer(&self, diff_id: &Digest) -> Result<(), StoreError> {
        let _ = fs::remove_file(self.root().join(self.layer_short_link(diff_id)));
        let _ = fs::remove_file(self.layer_size_path(diff_id));
        let dir = self.layer_dir(diff_id);
        if !dir.exists() {
            return Ok(());
        }
        let doomed = self.temp_path("remove");
        fs::rename(&dir, &doomed).map_err(io_err("rename for removal", &dir))?;
        fs::remove_dir_all(&doomed).map_err(io_err("remove", &doomed))
    }
}
