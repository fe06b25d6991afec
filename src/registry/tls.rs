//! TLS for one registry. Certificates are verified against the system's CA store
//! (rustls-native-certs, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR` as OpenSSL does)
//! plus every `*.crt` in the registry's `certs.d` folder; a `client.cert` + `client.key`
//! pair there is presented for mutual TLS. For an insecure registry its own certificate is
//! not checked (Docker's meaning of "insecure"), but any other host it sends us to, such as
//! a token server, still is.

use super::RegistryError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The rustls configuration for talking to `host` (no port), trusting the system's CAs and
/// those in `certs_dirs`.
pub fn client_config(
    host: &str,
    certs_dirs: &[PathBuf],
    insecure: bool,
) -> Result<Arc<ClientConfig>, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    // A broken certificate in the system store is skipped, as every TLS client does.
    for cert in rustls_native_certs::load_native_certs().unwrap_or_default() {
        let _ = roots.add(cert);
    }
    let system = roots.len();
    let mut client_pair = None;
    let mut own = vec![];
    for dir in certs_dirs {
        for (path, _) in files_ending(dir, ".crt") {
            for cert in read_certs(&path)? {
                roots
                    .add(cert)
                    .map_err(|e| bad_file(&path, &e.to_string()))?;
            }
            own.push(path.display().to_string());
        }
        if client_pair.is_none() {
            client_pair = client_identity(dir)?;
            if client_pair.is_some() {
                own.push(format!("client certificate from {}", dir.display()));
            }
        }
    }
    crate::trace::note("registry", "tls", || {
        let checked = if insecure {
            format!("{host}: its certificate is not checked (insecure registry); others against")
        } else {
            format!("{host}: checked against")
        };
        format!("{checked} {system} system CAs + [{}]", own.join(", "))
    });
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| RegistryError::Config(format!("no usable CA certificates: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = if insecure {
        Arc::new(UncheckedFor {
            host: host.to_string(),
            checked: verifier,
        })
    } else {
        verifier
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_pair {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| RegistryError::Config(format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// `client.cert` with `client.key` beside it, as Docker pairs them (`x.cert` + `x.key`).
fn client_identity(
    dir: &Path,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, RegistryError> {
    // The first pair found is used; a registry has one identity.
    if let Some((cert_path, stem)) = files_ending(dir, ".cert").into_iter().next() {
        let key_path = dir.join(format!("{stem}.key"));
        if !key_path.exists() {
            return Err(bad_file(
                &cert_path,
                &format!("has no {} beside it", key_path.display()),
            ));
        }
        let certs = read_certs(&cert_path)?;
        let bytes = std::fs::read(&key_path).map_err(|e| bad_file(&key_path, &e.to_string()))?;
        let key = rustls_pemfile::private_key(&mut bytes.as_slice())
            .map_err(|e| bad_file(&key_path, &e.to_string()))?
            .ok_or_else(|| bad_file(&key_path, "holds no PEM private key"))?;
        return Ok(Some((certs, key)));
    }
    Ok(None)
}

/// Files in `dir` whose names end in `suffix`, sorted, with the name before the suffix.
fn files_ending(dir: &Path, suffix: &str) -> Vec<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(suffix)?.to_string();
            Some((e.path(), stem))
        })
        .collect();
    found.sort();
    found
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|e| bad_file(path, &e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_file(path, &e.to_string()))?;
    if certs.is_empty() {
        return Err(bad_file(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn bad_file(path: &Path, why: &str) -> RegistryError {
    RegistryError::Config(format!("{}: {why}", path.display()))
}

/// Accepts any certificate from `host` itself; everything else goes through `checked`.
/// Handshake signatures are still verified, so the peer must hold the certificate's key.
#[derive(Debug)]
struct UncheckedFor {
    host: String,
    checked: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for UncheckedFor {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if server_name.to_str() == self.host {
            return Ok(ServerCertVerified::assertion());
        }
        self.checked
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.checked.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.checked.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.checked.supported_verify_schemes()
    }
}

/// What went wrong in a TLS handshake, when that is why a connection failed.
pub enum HandshakeFailure {
    /// The server's certificate did not verify.
    Untrusted(String),
    /// Anything else rustls refused, e.g. an alert from a server that wants a client
    /// certificate.
    Other(String),
}

/// The TLS failure behind a failed connection, if that is what it was. Neither kind goes
/// away by asking again.
pub fn handshake_failure(err: &(dyn std::error::Error + 'static)) -> Option<HandshakeFailure> {
    let mut next = Some(err);
    while let Some(e) = next {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        match tls {
            Some(rustls::Error::InvalidCertificate(why)) => {
                return Some(HandshakeFailure::Untrusted(describe(why)))
            }
            Some(other) => return Some(HandshakeFailure::Other(other.to_string())),
            None => next = e.source(),
        }
    }
    None
}

/// The certificate problem in the words OpenSSL users know, with rustls' name for it.
fn describe(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    let plain = match why {
        E::UnknownIssuer => "signed by an unknown authority",
        E::Expired | E::ExpiredContext { .. } => "expired",
        E::NotValidYet | E::NotValidYetContext { .. } => "not valid yet",
        E::NotValidForName | E::NotValidForNameContext { .. } => "issued for another name",
        E::Revoked => "revoked",
        E::BadSignature => "bad signature",
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => "not issued for TLS servers",
        E::Other(other) => return format!("{other}"),
        _ => return format!("{why:?}"),
    };
    let name = format!("{why:?}");
    let name = name.split([' ', '{', '(']).next().unwrap_or_default();
    format!("{plain}: {name}")
}
