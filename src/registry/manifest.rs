//! Manifests as registries serve them: Docker schema 2 and OCI image manifests, Docker
//! manifest lists and OCI indexes, and the platform choice among an index's entries.

use super::RegistryError;
use crate::digest::Digest;
use serde_json::Value;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1";

/// What `Accept` offers: every kind we can read.
pub fn accept_header() -> String {
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ")
}

/// A blob named by a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

pub enum Fetched {
    Image {
        config: BlobRef,
        layers: Vec<BlobRef>,
    },
    Index(Vec<(Platform, BlobRef)>),
}

/// Reads a manifest body; `content_type` (from the response) is used when the body names
/// no media type.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<(String, Fetched), RegistryError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RegistryError::Protocol(format!("the manifest is not JSON: {e}")))?;
    let media_type = v["mediaType"]
        .as_str()
        .map(String::from)
        .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    if media_type.starts_with(DOCKER_SCHEMA1) || v["schemaVersion"] == 1 {
        return Err(RegistryError::Protocol(
            "this image uses Docker's schema 1 manifest, which registries stopped serving in 2019; rebuild and push it with a current tool".into(),
        ));
    }
    let is_index = media_type == OCI_INDEX
        || media_type == DOCKER_LIST
        || (media_type.is_empty() && v.get("manifests").is_some());
    if is_index {
        let entries = v["manifests"]
            .as_array()
            .ok_or_else(|| RegistryError::Protocol("an index without manifests".into()))?
            .iter()
            .map(|m| Ok((Platform::from_json(&m["platform"]), blob_ref(m)?)))
            .collect::<Result<Vec<_>, RegistryError>>()?;
        let media_type = if media_type.is_empty() {
            OCI_INDEX.into()
        } else {
            media_type
        };
        return Ok((media_type, Fetched::Index(entries)));
    }
    let config = blob_ref(&v["config"])?;
    let layers = v["layers"]
        .as_array()
        .ok_or_else(|| RegistryError::Protocol("a manifest without layers".into()))?
        .iter()
        .map(blob_ref)
        .collect::<Result<Vec<_>, _>>()?;
    let media_type = if media_type.is_empty() {
        OCI_MANIFEST.into()
    } else {
        media_type
    };
    Ok((media_type, Fetched::Image { config, layers }))
}

fn blob_ref(v: &Value) -> Result<BlobRef, RegistryError> {
    let digest = v["digest"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            RegistryError::Protocol(format!("a descriptor without a sha256 digest: {v}"))
        })?;
    Ok(BlobRef {
        digest,
        size: v["size"].as_u64().unwrap_or(0),
        media_type: v["mediaType"].as_str().unwrap_or("").to_string(),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// This machine: `linux/amd64`, `linux/arm64/v8`.
    pub fn host() -> Platform {
        let arch = crate::image::host_arch();
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: (arch == "arm64").then(|| "v8".into()),
        }
    }

    /// `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => Err(RegistryError::BadPlatform(s.to_string())),
        }
    }

    fn from_json(v: &Value) -> Platform {
        Platform {
            os: v["os"].as_str().unwrap_or("unknown").into(),
            architecture: v["architecture"].as_str().unwrap_or("unknown").into(),
            variant: v["variant"].as_str().map(String::from),
        }
    }

    /// Attestations and signatures ride in indexes as `unknown/unknown`.
    pub fn is_attestation(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    /// Whether an entry for `self` serves a request for `want` (arm64's variant v8 is
    /// implied when missing; a requested variant must match).
    pub fn satisfies(&self, want: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            _ => p.variant.clone(),
        };
        self.os == want.os
            && self.architecture == want.architecture
            && (want.variant.is_none() || norm(self) == norm(want))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Picks the entry for `want`; a clear error lists what the index offers.
pub fn choose(entries: &[(Platform, BlobRef)], want: &Platform) -> Result<BlobRef, RegistryError> {
    entries
        .iter()
        .filter(|(p, _)| !p.is_attestation())
        .find(|(p, _)| p.satisfies(want))
        .map(|(_, b)| b.clone())
        .ok_or_else(|| RegistryError::NoPlatform {
            wanted: want.to_string(),
            offered: entries
                .iter()
                .filter(|(p, _)| !p.is_attestation())
                .map(|(p, _)| p.to_string())
                .collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Vec<u8> {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d('a'), "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
                {"mediaType": OCI_MANIFEST, "digest": d('b'), "size": 2, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": d('c'), "size": 3, "platform": {"os": "unknown", "architecture": "unknown"}},
            ]
        }))
        .unwrap()
    }

    #[test]
    fn platform_choice_skips_attestations_and_lists_offers() {
        let (_, Fetched::Index(entries)) = parse(&index(), None).unwrap() else {
            panic!("an index")
        };
        let amd = choose(&entries, &Platform::parse("linux/amd64").unwrap()).unwrap();
        assert_eq!(amd.size, 2);
        let arm = choose(&entries, &Platform::parse("linux/arm64/v8").unwrap()).unwrap();
        assert_eq!(arm.size, 1);
        let err = choose(&entries, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("linux/arm64") && msg.contains("linux/amd64") && !msg.contains("unknown"),
            "{msg}"
        );
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn schema1_is_refused_with_a_reason() {
        let err = parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("schema 1"));
    }
}
