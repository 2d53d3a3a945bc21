//! Public keys for signature verification: parsed from PEM or SubjectPublicKeyInfo DER,
//! their kind recognised by aws-lc-rs, and signatures checked with the scheme the caller
//! names. All parsing and arithmetic is aws-lc-rs and rustls-pki-types; nothing here reads
//! ASN.1 or PEM by hand.
//!
//! Signature formats follow the signers we verify: cosign hashes with SHA-256 for every
//! ECDSA curve (ASN.1 DER signatures), Notary v1 writes ECDSA signatures as raw `r‖s`.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rsa::PublicEncryptingKey;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::SubjectPublicKeyInfoDer;

/// Smallest RSA modulus accepted: cosign and Notary v1 keys are 2048 bits or more.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus aws-lc-rs verifies with.
pub const MAX_RSA_BITS: usize = 8192;

/// What kind of key a [`PublicKey`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Rsa { bits: usize },
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyKind::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyKind::EcdsaP521 => f.write_str("ECDSA P-521"),
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// A signature scheme; the curve or modulus comes from the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// ECDSA over SHA-256 of the message, DER `SEQUENCE { r, s }` signature (cosign).
    EcdsaSha256Asn1,
    /// ECDSA over SHA-256 of the message, fixed-width `r‖s` signature (Notary v1).
    EcdsaSha256Fixed,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    RsaPssSha256,
    /// Pure Ed25519 over the message.
    Ed25519,
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureAlgorithm::EcdsaSha256Asn1 => "ECDSA SHA-256 (ASN.1)",
            SignatureAlgorithm::EcdsaSha256Fixed => "ECDSA SHA-256 (r||s)",
            SignatureAlgorithm::RsaPkcs1Sha256 => "RSA PKCS#1 v1.5 SHA-256",
            SignatureAlgorithm::RsaPssSha256 => "RSA PSS SHA-256",
            SignatureAlgorithm::Ed25519 => "Ed25519",
        })
    }
}

