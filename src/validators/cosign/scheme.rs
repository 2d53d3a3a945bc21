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

/// [`verify`] for a message known only by its SHA-256 `digest`. Ed25519 cannot sign a
/// digest this way, so an Ed25519 key never verifies one.
pub fn verify_digest(
    key: &PublicKey,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    match key.kind() {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::EcdsaP521 => {
            key.verify_sha256_digest(SignatureAlgorithm::EcdsaSha256Asn1, digest, signature)
        }
        KeyKind::Rsa { .. } => key
            .verify_sha256_digest(SignatureAlgorithm::RsaPkcs1Sha256, digest, signature)
            .or_else(|_| {
                key.verify_sha256_digest(SignatureAlgorithm::RsaPssSha256, digest, signature)
            }),
        KeyKind::Ed25519 => {
            key.verify_sha256_digest(SignatureAlgorithm::Ed25519, digest, signature)
        }
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

    #[test]
    fn a_digest_verifies_as_its_message_did_except_with_ed25519() {
        for signer in [
            TestSigner::p256(),
            TestSigner::p384(),
            TestSigner::p521(),
            TestSigner::rsa(SignatureAlgorithm::RsaPkcs1Sha256),
            TestSigner::rsa(SignatureAlgorithm::RsaPssSha256),
        ] {
            let key = signer.public_key();
            let signature = signer.sign(b"manifest");
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"manifest");
            assert_eq!(verify_digest(&key, digest.as_ref(), &signature), Ok(()));
            let other = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"other");
            assert!(verify_digest(&key, other.as_ref(), &signature).is_err());
            assert!(verify_digest(&key, b"short", &signature).is_err());
        }
        let ed25519 = TestSigner::ed25519();
        let signature = ed25519.sign(b"manifest");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"manifest");
        assert!(verify_digest(&ed25519.public_key(), digest.as_ref(), &signature).is_err());
    }
}
