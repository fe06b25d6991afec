//! `pull`: manifest (an index resolved to this platform), config, then the layers, several
//! at once. Each layer streams from the socket through two hashes into its blob file and,
//! in the same pass, into the unpacker: no full copy of the image is held in memory, and
//! nothing is named before it is verified.
//!
//! A layer's bytes land in `tmp/pull-<digest>.partial` as they arrive. A pull that is
//! interrupted (network, `kill -9`) leaves that file; the next pull of the same blob asks
//! the registry for the rest (`Range`) and feeds the part it already has to the unpacker
//! first, so it continues instead of starting over.

use super::client::{Body, Client};
use super::manifest::{self, BlobRef, Fetched, Platform};
use super::progress::Progress;
use super::RegistryError;
use crate::digest::{Digest, HashingReader};
use crate::reference::Reference;
use crate::store::images::ImageRecord;
use crate::store::lock::FileLock;
use crate::store::Store;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Layers downloaded at the same time.
const PARALLEL_LAYERS: usize = 3;

pub struct PullOptions<'a> {
    pub platform: Option<&'a Platform>,
}

pub struct Pulled {
    pub record: ImageRecord,
    pub manifest_digest: Digest,
    /// Whether anything new was fetched ("Downloaded newer image" vs "up to date").
    pub downloaded: bool,
}

fn scope(reference: &Reference) -> Vec<String> {
    vec![super::repository_scope(&reference.repository, "pull")]
}

/// Fetches a manifest by tag or digest; returns (body, content type).
fn fetch_manifest(
    client: &Client,
    reference: &Reference,
    what: &str,
) -> Result<(Vec<u8>, Option<String>), RegistryError> {
    let path = format!("/v2/{}/manifests/{what}", reference.repository);
    let resp = client
        .get(
            &path,
            &scope(reference),
            &[("Accept", manifest::accept_header())],
        )
        .map_err(|e| match e {
            RegistryError::Status { code: 404, .. } => RegistryError::NotFound(format!(
                "manifest for {} not found: the registry {} has no such repository or tag",
                reference.familiar(),
                client.registry
            )),
            other => other,
        })?;
    let content_type = resp.header("content-type").map(String::from);
    Ok((client.read_body(resp, 8 << 20)?, content_type))
}

fn verify_bytes(body: &[u8], want: &Digest, what: &str) -> Result<(), RegistryError> {
    let got = Digest::of_bytes(body);
    if got != *want {
        return Err(RegistryError::DigestMismatch {
            what: what.to_string(),
            expected: want.clone(),
            actual: got,
        });
    }
    Ok(())
}

pub fn pull(
    store: &Store,
    client: &Client,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<Pulled, RegistryError> {
    let wanted = opts.platform.cloned().unwrap_or_else(Platform::host);
    let what = match (&reference.digest, &reference.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => crate::reference::DEFAULT_TAG.to_string(),
    };
    progress.message(&format!(
        "{}: Pulling from {}",
        reference.tag.as_deref().unwrap_or(&what),
        reference.repository
    ));
    let (mut body, mut content_type) = crate::trace::step(
        "registry",
        "GET manifest",
        || format!("{}/{}:{what}", client.registry, reference.repository),
        || fetch_manifest(client, reference, &what),
    )?;
    if let Some(d) = &reference.digest {
        verify_bytes(&body, d, "manifest")?;
    }
    let mut manifest_digest = Digest::of_bytes(&body);
    let (mut media_type, mut fetched) = manifest::parse(&body, content_type.as_deref())?;
    if let Fetched::Index(entries) = &fetched {
        let chosen = manifest::choose(entries, &wanted)?;
        crate::trace::note("registry", "platform", || {
            format!("{wanted} -> {}", chosen.digest.short())
        });
        (body, content_type) = fetch_manifest(client, reference, &chosen.digest.to_string())?;
        verify_bytes(&body, &chosen.digest, "manifest")?;
        manifest_digest = chosen.digest;
        (media_type, fetched) = manifest::parse(&body, content_type.as_deref())?;
    }
    let Fetched::Image { config, layers } = fetched else {
        return Err(RegistryError::Protocol("an index inside an index".into()));
    };

    let mut downloaded = false;
    let config_bytes = if store.has_blob(&config.digest) {
        store.read_blob(&config.digest)?
    } else {
        downloaded = true;
        let bytes = fetch_small_blob(client, reference, &config)?;
        store.put_blob(&bytes[..], Some((&config.digest, Some(bytes.len() as u64))))?;
        bytes
    };
    let image_config = crate::image::parse_config(&config_bytes)
        .map_err(|e| RegistryError::Protocol(format!("image config {}: {e}", config.digest)))?;
    let diff_ids: Vec<Digest> = image_config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| RegistryError::Protocol("the image config has a malformed diff_id".into()))?;
    if diff_ids.len() != layers.len() {
        return Err(RegistryError::Protocol(format!(
            "the manifest lists {} layers but the config {} diff_ids",
            layers.len(),
            diff_ids.len()
        )));
    }

    let todo: Vec<(usize, &BlobRef, &Digest)> = layers
        .iter()
        .zip(&diff_ids)
        .enumerate()
        .filter_map(|(i, (b, d))| {
            let present = store.has_blob(&b.digest) && store.has_layer(d);
            if present {
                let h = progress.add(b.digest.short(), "Already exists", 0);
                progress.status(h, "Already exists", true);
            }
            (!present).then_some((i, b, d))
        })
        .collect();
    downloaded |= !todo.is_empty();
    let handles: Vec<usize> = todo
        .iter()
        .map(|(_, b, _)| progress.add(b.digest.short(), "Waiting", b.size))
        .collect();
    super::in_parallel(&todo, PARALLEL_LAYERS, |i, (_, blob, diff_id)| {
        pull_layer(
            store, client, reference, blob, diff_id, progress, handles[i],
        )
    })?;

    store.put_blob(&body[..], Some((&manifest_digest, None)))?;
    let name = Reference {
        digest: None,
        ..reference.clone()
    };
    let name = reference.tag.is_some().then_some(&name);
    store.add_image_with_type(
        &manifest_digest,
        body.len() as u64,
        &media_type,
        &config.digest,
        name,
    )?;
    let record = store
        .images()?
        .into_iter()
        .find(|i| i.manifest == manifest_digest)
        .expect("the image was just recorded");
    Ok(Pulled {
        record,
        manifest_digest,
        downloaded,
    })
}