/// Why key material was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// No `PUBLIC KEY` PEM block could be read.
    Pem(String),
    /// The SubjectPublicKeyInfo is none of the supported kinds, or malformed.
    Unsupported,
    /// An RSA key outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    RsaSize(usize),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Pem(reason) => write!(f, "not a PEM public key: {reason}"),
            KeyError::Unsupported => f.write_str(
                "unsupported or malformed public key (expected ECDSA P-256/P-384/P-521, RSA or Ed25519)",
            ),
            KeyError::RsaSize(bits) => write!(
                f,
                "RSA key of {bits} bits is not accepted (need {MIN_RSA_BITS} to {MAX_RSA_BITS} bits)"
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// Why a signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The scheme does not apply to this kind of key.
    Mismatch {
        key: KeyKind,
        algorithm: SignatureAlgorithm,
    },
    /// The signature is not valid for this key and message.
    Invalid,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::Mismatch { key, algorithm } => {
                write!(f, "a {key} key cannot verify {algorithm} signatures")
            }
            SignatureError::Invalid => f.write_str("invalid signature"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// A public key whose kind is known, kept with its SubjectPublicKeyInfo DER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    spki: Vec<u8>,
}

impl PublicKey {
    /// The first `-----BEGIN PUBLIC KEY-----` block of `pem`.
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        PublicKey::from_spki_der(&der)
    }

    /// A DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let kind = recognise(der)?;
        Ok(PublicKey {
            kind,
            spki: der.to_vec(),
        })
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The SubjectPublicKeyInfo DER as given.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Lower-case hex SHA-256 of the SubjectPublicKeyInfo DER: the key ID transparency logs
    /// (Rekor `logID`, CT log IDs) name their keys by.
    pub fn sha256_id(&self) -> String {
        hex(digest::digest(&digest::SHA256, &self.spki).as_ref())
    }

    /// Checks `signature` over `message` with `algorithm`.
    pub fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let verification =
            verification_algorithm(self.kind, algorithm).ok_or(SignatureError::Mismatch {
                key: self.kind,
                algorithm,
            })?;
        signature::UnparsedPublicKey::new(verification, &self.spki)
            .verify(message, signature)
            .map_err(|_| SignatureError::Invalid)
    }

    /// Checks `signature` with `algorithm` over a message known only by its SHA-256
    /// `digest` (a Sigstore message signature). Ed25519 signs messages, not digests: refused.
    pub fn verify_sha256_digest(
        &self,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let mismatch = SignatureError::Mismatch {
            key: self.kind,
            algorithm,
        };
        if algorithm == SignatureAlgorithm::Ed25519 {
            return Err(mismatch);
        }
        let verification = verification_algorithm(self.kind, algorithm).ok_or(mismatch)?;
        let digest = digest::Digest::import_less_safe(digest, &digest::SHA256)
            .map_err(|_| SignatureError::Invalid)?;
        signature::UnparsedPublicKey::new(verification, &self.spki)
            .verify_digest(&digest, signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// The aws-lc-rs algorithm for a scheme on a kind of key. aws-lc-rs has no P-384 with
/// SHA-256 in fixed form (and nobody signs that way), so that pair is refused.
fn verification_algorithm(
    kind: KeyKind,
    algorithm: SignatureAlgorithm,
) -> Option<&'static dyn VerificationAlgorithm> {
    use SignatureAlgorithm as A;
    Some(match (kind, algorithm) {
        (KeyKind::EcdsaP256, A::EcdsaSha256Asn1) => &signature::ECDSA_P256_SHA256_ASN1,
        (KeyKind::EcdsaP384, A::EcdsaSha256Asn1) => &signature::ECDSA_P384_SHA256_ASN1,
        (KeyKind::EcdsaP521, A::EcdsaSha256Asn1) => &signature::ECDSA_P521_SHA256_ASN1,
        (KeyKind::EcdsaP256, A::EcdsaSha256Fixed) => &signature::ECDSA_P256_SHA256_FIXED,
        (KeyKind::EcdsaP521, A::EcdsaSha256Fixed) => &signature::ECDSA_P521_SHA256_FIXED,
        (KeyKind::Rsa { .. }, A::RsaPkcs1Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (KeyKind::Rsa { .. }, A::RsaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
        (KeyKind::Ed25519, A::Ed25519) => &signature::ED25519,
        _ => return None,
    })
}

/// Finds the kind of a SubjectPublicKeyInfo by letting aws-lc-rs parse it as each kind in
/// turn (the EC parser checks the curve).
fn recognise(der: &[u8]) -> Result<KeyKind, KeyError> {
    let candidates: [(KeyKind, &'static dyn VerificationAlgorithm); 3] = [
        (KeyKind::EcdsaP256, &signature::ECDSA_P256_SHA256_ASN1),
        (KeyKind::EcdsaP384, &signature::ECDSA_P384_SHA256_ASN1),
        (KeyKind::EcdsaP521, &signature::ECDSA_P521_SHA256_ASN1),
    ];
    if let Some((kind, _)) = candidates
        .into_iter()
        .find(|(_, algorithm)| ParsedPublicKey::new(*algorithm, der).is_ok())
    {
        return Ok(kind);
    }
    if ParsedPublicKey::new(&signature::ED25519, der).is_ok() {
        return Ok(KeyKind::Ed25519);
    }
    if let Ok(rsa) = PublicEncryptingKey::from_der(der) {
        let bits = rsa.key_size_bits();
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyError::RsaSize(bits));
        }
        return Ok(KeyKind::Rsa { bits });
    }
    Err(KeyError::Unsupported)
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    use base64::Engine;

    /// A test signer for every kind of key, signing the way cosign does.
    pub(crate) enum TestSigner {
        Ecdsa(EcdsaKeyPair, KeyKind),
        Rsa(RsaKeyPair, SignatureAlgorithm),
        Ed25519(Ed25519KeyPair),
    }

    impl TestSigner {
        pub(crate) fn p256() -> TestSigner {
            Self::ecdsa(
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                KeyKind::EcdsaP256,
            )
        }
        pub(crate) fn p384() -> TestSigner {
            Self::ecdsa(
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                KeyKind::EcdsaP384,
            )
        }
        pub(crate) fn p521() -> TestSigner {
            Self::ecdsa(
                &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                KeyKind::EcdsaP521,
            )
        }
        pub(crate) fn rsa(algorithm: SignatureAlgorithm) -> TestSigner {
            match RsaKeyPair::generate(KeySize::Rsa2048) {
                Ok(key) => TestSigner::Rsa(key, algorithm),
                Err(e) => panic!("rsa keygen: {e}"),
            }
        }
        pub(crate) fn ed25519() -> TestSigner {
            let generated = Ed25519KeyPair::generate().map_err(|e| e.to_string());
            match generated {
                Ok(key) => TestSigner::Ed25519(key),
                Err(e) => panic!("ed25519 keygen: {e}"),
            }
        }
        fn ecdsa(
            algorithm: &'static signature::EcdsaSigningAlgorithm,
            kind: KeyKind,
        ) -> TestSigner {
            match EcdsaKeyPair::generate(algorithm) {
                Ok(key) => TestSigner::Ecdsa(key, kind),
                Err(e) => panic!("ecdsa keygen: {e}"),
            }
        }

        pub(crate) fn spki_der(&self) -> Vec<u8> {
            let der = match self {
                TestSigner::Ecdsa(key, _) => key.public_key().as_der().map(|d| d.as_ref().to_vec()),
                TestSigner::Rsa(key, _) => key.public_key().as_der().map(|d| d.as_ref().to_vec()),
                TestSigner::Ed25519(key) => key.public_key().as_der().map(|d| d.as_ref().to_vec()),
            };
            match der {
                Ok(der) => der,
                Err(e) => panic!("public key der: {e}"),
            }
        }

        pub(crate) fn public_key(&self) -> PublicKey {
            match PublicKey::from_spki_der(&self.spki_der()) {
                Ok(key) => key,
                Err(e) => panic!("own public key: {e}"),
            }
        }

        /// The public key as PEM (test fixtures only: the code under test reads PEM with
        /// rustls-pki-types).
        pub(crate) fn public_key_pem(&self) -> String {
            let body = base64::engine::general_purpose::STANDARD.encode(self.spki_der());
            let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
            for line in body.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(line));
                pem.push('\n');
            }
            pem.push_str("-----END PUBLIC KEY-----\n");
            pem
        }

        /// Signs like cosign: SHA-256 for every curve, DER ECDSA signatures.
        pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
            let signed = match self {
                TestSigner::Ecdsa(key, kind) => {
                    // aws-lc-rs signs P-384/P-521 only with their own hash; ECDSA uses the
                    // digest as an integer, so a SHA-256 digest left-padded with zeros to the
                    // signing hash's length is the same integer cosign signs.
                    let sha256 = digest::digest(&digest::SHA256, message);
                    let algorithm = match kind {
                        KeyKind::EcdsaP384 => &digest::SHA384,
                        KeyKind::EcdsaP521 => &digest::SHA512,
                        _ => &digest::SHA256,
                    };
                    let mut padded = vec![0u8; algorithm.output_len - sha256.as_ref().len()];
                    padded.extend_from_slice(sha256.as_ref());
                    digest::Digest::import_less_safe(&padded, algorithm)
                        .and_then(|d| key.sign_digest(&d))
                        .map(|s| s.as_ref().to_vec())
                        .map_err(|e| e.to_string())
                }
                TestSigner::Rsa(key, algorithm) => {
                    let padding: &'static dyn signature::RsaEncoding = match algorithm {
                        SignatureAlgorithm::RsaPssSha256 => &signature::RSA_PSS_SHA256,
                        _ => &signature::RSA_PKCS1_SHA256,
                    };
                    let mut out = vec![0u8; key.public_modulus_len()];
                    key.sign(padding, &SystemRandom::new(), message, &mut out)
                        .map(|()| out)
                        .map_err(|e| e.to_string())
                }
                TestSigner::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
            };
            match signed {
                Ok(signature) => signature,
                Err(e) => panic!("sign: {e}"),
            }
        }

        /// The scheme [`TestSigner::sign`] uses.
        pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
            match self {
                TestSigner::Ecdsa(..) => SignatureAlgorithm::EcdsaSha256Asn1,
                TestSigner::Rsa(_, algorithm) => *algorithm,
                TestSigner::Ed25519(_) => SignatureAlgorithm::Ed25519,
            }
        }
    }

    #[test]
    fn every_kind_is_recognised_and_verifies() {
        let message = b"{\"critical\":{}}";
        for (signer, kind) in [
            (TestSigner::p256(), KeyKind::EcdsaP256),
            (TestSigner::p384(), KeyKind::EcdsaP384),
            (TestSigner::p521(), KeyKind::EcdsaP521),
            (
                TestSigner::rsa(SignatureAlgorithm::RsaPkcs1Sha256),
                KeyKind::Rsa { bits: 2048 },
            ),
            (
                TestSigner::rsa(SignatureAlgorithm::RsaPssSha256),
                KeyKind::Rsa { bits: 2048 },
            ),
            (TestSigner::ed25519(), KeyKind::Ed25519),
        ] {
            let key = match PublicKey::from_pem(&signer.public_key_pem()) {
                Ok(key) => key,
                Err(e) => panic!("{kind}: {e}"),
            };
            assert_eq!(key.kind(), kind);
            let signature = signer.sign(message);
            assert_eq!(key.verify(signer.algorithm(), message, &signature), Ok(()));
            assert_eq!(
                key.verify(signer.algorithm(), b"tampered", &signature),
                Err(SignatureError::Invalid),
                "{kind}"
            );
        }
    }

    #[test]
    fn schemes_must_suit_the_key() {
        let signer = TestSigner::p256();
        let key = signer.public_key();
        let signature = signer.sign(b"m");
        assert_eq!(
            key.verify(SignatureAlgorithm::Ed25519, b"m", &signature),
            Err(SignatureError::Mismatch {
                key: KeyKind::EcdsaP256,
                algorithm: SignatureAlgorithm::Ed25519
            })
        );
        // A DER signature is not a fixed-width one.
        assert_eq!(
            key.verify(SignatureAlgorithm::EcdsaSha256Fixed, b"m", &signature),
            Err(SignatureError::Invalid)
        );
        let rsa = TestSigner::rsa(SignatureAlgorithm::RsaPkcs1Sha256);
        let pkcs1 = rsa.sign(b"m");
        assert_eq!(
            rsa.public_key()
                .verify(SignatureAlgorithm::RsaPssSha256, b"m", &pkcs1),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn fixed_form_ecdsa_verifies() {
        let key = match EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING) {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        };
        let signature = match key.sign(&SystemRandom::new(), b"notary") {
            Ok(signature) => signature,
            Err(e) => panic!("{e}"),
        };
        let public = match key.public_key().as_der() {
            Ok(der) => PublicKey::from_spki_der(der.as_ref()),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            public.map(|k| k.verify(
                SignatureAlgorithm::EcdsaSha256Fixed,
                b"notary",
                signature.as_ref()
            )),
            Ok(Ok(()))
        );
    }

    #[test]
    fn bad_key_material_is_refused() {
        assert!(matches!(
            PublicKey::from_pem("no pem here"),
            Err(KeyError::Pem(_))
        ));
        assert_eq!(
            PublicKey::from_spki_der(b"\x30\x03\x02\x01\x00"),
            Err(KeyError::Unsupported)
        );
        assert_eq!(PublicKey::from_spki_der(&[]), Err(KeyError::Unsupported));
    }
}
