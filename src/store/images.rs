//! Names → manifests: the image index, kept as the OCI layout's `index.json`.
//!
//! One descriptor per name (containerd's `io.containerd.image.name` holds the full name,
//! `org.opencontainers.image.ref.name` the tag, so skopeo/umoci can address it), and one
//! unnamed descriptor for a dangling image. Each descriptor also records its config digest
//! (the image ID) so listing and resolving never open manifests.

use super::lock::FileLock;
use super::{io_err, write_atomic, Store, StoreError};
use crate::digest::Digest;
use crate::reference::Reference;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;

pub const NAME_ANNOTATION: &str = "io.containerd.image.name";
pub const REF_ANNOTATION: &str = "org.opencontainers.image.ref.name";
pub const CONFIG_ANNOTATION: &str = "io.hako.image.config";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Serialize, Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "camelCase")]
struct IndexFile {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One image as the index knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    pub manifest: Digest,
    pub manifest_size: u64,
    /// The image ID.
    pub config: Digest,
    /// Canonical names (`docker.io/library/busybox:latest`); empty for a dangling image.
    pub names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("image ID prefix {0:?} is ambiguous: it matches {1} images")]
    Ambiguous(String, usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    fn index_path(&self) -> std::path::PathBuf {
        self.root().join("index.json")
    }

    fn read_index(&self) -> Result<IndexFile, StoreError> {
        let p = self.index_path();
        match fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                what: "image index",
                path: p.clone(),
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexFile {
                schema_version: 2,
                ..Default::default()
            }),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    fn write_index(&self, index: &IndexFile) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(index).expect("index serialises");
        write_atomic(self.root(), &self.index_path(), &bytes)
    }

    /// Runs a read-modify-write of the index under the store lock.
    fn update_index<T>(&self, f: impl FnOnce(&mut Vec<Descriptor>) -> T) -> Result<T, StoreError> {
        let _lock = FileLock::exclusive(&self.root().join("store.lock"))?;
        let mut index = self.read_index()?;
        index.schema_version = 2;
        index.media_type = Some("application/vnd.oci.image.index.v1+json".into());
        let out = f(&mut index.manifests);
        self.write_index(&index)?;
        Ok(out)
    }

    /// All images, one record per manifest, in index order.
    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let index = self.read_index()?;
        let mut out: Vec<ImageRecord> = Vec::new();
        for d in index.manifests {
            let Some(config) = d
                .annotations
                .get(CONFIG_ANNOTATION)
                .and_then(|c| c.parse().ok())
            else {
                continue;
            };
            let rec = match out.iter_mut().find(|r| r.manifest == d.digest) {
                Some(r) => r,
                None => {
                    out.push(ImageRecord {
                        manifest: d.digest.clone(),
                        manifest_size: d.size,
                        config,
                        names: vec![],
                    });
                    out.last_mut().unwrap()
                }
            };
            if let Some(n) = d.annotations.get(NAME_ANNOTATION) {
                rec.names.push(n.clone());
            }
        }
        Ok(out)
    }

    /// Records an image. With a name, the name moves to it (the image that had the name
    /// before keeps its other names, or becomes dangling, as in Docker).
    pub fn add_image(
        &self,
        manifest: &Digest,
        manifest_size: u64,
        config: &Digest,
        name: Option<&Reference>,
    ) -> Result<(), StoreError> {
        self.update_index(|list| {
            if let Some(name) = name {
                untag_in(list, &name.canonical());
                list.retain(|d| {
                    d.digest != *manifest || d.annotations.contains_key(NAME_ANNOTATION)
                });
                list.push(descriptor(manifest, manifest_size, config, Some(name)));
            } else if !list.iter().any(|d| d.digest == *manifest) {
                list.push(descriptor(manifest, manifest_size, config, None));
            }
        })
    }

    /// `add_image` for a manifest of another media type (Docker's schema 2, as pulled).
    pub fn add_image_with_type(
        &self,
        manifest: &Digest,
        manifest_size: u64,
        media_type: &str,
        config: &Digest,
        name: Option<&Reference>,
    ) -> Result<(), StoreError> {
        self.add_image(manifest, manifest_size, config, name)?;
        self.update_index(|list| {
            for d in list.iter_mut().filter(|d| d.digest == *manifest) {
                d.media_type = media_type.to_string();
            }
        })
    }

    /// Removes a name; returns the image it pointed at. The image stays, dangling, if that
    /// was its last name and `keep_dangling`.
    pub fn untag(
        &self,
        name: &Reference,
        keep_dangling: bool,
    ) -> Result<Option<ImageRecord>, StoreError> {
        let before = self.images()?;
        let canonical = name.canonical();
        let Some(rec) = before.into_iter().find(|r| r.names.contains(&canonical)) else {
            return Ok(None);
        };
        self.update_index(|list| {
            untag_in(list, &canonical);
            if !keep_dangling {
                let still_named = list.iter().any(|d| d.digest == rec.manifest);
                if !still_named {
                    list.retain(|d| d.digest != rec.manifest);
                }
            }
        })?;
        Ok(Some(rec))
    }

    /// Drops every descriptor of a manifest (all its names).
    pub fn remove_image(&self, manifest: &Digest) -> Result<(), StoreError> {
        self.update_index(|list| list.retain(|d| d.digest != *manifest))
    }

    /// Finds an image by name, full ID or unique ID prefix (as `docker` does).
    pub fn lookup_image(&self, what: &str) -> Result<ImageRecord, LookupError> {
        let images = self.images()?;
        if let Ok(r) = what.parse::<Reference>() {
            let canonical = r.canonical();
            if let Some(rec) = images.iter().find(|i| i.names.contains(&canonical)) {
                return Ok(rec.clone());
            }
        }
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<&ImageRecord> = images
                .iter()
                .filter(|i| i.config.hex().starts_with(hex))
                .collect();
            let mut unique: Vec<&Digest> = matches.iter().map(|m| &m.config).collect();
            unique.dedup();
            match unique.len() {
                0 => {}
                1 => return Ok(matches[0].clone()),
                n => return Err(LookupError::Ambiguous(what.to_string(), n)),
            }
        }
        Err(LookupError::NotFound(what.to_string()))
    }
}