fn blob_path(reference: &Reference, digest: &Digest) -> String {
    format!("/v2/{}/blobs/{digest}", reference.repository)
}

/// A config blob: small, read whole and verified.
fn fetch_small_blob(
    client: &Client,
    reference: &Reference,
    blob: &BlobRef,
) -> Result<Vec<u8>, RegistryError> {
    let resp = client.get(&blob_path(reference, &blob.digest), &scope(reference), &[])?;
    let bytes = client.read_body(resp, 64 << 20)?;
    verify_bytes(&bytes, &blob.digest, "config")?;
    Ok(bytes)
}

fn pull_layer(
    store: &Store,
    client: &Client,
    reference: &Reference,
    blob: &BlobRef,
    diff_id: &Digest,
    progress: &Progress,
    handle: usize,
) -> Result<(), RegistryError> {
    let io_err = |what: &str| {
        let what = what.to_string();
        move |source| RegistryError::Io { what, source }
    };
    let partial = partial_path(store, &blob.digest);
    // Two pulls of the same blob: the second waits and then finds it done.
    let _lock = FileLock::exclusive(&partial.with_extension("lock"))?;
    if store.has_blob(&blob.digest) && store.has_layer(diff_id) {
        progress.status(handle, "Already exists", true);
        return Ok(());
    }
    let had_layer = store.has_layer(diff_id);
    let have = fs::metadata(&partial).map_or(0, |m| m.len());
    // A declared size the data root's filesystem cannot hold is refused before a byte.
    crate::layer::budget::ensure_room(&store.tmp_dir(), blob.size.saturating_sub(have)).map_err(
        |e| RegistryError::Layer {
            digest: blob.digest.clone(),
            detail: e.to_string(),
        },
    )?;
    let body = RangedBody::open(
        client,
        blob_path(reference, &blob.digest),
        scope(reference),
        have,
        blob.size,
    )?;
    let resume_from = body.start;
    if resume_from == 0 && have > 0 {
        let _ = fs::remove_file(&partial);
    }
    if resume_from > 0 {
        crate::trace::note("registry", "resume", || {
            format!("{} at {resume_from} bytes", blob.digest.short())
        });
        progress.advance(handle, resume_from);
    }
    progress.status(handle, "Downloading", false);
    let prefix = File::open(&partial)
        .or_else(|_| File::open("/dev/null"))
        .map_err(io_err("open partial download"))?;
    let sink = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial)
        .map_err(io_err("open partial download"))?;
    let saving = SaveAndCount {
        inner: body,
        file: io::BufWriter::with_capacity(1 << 20, sink),
        progress,
        handle,
    };
    let mut hashed = HashingReader::new(prefix.take(resume_from).chain(saving));
    let started = std::time::Instant::now();
    // Fetching and unpacking on two threads (see read_ahead).
    let (unpacked, finished) = std::thread::scope(|s| {
        let (tx, received) = super::read_ahead::channel();
        let fetcher = s.spawn(move || {
            let pumped = super::read_ahead::pump(&mut hashed, tx);
            pumped.and_then(|()| hashed.finish())
        });
        let unpacked = store
            .bounded(&store.unpack_options(), Some(blob.size))
            .and_then(|opts| store.unpack_layer(received, Some(diff_id), &opts));
        let finished = fetcher.join().expect("the fetching thread does not panic");
        (unpacked, finished)
    });
    let cleanup = |remove_partial: bool| {
        if remove_partial {
            let _ = fs::remove_file(&partial);
        }
        if !had_layer {
            let _ = store.remove_layer(diff_id);
        }
    };
    let (digest, size) = match (unpacked, finished) {
        (Ok(_), Ok(done)) => done,
        (Err(e), _) => {
            // A broken stream keeps its bytes for the next attempt; bad content does not.
            let network = matches!(&e, crate::store::layers::LayerError::Unpack(crate::layer::UnpackError::Tar(io))
                if !matches!(io.kind(), io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput));
            cleanup(!network);
            return Err(RegistryError::Layer {
                digest: blob.digest.clone(),
                detail: e.to_string(),
            });
        }
        (Ok(_), Err(e)) => {
            cleanup(false);
            return Err(RegistryError::Network {
                registry: client.registry.clone(),
                detail: e.to_string(),
            });
        }
    };
    if digest != blob.digest || (blob.size > 0 && size != blob.size) {
        cleanup(true);
        return Err(RegistryError::DigestMismatch {
            what: format!("layer ({size} bytes, expected {})", blob.size),
            expected: blob.digest.clone(),
            actual: digest,
        });
    }
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io_err("sync the downloaded layer"))?;
    store.adopt_blob(&partial, &blob.digest)?;
    crate::trace::note("registry", "layer", || {
        format!(
            "{} {} bytes in {:.1} ms",
            blob.digest.short(),
            size,
            started.elapsed().as_secs_f64() * 1000.0
        )
    });
    progress.status(handle, "Pull complete", true);
    Ok(())
}

