//! `hako save`: images out as one tar, in the two formats `load` reads.
//!
//! - docker-archive (what `docker save` writes and `docker load` reads): `manifest.json`,
//!   `repositories`, `<config hex>.json` and each layer uncompressed as
//!   `<diff_id hex>/layer.tar`.
//! - oci-archive: a tar of an OCI image layout (`oci-layout`, `index.json`, blobs as
//!   stored), the names in `io.containerd.image.name` and `org.opencontainers.image.ref.name`.
//!
//! Layers shared by several saved images are written once.

use crate::digest::Digest;
use crate::image::Image;
use crate::layer::tar_writer::{Entry, Kind, TarWriter};
use crate::reference::Reference;
use crate::store::images::{ImageRecord, NAME_ANNOTATION, REF_ANNOTATION};
use crate::store::Store;
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
}

/// An image to save and the name it is saved under (none when given by ID).
pub struct SaveItem {
    pub record: ImageRecord,
    pub name: Option<Reference>,
}

/// Writes the archive to `out` (a file, or a pipe that layers are spliced into).
pub fn save(store: &Store, items: &[SaveItem], format: Format, out: File) -> Result<File> {
    let mut tar = TarWriter::for_file(out)?;
    match format {
        Format::DockerArchive => write_docker_archive(store, items, &mut tar)?,
        Format::OciArchive => write_oci_archive(store, items, &mut tar)?,
    }
    Ok(tar.finish()?)
}

fn file_entry(path: &str, size: u64) -> Entry {
    let mut e = Entry::new(path.as_bytes().to_vec(), Kind::File);
    e.size = size;
    e.mode = 0o644;
    e
}

fn dir_entry(path: &str) -> Entry {
    let mut e = Entry::new(path.as_bytes().to_vec(), Kind::Dir);
    e.mode = 0o755;
    e
}

fn append_bytes<W: Write>(tar: &mut TarWriter<W>, path: &str, bytes: &[u8]) -> Result<()> {
    tar.append_data(&file_entry(path, bytes.len() as u64), bytes)?;
    Ok(())
}

fn write_docker_archive<W: Write>(
    store: &Store,
    items: &[SaveItem],
    tar: &mut TarWriter<W>,
) -> Result<()> {
    let mut manifest = vec![];
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut written: HashSet<Digest> = HashSet::new();
    for item in items {
        let image = Image::load(store, &item.record)?;
        let config_name = format!("{}.json", item.record.config.hex());
        if written.insert(item.record.config.clone()) {
            append_bytes(tar, &config_name, &store.read_blob(&item.record.config)?)?;
        }
        let diff_ids = image.diff_ids();
        let mut layer_names = vec![];
        for (blob, diff_id) in image.manifest.layers().iter().zip(&diff_ids) {
            let name = format!("{}/layer.tar", diff_id.hex());
            if written.insert(diff_id.clone()) {
                tar.append(&dir_entry(diff_id.hex()))?;
                let blob: Digest = blob.digest().to_string().parse()?;
                append_uncompressed_layer(store, &blob, diff_id, &name, tar)?;
            }
            layer_names.push(name);
        }
        let tags: Vec<String> = item.name.iter().map(Reference::familiar).collect();
        if let (Some(n), Some(top)) = (&item.name, diff_ids.last()) {
            repositories
                .entry(n.familiar_repository())
                .or_default()
                .insert(
                    n.tag.clone().unwrap_or_else(|| "latest".into()),
                    top.hex().to_string(),
                );
        }
        manifest.push(json!({ "Config": config_name, "RepoTags": tags, "Layers": layer_names }));
    }
    append_bytes(tar, "manifest.json", &serde_json::to_vec(&manifest)?)?;
    if !repositories.is_empty() {
        append_bytes(tar, "repositories", &serde_json::to_vec(&repositories)?)?;
    }
    Ok(())
}

/// docker-archive layers are plain tars: the blob is decompressed into `tmp/` (the tar
/// header needs the size first) and checked against its diff_id on the way.
fn append_uncompressed_layer<W: Write>(
    store: &Store,
    blob: &Digest,
    diff_id: &Digest,
    name: &str,
    tar: &mut TarWriter<W>,
) -> Result<()> {
    let (_, mut decoded) = crate::layer::decoder(store.open_blob(blob)?)?;
    let spool = store.temp_path("save-layer");
    let result = (|| {
        let file = File::create(&spool)?;
        let mut hashing = crate::digest::HashingWriter::new(std::io::BufWriter::new(file));
        std::io::copy(&mut decoded, &mut hashing)
            .with_context(|| format!("decompress layer {blob}"))?;
        let (buf, actual, size) = hashing.finish();
        buf.into_inner().map_err(|e| e.into_error())?;
        anyhow::ensure!(
            actual == *diff_id,
            "layer {blob} decompresses to {actual}, but the image config says {diff_id}; the store is damaged, pull or load the image again"
        );
        let f = File::open(&spool)?;
        tar.append_file(&file_entry(name, size), &f)?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&spool);
    result
}

fn write_oci_archive<W: Write>(
    store: &Store,
    items: &[SaveItem],
    tar: &mut TarWriter<W>,
) -> Result<()> {
    append_bytes(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.append(&dir_entry("blobs"))?;
    tar.append(&dir_entry("blobs/sha256"))?;
    let mut written: HashSet<Digest> = HashSet::new();
    let mut manifests = vec![];
    for item in items {
        let image = Image::load(store, &item.record)?;
        let mut blobs = vec![item.record.manifest.clone(), item.record.config.clone()];
        for l in image.manifest.layers() {
            blobs.push(l.digest().to_string().parse()?);
        }
        for d in blobs {
            if written.insert(d.clone()) {
                let f = store.open_blob(&d)?;
                let size = f.metadata()?.len();
                tar.append_file(&file_entry(&format!("blobs/sha256/{}", d.hex()), size), &f)?;
            }
        }
        let mut desc = json!({
            "mediaType": crate::store::images::MANIFEST_MEDIA_TYPE,
            "digest": item.record.manifest.to_string(),
            "size": item.record.manifest_size,
        });
        if let Some(n) = &item.name {
            let mut annotations = json!({ NAME_ANNOTATION: n.canonical() });
            if let Some(tag) = &n.tag {
                annotations[REF_ANNOTATION] = json!(tag);
            }
            desc["annotations"] = annotations;
        }
        manifests.push(desc);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    append_bytes(tar, "index.json", &serde_json::to_vec(&index)?)?;
    Ok(())
}
