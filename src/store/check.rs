//! `hako system check`: proves the store consistent, or says exactly what is not. Every
//! blob is re-hashed against its name; every unpacked layer has its short link (a layer
//! directory exists only once complete: unpacks and removals go through `tmp/` and a
//! rename); every image has its manifest, its config and, for each layer, the unpacked
//! directory or the blob to unpack it from; every container directory has its record.
//! `--repair` removes what is damaged or partial (a corrupt blob, an image that lost a
//! part, a half-created container, what interrupted commands left in `tmp/`) and restores
//! missing links; a re-run of the interrupted command then fetches what is missing.

use super::lock::FileLock;
use super::remove_any;
use super::{io_err, Store, StoreError};
use crate::digest::Digest;
use std::fs;
use std::path::Path;

#[derive(Debug, Default)]
pub struct CheckReport {
    /// One line per problem found.
    pub problems: Vec<String>,
    /// One line per repair made (with `repair`).
    pub repaired: Vec<String>,
    pub blobs: usize,
    pub layers: usize,
    pub images: usize,
    pub containers: usize,
}

impl Store {
    /// Checks (and with `repair`, fixes) the whole store. Holds the collector's lock
    /// (every writer holds it shared), so nothing is written meanwhile and nothing in
    /// progress is taken for damage.
    pub fn check(&self, repair: bool) -> Result<CheckReport, StoreError> {
        let _gc = FileLock::exclusive(&self.root().join("gc.lock"))?;
        let mut report = CheckReport::default();
        let mut act = |problem: String, fix: &dyn Fn() -> std::io::Result<()>, fixed: &str| {
            report.problems.push(problem.clone());
            if repair {
                match fix() {
                    Ok(()) => report.repaired.push(format!("{problem}: {fixed}")),
                    Err(e) => report
                        .problems
                        .push(format!("{problem}: repair failed: {e}")),
                }
            }
        };
        self.check_privacy(&mut act);
        self.check_tmp(&mut act)?;
        let (blobs, layers) = self.check_blobs_and_layers(&mut act)?;
        let (images, containers) = self.check_images_and_containers(&mut act)?;
        report.blobs = blobs;
        report.layers = layers;
        report.images = images;
        report.containers = containers;
        Ok(report)
    }

    /// Paths other local users could reach (see `private`).
    fn check_privacy(&self, act: &mut Act) {
        for e in super::private::exposures(self.root()) {
            act(
                format!(
                    "{}: mode {:04o} lets other users in (want {:04o})",
                    e.path.display(),
                    e.mode,
                    e.want
                ),
                &|| e.close(),
                "closed",
            );
        }
    }

    /// Leftovers of interrupted commands: `tmp/` entries whose process is gone, and
    /// partial downloads that no pull holds (see `leftovers`).
    fn check_tmp(&self, act: &mut Act) -> Result<(), StoreError> {
        use super::leftovers::Owner;
        for l in self.leftovers() {
            let path = l.path.clone();
            match l.owner {
                Owner::Alive | Owner::Lock | Owner::Partial { held: true } => {}
                Owner::Dead => act(
                    format!("tmp/{}: left by an interrupted command", l.name),
                    &|| remove_any(&path),
                    "removed",
                ),
                Owner::Partial { held: false } => {
                    let size = fs::metadata(&path).map_or(0, |m| m.len());
                    act(
                        format!("tmp/{}: an interrupted download ({size} bytes)", l.name),
                        &|| {
                            remove_any(&path)?;
                            remove_any(&path.with_extension("lock"))
                        },
                        "removed",
                    )
                }
            }
        }
        Ok(())
    }

