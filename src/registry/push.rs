//! `push`: each blob is checked first (`HEAD`), mounted from another repository of the same
//! registry when hako knows one that has it, or uploaded (`POST`, then one `PUT`, or
//! `PATCH` chunks for big blobs); the manifest goes last.
//!
//! Layers that a commit left uncompressed are gzip-compressed once, as `docker push` does.
//! The local name then points at the manifest that was pushed (same config, so the same
//! image ID), and the uncompressed blob is collected when nothing else uses it.

use super::client::{Body, Client};
use super::manifest::{self, BlobRef, Fetched};
use super::progress::Progress;
use super::{record_source, sources, RegistryError};
use crate::digest::Digest;
use crate::layer::Compression;
use crate::reference::Reference;
use crate::store::Store;

/// Blobs bigger than this go up in `PATCH` chunks of this size.
const CHUNK: u64 = 16 << 20;
const PARALLEL_BLOBS: usize = 3;

pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
}

pub fn push(
    store: &Store,
    client: &Client,
    reference: &Reference,
    progress: &Progress,
) -> Result<Pushed, RegistryError> {
    let record = store.lookup_image(&reference.canonical()).map_err(|e| {
        RegistryError::NotFound(format!(
            "{e} (tag an image with this name first: hako tag IMAGE {})",
            reference.familiar()
        ))
    })?;
    let mut manifest_bytes = store.read_blob(&record.manifest)?;
    let (mut media_type, fetched) = manifest::parse(&manifest_bytes, None)?;
    let Fetched::Image { config, layers } = fetched else {
        return Err(RegistryError::Protocol(
            "only single-platform images can be pushed".into(),
        ));
    };
    let mut pushed_layers = vec![];
    for l in &layers {
        if Compression::from_media_type(&l.media_type) == Compression::None {
            pushed_layers.push(gzip_blob(store, l)?);
        } else {
            pushed_layers.push(l.clone());
        }
    }
    if pushed_layers != layers {
        manifest_bytes = oci_manifest(&config, &pushed_layers);
        media_type = manifest::OCI_MANIFEST.into();
        let digest = store.put_blob_bytes(&manifest_bytes)?;
        store.add_image_with_type(
            &digest,
            manifest_bytes.len() as u64,
            &media_type,
            &config.digest,
            Some(reference),
        )?;
        // The uncompressed form goes once no other name needs it.
        if store
            .images()?
            .iter()
            .any(|i| i.manifest == record.manifest && i.names.is_empty())
        {
            store.remove_image(&record.manifest)?;
        }
    }

    progress.message(&format!(
        "The push refers to repository [{}/{}]",
        client.registry, reference.repository
    ));
    let blobs: Vec<&BlobRef> = pushed_layers
        .iter()
        .rev()
        .chain(std::iter::once(&config))
        .collect();
    let handles: Vec<usize> = blobs
        .iter()
        .map(|b| progress.add(b.digest.short(), "Preparing", b.size))
        .collect();
    super::in_parallel(&blobs, PARALLEL_BLOBS, |i, blob| {
        push_blob(store, client, reference, blob, progress, handles[i])
    })?;

    let tag = reference
        .tag
        .clone()
        .unwrap_or_else(|| crate::reference::DEFAULT_TAG.into());
    crate::trace::step(
        "registry",
        "PUT manifest",
        || {
            format!(
                "{}/{}:{tag} ({media_type})",
                client.registry, reference.repository
            )
        },
        || {
            client.send(
                "PUT",
                &format!("/v2/{}/manifests/{tag}", reference.repository),
                &scopes(reference),
                &[("Content-Type", media_type.clone())],
                &Body::Bytes(manifest_bytes.clone()),
            )
        },
    )?;
    let digest = Digest::of_bytes(&manifest_bytes);
    progress.message(&format!(
        "{tag}: digest: {digest} size: {}",
        manifest_bytes.len()
    ));
    Ok(Pushed {
        digest,
        size: manifest_bytes.len() as u64,
    })
}

fn scopes(reference: &Reference) -> Vec<String> {
    vec![super::repository_scope(&reference.repository, "pull,push")]
}

