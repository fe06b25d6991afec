//! Registry authentication: the `WWW-Authenticate` challenge, and credentials kept where
//! Docker keeps them (`~/.docker/config.json`, `auths.<registry>.auth` = base64
//! `user:password`, or a credential helper it names), so `docker login` and `hako login`
//! share them.

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The key Docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="https://auth",service="registry",scope="repository:a:pull"` or
/// `Basic realm="Registry"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((header.trim(), ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key="value",key2=value2` with commas allowed inside quotes (scopes contain them).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The username Docker writes when the secret is an identity token (an OAuth2 refresh
/// token, as `az acr login` stores), not a password.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

impl Credentials {
    pub fn identity_token(token: &str) -> Credentials {
        Credentials {
            username: IDENTITY_TOKEN_USER.into(),
            password: token.into(),
        }
    }

    /// The refresh token to trade at the token server, if that is what this is.
    pub fn refresh_token(&self) -> Option<&str> {
        (self.username == IDENTITY_TOKEN_USER).then_some(self.password.as_str())
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker/config.json")
}

/// The `auths` key for a registry: Docker Hub has its historical URL, others their host.
pub fn auth_key(registry: &str) -> String {
    if registry == crate::reference::DEFAULT_REGISTRY {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn read_config() -> Result<Value> {
    let path = docker_config_path();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("parse {} (fix or remove it)", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Credentials stored for `registry`, trying the spellings Docker accepts.
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    let config = read_config()?;
    if let Some(helper) = super::credential_helper::configured(&config, &auth_key(registry)) {
        return super::credential_helper::get(&helper, &auth_key(registry));
    }
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let key = auth_key(registry);
    let candidates = [
        key.clone(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    for c in candidates {
        let Some(entry) = auths.get(&c) else { continue };
        if let Some(token) = entry
            .get("identitytoken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            return Ok(Some(Credentials::identity_token(token)));
        }
        if let Some(auth) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .with_context(|| {
                    format!(
                        "auths.{c}.auth in {} is not base64",
                        docker_config_path().display()
                    )
                })?;
            let text = String::from_utf8_lossy(&decoded).into_owned();
            if let Some((u, p)) = text.split_once(':') {
                return Ok(Some(Credentials {
                    username: u.to_string(),
                    password: p.to_string(),
                }));
            }
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(Value::as_str),
            entry.get("password").and_then(Value::as_str),
        ) {
            return Ok(Some(Credentials {
                username: u.into(),
                password: p.into(),
            }));
        }
    }
    Ok(None)
}

/// Writes (or with `None` removes) the credentials for `registry`, keeping everything else
/// in the file as it was. Returns whether anything was there before (for `logout`).
pub fn store(registry: &str, creds: Option<&Credentials>) -> Result<bool> {
    let path = docker_config_path();
    let mut config = read_config()?;
    if let Some(helper) = super::credential_helper::configured(&config, &auth_key(registry)) {
        return match creds {
            Some(c) => {
                super::credential_helper::store(&helper, &auth_key(registry), c).map(|()| false)
            }
            None => super::credential_helper::erase(&helper, &auth_key(registry)),
        };
    }
    if !config.is_object() {
        config = json!({});
    }
    let auths = config
        .as_object_mut()
        .expect("checked above")
        .entry("auths")
        .or_insert_with(|| json!({}));
    let auths = auths
        .as_object_mut()
        .with_context(|| format!("auths in {} is not an object", path.display()))?;
    let key = auth_key(registry);
    let existed = auths.remove(&key).is_some();
    if let Some(c) = creds {
        // Docker's warning, word for word: base64 is not encryption.
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credential-stores",
            path.display()
        );
        let raw = format!("{}:{}", c.username, c.password);
        auths.insert(
            key,
            json!({ "auth": base64::engine::general_purpose::STANDARD.encode(raw) }),
        );
    }
    let dir = path.parent().expect("config path has a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.hako-{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(&config)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Credentials: readable by the owner only, as Docker writes the file.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("create {}", tmp.display()))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("write {}", path.display()))?;
    Ok(existed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_commas_inside_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/a:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn credentials_round_trip_through_a_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("DOCKER_CONFIG", dir.path());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"other:5000":{"auth":"dTpw"}},"detachKeys":"ctrl-x"}"#,
        )
        .unwrap();
        let creds = Credentials {
            username: "me".into(),
            password: "se:cret".into(),
        };
        assert!(!store("localhost:5000", Some(&creds)).unwrap());
        assert_eq!(lookup("localhost:5000").unwrap(), Some(creds));
        assert_eq!(lookup("other:5000").unwrap().unwrap().username, "u");
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(
            text.contains("detachKeys"),
            "other settings are kept: {text}"
        );
        assert!(store("localhost:5000", None).unwrap());
        assert_eq!(lookup("localhost:5000").unwrap(), None);
        std::env::remove_var("DOCKER_CONFIG");
    }
}