/// A blob's body from byte `start`, re-requested from where it broke off (with backoff)
/// when the connection fails mid-way.
struct RangedBody<'a> {
    client: &'a Client,
    path: String,
    scopes: Vec<String>,
    reader: Box<dyn Read + Send>,
    /// Where this body started (0 when the registry ignored our Range).
    start: u64,
    delivered: u64,
    size: u64,
    failures: u32,
    watchdog: super::deadline::Watchdog,
}

impl<'a> RangedBody<'a> {
    fn open(
        client: &'a Client,
        path: String,
        scopes: Vec<String>,
        from: u64,
        size: u64,
    ) -> Result<Self, RegistryError> {
        let from = if size > 0 && from >= size { 0 } else { from };
        let limits = super::deadline::TransferLimits::from_env().map_err(RegistryError::Config)?;
        let (reader, start) = Self::request(client, &path, &scopes, from)?;
        Ok(RangedBody {
            watchdog: super::deadline::Watchdog::start(limits),
            client,
            path,
            scopes,
            reader,
            start,
            delivered: 0,
            size,
            failures: 0,
        })
    }

    fn request(
        client: &Client,
        path: &str,
        scopes: &[String],
        from: u64,
    ) -> Result<(Box<dyn Read + Send>, u64), RegistryError> {
        let headers: Vec<(&str, String)> = if from > 0 {
            vec![("Range", format!("bytes={from}-"))]
        } else {
            vec![]
        };
        let resp = client.send("GET", path, scopes, &headers, &Body::Empty)?;
        let start = if resp.status() == 206 { from } else { 0 };
        Ok((Box::new(resp.into_reader()), start))
    }
}

impl Read for RangedBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The blob ends at its declared size, whatever the registry keeps sending: an
        // endless body cannot fill the disk (the digest check then judges what came).
        let remaining = match self.size {
            0 => u64::MAX,
            size => size.saturating_sub(self.start + self.delivered),
        };
        if remaining == 0 {
            return Ok(0);
        }
        let len = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let buf = &mut buf[..len];
        loop {
            let read = self.reader.read(buf);
            self.watchdog
                .progress(*read.as_ref().unwrap_or(&0) as u64)?;
            match read {
                Ok(0)
                    if self.size > 0
                        && self.start + self.delivered < self.size
                        && self.failures < 5 => {}
                Ok(n) => {
                    self.delivered += n as u64;
                    return Ok(n);
                }
                Err(_) if self.failures < 5 => {}
                Err(e) => return Err(e),
            }
            // Cut off early: ask for the rest.
            self.failures += 1;
            std::thread::sleep(std::time::Duration::from_millis(250 << self.failures));
            let at = self.start + self.delivered;
            crate::trace::note("registry", "retry", || {
                format!("{} from byte {at}", self.path)
            });
            match Self::request(self.client, &self.path, &self.scopes, at) {
                Ok((reader, start)) if start == at => self.reader = reader,
                Ok(_) => {
                    return Err(io::Error::other(
                        "the registry ignored the Range request while resuming",
                    ))
                }
                Err(e) if self.failures >= 5 => return Err(io::Error::other(e.to_string())),
                Err(_) => {}
            }
        }
    }
}

/// Appends what passes through to the partial file and reports progress.
struct SaveAndCount<'a, R> {
    inner: R,
    file: io::BufWriter<File>,
    progress: &'a Progress,
    handle: usize,
}

impl<R: Read> Read for SaveAndCount<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.file.flush()?;
        } else {
            self.file.write_all(&buf[..n])?;
            self.progress.advance(self.handle, n as u64);
        }
        Ok(n)
    }
}

impl<R> Drop for SaveAndCount<'_, R> {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// Where a blob's bytes collect while they download.
pub fn partial_path(store: &Store, digest: &Digest) -> PathBuf {
    store
        .tmp_dir()
        .join(format!("pull-{}.partial", digest.hex()))
}
