//! `commit`: a container's overlay upperdir becomes one new layer on top of its image.
//!
//! One pass over the upperdir makes the layer: the tar stream is hashed on its way to the
//! blob file, and that is all the data commit writes. The blob is an uncompressed tar, so
//! its digest is its diff_id, as in Docker's and Podman's stores: compressing is work for
//! `push`, once per layer. The layer cache is filled from the blob when the new image first
//! runs (`Store::ensure_layers`).

use crate::cgroups::FreezeGuard;
use crate::digest::Digest;
use crate::image::{write_image, Image};
use crate::layer::pack::{self, PackOptions, PackReport, Source};
use crate::layer::Compression;
use crate::reference::Reference;
use crate::state::ContainerRecord;
use crate::store::blobs::LayerBlob;
use crate::store::images::ImageRecord;
use crate::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

pub struct CommitOptions<'a> {
    pub reference: Option<&'a Reference>,
    pub message: Option<&'a str>,
    pub author: Option<&'a str>,
    /// Dockerfile-style instructions (`CMD ["x"]`, `ENV K=V`, …).
    pub changes: &'a [String],
    /// Freeze a running container for the walk.
    pub pause: bool,
    /// Same changes, same bytes: timestamps clamped to `source_date_epoch`, or to the base
    /// image's creation time.
    pub reproducible: bool,
    pub source_date_epoch: Option<u64>,
}

pub struct Committed {
    pub record: ImageRecord,
    pub diff_id: Digest,
    /// Volume and bind-mount paths whose data stayed out of the image.
    pub left_out: Vec<(PathBuf, u64)>,
}

pub fn commit(store: &Store, c: &ContainerRecord, opts: &CommitOptions) -> Result<Committed> {
    let base = base_image(store, c)?;
    let mut config: Value = serde_json::from_slice(&store.read_blob(&base.record.config)?)
        .context("parse the base image config")?;
    let epoch = opts.source_date_epoch.or_else(|| {
        opts.reproducible.then(|| {
            config["created"]
                .as_str()
                .and_then(crate::timefmt::parse_rfc3339)
                .map_or(0, |s| s.max(0) as u64)
        })
    });
    let pack_opts = PackOptions {
        source: Source::UpperDir,
        clamp_mtime: epoch,
        leave_out: leave_out_paths(&config, c),
    };

    let frozen = FreezeGuard::new(&c.cgroup_path, opts.pause && c.is_running())?;
    let upper = crate::rootfs::container_overlay(store, &c.id, &c.layers)
        .changes()
        .with_context(|| format!("find what container {} changed", c.name))?;
    let (blob, diff_id, report) = write_layer(store, &upper, &pack_opts)?;
    drop(frozen);

    let created = match epoch {
        Some(e) => crate::timefmt::rfc3339(e as i64, 0),
        None => crate::timefmt::now_rfc3339(),
    };
    update_config(&mut config, c, opts, &diff_id, &created)?;
    let config_bytes = serde_json::to_vec(&config)?;
    let mut layers = base_layers(&base)?;
    layers.push(blob);
    let record = write_image(store, &config_bytes, &layers, opts.reference)?;
    Ok(Committed {
        record,
        diff_id,
        left_out: report.left_out,
    })
}

/// The container's image, which must still be in the store (`rmi -f` keeps it, dangling).
fn base_image(store: &Store, c: &ContainerRecord) -> Result<Image> {
    let record = store
        .images()?
        .into_iter()
        .find(|i| i.config == c.image)
        .ok_or_else(|| {
            anyhow!(
                "the image of container {} ({}) is no longer in the store; \
                 hako export the container and hako import it instead",
                c.name,
                c.image.short()
            )
        })?;
    Ok(Image::load(store, &record)?)
}

/// An image's layer blobs, as its manifest lists them (bottom first).
pub fn base_layers(base: &Image) -> Result<Vec<LayerBlob>> {
    base.manifest
        .layers()
        .iter()
        .map(|d| {
            Ok(LayerBlob {
                digest: d.digest().to_string().parse()?,
                size: d.size(),
                media_type: d.media_type().to_string(),
            })
        })
        .collect()
}

