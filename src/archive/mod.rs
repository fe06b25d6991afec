//! Images in and out of tarballs: `import` (a plain rootfs tar), `load` (docker-archive,
//! OCI layout, OCI archive) and `save` (docker-archive, OCI archive).

pub mod import;
pub mod load;
pub mod save;

use crate::digest::Digest;
use crate::image::LayerBlob;
use crate::layer::{Compression, UnpackOptions};
use crate::store::layers::LayerError;
use crate::store::Store;
use std::io::Read;
use std::path::Path;

/// Stores a layer file as a blob and unpacks it (once) into the layer cache; returns the
/// blob and its diff_id. `expected_diff_id` (from an image config) is verified.
pub fn add_layer_file(
    store: &Store,
    path: &Path,
    expected_digest: Option<&Digest>,
    expected_diff_id: Option<&Digest>,
) -> Result<(LayerBlob, Digest), LayerError> {
    let (digest, size) = crate::trace::step(
        "image",
        "store blob",
        || format!("{} (sha256 checked on the way in)", path.display()),
        || store.put_blob_file(path, expected_digest.map(|d| (d, None))),
    )?;
    let mut head = [0u8; 4];
    let n = store.open_blob(&digest)?.read(&mut head).unwrap_or(0);
    let media_type = Compression::sniff(&head[..n])
        .layer_media_type()
        .to_string();
    let unpacked = crate::trace::step(
        "image",
        "unpack layer",
        || format!("{} ({media_type})", digest.short()),
        || {
            store.unpack_layer(
                store.open_blob(&digest)?,
                expected_diff_id,
                &UnpackOptions::default(),
            )
        },
    );
    match unpacked {
        Ok(diff_id) => Ok((
            LayerBlob {
                digest,
                size,
                media_type,
            },
            diff_id,
        )),
        Err(e) => {
            // A layer that cannot be unpacked leaves no trace, unless an image uses the blob.
            if !store.blob_in_use(&digest) {
                let _ = std::fs::remove_file(store.blob_path(&digest));
            }
            Err(e)
        }
    }
}
