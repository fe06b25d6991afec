//! Images as stored: manifest and config blobs, read through oci-spec's types, and the one
//! function that writes a new image (used by import, load, and later commit and pull).

use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::blobs::LayerBlob;
use crate::store::images::{ImageRecord, MANIFEST_MEDIA_TYPE};
use crate::store::{Store, StoreError};
use oci_spec::image::{ImageConfiguration, ImageManifest};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image {what} {digest} is not valid JSON of its kind: {detail}")]
    Malformed {
        what: &'static str,
        digest: Digest,
        detail: String,
    },
}

pub struct Image {
    pub record: ImageRecord,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl Image {
    pub fn load(store: &Store, record: &ImageRecord) -> Result<Image, ImageError> {
        let bytes = store.read_blob(&record.manifest)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::Malformed {
                what: "manifest",
                digest: record.manifest.clone(),
                detail: e.to_string(),
            })?;
        let config = load_config(store, &record.config)?;
        Ok(Image {
            record: record.clone(),
            manifest,
            config,
        })
    }

    /// Layer diff_ids, bottom first.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect()
    }

    /// Unpacks into the layer cache every layer of this image that is not there yet (a
    /// committed layer is cached on first use; a removed cache entry is rebuilt), each
    /// checked against its diff_id.
    pub fn ensure_layers(&self, store: &Store) -> Result<(), crate::store::layers::LayerError> {
        for (blob, diff_id) in self.manifest.layers().iter().zip(self.diff_ids()) {
            if store.has_layer(&diff_id) {
                continue;
            }
            let digest: Digest = blob
                .digest()
                .to_string()
                .parse()
                .map_err(|_| StoreError::MissingBlob(blob.digest().to_string()))?;
            let raw = store.open_blob(&digest)?;
            crate::trace::step(
                "image",
                "unpack layer",
                || format!("{} -> layers/{}", digest.short(), diff_id.short()),
                || {
                    store.unpack_layer(
                        std::io::BufReader::with_capacity(1 << 20, raw),
                        Some(&diff_id),
                        &store.unpack_options(),
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Size as `docker images` shows it: the layers' uncompressed content. A layer not
    /// unpacked yet counts its blob, which for a committed (uncompressed) layer is the
    /// same number.
    pub fn size(&self, store: &Store) -> u64 {
        self.manifest
            .layers()
            .iter()
            .zip(self.diff_ids())
            .map(|(blob, diff_id)| store.layer_size(&diff_id).unwrap_or(blob.size()))
            .sum()
    }
}

pub fn load_config(store: &Store, digest: &Digest) -> Result<ImageConfiguration, ImageError> {
    let bytes = store.read_blob(digest)?;
    parse_config(&bytes).map_err(|detail| ImageError::Malformed {
        what: "config",
        digest: digest.clone(),
        detail,
    })
}

/// Writes the config blob and an OCI manifest for `layers`, and records the image under
/// `name` (or dangling). The config bytes are kept exactly, so the image ID (the config
/// digest) matches what other tools computed for the same image.
pub fn write_image(
    store: &Store,
    config_bytes: &[u8],
    layers: &[LayerBlob],
    name: Option<&Reference>,
) -> Result<ImageRecord, ImageError> {
    let config = store.put_blob_bytes(config_bytes)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": { "mediaType": CONFIG_MEDIA_TYPE, "digest": config.to_string(), "size": config_bytes.len() },
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let manifest_digest = store.put_blob_bytes(&manifest_bytes)?;
    store.add_image(&manifest_digest, manifest_bytes.len() as u64, &config, name)?;
    Ok(ImageRecord {
        manifest: manifest_digest,
        manifest_size: manifest_bytes.len() as u64,
        config,
        names: name.map(|n| vec![n.canonical()]).unwrap_or_default(),
    })
}

/// The architecture name images use for this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Parses an image config, filling in the fields oci-spec insists on but real images may
/// leave out (`history` is optional in the image spec).
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration, String> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let obj = v
        .as_object_mut()
        .ok_or("an image config must be a JSON object")?;
    obj.entry("history")
        .or_insert_with(|| serde_json::json!([]));
    obj.entry("architecture")
        .or_insert_with(|| serde_json::json!(host_arch()));
    obj.entry("os")
        .or_insert_with(|| serde_json::json!("linux"));
    serde_json::from_value(v).map_err(|e| e.to_string())
}
