//! PEM material checked at load with rustls-pki-types: CA bundles, single certificates and
//! public keys. Only the PEM framing and base64 are checked here; the DER inside is
//! interpreted by whoever uses it.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};

use super::error::Problem;

/// Every certificate of a bundle; at least one is required.
pub fn certificates(text: &str) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let certificates = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", e.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("certificate", "no CERTIFICATE block found".into()));
    }
    Ok(certificates)
}

/// The first certificate of `text` (Notation uses only that one).
pub fn first_certificate(text: &str) -> Result<CertificateDer<'static>, Problem> {
    CertificateDer::from_pem_slice(text.as_bytes()).map_err(|e| bad("certificate", e.to_string()))
}

/// The first `PUBLIC KEY` block of `text`.
pub fn public_key(text: &str) -> Result<SubjectPublicKeyInfoDer<'static>, Problem> {
    SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
        .map_err(|e| bad("public key", e.to_string()))
}

fn bad(expected: &'static str, reason: String) -> Problem {
    Problem::BadPem { expected, reason }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A throw-away self-signed certificate in PEM.
    pub(crate) fn certificate_pem() -> String {
        match rcgen::generate_simple_self_signed(vec!["test.local".to_owned()]) {
            Ok(certified) => certified.cert.pem(),
            Err(e) => panic!("rcgen: {e}"),
        }
    }

    /// A throw-away public key in PEM.
    pub(crate) fn public_key_pem() -> String {
        match rcgen::KeyPair::generate() {
            Ok(key) => key.public_key_pem(),
            Err(e) => panic!("rcgen: {e}"),
        }
    }

    #[test]
    fn bundles_need_at_least_one_certificate() {
        let pem = certificate_pem();
        assert_eq!(certificates(&format!("{pem}{pem}")).map(|c| c.len()), Ok(2));
        assert!(matches!(
            certificates("garbage"),
            Err(Problem::BadPem { .. })
        ));
        assert!(matches!(
            certificates(&public_key_pem()),
            Err(Problem::BadPem { .. })
        ));
    }

    #[test]
    fn public_keys_and_single_certificates() {
        assert!(public_key(&public_key_pem()).is_ok());
        assert!(public_key(&certificate_pem()).is_err());
        assert!(first_certificate(&certificate_pem()).is_ok());
        let truncated = certificate_pem().replace("-----END CERTIFICATE-----", "");
        assert!(first_certificate(&truncated).is_err());
    }
}
