//! The signature scheme cosign uses for each kind of key, for image signatures and for
//! Rekor's SignedEntryTimestamps alike: ECDSA with SHA-256 on every curve (DER
//! signatures), Ed25519 over the message, RSA with SHA-256.

use crate::crypto::{KeyKind, PublicKey, SignatureAlgorithm, SignatureError};

/// Checks `signature` over `message` as cosign would for `key`. cosign signs RSA with
/// PKCS#1 v1.5; PSS signatures (made by other sigstore signers) are accepted too, both
/// being sound schemes over the same key.
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    match key.kind() {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::EcdsaP521 => {
            key.verify(SignatureAlgorithm::EcdsaSha256Asn1, message, signature)
        }
        KeyKind::Rsa { .. } => key
            .verify(SignatureAlgorithm::RsaPkcs1Sha256, message, signature)
            .or_else(|_| key.verify(SignatureAlgorithm::RsaPssSha256, message, signature)),
        KeyKind::Ed25519 => key.verify(SignatureAlgorithm::Ed25519, message, signature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::TestSigner;

    #[test]
    fn each_kind_uses_its_cosign_scheme() {
        for signer in [
            TestSigner::p256(),
            TestSigner::p384(),
            TestSigner::p521(),
            TestSigner::rsa(SignatureAlgorithm::RsaPkcs1Sha256),
            TestSigner::rsa(SignatureAlgorithm::RsaPssSha256),
            TestSigner::ed25519(),
        ] {
            let key = signer.public_key();
            let signature = signer.sign(b"payload");
            assert_eq!(
                verify(&key, b"payload", &signature),
                Ok(()),
                "{}",
                key.kind()
            );
            assert_eq!(
                verify(&key, b"payload!", &signature),
                Err(SignatureError::Invalid),
                "{}",
                key.kind()
            );
        }
    }
}
