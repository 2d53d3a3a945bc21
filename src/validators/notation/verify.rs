//! Verification of one Notary Project signature under a trust policy: the validations of
//! the trust policy specification (integrity, authenticity, expiry, trusted timestamp,
//! revocation), each enforced or only logged according to the verification level.
//!
//! | level      | integrity | authenticity | expiry | timestamp | revocation |
//! |------------|-----------|--------------|--------|-----------|------------|
//! | strict     | enforce   | enforce      | enforce| enforce   | enforce    |
//! | permissive | enforce   | enforce      | log    | log       | log        |
//! | audit      | enforce   | log          | log    | log       | log        |
//!
//! Integrity includes the match of the signed target artifact with the image's manifest.
//! RFC 3161 timestamp countersignatures are verified against the `tsa:` store
//! ([`crate::timestamp_token`]). Not supported, so failing whenever they would matter (deny
//! on doubt): revocation checks (a certificate naming CRL or OCSP locations).

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::envelope::{Envelope, JwsAlgorithm, SigningScheme, TargetArtifact};
use super::trust::{unix_seconds, CertificateFacts, TrustStore};
use crate::config::{VerificationLevel, VerifyTimestamp};
use crate::crypto::PublicKey;
use crate::timestamp_token;

/// The signature verification settings of a rule (`verificationLevel`, `verifyTimestamp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub level: VerificationLevel,
    pub verify_timestamp: VerifyTimestamp,
}

/// One of the trust policy's validations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    Integrity,
    Authenticity,
    Expiry,
    TrustedTimestamp,
    Revocation,
}

impl Validation {
    fn name(self) -> &'static str {
        match self {
            Validation::Integrity => "integrity",
            Validation::Authenticity => "authenticity",
            Validation::Expiry => "expiry",
            Validation::TrustedTimestamp => "trusted timestamp",
            Validation::Revocation => "revocation",
        }
    }
}

impl Policy {
    /// Whether a failure of `validation` fails the signature (else it is only logged).
    pub fn enforces(self, validation: Validation) -> bool {
        match self.level {
            VerificationLevel::Strict => true,
            VerificationLevel::Permissive => {
                matches!(validation, Validation::Integrity | Validation::Authenticity)
            }
            VerificationLevel::Audit => validation == Validation::Integrity,
        }
    }
}

/// A signature that passed every enforced validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The trust root the chain leads to (`None` when authenticity was only logged).
    pub trust_root: Option<String>,
    /// Failures of validations the level only logs.
    pub logged: Vec<VerifyError>,
}

/// A failed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    pub validation: Validation,
    pub reason: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} validation failed: {}",
            self.validation.name(),
            self.reason
        )
    }
}

impl std::error::Error for VerifyError {}

/// Verifies `envelope` as a signature of `artifact` (the image's manifest descriptor) with
/// the trust store and policy, at `now`.
pub fn verify(
    envelope: &Envelope,
    artifact: &TargetArtifact,
    store: &TrustStore,
    policy: Policy,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let mut logged = Vec::new();
    let mut outcome = |validation: Validation, result: Result<(), String>| match result {
        Ok(()) => Ok(()),
        Err(reason) => {
            let error = VerifyError { validation, reason };
            if policy.enforces(validation) {
                Err(error)
            } else {
                logged.push(error);
                Ok(())
            }
        }
    };
    let chain = envelope
        .chain
        .iter()
        .map(CertificateFacts::parse)
        .collect::<Result<Vec<_>, _>>();
    let chain = match chain {
        Ok(chain) if !chain.is_empty() => chain,
        Ok(_) => {
            return Err(integrity(
                "the signature carries no certificate".to_string(),
            ))
        }
        Err(e) => return Err(integrity(format!("unreadable certificate in x5c: {e}"))),
    };
    check_integrity(envelope, &chain, artifact).map_err(integrity)?;
    let trust_root = match check_authenticity(envelope, store) {
        Ok(root) => Some(root),
        Err(reason) => {
            outcome(Validation::Authenticity, Err(reason))?;
            None
        }
    };
    outcome(Validation::Expiry, check_expiry(envelope, now))?;
    outcome(
        Validation::TrustedTimestamp,
        check_trusted_timestamp(envelope, &chain, store, policy, now),
    )?;
    outcome(Validation::Revocation, check_revocation(&chain))?;
    Ok(Verified { trust_root, logged })
}

