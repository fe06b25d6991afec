//! HTTP to one registry: scheme choice (TLS as `tls` sets it up; plain HTTP only for
//! loopback or registries named insecure), authentication on a 401 challenge (Bearer tokens
//! cached per scope, or Basic), and retries with backoff on transient errors.

use super::auth::{self, Challenge, Credentials};
use super::config::{host_of, RegistryConfig};
use super::tls::{handshake_failure, HandshakeFailure};
use super::RegistryError;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const ATTEMPTS: u32 = 5;
const USER_AGENT: &str = concat!("hako/", env!("CARGO_PKG_VERSION"));

/// A request body that can be sent again after a transient failure.
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of a file from `offset`.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

pub struct Client {
    agent: ureq::Agent,
    /// As in references: `docker.io`, `localhost:5000`.
    pub registry: String,
    host: String,
    insecure: bool,
    /// Where the user is told to put this registry's CA when its certificate is not trusted.
    certs_dir: PathBuf,
    base: OnceLock<String>,
    credentials: Option<Credentials>,
    /// Bearer tokens by the scopes they were issued for.
    tokens: Mutex<HashMap<String, String>>,
    basic: Mutex<bool>,
}

/// Registries that may be spoken to over plain HTTP: loopback always, others when named.
impl Client {
    pub fn new(registry: &str, config: &RegistryConfig) -> Result<Client, RegistryError> {
        let host = if registry == crate::reference::DEFAULT_REGISTRY {
            "registry-1.docker.io".to_string()
        } else {
            registry.to_string()
        };
        let credentials =
            auth::lookup(registry).map_err(|e| RegistryError::Config(e.to_string()))?;
        let insecure = config.is_insecure(registry);
        let tls = super::tls::client_config(host_of(&host), &config.certs_for(registry), insecure)?;
        Ok(Client {
            agent: ureq::AgentBuilder::new()
                .tls_config(tls)
                .timeout_connect(Duration::from_secs(15))
                // A read that waits a whole stall window is a stall (see `deadline`).
                .timeout_read(
                    super::deadline::TransferLimits::from_env()
                        .map_err(RegistryError::Config)?
                        .stall,
                )
                .redirects(5)
                .user_agent(USER_AGENT)
                .build(),
            registry: registry.to_string(),
            host,
            insecure,
            certs_dir: config.own_certs_dir(registry),
            base: OnceLock::new(),
            credentials,
            tokens: Mutex::new(HashMap::new()),
            basic: Mutex::new(false),
        })
    }

    fn handshake_error(&self, failure: HandshakeFailure, peer: &str) -> RegistryError {
        match failure {
            HandshakeFailure::Untrusted(why) => RegistryError::UntrustedCertificate {
                registry: peer.to_string(),
                why,
                ca_path: self.certs_dir.join("ca.crt"),
            },
            HandshakeFailure::Other(why) => RegistryError::Handshake {
                registry: peer.to_string(),
                why,
                certs_dir: self.certs_dir.clone(),
            },
        }
    }

    /// Uses these credentials instead of the stored ones (`login`).
    pub fn with_credentials(mut self, creds: Credentials) -> Client {
        self.credentials = Some(creds);
        self
    }

    /// `https://host`, or for an insecure registry whichever of https and http answers.
    fn base(&self) -> &str {
        self.base.get_or_init(|| {
            let https = format!("https://{}", self.host);
            if !self.insecure {
                return https;
            }
            let probe = self
                .agent
                .get(&format!("{https}/v2/"))
                .timeout(Duration::from_secs(5))
                .call();
            match probe {
                Ok(_) | Err(ureq::Error::Status(..)) => https,
                Err(ureq::Error::Transport(_)) => format!("http://{}", self.host),
            }
        })
    }

