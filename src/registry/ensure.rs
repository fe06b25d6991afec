//! The image service below the verbs: "make sure this image is here", pulling it when the
//! policy says so. `run`, `create` and (later) `build` and `compose` share it instead of
//! calling the `pull` verb.

use super::client::Client;
use super::config::RegistryConfig;
use super::manifest::Platform;
use super::progress::Progress;
use super::pull;
use crate::reference::Reference;
use crate::store::images::{ImageRecord, LookupError};
use crate::store::Store;
use anyhow::{Context, Result};

/// `--pull`: when to ask the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(PullPolicy::Always),
            "missing" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(format!("--pull {other}: expected always, missing or never")),
        }
    }
}

/// The image named `name`, looked up once; pulled first when `policy` says so. Progress
/// stays quiet with `quiet` (e.g. when stdout belongs to a container).
pub fn ensure(
    store: &Store,
    name: &str,
    policy: PullPolicy,
    platform: Option<&str>,
    registries: &RegistryConfig,
    quiet: bool,
) -> Result<ImageRecord> {
    let found = store.lookup_image(name);
    let pull = match (&found, policy) {
        (Err(LookupError::NotFound(_)), PullPolicy::Missing) | (_, PullPolicy::Always) => {
            name.parse::<Reference>().ok()
        }
        _ => None,
    };
    let Some(reference) = pull else {
        return found.map_err(|e| match e {
            LookupError::NotFound(_) => anyhow::anyhow!(
                "Unable to find image '{name}' locally (run with --pull missing, or bring it in with hako pull, load or import)"
            ),
            other => other.into(),
        });
    };
    if found.is_err() {
        eprintln!("Unable to find image '{}' locally", reference.familiar());
    }
    pull_image(store, &reference, platform, registries, quiet)
}

/// Pulls `reference`, printing what `docker pull` prints.
pub fn pull_image(
    store: &Store,
    reference: &Reference,
    platform: Option<&str>,
    registries: &RegistryConfig,
    quiet: bool,
) -> Result<ImageRecord> {
    let platform = platform.map(Platform::parse).transpose()?;
    let client = Client::new(&reference.registry, registries)?;
    let progress = Progress::new(quiet);
    let _writer = store.writer_guard()?;
    let pulled = pull::pull(
        store,
        &client,
        reference,
        &pull::PullOptions {
            platform: platform.as_ref(),
        },
        &progress,
    )
    .with_context(|| format!("pull {}", reference.familiar()))?;
    progress.message(&format!("Digest: {}", pulled.manifest_digest));
    progress.message(&format!(
        "Status: {} for {}",
        if pulled.downloaded {
            "Downloaded newer image"
        } else {
            "Image is up to date"
        },
        reference.familiar()
    ));
    Ok(pulled.record)
}
