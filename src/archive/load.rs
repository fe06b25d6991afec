//! `hako load`: docker-archive (as `docker save` writes it), OCI image layout (a directory)
//! and OCI archive (a tar of a layout), several images per archive.
//!
//! A tar archive is first unpacked into `tmp/` with the layer unpacker's path checks and
//! expansion budget (an archive is as untrusted as a layer), then read as a directory
//! through `member`: never following a link out of it, only regular files, never past a
//! declared size. Blobs are verified as they enter the store; nothing is named until every
//! layer of an image is in place.

use super::{add_layer_file, member};
use crate::digest::Digest;
use crate::image::{host_arch, write_image};
use crate::layer::{self, UnpackOptions};
use crate::reference::Reference;
use crate::store::blobs::LayerBlob;
use crate::store::images::{ImageRecord, NAME_ANNOTATION, REF_ANNOTATION};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::fs;
use std::path::Path;

/// One loaded image and the names it was given.
pub struct Loaded {
    pub record: ImageRecord,
    pub names: Vec<Reference>,
}

pub fn load(store: &Store, input: &Path) -> Result<Vec<Loaded>> {
    if input.is_dir() {
        return load_dir(store, input);
    }
    let file = fs::File::open(input).with_context(|| format!("open {}", input.display()))?;
    let size = file.metadata().map(|m| m.len()).ok().filter(|s| *s > 0);
    let tmp = store.temp_path("load");
    fs::create_dir(&tmp)?;
    let result = (|| {
        // The archive holds compressed layers: it unpacks to about its own size.
        let opts = store.bounded(
            &UnpackOptions {
                rootless: true,
                squash: false,
                budget: None,
            },
            size,
        )?;
        let budget = opts.budget.clone().expect("bounded sets a budget");
        let (_, reader) = layer::decoder(budget.count_compressed(file))?;
        layer::unpack(reader, &tmp, &opts)
            .with_context(|| format!("read archive {}", input.display()))?;
        load_dir(store, &tmp)
    })();
    let _ = fs::remove_dir_all(&tmp);
    result
}