fn integrity(reason: String) -> VerifyError {
    VerifyError {
        validation: Validation::Integrity,
        reason,
    }
}

/// The algorithm matches the signing key, the signature verifies with it, and the payload
/// names the image's manifest.
fn check_integrity(
    envelope: &Envelope,
    chain: &[CertificateFacts],
    artifact: &TargetArtifact,
) -> Result<(), String> {
    let leaf = chain
        .first()
        .ok_or_else(|| "the signature carries no certificate".to_string())?;
    let key = PublicKey::from_spki_der(leaf.spki_der())
        .map_err(|e| format!("signing certificate {:?}: {e}", leaf.subject))?;
    let expected = JwsAlgorithm::for_key(key.kind()).ok_or_else(|| {
        format!(
            "signing key {} of {:?} is not allowed (RSA 2048/3072/4096 or ECDSA P-256/P-384/P-521)",
            key.kind(),
            leaf.subject
        )
    })?;
    if expected != envelope.algorithm {
        return Err(format!(
            "alg {} does not match the signing key, a {} key signs with {}",
            envelope.algorithm.name(),
            key.kind(),
            expected.name()
        ));
    }
    UnparsedPublicKey::new(verification_algorithm(expected), key.spki_der())
        .verify(envelope.signing_input(), envelope.signature())
        .map_err(|_| {
            "the signature does not verify with the signing certificate's key".to_string()
        })?;
    let target = &envelope.target;
    if target.digest != artifact.digest {
        return Err(format!(
            "the signature is for {}, not for {}",
            target.digest, artifact.digest
        ));
    }
    if target.media_type != artifact.media_type || target.size != artifact.size {
        return Err(format!(
            "the signed descriptor ({}, {} bytes) does not match the manifest ({}, {} bytes)",
            target.media_type, target.size, artifact.media_type, artifact.size
        ));
    }
    Ok(())
}

fn verification_algorithm(algorithm: JwsAlgorithm) -> &'static dyn VerificationAlgorithm {
    match algorithm {
        JwsAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        JwsAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        JwsAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        JwsAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
        JwsAlgorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
        JwsAlgorithm::Es512 => &signature::ECDSA_P521_SHA512_FIXED,
    }
}

/// The chain leads to a `ca:` certificate. It is checked at the signing time the signature
/// claims: whether the certificates are still valid now is the trusted-timestamp
/// validation's question, which `permissive` only logs.
fn check_authenticity(envelope: &Envelope, store: &TrustStore) -> Result<String, String> {
    match envelope.scheme {
        SigningScheme::X509 => {
            let at = envelope.signing_time.unwrap_or_else(SystemTime::now);
            store
                .verify_chain(&envelope.chain, at)
                .map(str::to_string)
                .map_err(|e| e.to_string())
        }
        SigningScheme::X509SigningAuthority => Err(
            "signing scheme notary.x509.signingAuthority needs a signingAuthority trust store, and trust roots are ca: stores"
                .to_string(),
        ),
    }
}

fn check_expiry(envelope: &Envelope, now: SystemTime) -> Result<(), String> {
    match envelope.expiry {
        Some(expiry) if now > expiry => {
            Err(format!("the signature expired at {}", unix_seconds(expiry)))
        }
        _ => Ok(()),
    }
}

