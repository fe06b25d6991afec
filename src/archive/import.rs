//! `hako import`: a plain rootfs tarball (optionally gzip/zstd) becomes a one-layer image.

use super::add_layer_file;
use crate::image::{host_arch, write_image};
use crate::reference::Reference;
use crate::store::images::ImageRecord;
use crate::store::Store;
use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

pub struct ImportOptions<'a> {
    pub message: Option<&'a str>,
    /// The image config's `config` object (from `--change`), or empty.
    pub config: serde_json::Value,
}

/// Imports `source` (a path, or `-` for stdin).
pub fn import(
    store: &Store,
    source: &str,
    name: Option<&Reference>,
    opts: &ImportOptions,
) -> Result<ImageRecord> {
    // Stdin is spooled to a temporary file first: the blob is hashed and then unpacked
    // from the store, so a stream that breaks off leaves nothing behind.
    let spooled;
    let path: &Path = if source == "-" {
        spooled = store.temp_path("import");
        let mut input = std::io::stdin().lock();
        let mut out = std::fs::File::create(&spooled)
            .with_context(|| format!("create {}", spooled.display()))?;
        std::io::copy(&mut (&mut input).take(u64::MAX), &mut out)
            .context("read the tarball from stdin")?;
        &spooled
    } else {
        let p = Path::new(source);
        if !p.is_file() {
            anyhow::bail!(
                "open {source}: no such file (import takes a tarball path, or - for stdin)"
            );
        }
        p
    };
    let result = (|| {
        let file = std::fs::File::open(path).with_context(|| format!("open {source}"))?;
        let size = file.metadata()?.len();
        let (blob, diff_id) = add_layer_file(store, file, size, path, None, None)
            .with_context(|| format!("import {source}"))?;
        let created = crate::timefmt::now_rfc3339();
        let mut history = serde_json::json!({ "created": created, "created_by": "hako import" });
        if let Some(m) = opts.message {
            history["comment"] = m.into();
        }
        let config = serde_json::json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": created,
            "config": opts.config,
            "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
            "history": [history],
        });
        let bytes = serde_json::to_vec(&config)?;
        Ok(write_image(store, &bytes, &[blob], name)?)
    })();
    if source == "-" {
        let _ = std::fs::remove_file(path);
    }
    result
}
