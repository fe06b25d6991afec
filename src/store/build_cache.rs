//! The build cache: the state after a step (image config and layers), under a key that
//! hashes the state before it and everything the step depends on (instruction, variables,
//! source content). Entries are plain files in `<data root>/build-cache/`, written
//! atomically; their layers count as in use for garbage collection, so `image prune` keeps
//! them and `builder prune` drops them.

use super::blobs::LayerBlob;
use crate::digest::Digest;
use crate::store::{write_atomic, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs;
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub config: Value,
    pub layers: Vec<CachedLayer>,
    /// When the step ran (history times come from it, so a cached rebuild is identical).
    pub created: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CachedLayer {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

impl From<&LayerBlob> for CachedLayer {
    fn from(l: &LayerBlob) -> Self {
        CachedLayer {
            digest: l.digest.to_string(),
            size: l.size,
            media_type: l.media_type.clone(),
        }
    }
}

impl CachedLayer {
    pub fn blob(&self) -> Option<LayerBlob> {
        Some(LayerBlob {
            digest: self.digest.parse().ok()?,
            size: self.size,
            media_type: self.media_type.clone(),
        })
    }
}

pub fn dir(store: &Store) -> PathBuf {
    store.root().join("build-cache")
}

/// The entry, if its every layer blob is still in the store.
pub fn lookup(store: &Store, key: &Digest) -> Option<Entry> {
    let bytes = fs::read(dir(store).join(key.hex())).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    let complete = entry
        .layers
        .iter()
        .all(|l| l.blob().is_some_and(|b| store.has_blob(&b.digest)));
    complete.then_some(entry)
}

pub fn save(store: &Store, key: &Digest, entry: &Entry) -> std::io::Result<()> {
    super::private::create_dir(&dir(store))?;
    let bytes = serde_json::to_vec(entry).expect("a cache entry serializes");
    write_atomic(store.root(), &dir(store).join(key.hex()), &bytes).map_err(std::io::Error::other)
}

/// Every entry (for garbage collection's references).
pub fn entries(store: &Store) -> Vec<Entry> {
    fs::read_dir(dir(store))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
        .collect()
}

/// `builder prune`: drops every entry; returns how many.
pub fn clear(store: &Store) -> std::io::Result<usize> {
    let mut n = 0;
    for e in fs::read_dir(dir(store)).into_iter().flatten().flatten() {
        fs::remove_file(e.path())?;
        n += 1;
    }
    Ok(n)
}