/// `notary.x509`: with a `tsa:` store (a root with `tsCert`) and `verifyTimestamp: always`
/// (or `afterCertExpiry` once a certificate expired) a timestamp countersignature is
/// required; otherwise every certificate must be valid now. `notary.x509.signingAuthority`:
/// every certificate must be valid at the authentic signing time.
fn check_trusted_timestamp(
    envelope: &Envelope,
    chain: &[CertificateFacts],
    store: &TrustStore,
    policy: Policy,
    now: SystemTime,
) -> Result<(), String> {
    let valid_at = |at: SystemTime| -> Result<(), String> {
        chain.iter().try_for_each(|cert| cert.check_valid_at(at))
    };
    match envelope.scheme {
        SigningScheme::X509SigningAuthority => {
            valid_at(envelope.authentic_signing_time.unwrap_or(now))
        }
        SigningScheme::X509 => {
            let needs_timestamp = store.has_timestamp_roots()
                && match policy.verify_timestamp {
                    VerifyTimestamp::Always => true,
                    VerifyTimestamp::AfterCertExpiry => chain.iter().any(|c| now > c.not_after),
                };
            if !needs_timestamp {
                return valid_at(now);
            }
            let token = envelope.timestamp_token.as_ref().ok_or_else(|| {
                "no timestamp countersignature was found in the signature envelope".to_string()
            })?;
            let stamp =
                timestamp_token::verify(token, envelope.signature(), &store.timestamp_roots())
                    .map_err(|e| e.to_string())?;
            // The TSA's certificates are under the same revocation rule as the signer's.
            for der in &stamp.chain {
                let facts = CertificateFacts::parse(der)?;
                if facts.has_revocation_info {
                    return Err(format!(
                        "TSA certificate {:?} publishes revocation status (CRL or OCSP), which tastevin cannot check",
                        facts.subject
                    ));
                }
            }
            // The whole interval the stamp may mean must lie in every certificate's validity.
            valid_at(stamp.earliest())
                .and_then(|()| valid_at(stamp.latest()))
                .map_err(|e| format!("at the time stamped by TSA root {}: {e}", stamp.root))
        }
    }
}

