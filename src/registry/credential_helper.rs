//! Docker's credential helpers: `credHelpers.<registry>` or `credsStore` in
//! `~/.docker/config.json` name a program `docker-credential-NAME` (pass, secretservice,
//! ecr-login, gcloud…) that keeps the secrets. It is asked with one verb as its argument and
//! the server (or, to store, a JSON record) on stdin.

use super::auth::Credentials;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// The helper for `server` (an `auths` key): its own entry first, then the default store.
pub fn configured(config: &Value, server: &str) -> Option<String> {
    config
        .get("credHelpers")
        .and_then(|h| h.get(server))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(String::from)
}

/// The stored credentials, or `None` when the helper has none for `server`.
pub fn get(helper: &str, server: &str) -> Result<Option<Credentials>> {
    let (ok, out) = call(helper, "get", server.as_bytes())?;
    if !ok {
        // Helpers answer a missing entry with a failure and this text on stdout.
        if out.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        bail!(
            "docker-credential-{helper} get {server} failed: {}",
            out.trim()
        );
    }
    let record: Value = serde_json::from_str(&out)
        .with_context(|| format!("docker-credential-{helper} get answered no JSON"))?;
    let field = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    // Username "<token>" marks Secret as an identity token; Credentials keeps that mark.
    Ok(Some(Credentials {
        username: field("Username").to_string(),
        password: field("Secret").to_string(),
    }))
}

pub fn store(helper: &str, server: &str, creds: &Credentials) -> Result<()> {
    let record = json!({"ServerURL": server, "Username": creds.username, "Secret": creds.password});
    let (ok, out) = call(helper, "store", record.to_string().as_bytes())?;
    if !ok {
        bail!(
            "docker-credential-{helper} store {server} failed: {}",
            out.trim()
        );
    }
    Ok(())
}

/// Whether the helper held anything for `server`.
pub fn erase(helper: &str, server: &str) -> Result<bool> {
    let (ok, out) = call(helper, "erase", server.as_bytes())?;
    if !ok && !out.to_ascii_lowercase().contains("not found") {
        bail!(
            "docker-credential-{helper} erase {server} failed: {}",
            out.trim()
        );
    }
    Ok(ok)
}

/// Runs the helper; its stdout (where helpers also put their errors) and success.
fn call(helper: &str, verb: &str, input: &[u8]) -> Result<(bool, String)> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("run {program}, the credential helper named in {} (install it, or remove the credsStore/credHelpers entry)", super::auth::docker_config_path().display())
        })?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input)
        .with_context(|| format!("write to {program}"))?;
    let out = child
        .wait_with_output()
        .with_context(|| format!("wait for {program}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() && text.trim().is_empty() {
        text = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    Ok((out.status.success(), text))
}