    fn check_blobs_and_layers(&self, act: &mut Act) -> Result<(usize, usize), StoreError> {
        let blob_dir = self.root().join("blobs/sha256");
        let mut blobs = 0;
        for e in fs::read_dir(&blob_dir)
            .map_err(io_err("read", &blob_dir))?
            .flatten()
        {
            blobs += 1;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let verdict = match Digest::from_hex(&name) {
                Err(_) => Some("not named by a digest".to_string()),
                Ok(want) => match hash_file(&path) {
                    Ok(got) if got == want => None,
                    Ok(got) => Some(format!("its content hashes to {got}")),
                    Err(e) => Some(format!("unreadable: {e}")),
                },
            };
            if let Some(why) = verdict {
                act(
                    format!("blob sha256:{name}: {why}"),
                    &|| fs::remove_file(&path),
                    "removed (pull or load the image again)",
                );
            }
        }
        let layer_dir = self.root().join("layers");
        let mut layers = 0;
        for e in fs::read_dir(&layer_dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(diff_id) = Digest::from_hex(&name) else {
                continue; // the `<hex>.size` notes
            };
            layers += 1;
            let link = self.root().join(self.layer_short_link(&diff_id));
            let target = Path::new("../layers").join(diff_id.hex());
            if fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
                act(
                    format!(
                        "layer {}: its short link is missing or wrong",
                        diff_id.short()
                    ),
                    &|| {
                        let _ = fs::remove_file(&link);
                        if let Some(dir) = link.parent() {
                            fs::create_dir_all(dir)?;
                        }
                        std::os::unix::fs::symlink(&target, &link)
                    },
                    "link restored",
                );
            }
        }
        Ok((blobs, layers))
    }

    fn check_images_and_containers(&self, act: &mut Act) -> Result<(usize, usize), StoreError> {
        let images = self.images()?;
        for img in &images {
            let shown = img
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| img.config.short().to_string());
            let mut missing = vec![];
            for part in [&img.manifest, &img.config] {
                if !self.has_blob(part) {
                    missing.push(format!("blob {}", part.short()));
                }
            }
            let (blobs, diff_ids) = self.image_parts(&img.manifest, &img.config);
            for (i, diff_id) in diff_ids.iter().enumerate() {
                let blob_there = blobs.get(i).is_some_and(|b| self.has_blob(b));
                if !self.has_layer(diff_id) && !blob_there {
                    missing.push(format!("layer {}", diff_id.short()));
                }
            }
            if !missing.is_empty() {
                let manifest = img.manifest.clone();
                act(
                    format!("image {shown}: missing {}", missing.join(", ")),
                    &|| self.remove_image(&manifest).map_err(std::io::Error::other),
                    "removed (pull or load it again)",
                );
            }
        }
        let dir = self.containers_dir();
        let mut containers = 0;
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            containers += 1;
            let record = e.path().join("container.json");
            let readable = fs::read(&record)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some();
            if !readable {
                let path = e.path();
                act(
                    format!(
                        "container {}: no readable record (an interrupted create)",
                        e.file_name().to_string_lossy()
                    ),
                    &|| remove_any(&path),
                    "removed",
                );
            }
        }
        Ok((images.len(), containers))
    }
}

type Act<'a> = dyn FnMut(String, &dyn Fn() -> std::io::Result<()>, &str) + 'a;

fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut reader = crate::digest::HashingReader::new(fs::File::open(path)?);
    std::io::copy(&mut reader, &mut std::io::sink())?;
    Ok(reader.finish()?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_store_passes_and_damage_is_found_then_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let good = store.put_blob_bytes(b"good").unwrap();
        let clean = store.check(false).unwrap();
        assert!(clean.problems.is_empty(), "{:?}", clean.problems);
        // A corrupt blob, a stale temp file (pid 1 never names ours: use a dead pid).
        let bad = store.put_blob_bytes(b"bad").unwrap();
        fs::write(store.blob_path(&bad), b"tampered").unwrap();
        fs::create_dir_all(store.tmp_dir()).unwrap();
        fs::write(store.tmp_dir().join("layer-999999999-1-0"), b"partial").unwrap();
        super::super::private::create_dir(&store.containers_dir().join("abc")).unwrap();
        let found = store.check(false).unwrap();
        assert_eq!(found.problems.len(), 3, "{:?}", found.problems);
        assert!(found.repaired.is_empty());
        assert!(
            store.has_blob(&bad),
            "a check without --repair changes nothing"
        );
        let fixed = store.check(true).unwrap();
        assert_eq!(fixed.repaired.len(), 3, "{:?}", fixed);
        assert!(!store.has_blob(&bad) && store.has_blob(&good));
        assert!(store.check(false).unwrap().problems.is_empty());
    }
}
