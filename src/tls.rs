//! TLS for the webhook's listener: the rustls server configuration (aws-lc-rs provider,
//! TLS 1.2 and 1.3, ALPN `http/1.1` only), loading the serving certificate from PEM files,
//! and the self-signed fallback used when no certificate is present.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Where Connaisseur's chart mounts the serving certificate.
pub const DEFAULT_CERT_PATH: &str = "/app/certs/tls.crt";
/// Where Connaisseur's chart mounts the serving key.
pub const DEFAULT_KEY_PATH: &str = "/app/certs/tls.key";

/// Why a TLS configuration could not be built.
#[derive(Debug)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no PEM certificate.
    Certificate { path: PathBuf, reason: String },
    /// The key file is missing, unreadable or holds no PEM private key.
    Key { path: PathBuf, reason: String },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    Config(rustls::Error),
    /// The self-signed certificate could not be generated.
    SelfSigned(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Certificate { path, reason } => write!(
                f,
                "cannot use TLS certificate {}: {reason}; give a PEM certificate chain (leaf first) with --cert",
                path.display()
            ),
            TlsError::Key { path, reason } => write!(
                f,
                "cannot use TLS key {}: {reason}; give a PEM private key (PKCS#8, SEC1 or PKCS#1) with --key",
                path.display()
            ),
            TlsError::Config(e) => write!(f, "TLS certificate and key do not fit together: {e}"),
            TlsError::SelfSigned(e) => write!(f, "cannot generate a self-signed certificate: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The one crypto provider of the process: aws-lc-rs (ring has no P-521).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration for the given chain and key.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    // Never offer h2: the API server would switch to HTTP/2, which this server does not speak.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads a PEM certificate chain and key from files.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    server_config(chain, key)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if chain.is_empty() {
        return Err(err("no CERTIFICATE block found".to_string()));
    }
    Ok(chain)
}

/// A freshly generated self-signed P-256 certificate for `localhost` and loopback.
pub struct SelfSigned {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the certificate's DER, lowercase hex with `:` between bytes.
    pub fingerprint: String,
}

/// Generates a self-signed serving certificate, for a first run without certificates.
pub fn self_signed() -> Result<SelfSigned, TlsError> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    let der = certified.cert.der().clone();
    let fingerprint = fingerprint(&der);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    Ok(SelfSigned {
        config: server_config(vec![der], key)?,
        fingerprint,
    })
}

/// SHA-256 fingerprint of a DER certificate as `ab:cd:…`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_config_offers_only_http11() {
        let s = self_signed().unwrap();
        assert_eq!(s.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(s.fingerprint.len(), 32 * 3 - 1);
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint(b"abc"),
            "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad"
        );
    }

    #[test]
    fn missing_files_name_the_path() {
        let e = load_server_config(
            Path::new("/nonexistent/c.pem"),
            Path::new("/nonexistent/k.pem"),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("/nonexistent/c.pem"), "{e}");
    }
}