fn load_dir(store: &Store, dir: &Path) -> Result<Vec<Loaded>> {
    if member::exists(dir, "manifest.json") {
        load_docker_archive(store, dir)
    } else if member::exists(dir, "index.json") {
        load_oci_layout(store, dir)
    } else {
        bail!("{} is neither a docker-archive (no manifest.json) nor an OCI image layout (no index.json)", dir.display())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Stores and unpacks the layer that archive member `name` holds.
fn add_member_layer(
    store: &Store,
    dir: &Path,
    name: &str,
    declared: Option<u64>,
    digest: Option<&Digest>,
    diff_id: &Digest,
) -> Result<LayerBlob> {
    let m = member::open(dir, name)?;
    if let Some(want) = declared.filter(|want| *want != m.size) {
        bail!(
            "layer {name} has {} bytes, the manifest says {want}: the archive is corrupt",
            m.size
        );
    }
    let (blob, _) = add_layer_file(
        store,
        m.file,
        m.size,
        Path::new(name),
        digest,
        Some(diff_id),
    )?;
    Ok(blob)
}

fn load_docker_archive(store: &Store, dir: &Path) -> Result<Vec<Loaded>> {
    let entries: Vec<DockerArchiveEntry> =
        serde_json::from_slice(&member::read_document(dir, "manifest.json", None)?)
            .context("parse manifest.json of the docker-archive")?;
    let mut out = vec![];
    for entry in entries {
        let config_bytes = member::read_document(dir, &entry.config, None)
            .with_context(|| format!("read config {}", entry.config))?;
        let config = crate::image::parse_config(&config_bytes)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("parse image config {}", entry.config))?;
        let diff_ids: Vec<Digest> = config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse())
            .collect::<Result<_, _>>()
            .context("image config lists a malformed diff_id")?;
        if diff_ids.len() != entry.layers.len() {
            bail!(
                "docker-archive lists {} layers but the image config has {} diff_ids",
                entry.layers.len(),
                diff_ids.len()
            );
        }
        let mut blobs = vec![];
        for (layer, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let blob = add_member_layer(store, dir, layer, None, None, diff_id)
                .with_context(|| format!("load layer {layer}"))?;
            blobs.push(blob);
        }
        let names: Vec<Reference> = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_, _>>()?;
        out.push(record_names(store, &config_bytes, &blobs, names)?);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciDescriptor {
    media_type: Option<String>,
    digest: Digest,
    size: Option<u64>,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
    #[serde(default)]
    platform: Option<OciPlatform>,
}

#[derive(Deserialize)]
struct OciPlatform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    config: OciDescriptor,
    layers: Vec<OciDescriptor>,
}

fn blob_member(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn layout_blob(dir: &Path, d: &OciDescriptor) -> Result<Vec<u8>> {
    let bytes = member::read_document(dir, &blob_member(&d.digest), d.size)
        .with_context(|| format!("read blob {}", d.digest))?;
    let actual = Digest::of_bytes(&bytes);
    if actual != d.digest {
        bail!(
            "blob {} in the layout hashes to {actual}: the archive is corrupt",
            d.digest
        );
    }
    Ok(bytes)
}

fn load_oci_layout(store: &Store, dir: &Path) -> Result<Vec<Loaded>> {
    let index: OciIndex = serde_json::from_slice(&member::read_document(dir, "index.json", None)?)
        .context("parse index.json of the OCI layout")?;
    let mut out = vec![];
    for desc in &index.manifests {
        let names = oci_names(desc);
        let manifest_desc = resolve_platform(dir, desc)?;
        let manifest: OciManifest = serde_json::from_slice(&layout_blob(dir, &manifest_desc)?)
            .context("parse image manifest")?;
        let config_bytes = layout_blob(dir, &manifest.config)?;
        let config = crate::image::parse_config(&config_bytes)
            .map_err(anyhow::Error::msg)
            .context("parse image config")?;
        let diff_ids: Vec<Digest> = config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse())
            .collect::<Result<_, _>>()?;
        if diff_ids.len() != manifest.layers.len() {
            bail!(
                "manifest lists {} layers but the image config has {} diff_ids",
                manifest.layers.len(),
                diff_ids.len()
            );
        }
        let mut blobs = vec![];
        for (l, diff_id) in manifest.layers.iter().zip(&diff_ids) {
            let blob = add_member_layer(
                store,
                dir,
                &blob_member(&l.digest),
                l.size,
                Some(&l.digest),
                diff_id,
            )
            .with_context(|| format!("load layer {}", l.digest))?;
            blobs.push(blob);
        }
        out.push(record_names(store, &config_bytes, &blobs, names)?);
    }
    Ok(out)
}

/// A nested index picks the manifest for this machine (linux/<arch>).
fn resolve_platform(dir: &Path, desc: &OciDescriptor) -> Result<OciDescriptor> {
    let is_index = desc
        .media_type
        .as_deref()
        .is_some_and(|m| m.contains("index") || m.contains("manifest.list"));
    if !is_index {
        return Ok(OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size,
            annotations: Default::default(),
            platform: None,
        });
    }
    let nested: OciIndex =
        serde_json::from_slice(&layout_blob(dir, desc)?).context("parse nested image index")?;
    let offered: Vec<String> = nested
        .manifests
        .iter()
        .filter_map(|m| {
            m.platform
                .as_ref()
                .map(|p| format!("{}/{}", p.os, p.architecture))
        })
        .collect();
    let chosen = nested.manifests.into_iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == host_arch())
    });
    match chosen {
        Some(m) => resolve_platform(dir, &m),
        None => bail!(
            "no image for linux/{} in the index; it offers: {}",
            host_arch(),
            offered.join(", ")
        ),
    }
}

/// `io.containerd.image.name` is a full name; `org.opencontainers.image.ref.name` is a full
/// name only when it looks like one (skopeo and umoci write a bare tag there).
fn oci_names(desc: &OciDescriptor) -> Vec<Reference> {
    if let Some(n) = desc
        .annotations
        .get(NAME_ANNOTATION)
        .and_then(|n| n.parse().ok())
    {
        return vec![n];
    }
    desc.annotations
        .get(REF_ANNOTATION)
        .filter(|r| r.contains('/') || r.contains(':'))
        .and_then(|r| r.parse().ok())
        .into_iter()
        .collect()
}

fn record_names(
    store: &Store,
    config_bytes: &[u8],
    blobs: &[LayerBlob],
    names: Vec<Reference>,
) -> Result<Loaded> {
    let mut record = write_image(store, config_bytes, blobs, names.first())?;
    for n in names.iter().skip(1) {
        store.add_image(
            &record.manifest,
            record.manifest_size,
            &record.config,
            Some(n),
        )?;
        record.names.push(n.canonical());
    }
    Ok(Loaded { record, names })
}