/// Paths whose contents are not the container's own layer, as in Docker: the image's
/// `VOLUME`s, `-v` targets, and the /etc files hako mounts over.
fn leave_out_paths(config: &Value, c: &ContainerRecord) -> Vec<PathBuf> {
    let volumes = config["config"]["Volumes"]
        .as_object()
        .map(|v| v.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let binds = c.host_config.binds.iter().map(|b| b.destination.clone());
    let etc = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].map(String::from);
    volumes
        .into_iter()
        .chain(binds)
        .chain(etc)
        .map(|p| relative_clean(&p))
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

/// `/a/../b/` → `b`, as Docker cleans volume paths.
fn relative_clean(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The new config: the container's command line and environment become the image's (as
/// `docker commit` does), then `--change` applies, and the layer and its history entry are
/// appended.
fn update_config(
    config: &mut Value,
    c: &ContainerRecord,
    opts: &CommitOptions,
    diff_id: &Digest,
    created: &str,
) -> Result<()> {
    let obj = config
        .as_object_mut()
        .ok_or_else(|| anyhow!("the base image config is not a JSON object"))?;
    let mut run_cfg: Map<String, Value> = obj
        .get("config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let image_env: Vec<String> = run_cfg
        .get("Env")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    run_cfg.insert(
        "Env".into(),
        json!(committed_env(&c.config.env, &image_env)),
    );
    set_or_remove(&mut run_cfg, "Cmd", &c.config.cmd);
    set_or_remove(&mut run_cfg, "Entrypoint", &c.config.entrypoint);
    if c.config.working_dir != "/" || run_cfg.contains_key("WorkingDir") {
        run_cfg.insert("WorkingDir".into(), json!(c.config.working_dir));
    }
    if !c.config.user.is_empty() {
        run_cfg.insert("User".into(), json!(c.config.user));
    }
    crate::changes::apply(&mut run_cfg, opts.changes)?;
    obj.insert("config".into(), Value::Object(run_cfg));
    obj.insert("created".into(), json!(created));
    if let Some(a) = opts.author {
        obj.insert("author".into(), json!(a));
    }

    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    match rootfs["diff_ids"].as_array_mut() {
        Some(ids) => ids.push(json!(diff_id.to_string())),
        None => bail!("the base image config has no rootfs.diff_ids"),
    }
    let argv: Vec<&str> = c
        .config
        .entrypoint
        .iter()
        .chain(&c.config.cmd)
        .map(String::as_str)
        .collect();
    let mut entry = json!({ "created": created, "created_by": argv.join(" ") });
    if let Some(m) = opts.message {
        entry["comment"] = json!(m);
    }
    if let Some(a) = opts.author {
        entry["author"] = json!(a);
    }
    match obj.entry("history").or_insert_with(|| json!([])) {
        Value::Array(h) => h.push(entry),
        _ => bail!("the base image config's history is not a list"),
    }
    Ok(())
}

fn set_or_remove(cfg: &mut Map<String, Value>, key: &str, value: &[String]) {
    if value.is_empty() {
        cfg.remove(key);
    } else {
        cfg.insert(key.into(), json!(value));
    }
}

/// The container's environment without what hako adds at start (HOSTNAME always; HOME and
/// TERM unless the image set them).
fn committed_env(container_env: &[String], image_env: &[String]) -> Vec<String> {
    let image_has = |k: &str| image_env.iter().any(|e| e.split('=').next() == Some(k));
    container_env
        .iter()
        .filter(|e| {
            let key = e.split('=').next().unwrap_or("");
            match key {
                "HOSTNAME" => false,
                "HOME" | "TERM" => image_has(key),
                _ => true,
            }
        })
        .cloned()
        .collect()
}

/// Packs `upper` into an uncompressed layer blob; its digest is its diff_id.
pub fn write_layer(
    store: &Store,
    upper: &Path,
    opts: &PackOptions,
) -> Result<(LayerBlob, Digest, PackReport)> {
    let (diff_id, size, report) = store
        .write_blob(None, |w| {
            pack::pack(upper, w, opts).map(|(_, report)| report)
        })
        .with_context(|| format!("write a layer from {}", upper.display()))?;
    let blob = LayerBlob {
        digest: diff_id.clone(),
        size,
        media_type: Compression::None.layer_media_type().to_string(),
    };
    Ok((blob, diff_id, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_additions_stay_out_of_the_committed_env() {
        let container = [
            "PATH=/usr/bin".to_string(),
            "HOSTNAME=abc".into(),
            "HOME=/root".into(),
            "TERM=xterm".into(),
            "K=V".into(),
        ];
        assert_eq!(
            committed_env(&container, &["PATH=/usr/bin".into()]),
            ["PATH=/usr/bin", "K=V"]
        );
        assert_eq!(
            committed_env(&container, &["HOME=/root".into()]),
            ["PATH=/usr/bin", "HOME=/root", "K=V"]
        );
    }

    #[test]
    fn leave_out_paths_are_relative_and_clean() {
        assert_eq!(relative_clean("/data/../x/"), PathBuf::from("x"));
        assert_eq!(relative_clean("/srv/data"), PathBuf::from("srv/data"));
    }
}
