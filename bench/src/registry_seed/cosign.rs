//! cosign-format signatures made by the bench itself: a P-256 key (generated with rcgen, signing
//! with aws-lc-rs as cosign does: SHA-256, DER ECDSA), the simple-signing payload cosign signs,
//! and the layer annotation that carries the signature.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rcgen::KeyPair;
use serde_json::json;

/// Media type of a cosign signature layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature over the layer's blob.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

#[derive(Debug)]
pub enum SignerError {
    Generate(String),
    Sign,
}

impl fmt::Display for SignerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignerError::Generate(why) => write!(f, "cannot generate the signing key: {why}"),
            SignerError::Sign => write!(f, "signing the payload failed"),
        }
    }
}

/// A P-256 signing key and its public key in PEM, as a cosign trust root wants it.
pub struct Signer {
    key: EcdsaKeyPair,
    pub public_key_pem: String,
}

impl Signer {
    pub fn generate() -> Result<Signer, SignerError> {
        let generated = KeyPair::generate().map_err(|e| SignerError::Generate(e.to_string()))?;
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &generated.serialize_der())
                .map_err(|e| SignerError::Generate(e.to_string()))?;
        Ok(Signer {
            key,
            public_key_pem: generated.public_key_pem(),
        })
    }

    /// The base64 DER signature over `message`, as cosign puts it in the annotation.
    pub fn sign_base64(&self, message: &[u8]) -> Result<String, SignerError> {
        let signature = self
            .key
            .sign(&SystemRandom::new(), message)
            .map_err(|_| SignerError::Sign)?;
        Ok(STANDARD.encode(signature.as_ref()))
    }
}

/// The simple-signing payload cosign signs for the manifest `digest` of `reference`.
pub fn payload(reference: &str, digest: &str) -> Vec<u8> {
    json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature"
        },
        "optional": null
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::SubjectPublicKeyInfoDer;

    #[test]
    fn signatures_verify_under_the_published_key() {
        let signer = Signer::generate().unwrap();
        let message = payload("127.0.0.1:5000/bench/app", "sha256:00");
        let signature = STANDARD
            .decode(signer.sign_base64(&message).unwrap())
            .unwrap();
        let spki =
            SubjectPublicKeyInfoDer::from_pem_slice(signer.public_key_pem.as_bytes()).unwrap();
        let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki.as_ref());
        assert!(key.verify(&message, &signature).is_ok());
        assert!(key.verify(b"another payload", &signature).is_err());
    }

    #[test]
    fn payload_names_the_digest_and_the_cosign_type() {
        let value: serde_json::Value =
            serde_json::from_slice(&payload("r/app", "sha256:ab")).unwrap();
        assert_eq!(
            value["critical"]["image"]["docker-manifest-digest"],
            "sha256:ab"
        );
        assert_eq!(value["critical"]["identity"]["docker-reference"], "r/app");
        assert_eq!(
            value["critical"]["type"],
            "cosign container image signature"
        );
    }
}