    /// `/v2/...` paths are joined to the base; Location headers may be absolute.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base())
        }
    }

    /// Sends a request; 2xx and 3xx come back, anything else is an error. A 401 is answered
    /// once with fresh credentials for `scopes`; 429, 5xx and network errors are retried.
    pub fn send(
        &self,
        method: &str,
        path_or_url: &str,
        scopes: &[String],
        headers: &[(&str, String)],
        body: &Body,
    ) -> Result<ureq::Response, RegistryError> {
        let mut reauthenticated = false;
        let mut attempt = 0;
        loop {
            let url = self.url(path_or_url);
            let mut req = self.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(auth) = self.auth_header(scopes) {
                req = req.set("Authorization", &auth);
            }
            let result = match body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::File { path, offset, len } => {
                    let mut f = std::fs::File::open(path).map_err(|e| RegistryError::Io {
                        what: format!("open {}", path.display()),
                        source: e,
                    })?;
                    f.seek(SeekFrom::Start(*offset))
                        .map_err(|e| RegistryError::Io {
                            what: format!("seek {}", path.display()),
                            source: e,
                        })?;
                    req.set("Content-Length", &len.to_string())
                        .send(f.take(*len))
                }
            };
            let error = match result {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if !reauthenticated => {
                    reauthenticated = true;
                    let challenge = resp
                        .header("www-authenticate")
                        .and_then(auth::parse_challenge)
                        .ok_or_else(|| RegistryError::Unauthorized {
                            registry: self.registry.clone(),
                            detail: "401 without a usable WWW-Authenticate challenge".into(),
                        })?;
                    self.authenticate(&challenge, scopes)?;
                    continue;
                }
                Err(ureq::Error::Status(code, resp)) if code == 401 || code == 403 => {
                    return Err(RegistryError::Unauthorized {
                        registry: self.registry.clone(),
                        detail: error_message(resp),
                    })
                }
                Err(ureq::Error::Status(code, resp)) if code != 429 && code < 500 => {
                    return Err(RegistryError::Status {
                        code,
                        method: method.to_string(),
                        url,
                        message: error_message(resp),
                    })
                }
                Err(ureq::Error::Status(code, resp)) => RegistryError::Status {
                    code,
                    method: method.to_string(),
                    url,
                    message: error_message(resp),
                },
                Err(ureq::Error::Transport(t)) => {
                    // A certificate problem does not go away by asking again.
                    if let Some(failure) = handshake_failure(&t) {
                        return Err(self.handshake_error(failure, &self.registry));
                    }
                    // Neither does a name that does not exist (EAI_NONAME), unlike a DNS
                    // server that did not answer in time (EAI_AGAIN).
                    if t.kind() == ureq::ErrorKind::Dns && t.to_string().contains("not known") {
                        return Err(RegistryError::UnknownHost {
                            registry: self.registry.clone(),
                            host: host_of(&self.host).to_string(),
                        });
                    }
                    RegistryError::Network {
                        registry: self.registry.clone(),
                        detail: t.to_string(),
                    }
                }
            };
            attempt += 1;
            if attempt >= ATTEMPTS {
                return Err(error);
            }
            crate::trace::note("registry", "retry", || {
                format!("{method} {path_or_url} after: {error}")
            });
            std::thread::sleep(backoff(attempt));
        }
    }

    pub fn get(
        &self,
        path: &str,
        scopes: &[String],
        headers: &[(&str, String)],
    ) -> Result<ureq::Response, RegistryError> {
        self.send("GET", path, scopes, headers, &Body::Empty)
    }

    /// A small body (manifest, config) read whole, at most `limit` bytes, within the
    /// transfer deadline and stall timeout (see `deadline`).
    pub fn read_body(&self, resp: ureq::Response, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let limits = super::deadline::TransferLimits::from_env().map_err(RegistryError::Config)?;
        let mut watchdog = super::deadline::Watchdog::start(limits);
        let network = |e: std::io::Error| RegistryError::Network {
            registry: self.registry.clone(),
            detail: e.to_string(),
        };
        let mut reader = resp.into_reader().take(limit);
        let mut body = vec![];
        let mut chunk = [0u8; 16 << 10];
        loop {
            let n = reader.read(&mut chunk).map_err(network)?;
            watchdog.progress(n as u64).map_err(network)?;
            if n == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }

    fn auth_header(&self, scopes: &[String]) -> Option<String> {
        if let Some(token) = self.tokens.lock().unwrap().get(&scopes.join(" ")) {
            return Some(format!("Bearer {token}"));
        }
        if *self.basic.lock().unwrap() {
            return self.credentials.as_ref().map(Credentials::basic_header);
        }
        None
    }

    fn authenticate(&self, challenge: &Challenge, scopes: &[String]) -> Result<(), RegistryError> {
        match challenge {
            Challenge::Basic => {
                if self.credentials.is_none() {
                    return Err(RegistryError::Unauthorized {
                        registry: self.registry.clone(),
                        detail: "authentication required".into(),
                    });
                }
                *self.basic.lock().unwrap() = true;
                Ok(())
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let token =
                    self.fetch_token(realm, service.as_deref(), scope.as_deref(), scopes)?;
                self.tokens.lock().unwrap().insert(scopes.join(" "), token);
                Ok(())
            }
        }
    }

    /// Asks the token server named by the challenge for a token covering `scopes`.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        challenge_scope: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let scopes: Vec<&str> = if scopes.is_empty() {
            challenge_scope.into_iter().collect()
        } else {
            scopes.iter().map(String::as_str).collect()
        };
        let started = std::time::Instant::now();
        let refresh = self.credentials.as_ref().and_then(|c| c.refresh_token());
        let answer = match refresh {
            // An identity token is traded for an access token (OAuth2 refresh grant).
            Some(token) => {
                let scope = scopes.join(" ");
                self.agent.post(realm).send_form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("service", service.unwrap_or_default()),
                    ("scope", &scope),
                    ("client_id", "hako"),
                ])
            }
            None => {
                let mut req = self.agent.get(realm);
                if let Some(s) = service {
                    req = req.query("service", s);
                }
                for s in &scopes {
                    req = req.query("scope", s);
                }
                if let Some(c) = &self.credentials {
                    req = req.set("Authorization", &c.basic_header());
                }
                req.call()
            }
        };
        let resp = answer.map_err(|e| match e {
            ureq::Error::Status(code, resp) => RegistryError::Unauthorized {
                registry: self.registry.clone(),
                detail: format!(
                    "the token server {realm} answered {code}: {}",
                    error_message(resp)
                ),
            },
            ureq::Error::Transport(t) => match handshake_failure(&t) {
                Some(failure) => self.handshake_error(failure, &format!("token server {realm}")),
                None => RegistryError::Network {
                    registry: realm.to_string(),
                    detail: t.to_string(),
                },
            },
        })?;
        let body: serde_json::Value = serde_json::from_reader(resp.into_reader().take(1 << 20))
            .map_err(|e| {
                RegistryError::Protocol(format!("the token server {realm} sent no JSON: {e}"))
            })?;
        crate::trace::note("registry", "token", || {
            format!(
                "{realm} scope={} in {:.1} ms",
                scopes.join(" "),
                started.elapsed().as_secs_f64() * 1000.0
            )
        });
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(String::from)
            .ok_or_else(|| {
                RegistryError::Protocol(format!("the token server {realm} sent no token"))
            })
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.min(5)))
}

/// The registry's own words: `{"errors":[{"code":…,"message":…}]}`, or the body's start.
fn error_message(resp: ureq::Response) -> String {
    let mut text = String::new();
    let _ = resp.into_reader().take(4096).read_to_string(&mut text);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e["code"].as_str().unwrap_or("");
                    let msg = e["message"].as_str().unwrap_or("");
                    format!("{}: {msg}", code.to_ascii_lowercase())
                        .trim_end_matches(": ")
                        .to_string()
                })
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
    }
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}
