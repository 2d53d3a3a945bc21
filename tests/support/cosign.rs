//! cosign-format signatures made by the tests themselves: key pairs (aws-lc-rs), the
//! simple-signing payload, the layer annotations cosign writes, and Rekor-style bundles
//! signed by a test log key.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::registry::SignatureBlob;

/// A signing key, signing as cosign does (SHA-256, DER ECDSA signatures).
pub enum Signer {
    /// P-256 or P-521, both with SHA-256 as cosign signs.
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa(RsaKeyPair),
}

impl Signer {
    pub fn p256() -> Signer {
        Signer::Ecdsa(
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key"),
        )
    }

    pub fn p521() -> Signer {
        Signer::Ecdsa(
            EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA256_ASN1_SIGNING).expect("P-521 key"),
        )
    }

    pub fn rsa() -> Signer {
        Signer::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
    }

    pub fn ed25519() -> Signer {
        Signer::Ed25519(Ed25519KeyPair::generate().expect("Ed25519 key"))
    }

    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            Signer::Ecdsa(key) => key.public_key().as_der().expect("SPKI").as_ref().to_vec(),
            Signer::Ed25519(key) => key.public_key().as_der().expect("SPKI").as_ref().to_vec(),
            Signer::Rsa(key) => key.public_key().as_der().expect("SPKI").as_ref().to_vec(),
        }
    }

    pub fn public_key_pem(&self) -> String {
        let body = STANDARD.encode(self.spki_der());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Signer::Ecdsa(key) => key
                .sign(&SystemRandom::new(), message)
                .expect("sign")
                .as_ref()
                .to_vec(),
            Signer::Ed25519(key) => key.sign(message).as_ref().to_vec(),
            Signer::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .expect("sign");
                signature
            }
        }
    }

    /// The log ID Rekor gives its key: SHA-256 of the SPKI, hex.
    pub fn log_id(&self) -> String {
        hex(digest::digest(&digest::SHA256, &self.spki_der()).as_ref())
    }
}

/// The simple-signing payload cosign signs for `digest` of `reference`.
pub fn payload(reference: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature"
        },
        "optional": null
    }))
    .expect("payload JSON")
}

/// A signature layer over `payload` by `signer`, with a Rekor bundle by `rekor` if given.
pub fn layer(signer: &Signer, payload: &[u8], rekor: Option<&Signer>) -> SignatureBlob {
    let signature = signer.sign(payload);
    let encoded = STANDARD.encode(&signature);
    let mut annotations = vec![("dev.cosignproject.cosign/signature", encoded.clone())];
    if let Some(rekor) = rekor {
        annotations.push((
            "dev.sigstore.cosign/bundle",
            bundle(rekor, payload, &signature, &signer.public_key_pem()),
        ));
    }
    let borrowed: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (*k, v.as_str())).collect();
    SignatureBlob::simple_signing(payload, &borrowed)
}

/// A Rekor bundle for a `hashedrekord` entry of this signature, timestamped by `rekor` at
/// 1_700_000_000; `signer_pem` is the public key or, keyless, the signing certificate.
pub fn bundle(rekor: &Signer, payload: &[u8], signature: &[u8], signer_pem: &str) -> String {
    let body = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256",
                              "value": hex(digest::digest(&digest::SHA256, payload).as_ref())}},
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": {"content": STANDARD.encode(signer_pem)}
            }
        }
    });
    // The SET covers the canonical JSON (keys sorted) of the entry.
    let entry = serde_json::json!({
        "body": STANDARD.encode(body.to_string()),
        "integratedTime": 1_700_000_000,
        "logID": rekor.log_id(),
        "logIndex": 7,
    });
    let canonical = serde_json::to_vec(&entry).expect("entry JSON");
    let set = STANDARD.encode(rekor.sign(&canonical));
    serde_json::json!({"SignedEntryTimestamp": set, "Payload": entry}).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
