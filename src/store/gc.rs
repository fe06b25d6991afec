//! Garbage collection and disk usage: what no image and no container uses is removed, so
//! removing the last user of a layer frees its disk.
//!
//! Commands that add to the store (import, load, commit, pull, run's container creation)
//! hold `gc.lock` shared for their whole operation; collection takes it exclusively and
//! skips a round rather than wait, so it never deletes a blob a writer is about to name.

use super::lock::FileLock;
use super::{io_err, Store, StoreError};
use crate::digest::Digest;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Temporary files older than this belong to a process that died (`kill -9`).
const STALE_TMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: u64,
    pub layers: u64,
    pub bytes: u64,
    /// Another hako process was adding to the store; nothing was collected this time.
    pub skipped: bool,
}

/// What the store's images and containers reference.
#[derive(Debug, Default)]
pub struct References {
    pub blobs: HashSet<Digest>,
    pub layers: HashSet<Digest>,
}

impl Store {
    /// Held (shared) by every command that writes blobs or layers before naming them.
    pub fn writer_guard(&self) -> Result<FileLock, StoreError> {
        FileLock::shared(&self.root().join("gc.lock"))
    }

    /// Blobs and layers reachable from an image or a container.
    pub fn references(&self) -> Result<References, StoreError> {
        let mut refs = References::default();
        for img in self.images()? {
            refs.blobs.insert(img.manifest.clone());
            refs.blobs.insert(img.config.clone());
            let (blobs, diff_ids) = self.image_parts(&img.manifest, &img.config);
            refs.blobs.extend(blobs);
            refs.layers.extend(diff_ids);
        }
        for c in self.containers().map_err(|e| StoreError::Corrupt {
            what: "container records",
            path: self.containers_dir(),
            detail: e.to_string(),
        })? {
            refs.layers.extend(c.layers);
        }
        // The build cache's steps: their layers stay until `builder prune`.
        for entry in super::build_cache::entries(self) {
            for l in entry.layers.iter().filter_map(|l| l.blob()) {
                refs.blobs.insert(l.digest);
            }
            refs.layers.extend(
                entry.config["rootfs"]["diff_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str()?.parse().ok()),
            );
        }
        Ok(refs)
    }

    /// Layer blobs named by a manifest and diff_ids named by a config; a blob that is
    /// missing or unreadable names nothing.
    pub fn image_parts(&self, manifest: &Digest, config: &Digest) -> (Vec<Digest>, Vec<Digest>) {
        let digests = |bytes: Vec<u8>, pick: fn(&serde_json::Value) -> Vec<String>| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map(|v| pick(&v))
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| d.parse().ok())
                .collect::<Vec<Digest>>()
        };
        let blobs = self
            .read_blob(manifest)
            .map(|b| {
                digests(b, |v| {
                    v["layers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l["digest"].as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default();
        let layers = self
            .read_blob(config)
            .map(|b| {
                digests(b, |v| {
                    v["rootfs"]["diff_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d.as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default();
        (blobs, layers)
    }

    /// Removes every blob and unpacked layer nothing references, and stale temporary files.
    pub fn collect_garbage(&self) -> Result<GcReport, StoreError> {
        let Some(_gc) = FileLock::try_exclusive(&self.root().join("gc.lock"))? else {
            return Ok(GcReport {
                skipped: true,
                ..Default::default()
            });
        };
        let _index = FileLock::exclusive(&self.root().join("store.lock"))?;
        let refs = self.references()?;
        let mut report = GcReport::default();

        let blob_dir = self.root().join("blobs/sha256");
        for entry in fs::read_dir(&blob_dir)
            .map_err(io_err("read", &blob_dir))?
            .flatten()
        {
            let Ok(d) = Digest::from_hex(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            if !refs.blobs.contains(&d) {
                report.bytes += entry.metadata().map_or(0, |m| m.len());
                fs::remove_file(entry.path()).map_err(io_err("remove", &entry.path()))?;
                report.blobs += 1;
            }
        }
        let layer_dir = self.root().join("layers");
        for entry in fs::read_dir(&layer_dir)
            .map_err(io_err("read", &layer_dir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            // `<hex>.size` goes with its layer; one left behind by a crash goes now.
            if let Some(hex) = name.strip_suffix(".size") {
                if Digest::from_hex(hex).is_ok_and(|d| !refs.layers.contains(&d)) {
                    let _ = fs::remove_file(entry.path());
                }
                continue;
            }
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if !refs.layers.contains(&d) {
                report.bytes += disk_usage(&entry.path());
                self.remove_layer(&d)?;
                report.layers += 1;
            }
        }
        self.remove_stale_tmp();
        Ok(report)
    }

    fn remove_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        let now = SystemTime::now();
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP);
            if old {
                let p = e.path();
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
}

/// Bytes a tree occupies on disk (allocated blocks, hardlinks counted once).
pub fn disk_usage(path: &Path) -> u64 {
    let mut seen = HashMap::new();
    usage(path, &mut seen)
}

fn usage(path: &Path, seen: &mut HashMap<(u64, u64), ()>) -> u64 {
    let Ok(md) = fs::symlink_metadata(path) else {
        return 0;
    };
    if md.nlink() > 1 && !md.is_dir() && seen.insert((md.dev(), md.ino()), ()).is_some() {
        return 0;
    }
    let mut total = md.blocks() * 512;
    if md.is_dir() {
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                total += usage(&e.path(), seen);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::UnpackOptions;

    fn layer_tar(name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(4);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &b"data"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn unreferenced_blobs_and_layers_go_referenced_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let opts = UnpackOptions {
            budget: None,
            rootless: true,
            squash: false,
        };
        let kept_tar = layer_tar("kept");
        let kept_blob = store.put_blob_bytes(&kept_tar).unwrap();
        let kept_layer = store.unpack_layer(&kept_tar[..], None, &opts).unwrap();
        let config =
            serde_json::json!({"rootfs": {"type": "layers", "diff_ids": [kept_layer.to_string()]}});
        let config = store.put_blob_bytes(config.to_string().as_bytes()).unwrap();
        let manifest = serde_json::json!({"layers": [{"digest": kept_blob.to_string()}]});
        let manifest = store
            .put_blob_bytes(manifest.to_string().as_bytes())
            .unwrap();
        store.add_image(&manifest, 1, &config, None).unwrap();

        let gone_tar = layer_tar("gone");
        let gone_blob = store.put_blob_bytes(&gone_tar).unwrap();
        let gone_layer = store.unpack_layer(&gone_tar[..], None, &opts).unwrap();

        let report = store.collect_garbage().unwrap();
        assert_eq!((report.blobs, report.layers), (1, 1));
        assert!(report.bytes > 0);
        assert!(!store.has_blob(&gone_blob) && !store.has_layer(&gone_layer));
        for d in [&kept_blob, &config, &manifest] {
            assert!(store.has_blob(d));
        }
        assert!(store.has_layer(&kept_layer));

        // A writer at work: collection waits for another round.
        let _writer = store.writer_guard().unwrap();
        store.remove_image(&manifest).unwrap();
        assert!(store.collect_garbage().unwrap().skipped);
        assert!(store.has_layer(&kept_layer));
    }
}