fn untag_in(list: &mut Vec<Descriptor>, canonical: &str) {
    let mut orphaned = vec![];
    list.retain(|d| {
        let named = d.annotations.get(NAME_ANNOTATION).map(String::as_str) == Some(canonical);
        if named {
            orphaned.push(d.clone());
        }
        !named
    });
    // The image that lost its name stays in the store as a dangling image, unless it has
    // other names.
    for d in orphaned {
        if !list.iter().any(|x| x.digest == d.digest) {
            let mut dangling = d;
            dangling.annotations.remove(NAME_ANNOTATION);
            dangling.annotations.remove(REF_ANNOTATION);
            list.push(dangling);
        }
    }
}

fn descriptor(
    manifest: &Digest,
    size: u64,
    config: &Digest,
    name: Option<&Reference>,
) -> Descriptor {
    let mut annotations = BTreeMap::new();
    annotations.insert(CONFIG_ANNOTATION.to_string(), config.to_string());
    if let Some(n) = name {
        annotations.insert(NAME_ANNOTATION.to_string(), n.canonical());
        if let Some(tag) = &n.tag {
            annotations.insert(REF_ANNOTATION.to_string(), tag.clone());
        }
    }
    Descriptor {
        media_type: MANIFEST_MEDIA_TYPE.to_string(),
        digest: manifest.clone(),
        size,
        annotations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn tags_move_and_leave_dangling_images() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m1, c1) = (Digest::of_bytes(b"m1"), Digest::of_bytes(b"c1"));
        let (m2, c2) = (Digest::of_bytes(b"m2"), Digest::of_bytes(b"c2"));
        store.add_image(&m1, 10, &c1, Some(&r("app:v1"))).unwrap();
        store
            .add_image(&m1, 10, &c1, Some(&r("app:latest")))
            .unwrap();
        assert_eq!(store.images().unwrap().len(), 1);
        assert_eq!(store.images().unwrap()[0].names.len(), 2);

        store.add_image(&m2, 10, &c2, Some(&r("app:v1"))).unwrap();
        store.untag(&r("app:latest"), true).unwrap();
        let images = store.images().unwrap();
        let first = images.iter().find(|i| i.manifest == m1).unwrap();
        assert!(first.names.is_empty(), "m1 is dangling now");
        assert_eq!(store.lookup_image("app:v1").unwrap().manifest, m2);
        assert_eq!(store.lookup_image(&c1.hex()[..8]).unwrap().manifest, m1);
        assert!(matches!(
            store.lookup_image("nope"),
            Err(LookupError::NotFound(_))
        ));
    }
}
