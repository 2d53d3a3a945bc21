//! Fuzzes what keyless verification reads from a signing certificate: the input is taken
//! as a TLS-encoded SCT list, as an SCT list extension value, and as a certificate (DER)
//! whose identity, precertificate and embedded SCTs are read, which is then also used as
//! its own Fulcio root and leaf. No input panics, and no SCT verifies with a key the
//! input cannot know.
#![no_main]

use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;
use tastevin::config::{IdentityMatch, Keyless};
use tastevin::crypto::PublicKey;
use tastevin::validators::cosign::identity::{CertificateIdentity, ExpectedIdentity};
use tastevin::validators::cosign::keyless::{FulcioTrust, KeylessRoot};
use tastevin::validators::cosign::sct;
use x509_cert::der::Decode;
use x509_cert::Certificate;

/// A CT log key generated per run: no input can carry a valid SCT by it.
fn ct_log() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("CT log key");
        let spki = pair.public_key().as_der().expect("CT log SPKI");
        PublicKey::from_spki_der(spki.as_ref()).expect("CT log public key")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = sct::parse_list(data);
    let _ = sct::parse_extension(data);
    if let Ok(certificate) = Certificate::from_der(data) {
        let _ = CertificateIdentity::of(&certificate);
        let _ = sct::precertificate_tbs(&certificate);
        let issuer_spki = ct_log().spki_der();
        assert!(sct::verify_embedded(&certificate, issuer_spki, ct_log()).is_err());
    }
    let root = CertificateDer::from(data.to_vec());
    if let Ok(trust) = FulcioTrust::new(&[root], Some(ct_log().clone())) {
        let identity = ExpectedIdentity::new(&Keyless {
            issuer: IdentityMatch::Regex(String::new()),
            subject: IdentityMatch::Regex(String::new()),
        })
        .expect("empty regexes compile");
        let keyless = KeylessRoot {
            identity,
            trust: Arc::new(trust),
        };
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(data)
        );
        // Self-issued input is its own root; its SCT cannot verify, so nothing certifies.
        assert!(keyless
            .certify(Some(&pem), Some(&pem), 1_700_000_000)
            .is_err());
    }
});
