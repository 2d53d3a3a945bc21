//! TUF keys as Notary lists them, turned into [`PublicKey`]s: `ecdsa`/`rsa` (PKIX DER),
//! `ecdsa-x509`/`rsa-x509` (a PEM certificate, whose key is used; Notary does not check the
//! certificate's validity period for metadata signatures), `ed25519` (the raw 32-byte key).
//! Also Notary's key IDs and signature method names.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ParsedPublicKey, ED25519};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::json;

use super::canonical::to_canonical;
use super::tuf::Key;
use crate::crypto::{KeyKind, PublicKey, SignatureAlgorithm};

/// The verification key of a TUF key entry, or `None` for a type or encoding we cannot use
/// (such a key never verifies, as in Notary).
pub fn public_key(key: &Key) -> Option<PublicKey> {
    match key.key_type.as_str() {
        "ecdsa" | "rsa" => PublicKey::from_spki_der(&key.public).ok(),
        "ecdsa-x509" | "rsa-x509" => {
            let der = CertificateDer::from_pem_slice(&key.public).ok()?;
            let certificate = webpki::EndEntityCert::try_from(&der).ok()?;
            PublicKey::from_spki_der(certificate.subject_public_key_info().as_ref()).ok()
        }
        "ed25519" => {
            let parsed = ParsedPublicKey::new(&ED25519, &key.public).ok()?;
            let spki = parsed.as_der().ok()?;
            PublicKey::from_spki_der(spki.as_ref()).ok()
        }
        _ => None,
    }
    .filter(|public| kind_suits_type(public.kind(), &key.key_type))
}

fn kind_suits_type(kind: KeyKind, key_type: &str) -> bool {
    match kind {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::EcdsaP521 => {
            key_type.starts_with("ecdsa")
        }
        KeyKind::Rsa { .. } => key_type.starts_with("rsa"),
        KeyKind::Ed25519 => key_type == "ed25519",
    }
}

/// Notary's ID of a key: lower-case hex SHA-256 of the canonical JSON
/// `{"keytype":…,"keyval":{"private":null,"public":<base64>}}`.
pub fn key_id(key_type: &str, public: &[u8]) -> String {
    let value = json!({
        "keytype": key_type,
        "keyval": {
            "private": null,
            "public": base64::engine::general_purpose::STANDARD.encode(public),
        },
    });
    // Strings and null only: the canonical form always exists.
    let canonical = to_canonical(&value).unwrap_or_default();
    hex(digest::digest(&digest::SHA256, &canonical).as_ref())
}

/// The ID Connaisseur gives a pinned trust root: its PKIX key typed `ecdsa`, `rsa` or
/// `unknown`.
pub fn pinned_key_id(key: &PublicKey) -> String {
    let key_type = match key.kind() {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::EcdsaP521 => "ecdsa",
        KeyKind::Rsa { .. } => "rsa",
        KeyKind::Ed25519 => "unknown",
    };
    key_id(key_type, key.spki_der())
}

/// The scheme a signature's `method` names, if Notary knows it.
pub fn algorithm(method: &str) -> Option<SignatureAlgorithm> {
    Some(match method {
        "ecdsa" => SignatureAlgorithm::EcdsaSha256Fixed,
        "rsapss" | "pycrypto-pkcs#1 pss" => SignatureAlgorithm::RsaPssSha256,
        "rsapkcs1v15" => SignatureAlgorithm::RsaPkcs1Sha256,
        "eddsa" => SignatureAlgorithm::Ed25519,
        _ => return None,
    })
}

/// True when `signature` by `key` over `message` verifies with the scheme `method` names.
pub fn verifies(key: &PublicKey, method: &str, message: &[u8], signature: &[u8]) -> bool {
    algorithm(method).is_some_and(|algorithm| key.verify(algorithm, message, signature).is_ok())
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::TestSigner;

    #[test]
    fn key_ids_follow_notary() {
        // An openssl-generated P-256 key; the ID was computed independently (Python's
        // `json.dumps(sort_keys=True, separators=(",", ":"))` and SHA-256).
        let public = base64::engine::general_purpose::STANDARD.decode(
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1TIt/zUzjXQ+lUz67Bt7iKqnCqy7IXKpUqdawW+Fl2WbpFk/cwM+IKDSKlaxgfYBmORxKTnhEJ4D9yP5CIIStA==",
        );
        let Ok(public) = public else {
            panic!("{public:?}")
        };
        assert_eq!(
            key_id("ecdsa", &public),
            "0a8e3a9c67ba1c676cfdd3af5156beae30c9194d108422dd60a4fc71454630d5"
        );
        let Ok(pinned) = PublicKey::from_spki_der(&public) else {
            panic!("key")
        };
        assert_eq!(pinned_key_id(&pinned), key_id("ecdsa", &public));
    }

    #[test]
    fn key_types_are_read() {
        let p256 = TestSigner::p256();
        let ecdsa = Key {
            key_type: "ecdsa".to_owned(),
            public: p256.spki_der(),
        };
        assert_eq!(public_key(&ecdsa), Some(p256.public_key()));
        let mislabelled = Key {
            key_type: "rsa".to_owned(),
            public: p256.spki_der(),
        };
        assert_eq!(public_key(&mislabelled), None);

        let ed25519 = TestSigner::ed25519();
        let spki = ed25519.spki_der();
        let raw = Key {
            key_type: "ed25519".to_owned(),
            public: spki
                .get(spki.len() - 32..)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        };
        assert_eq!(public_key(&raw), Some(ed25519.public_key()));

        let certified = rcgen::KeyPair::generate().and_then(|key| {
            let params = rcgen::CertificateParams::new(vec!["notary.test".to_owned()])?;
            let cert = params.self_signed(&key)?;
            Ok((
                rcgen::PublicKeyData::subject_public_key_info(&key),
                cert.pem(),
            ))
        });
        let Ok((spki, pem)) = certified else {
            panic!("{certified:?}")
        };
        let x509 = Key {
            key_type: "ecdsa-x509".to_owned(),
            public: pem.into_bytes(),
        };
        assert_eq!(public_key(&x509).map(|k| k.spki_der().to_vec()), Some(spki));
        let unknown = Key {
            key_type: "gpg".to_owned(),
            public: p256.spki_der(),
        };
        assert_eq!(public_key(&unknown), None);
    }

    #[test]
    fn methods_map_to_schemes() {
        assert_eq!(
            algorithm("ecdsa"),
            Some(SignatureAlgorithm::EcdsaSha256Fixed)
        );
        assert_eq!(algorithm("rsapss"), Some(SignatureAlgorithm::RsaPssSha256));
        assert_eq!(
            algorithm("rsapkcs1v15"),
            Some(SignatureAlgorithm::RsaPkcs1Sha256)
        );
        assert_eq!(algorithm("eddsa"), Some(SignatureAlgorithm::Ed25519));
        assert_eq!(algorithm("hmac"), None);
    }
}
