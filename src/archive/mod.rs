//! Images in and out of tarballs: `import` (a plain rootfs tar), `load` (docker-archive,
//! OCI layout, OCI archive) and `save` (docker-archive, OCI archive).

pub mod import;
pub mod load;
pub mod member;
pub mod save;

use crate::digest::Digest;
use crate::layer::Compression;
use crate::store::blobs::LayerBlob;
use crate::store::layers::LayerError;
use crate::store::Store;
use std::io::Read;
use std::path::Path;

/// Stores a layer file (open, a regular file of `size` bytes) as a blob and unpacks it
/// (once) into the layer cache; returns the blob and its diff_id. `expected_diff_id`
/// (from an image config) is verified; nothing past `size` is read.
pub fn add_layer_file(
    store: &Store,
    file: std::fs::File,
    size: u64,
    shown: &Path,
    expected_digest: Option<&Digest>,
    expected_diff_id: Option<&Digest>,
) -> Result<(LayerBlob, Digest), LayerError> {
    let (digest, size) = crate::trace::step(
        "image",
        "store blob",
        || format!("{} (sha256 checked on the way in)", shown.display()),
        || {
            let reader = std::io::BufReader::with_capacity(1 << 20, file.take(size));
            store.put_blob(reader, expected_digest.map(|d| (d, Some(size))))
        },
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
            let opts = store.bounded(&store.unpack_options(), Some(size))?;
            store.unpack_layer(store.open_blob(&digest)?, expected_diff_id, &opts)
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