fn oci_manifest(config: &BlobRef, layers: &[BlobRef]) -> Vec<u8> {
    let desc = |b: &BlobRef, media_type: &str| serde_json::json!({"mediaType": media_type, "digest": b.digest.to_string(), "size": b.size});
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": desc(config, crate::image::CONFIG_MEDIA_TYPE),
        "layers": layers.iter().map(|l| desc(l, &l.media_type)).collect::<Vec<_>>(),
    }))
    .expect("a manifest serialises")
}

/// Compresses an uncompressed layer blob into a new gzip blob (kept in the store).
fn gzip_blob(store: &Store, blob: &BlobRef) -> Result<BlobRef, RegistryError> {
    let mut src = store.open_blob(&blob.digest)?;
    let (digest, size, _) = store.write_blob(None, |w| {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
        std::io::copy(&mut src, &mut gz)?;
        gz.finish().map(drop)
    })?;
    Ok(BlobRef {
        digest,
        size,
        media_type: Compression::Gzip.layer_media_type().into(),
    })
}

fn push_blob(
    store: &Store,
    client: &Client,
    reference: &Reference,
    blob: &BlobRef,
    progress: &Progress,
    handle: usize,
) -> Result<(), RegistryError> {
    let repo = &reference.repository;
    let scopes = scopes(reference);
    let exists = client.send(
        "HEAD",
        &format!("/v2/{repo}/blobs/{}", blob.digest),
        &scopes,
        &[],
        &Body::Empty,
    );
    match exists {
        Ok(_) => {
            progress.status(handle, "Layer already exists", true);
            record_source(store, &blob.digest, &client.registry, repo);
            return Ok(());
        }
        Err(RegistryError::Status { code: 404, .. }) => {}
        Err(e) => return Err(e),
    }
    // Another repository of this registry has it: ask for a mount instead of the bytes.
    let mut location = None;
    for (registry, from) in sources(store, &blob.digest) {
        if registry != client.registry || from == *repo {
            continue;
        }
        let mut mount_scopes = scopes.clone();
        mount_scopes.push(super::repository_scope(&from, "pull"));
        let resp = client.send(
            "POST",
            &format!(
                "/v2/{repo}/blobs/uploads/?mount={}&from={from}",
                blob.digest
            ),
            &mount_scopes,
            &[],
            &Body::Bytes(vec![]),
        )?;
        if resp.status() == 201 {
            progress.status(handle, &format!("Mounted from {from}"), true);
            record_source(store, &blob.digest, &client.registry, repo);
            return Ok(());
        }
        location = resp.header("location").map(String::from);
        break;
    }
    let mut location = match location {
        Some(l) => l,
        None => client
            .send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/"),
                &scopes,
                &[],
                &Body::Bytes(vec![]),
            )?
            .header("location")
            .map(String::from)
            .ok_or_else(|| {
                RegistryError::Protocol("the upload was accepted without a Location".into())
            })?,
    };
    progress.status(handle, "Pushing", false);
    let path = store.blob_path(&blob.digest);
    let size = std::fs::metadata(&path)
        .map_err(|source| RegistryError::Io {
            what: format!("stat blob {}", blob.digest),
            source,
        })?
        .len();
    let with_digest = |loc: &str| {
        let sep = if loc.contains('?') { '&' } else { '?' };
        format!("{loc}{sep}digest={}", blob.digest)
    };
    let octets = ("Content-Type", "application/octet-stream".to_string());
    if size <= CHUNK {
        client.send(
            "PUT",
            &with_digest(&location),
            &scopes,
            &[octets],
            &Body::File {
                path,
                offset: 0,
                len: size,
            },
        )?;
        progress.advance(handle, size);
    } else {
        let mut offset = 0;
        while offset < size {
            let len = CHUNK.min(size - offset);
            let range = ("Content-Range", format!("{offset}-{}", offset + len - 1));
            let resp = client.send(
                "PATCH",
                &location,
                &scopes,
                &[octets.clone(), range],
                &Body::File {
                    path: path.clone(),
                    offset,
                    len,
                },
            )?;
            location = resp
                .header("location")
                .map(String::from)
                .unwrap_or(location);
            offset += len;
            progress.advance(handle, len);
        }
        client.send(
            "PUT",
            &with_digest(&location),
            &scopes,
            &[],
            &Body::Bytes(vec![]),
        )?;
    }
    record_source(store, &blob.digest, &client.registry, repo);
    progress.status(handle, "Pushed", true);
    Ok(())
}