/// Revocation cannot be checked here (no CRL or OCSP fetching): a certificate that names
/// where its revocation status is published fails this validation.
fn check_revocation(chain: &[CertificateFacts]) -> Result<(), String> {
    match chain.iter().find(|cert| cert.has_revocation_info) {
        Some(cert) => Err(format!(
            "certificate {:?} publishes revocation status (CRL or OCSP), which tastevin cannot check; use verificationLevel permissive to only log this",
            cert.subject
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TrustRoot, TrustRootMaterial};
    use crate::validators::notation::testing::{target, Pki, SignerKey};
    use rustls_pki_types::CertificateDer;
    use serde_json::{json, Value};

    const DIGEST: &str = "sha256:a136cc4e785798e5e8483047cf621cf0a0300a93d47703a3f066c340c070f5cf";
    const MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

    fn artifact() -> TargetArtifact {
        TargetArtifact {
            media_type: MEDIA_TYPE.to_string(),
            digest: DIGEST.to_string(),
            size: 526,
        }
    }

    fn store(cert: &CertificateDer<'static>, tsa: bool) -> TrustStore {
        let root = TrustRoot {
            name: "default".to_string(),
            material: TrustRootMaterial::Cert {
                cert: cert.clone(),
                timestamp_cert: tsa.then(|| cert.clone()),
            },
        };
        TrustStore::from_roots(&[&root]).unwrap()
    }

    fn policy(level: VerificationLevel) -> Policy {
        Policy {
            level,
            verify_timestamp: VerifyTimestamp::Always,
        }
    }

    fn signed(pki: &Pki, protected: &Value) -> Envelope {
        let bytes = pki.envelope(protected, &target(DIGEST, MEDIA_TYPE, 526), &json!({}));
        Envelope::parse(&bytes).unwrap()
    }

    fn check(
        envelope: &Envelope,
        store: &TrustStore,
        level: VerificationLevel,
    ) -> Result<Verified, VerifyError> {
        verify(
            envelope,
            &artifact(),
            store,
            policy(level),
            SystemTime::now(),
        )
    }

    const ALL_LEVELS: [VerificationLevel; 3] = [
        VerificationLevel::Strict,
        VerificationLevel::Permissive,
        VerificationLevel::Audit,
    ];

    #[test]
    fn every_allowed_algorithm_verifies() {
        for key in [
            SignerKey::P256,
            SignerKey::P384,
            SignerKey::P521,
            SignerKey::Rsa2048,
            SignerKey::Rsa3072,
        ] {
            let pki = Pki::new(key);
            let verified = check(
                &signed(&pki, &pki.protected()),
                &store(&pki.ca, false),
                VerificationLevel::Strict,
            )
            .unwrap_or_else(|e| panic!("{key:?}: {e}"));
            assert_eq!(verified.trust_root.as_deref(), Some("default"));
            assert!(verified.logged.is_empty());
        }
    }

    #[test]
    fn a_self_signed_signing_certificate_as_root_verifies() {
        let pki = Pki::self_signed(SignerKey::Rsa2048);
        let verified = check(
            &signed(&pki, &pki.protected()),
            &store(&pki.leaf, false),
            VerificationLevel::Strict,
        )
        .unwrap();
        assert_eq!(verified.trust_root.as_deref(), Some("default"));
    }

    #[test]
    fn a_tampered_payload_fails_integrity_at_every_level() {
        let pki = Pki::new(SignerKey::P256);
        for level in ALL_LEVELS {
            let e = check(&tamper_payload(&pki), &store(&pki.ca, false), level).unwrap_err();
            assert_eq!(e.validation, Validation::Integrity, "{e}");
            assert!(e.reason.contains("does not verify"), "{e}");
        }
    }

    /// An envelope whose payload was replaced after signing.
    fn tamper_payload(pki: &Pki) -> Envelope {
        let bytes = pki.envelope(
            &pki.protected(),
            &target(DIGEST, MEDIA_TYPE, 526),
            &json!({}),
        );
        let mut raw: Value = serde_json::from_slice(&bytes).unwrap();
        let other = json!({"targetArtifact": target(DIGEST, MEDIA_TYPE, 527)});
        raw["payload"] = json!(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            other.to_string()
        ));
        Envelope::parse(raw.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_signature_for_another_artifact_fails_integrity() {
        let pki = Pki::new(SignerKey::P256);
        let store = store(&pki.ca, false);
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        for descriptor in [
            target(other, MEDIA_TYPE, 526),
            target(DIGEST, "application/vnd.oci.image.manifest.v1+json", 526),
            target(DIGEST, MEDIA_TYPE, 1),
        ] {
            let envelope =
                Envelope::parse(&pki.envelope(&pki.protected(), &descriptor, &json!({}))).unwrap();
            let e = check(&envelope, &store, VerificationLevel::Audit).unwrap_err();
            assert_eq!(e.validation, Validation::Integrity, "{e}");
        }
    }

    #[test]
    fn an_algorithm_that_does_not_match_the_key_fails_integrity() {
        let pki = Pki::new(SignerKey::P256);
        let mut protected = pki.protected();
        protected["alg"] = json!("ES384");
        let e = check(
            &signed(&pki, &protected),
            &store(&pki.ca, false),
            VerificationLevel::Audit,
        )
        .unwrap_err();
        assert_eq!(e.validation, Validation::Integrity);
        assert!(e.reason.contains("ES256"), "{e}");
    }

    #[test]
    fn an_untrusted_chain_fails_authenticity_except_in_audit() {
        let pki = Pki::new(SignerKey::P256);
        let other = Pki::new(SignerKey::P256);
        let envelope = signed(&pki, &pki.protected());
        for level in [VerificationLevel::Strict, VerificationLevel::Permissive] {
            let e = check(&envelope, &store(&other.ca, false), level).unwrap_err();
            assert_eq!(e.validation, Validation::Authenticity, "{e}");
        }
        let audited = check(
            &envelope,
            &store(&other.ca, false),
            VerificationLevel::Audit,
        )
        .unwrap();
        assert_eq!(audited.trust_root, None);
        assert_eq!(audited.logged.len(), 1);
        assert_eq!(audited.logged[0].validation, Validation::Authenticity);
    }

    #[test]
    fn an_expired_signature_fails_only_in_strict() {
        let pki = Pki::new(SignerKey::P256);
        let mut protected = pki.protected();
        protected["io.cncf.notary.expiry"] = json!("2025-02-01T00:00:00Z");
        protected["crit"] = json!(["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]);
        let envelope = signed(&pki, &protected);
        let store = store(&pki.ca, false);
        let e = check(&envelope, &store, VerificationLevel::Strict).unwrap_err();
        assert_eq!(e.validation, Validation::Expiry);
        for level in [VerificationLevel::Permissive, VerificationLevel::Audit] {
            let verified = check(&envelope, &store, level).unwrap();
            assert_eq!(verified.logged[0].validation, Validation::Expiry);
        }
        protected["io.cncf.notary.expiry"] = json!("2999-01-01T00:00:00Z");
        assert!(check(&signed(&pki, &protected), &store, VerificationLevel::Strict).is_ok());
    }

    #[test]
    fn an_expired_signing_certificate_fails_the_timestamp_validation_only_in_strict() {
        let pki = Pki::expired_leaf();
        let mut protected = pki.protected();
        protected["io.cncf.notary.signingTime"] = json!("2019-06-01T00:00:00Z");
        let envelope = signed(&pki, &protected);
        let store = store(&pki.ca, false);
        let e = check(&envelope, &store, VerificationLevel::Strict).unwrap_err();
        assert_eq!(e.validation, Validation::TrustedTimestamp, "{e}");
        let verified = check(&envelope, &store, VerificationLevel::Permissive).unwrap();
        assert_eq!(verified.trust_root.as_deref(), Some("default"));
        // Claimed outside the certificate's validity, the chain is not authentic.
        let outside = signed(&pki, &pki.protected());
        let e = check(&outside, &store, VerificationLevel::Permissive).unwrap_err();
        assert_eq!(e.validation, Validation::Authenticity, "{e}");
    }

    #[test]
    fn a_timestamp_is_required_with_a_tsa_root_and_always() {
        let pki = Pki::new(SignerKey::P256);
        let envelope = signed(&pki, &pki.protected());
        let with_tsa = store(&pki.ca, true);
        let e = check(&envelope, &with_tsa, VerificationLevel::Strict).unwrap_err();
        assert_eq!(e.validation, Validation::TrustedTimestamp);
        assert!(
            e.reason.contains("no timestamp countersignature was found"),
            "{e}"
        );
        assert!(check(&envelope, &with_tsa, VerificationLevel::Permissive).is_ok());
        // Without a tsa store, or with afterCertExpiry and valid certificates, none is needed.
        assert!(check(&envelope, &store(&pki.ca, false), VerificationLevel::Strict).is_ok());
        let after_expiry = Policy {
            level: VerificationLevel::Strict,
            verify_timestamp: VerifyTimestamp::AfterCertExpiry,
        };
        assert!(verify(
            &envelope,
            &artifact(),
            &with_tsa,
            after_expiry,
            SystemTime::now()
        )
        .is_ok());
    }

    #[test]
    fn an_unverifiable_timestamp_is_a_doubt_and_denied_in_strict() {
        let pki = Pki::new(SignerKey::P256);
        let bytes = pki.envelope(
            &pki.protected(),
            &target(DIGEST, MEDIA_TYPE, 526),
            &json!({"io.cncf.notary.timestampSignature": "MAA="}),
        );
        let envelope = Envelope::parse(&bytes).unwrap();
        let e = check(&envelope, &store(&pki.ca, true), VerificationLevel::Strict).unwrap_err();
        assert_eq!(e.validation, Validation::TrustedTimestamp);
        assert!(e.reason.contains("timestamp token is malformed"), "{e}");
    }

    #[test]
    fn certificates_with_revocation_information_fail_only_in_strict() {
        let pki = Pki::with_crl_distribution_point();
        let envelope = signed(&pki, &pki.protected());
        let store = store(&pki.ca, false);
        let e = check(&envelope, &store, VerificationLevel::Strict).unwrap_err();
        assert_eq!(e.validation, Validation::Revocation);
        assert!(check(&envelope, &store, VerificationLevel::Permissive).is_ok());
    }

    #[test]
    fn signing_authority_signatures_are_not_authentic_with_ca_stores() {
        let pki = Pki::new(SignerKey::P256);
        let protected = json!({
            "alg": "ES256",
            "cty": "application/vnd.cncf.notary.payload.v1+json",
            "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime"],
            "io.cncf.notary.signingScheme": "notary.x509.signingAuthority",
            "io.cncf.notary.authenticSigningTime": "2025-01-01T00:00:00Z",
        });
        let envelope = signed(&pki, &protected);
        let e = check(&envelope, &store(&pki.ca, false), VerificationLevel::Strict).unwrap_err();
        assert_eq!(e.validation, Validation::Authenticity);
        assert!(check(&envelope, &store(&pki.ca, false), VerificationLevel::Audit).is_ok());
    }

    #[test]
    fn levels_enforce_as_the_trust_policy_specification_says() {
        let strict = policy(VerificationLevel::Strict);
        let permissive = policy(VerificationLevel::Permissive);
        let audit = policy(VerificationLevel::Audit);
        for validation in [
            Validation::Integrity,
            Validation::Authenticity,
            Validation::Expiry,
            Validation::TrustedTimestamp,
            Validation::Revocation,
        ] {
            assert!(strict.enforces(validation));
            assert_eq!(
                permissive.enforces(validation),
                matches!(validation, Validation::Integrity | Validation::Authenticity)
            );
            assert_eq!(
                audit.enforces(validation),
                validation == Validation::Integrity
            );
        }
    }
}
