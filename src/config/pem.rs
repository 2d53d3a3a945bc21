//! PEM material checked at load: CA bundles, single certificates and public keys. The PEM
//! framing is read with rustls-pki-types, and the DER inside is parsed the way it is used
//! later (a certificate by x509-cert and as a webpki trust anchor, a key by aws-lc-rs), so
//! that garbage is refused when the configuration loads instead of denying every request.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use x509_cert::der::Decode;

use super::error::Problem;
use crate::crypto::PublicKey;

/// Every certificate of a bundle; at least one is required, and each must parse.
pub fn certificates(text: &str) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let certificates = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", e.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("certificate", "no CERTIFICATE block found".into()));
    }
    for (index, certificate) in certificates.iter().enumerate() {
        parse_certificate(certificate).map_err(|reason| {
            bad(
                "certificate",
                format!("certificate {} of the bundle {reason}", index + 1),
            )
        })?;
    }
    Ok(certificates)
}

/// The first certificate of `text` (Notation uses only that one); it must parse.
pub fn first_certificate(text: &str) -> Result<CertificateDer<'static>, Problem> {
    let certificate = CertificateDer::from_pem_slice(text.as_bytes())
        .map_err(|e| bad("certificate", e.to_string()))?;
    parse_certificate(&certificate).map_err(|reason| bad("certificate", reason))?;
    Ok(certificate)
}

/// The first `PUBLIC KEY` block of `text`; it must be a key kind signatures are checked with.
pub fn public_key(text: &str) -> Result<SubjectPublicKeyInfoDer<'static>, Problem> {
    let der = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
        .map_err(|e| bad("public key", e.to_string()))?;
    PublicKey::from_spki_der(&der).map_err(|e| bad("public key", e.to_string()))?;
    Ok(der)
}

/// Whether the DER is an X.509 certificate that can also serve as a trust anchor: every
/// configured certificate is used as one (TLS roots, Fulcio roots, Notation `ca`/`tsa`).
fn parse_certificate(der: &CertificateDer<'_>) -> Result<(), String> {
    x509_cert::Certificate::from_der(der.as_ref())
        .map_err(|e| format!("is not an X.509 certificate: {e}"))?;
    webpki::anchor_from_trusted_cert(der)
        .map_err(|e| format!("is not usable as a trust anchor: {e:?}"))?;
    Ok(())
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

    /// `pem` with its base64 body replaced by `der`.
    pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    #[test]
    fn well_framed_garbage_is_refused() {
        let garbage = pem_block("CERTIFICATE", b"not DER at all");
        let reason = |result: Result<(), Problem>| match result {
            Err(Problem::BadPem { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(first_certificate(&garbage).map(drop))
            .starts_with("is not an X.509 certificate"),);
        let bundle = format!("{}{garbage}", certificate_pem());
        assert!(reason(certificates(&bundle).map(drop))
            .starts_with("certificate 2 of the bundle is not an X.509 certificate"));
        // A DER SEQUENCE that is no certificate.
        let sequence = pem_block("CERTIFICATE", &[0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(first_certificate(&sequence).is_err());
        let key = pem_block("PUBLIC KEY", &[0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(matches!(
            public_key(&key),
            Err(Problem::BadPem {
                expected: "public key",
                ..
            })
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
