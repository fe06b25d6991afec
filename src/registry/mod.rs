//! The OCI distribution protocol: `pull`, `push` and `login` against registries.
//!
//! `config` gathers a registry's settings, `tls` its certificate trust, `client` speaks HTTP
//! to it (auth, retries), `manifest` reads what it serves, `pull` and `push` move images
//! between it and the store, `progress` shows it.

pub mod auth;
pub mod client;
pub mod config;
pub mod credential_helper;
pub mod deadline;
pub mod ensure;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
mod read_ahead;
pub mod tls;

use crate::digest::Digest;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    NotFound(String),
    #[error("unauthorized to access {registry}: {detail} (log in with: hako login {registry})")]
    Unauthorized { registry: String, detail: String },
    #[error("{method} {url}: HTTP {code}: {message}")]
    Status {
        code: u16,
        method: String,
        url: String,
        message: String,
    },
    #[error("cannot reach registry {registry}: {detail}")]
    Network { registry: String, detail: String },
    #[error("cannot reach registry {registry}: this machine's DNS does not know {host} (check the registry's name, or the network and /etc/resolv.conf)")]
    UnknownHost { registry: String, host: String },
    #[error("the TLS certificate of {registry} is not trusted ({why}); put the CA that signed it in {} (or in the system's CA store), or, for a test registry only, use --insecure-registry {registry}", ca_path.display())]
    UntrustedCertificate {
        registry: String,
        why: String,
        ca_path: std::path::PathBuf,
    },
    #[error("TLS handshake with {registry} failed: {why} (if it asks for a client certificate, put client.cert and client.key in {})", certs_dir.display())]
    Handshake {
        registry: String,
        why: String,
        certs_dir: std::path::PathBuf,
    },
    #[error("{what} failed verification: expected {expected}, got {actual}; nothing was stored")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("layer {digest}: {detail}")]
    Layer { digest: Digest, detail: String },
    #[error("no image for platform {wanted} in this index; it offers: {}", offered.join(", "))]
    NoPlatform {
        wanted: String,
        offered: Vec<String>,
    },
    #[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64")]
    BadPlatform(String),
    #[error("unexpected answer from the registry: {0}")]
    Protocol(String),
    #[error("{0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `work` on every item with up to `workers` threads, items taken in order. After the
/// first error no new item is started; that error is returned.
pub fn in_parallel<T: Sync>(
    items: &[T],
    workers: usize,
    work: impl Fn(usize, &T) -> Result<(), RegistryError> + Sync,
) -> Result<(), RegistryError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..workers.min(items.len()))
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else {
                        return Ok(());
                    };
                    if let Err(e) = work(i, item) {
                        // The other workers start nothing new.
                        next.store(items.len(), Ordering::Relaxed);
                        return Err(e);
                    }
                })
            })
            .collect();
        // Every worker is joined before the first error is returned.
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("a registry worker panicked"))
            .collect();
        results.into_iter().collect()
    })
}

/// The token scope for `actions` (`pull`, `pull,push`) on a repository.
pub fn repository_scope(repository: &str, actions: &str) -> String {
    format!("repository:{repository}:{actions}")
}

/// `distribution/<blob hex>`: the `registry/repository` pairs known to hold a blob, so a
/// push can ask for a cross-repository mount instead of sending the bytes again.
fn sources_path(store: &Store, digest: &Digest) -> std::path::PathBuf {
    store.root().join("distribution").join(digest.hex())
}

pub fn sources(store: &Store, digest: &Digest) -> Vec<(String, String)> {
    std::fs::read_to_string(sources_path(store, digest))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(r, repo)| (r.to_string(), repo.to_string()))
        .collect()
}

/// Best effort: a lost entry only costs a later upload.
pub fn record_source(store: &Store, digest: &Digest, registry: &str, repository: &str) {
    let mut known = sources(store, digest);
    let entry = (registry.to_string(), repository.to_string());
    if known.contains(&entry) {
        return;
    }
    known.push(entry);
    let text: String = known.iter().map(|(r, p)| format!("{r} {p}\n")).collect();
    let path = sources_path(store, digest);
    let _ = std::fs::create_dir_all(path.parent().expect("has a parent"));
    let _ = crate::store::write_atomic(store.root(), &path, text.as_bytes());
}
