//! The cosign verdict over fetched signature layers: which trust roots produced a valid
//! signature for the resolved digest, and whether that satisfies the rule's threshold and
//! required roots (Connaisseur 2.x semantics: distinct roots are counted, not signatures).
//!
//! A signature counts for a root when it verifies under the root's key (for a keyless root:
//! under the key of a Fulcio certificate the root accepts), its payload is a cosign
//! simple-signing payload for exactly the digest resolved from the registry, and, with the
//! transparency log on, its Rekor bundle verifies and records this very signature (and
//! certificate).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::bundle::{Bundle, BundleError, LogEntry};
use super::keyless::KeylessRoot;
use super::layer::{SignatureLayer, StoredBundle};
use super::payload::{self, Claims, PayloadError};
use super::scheme;
use super::sigstore_bundle::SigstoreBundle;
use super::sigstore_verify;
use super::trusted_root::{Authority, LogKeys};
use crate::config::TrustRootError;
use crate::crypto::{KeyError, PublicKey};

/// Failure reasons listed per trust root at most; beyond that they are counted, so that a
/// signature manifest with many layers cannot make the message unbounded.
const MAX_LISTED_REASONS: usize = 8;

/// A trust root's name and what its signatures are checked with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedRoot {
    pub name: String,
    pub verifier: RootVerifier,
}

/// How a trust root recognises its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootVerifier {
    /// A public key (`key`).
    Key(PublicKey),
    /// A Fulcio certificate identity (`keyless`).
    Keyless(Box<KeylessRoot>),
}

/// Whether signatures must be proven to be in the transparency log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransparencyLog {
    /// `verifyInTransparencyLog: false`: bundles are ignored.
    Ignore,
    /// Every signature needs a log entry made by one of these logs (each trusted within
    /// its window).
    Require(LogKeys),
}

/// What the rule asks for beyond a valid signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignPolicy {
    /// Minimum number of distinct trust roots with a valid signature; `None`: no check.
    pub threshold: Option<usize>,
    /// Trust roots that must each have produced a valid signature.
    pub required: Vec<String>,
    pub transparency_log: TransparencyLog,
    /// The time-stamping authorities whose RFC 3161 timestamps in bundles count.
    pub timestamp_authorities: Vec<Authority>,
}

/// A successful verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The digest the valid signatures sign: the one resolved from the registry.
    pub digest: String,
    /// Per evaluated trust root, what was found (for explanations).
    pub roots: Vec<RootEvidence>,
}

/// What one trust root contributed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootEvidence {
    pub root: String,
    /// The valid signatures, or why none was.
    pub outcome: Result<Vec<SignatureEvidence>, String>,
}

/// One valid signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureEvidence {
    /// Position of the signature, from 1: the layers of the signature manifest first, then
    /// the bundles.
    pub layer: usize,
    /// `critical.identity.docker-reference` of the payload, or the name of a bundle
    /// statement's subject.
    pub docker_reference: String,
    /// `(logIndex, integratedTime)` of the Rekor entry, when the log was checked.
    pub log_entry: Option<(i64, i64)>,
}

/// Why cosign validation failed; `Display` is the text shown to the cluster user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CosignError {
    /// The rule names trust roots the validator does not have.
    TrustRoots {
        validator: String,
        error: TrustRootError,
    },
    /// A trust root whose key cannot be used.
    UnusableRoot {
        root: String,
        reason: String,
    },
    /// `host.rekorPubkey` (or the built-in key) is not a usable key.
    RekorKey(KeyError),
    /// `host.ctLogPubkey` is not a usable key.
    CtLogKey(KeyError),
    /// `host.fulcioCert` (or the trusted root's authorities) cannot be used as trust anchors.
    FulcioRoots(String),
    ThresholdNotReached {
        found: usize,
        threshold: usize,
    },
    MissingRequired(Vec<String>),
    /// No trust root produced a valid signature; one reason per root.
    NoValidSignature(Vec<String>),
}

impl fmt::Display for CosignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CosignError::TrustRoots { validator, error } => write!(
                f,
                "error getting verifiers: error getting trust roots for validator {validator}: {error}"
            ),
            CosignError::UnusableRoot { root, reason } => {
                write!(f, "error getting verifiers: trust root {root}: {reason}")
            }
            CosignError::RekorKey(error) => write!(
                f,
                "error setting up cosign options: error getting rekor public keys: {error}"
            ),
            CosignError::CtLogKey(error) => write!(
                f,
                "error setting up cosign options: error getting ct log public keys: {error}"
            ),
            CosignError::FulcioRoots(reason) => write!(f, "error getting fulcio roots: {reason}"),
            CosignError::ThresholdNotReached { found, threshold } => {
                write!(f, "validation threshold not reached ({found}/{threshold})")
            }
            CosignError::MissingRequired(roots) => {
                write!(f, "missing required signatures from [{}]", roots.join(" "))
            }
            CosignError::NoValidSignature(reasons) => {
                write!(f, "error validating image: [{}]", reasons.join(" "))
            }
        }
    }
}

impl std::error::Error for CosignError {}

/// One signature of either storage, with what can be known about it before a root is tried.
enum Candidate<'a> {
    Layer(LayerCandidate<'a>),
    Bundle {
        stored: &'a StoredBundle,
        parsed: Result<SigstoreBundle, String>,
        policy: &'a CosignPolicy,
    },
}

impl<'a> Candidate<'a> {
    fn bundle(stored: &'a StoredBundle, policy: &'a CosignPolicy) -> Candidate<'a> {
        Candidate::Bundle {
            stored,
            parsed: SigstoreBundle::parse(&stored.bytes).map_err(|e| e.to_string()),
            policy,
        }
    }

    /// How explanations name the signature at `position` (from 1).
    fn label(&self, position: usize) -> String {
        match self {
            Candidate::Layer(_) => format!("signature {position}"),
            Candidate::Bundle { stored, .. } => format!("bundle {}", stored.manifest_digest),
        }
    }

    fn check(
        &self,
        position: usize,
        verifier: &RootVerifier,
        digest: &str,
    ) -> Result<SignatureEvidence, String> {
        match self {
            Candidate::Layer(layer) => layer.check(position, verifier, digest),
            Candidate::Bundle { parsed, policy, .. } => {
                let bundle = parsed.as_ref()?;
                let evidence =
                    sigstore_verify::check(bundle, verifier, digest, policy, unix_now())?;
                Ok(SignatureEvidence {
                    layer: position,
                    docker_reference: evidence.subject,
                    log_entry: evidence.log_entry,
                })
            }
        }
    }
}

/// The root-independent facts about one layer, computed once.
struct LayerCandidate<'a> {
    layer: &'a SignatureLayer,
    signature: Result<Vec<u8>, String>,
    claims: Result<Claims, PayloadError>,
    /// `None` when the transparency log is ignored.
    log_entry: Option<Result<LogEntry, LogProblem>>,
}

enum LogProblem {
    NoBundle,
    Bundle(BundleError),
}

impl fmt::Display for LogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogProblem::NoBundle => f.write_str(
                "no Rekor bundle attached, so the signature is not proven to be in the transparency log (online Rekor lookups are not supported; verifyInTransparencyLog: false accepts signatures without a bundle)",
            ),
            LogProblem::Bundle(error) => error.fmt(f),
        }
    }
}

impl<'a> LayerCandidate<'a> {
    fn new(layer: &'a SignatureLayer, log: &TransparencyLog) -> LayerCandidate<'a> {
        let signature = STANDARD
            .decode(layer.signature.trim())
            .map_err(|e| format!("signature annotation is not base64: {e}"));
        let log_entry = match log {
            TransparencyLog::Ignore => None,
            TransparencyLog::Require(logs) => Some(match &layer.bundle {
                None => Err(LogProblem::NoBundle),
                Some(json) => Bundle::parse(json)
                    .and_then(|bundle| bundle.verify_with(logs))
                    .map_err(LogProblem::Bundle),
            }),
        };
        LayerCandidate {
            layer,
            signature,
            claims: payload::parse(&layer.payload),
            log_entry,
        }
    }

    /// Whether this layer (number `layer`) is a valid signature by `verifier` for `digest`.
    fn check(
        &self,
        layer: usize,
        verifier: &RootVerifier,
        digest: &str,
    ) -> Result<SignatureEvidence, String> {
        let signature = self.signature.as_ref()?;
        let payload = &self.layer.payload;
        let logged = || match &self.log_entry {
            None => Ok(None),
            Some(Err(problem)) => Err(problem.to_string()),
            Some(Ok(entry)) => Ok(Some(entry)),
        };
        let log_entry = match verifier {
            RootVerifier::Key(key) => {
                scheme::verify(key, payload, signature).map_err(|e| e.to_string())?;
                let log_entry = logged()?;
                if let Some(entry) = log_entry {
                    entry
                        .binds(payload, signature, key)
                        .map_err(|e| e.to_string())?;
                }
                log_entry
            }
            RootVerifier::Keyless(root) => {
                let log_entry = logged()?;
                // The certificate must have been valid when the log integrated the
                // signature; without the log (verifyInTransparencyLog: false) cosign
                // checks it now.
                let at = match log_entry {
                    Some(entry) => u64::try_from(entry.integrated_time).map_err(|_| {
                        format!(
                            "transparency log entry has a negative integrated time {}",
                            entry.integrated_time
                        )
                    })?,
                    None => unix_now(),
                };
                let certificate = root
                    .certify(
                        self.layer.certificate.as_deref(),
                        self.layer.chain.as_deref(),
                        at,
                    )
                    .map_err(|e| e.to_string())?;
                scheme::verify(&certificate.key, payload, signature).map_err(|e| e.to_string())?;
                if let Some(entry) = log_entry {
                    entry
                        .binds_certificate(payload, signature, &certificate.der)
                        .map_err(|e| e.to_string())?;
                }
                log_entry
            }
        };
        let log_entry = log_entry.map(|entry| (entry.log_index, entry.integrated_time));
        let claims = self.claims.as_ref().map_err(ToString::to_string)?;
        if claims.digest != digest {
            return Err(format!(
                "payload signs digest {}, not the image's digest {digest}",
                claims.digest
            ));
        }
        Ok(SignatureEvidence {
            layer,
            docker_reference: claims.docker_reference.clone(),
            log_entry,
        })
    }
}

/// Verifies the signatures of the image whose manifest digest the registry resolved to
/// `resolved_digest` — the layers of its `.sig` manifest and the Sigstore bundles among its
/// referrers, which count alike — against `roots` (the trust roots the rule evaluates, in
/// order).
pub fn verify(
    layers: &[SignatureLayer],
    bundles: &[StoredBundle],
    resolved_digest: &str,
    roots: &[TrustedRoot],
    policy: &CosignPolicy,
) -> Result<Verified, CosignError> {
    let log = &policy.transparency_log;
    let candidates: Vec<Candidate> = layers
        .iter()
        .map(|layer| Candidate::Layer(LayerCandidate::new(layer, log)))
        .chain(
            bundles
                .iter()
                .map(|stored| Candidate::bundle(stored, policy)),
        )
        .collect();
    let evidence: Vec<RootEvidence> = roots
        .iter()
        .map(|root| RootEvidence {
            root: root.name.clone(),
            outcome: root_outcome(&candidates, &root.verifier, resolved_digest),
        })
        .collect();
    // Distinct names: a root listed twice (by the caller or the configuration) is one root.
    let mut signed_names: Vec<&str> = evidence
        .iter()
        .filter(|root| root.outcome.is_ok())
        .map(|root| root.root.as_str())
        .collect();
    signed_names.sort_unstable();
    signed_names.dedup();
    let found = signed_names.len();
    if let Some(threshold) = policy.threshold {
        if found < threshold {
            return Err(CosignError::ThresholdNotReached { found, threshold });
        }
    }
    let missing: Vec<String> = policy
        .required
        .iter()
        .filter(|name| signed_names.binary_search(&name.as_str()).is_err())
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(CosignError::MissingRequired(missing));
    }
    if found == 0 {
        let reasons = if candidates.is_empty() {
            vec!["no signatures found".to_owned()]
        } else {
            evidence
                .into_iter()
                .filter_map(|root| root.outcome.err())
                .collect()
        };
        return Err(CosignError::NoValidSignature(reasons));
    }
    Ok(Verified {
        digest: resolved_digest.to_owned(),
        roots: evidence,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The valid signatures of one root, or `no matching signatures: <why, per layer>`.
fn root_outcome(
    candidates: &[Candidate],
    verifier: &RootVerifier,
    digest: &str,
) -> Result<Vec<SignatureEvidence>, String> {
    let mut valid = Vec::new();
    let mut reasons = Vec::new();
    for (index, candidate) in candidates.iter().enumerate() {
        let position = index + 1;
        match candidate.check(position, verifier, digest) {
            Ok(evidence) => valid.push(evidence),
            Err(reason) => reasons.push(format!("{}: {reason}", candidate.label(position))),
        }
    }
    if !valid.is_empty() {
        return Ok(valid);
    }
    if candidates.is_empty() {
        return Err("no signatures found".to_owned());
    }
    let unlisted = reasons.len().saturating_sub(MAX_LISTED_REASONS);
    reasons.truncate(MAX_LISTED_REASONS);
    if unlisted > 0 {
        reasons.push(format!("and {unlisted} more"));
    }
    Err(format!("no matching signatures: {}", reasons.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::super::bundle::fixtures::{bundle, hashedrekord};
    use super::super::payload::cosign_payload;
    use super::*;
    use crate::crypto::tests::TestSigner;
    use crate::crypto::SignatureAlgorithm;

    const DIGEST: &str = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533";
    const OTHER: &str = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";
    const REFERENCE: &str = "registry.test/team/app";

    /// A layer as cosign writes it: `signer` signs the payload for `digest`; with `rekor`,
    /// a bundle of that log records it.
    fn layer(signer: &TestSigner, digest: &str, rekor: Option<&TestSigner>) -> SignatureLayer {
        let payload = cosign_payload(REFERENCE, digest);
        let signature = signer.sign(&payload);
        let bundle = rekor.map(|rekor| {
            bundle(
                rekor,
                hashedrekord(&payload, &signature, &signer.public_key_pem()),
            )
        });
        SignatureLayer {
            payload,
            signature: STANDARD.encode(signature),
            bundle,
            certificate: None,
            chain: None,
        }
    }

    fn root(name: &str, signer: &TestSigner) -> TrustedRoot {
        TrustedRoot {
            name: name.to_owned(),
            verifier: RootVerifier::Key(signer.public_key()),
        }
    }

    fn policy(rekor: Option<&TestSigner>) -> CosignPolicy {
        CosignPolicy {
            threshold: None,
            required: Vec::new(),
            transparency_log: match rekor {
                Some(rekor) => TransparencyLog::Require(LogKeys::single(rekor.public_key())),
                None => TransparencyLog::Ignore,
            },
            timestamp_authorities: Vec::new(),
        }
    }

    fn message(result: Result<Verified, CosignError>) -> String {
        match result {
            Ok(verified) => panic!("verified unexpectedly: {verified:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_logged_signature_verifies_to_the_resolved_digest() {
        let (rekor, alice) = (TestSigner::p256(), TestSigner::p256());
        let layers = [layer(&alice, DIGEST, Some(&rekor))];
        let verified = verify(
            &layers,
            &[],
            DIGEST,
            &[root("alice", &alice)],
            &policy(Some(&rekor)),
        );
        assert_eq!(
            verified,
            Ok(Verified {
                digest: DIGEST.to_owned(),
                roots: vec![RootEvidence {
                    root: "alice".to_owned(),
                    outcome: Ok(vec![SignatureEvidence {
                        layer: 1,
                        docker_reference: REFERENCE.to_owned(),
                        log_entry: Some((7, 1_700_000_000)),
                    }]),
                }],
            })
        );
    }

    #[test]
    fn every_key_kind_verifies() {
        let rekor = TestSigner::p256();
        for signer in [
            TestSigner::p384(),
            TestSigner::p521(),
            TestSigner::rsa(SignatureAlgorithm::RsaPkcs1Sha256),
            TestSigner::rsa(SignatureAlgorithm::RsaPssSha256),
            TestSigner::ed25519(),
        ] {
            let layers = [layer(&signer, DIGEST, Some(&rekor))];
            let verified = verify(
                &layers,
                &[],
                DIGEST,
                &[root("r", &signer)],
                &policy(Some(&rekor)),
            );
            assert_eq!(
                verified.map(|v| v.digest),
                Ok(DIGEST.to_owned()),
                "{}",
                signer.public_key().kind()
            );
        }
    }

    #[test]
    fn a_signature_by_another_key_does_not_match() {
        let (alice, mallory) = (TestSigner::p256(), TestSigner::p256());
        let layers = [layer(&mallory, DIGEST, None)];
        assert_eq!(
            message(verify(
                &layers,
                &[],
                DIGEST,
                &[root("alice", &alice)],
                &policy(None)
            )),
            "error validating image: [no matching signatures: signature 1: invalid signature]"
        );
    }

    #[test]
    fn a_tampered_payload_does_not_match() {
        let alice = TestSigner::p256();
        let mut tampered = layer(&alice, OTHER, None);
        tampered.payload = cosign_payload(REFERENCE, DIGEST);
        assert_eq!(
            message(verify(
                &[tampered],
                &[],
                DIGEST,
                &[root("alice", &alice)],
                &policy(None)
            )),
            "error validating image: [no matching signatures: signature 1: invalid signature]"
        );
    }

    #[test]
    fn a_payload_for_another_digest_does_not_match() {
        let alice = TestSigner::p256();
        let layers = [layer(&alice, OTHER, None)];
        assert_eq!(
            message(verify(&layers, &[], DIGEST, &[root("alice", &alice)], &policy(None))),
            format!("error validating image: [no matching signatures: signature 1: payload signs digest {OTHER}, not the image's digest {DIGEST}]")
        );
    }

    #[test]
    fn no_layers_means_no_signatures_found() {
        let alice = TestSigner::p256();
        assert_eq!(
            message(verify(
                &[],
                &[],
                DIGEST,
                &[root("alice", &alice)],
                &policy(None)
            )),
            "error validating image: [no signatures found]"
        );
    }

    #[test]
    fn threshold_counts_distinct_roots() {
        let (alice, bob, charlie) = (
            TestSigner::p256(),
            TestSigner::p256(),
            TestSigner::ed25519(),
        );
        let roots = [
            root("alice", &alice),
            root("bob", &bob),
            root("charlie", &charlie),
        ];
        let two_of_three = CosignPolicy {
            threshold: Some(2),
            ..policy(None)
        };
        let signed_by_two = [layer(&alice, DIGEST, None), layer(&bob, DIGEST, None)];
        let verified = verify(&signed_by_two, &[], DIGEST, &roots, &two_of_three);
        assert_eq!(
            verified.map(|v| v
                .roots
                .iter()
                .map(|r| r.outcome.is_ok())
                .collect::<Vec<_>>()),
            Ok(vec![true, true, false])
        );
        let signed_by_one = [layer(&bob, DIGEST, None)];
        assert_eq!(
            message(verify(&signed_by_one, &[], DIGEST, &roots, &two_of_three)),
            "validation threshold not reached (1/2)"
        );
        // Two signatures by the same root are still one root (quirk 12 fixed).
        let twice_by_alice = [layer(&alice, DIGEST, None), layer(&alice, DIGEST, None)];
        assert_eq!(
            message(verify(&twice_by_alice, &[], DIGEST, &roots, &two_of_three)),
            "validation threshold not reached (1/2)"
        );
        let alice_twice = [root("alice", &alice), root("alice", &alice)];
        assert_eq!(
            message(verify(
                &twice_by_alice,
                &[],
                DIGEST,
                &alice_twice,
                &two_of_three
            )),
            "validation threshold not reached (1/2)"
        );
        let all = CosignPolicy {
            threshold: Some(3),
            ..policy(None)
        };
        assert_eq!(
            message(verify(&[], &[], DIGEST, &roots, &all)),
            "validation threshold not reached (0/3)"
        );
    }

    #[test]
    fn required_roots_must_have_signed() {
        let (alice, charlie) = (TestSigner::p256(), TestSigner::p256());
        let roots = [root("alice", &alice), root("charlie", &charlie)];
        let required = CosignPolicy {
            required: vec!["alice".to_owned(), "charlie".to_owned()],
            ..policy(None)
        };
        let by_charlie = [layer(&charlie, DIGEST, None)];
        assert_eq!(
            message(verify(&by_charlie, &[], DIGEST, &roots, &required)),
            "missing required signatures from [alice]"
        );
        assert_eq!(
            message(verify(&[], &[], DIGEST, &roots, &required)),
            "missing required signatures from [alice charlie]"
        );
        let by_both = [layer(&charlie, DIGEST, None), layer(&alice, DIGEST, None)];
        assert!(verify(&by_both, &[], DIGEST, &roots, &required).is_ok());
    }

    #[test]
    fn without_a_bundle_a_signature_counts_only_when_the_log_is_off() {
        let (rekor, alice) = (TestSigner::p256(), TestSigner::p256());
        let layers = [layer(&alice, DIGEST, None)];
        let roots = [root("alice", &alice)];
        let refused = message(verify(&layers, &[], DIGEST, &roots, &policy(Some(&rekor))));
        assert!(
            refused.starts_with(
                "error validating image: [no matching signatures: signature 1: no Rekor bundle attached"
            ),
            "{refused}"
        );
        assert!(verify(&layers, &[], DIGEST, &roots, &policy(None)).is_ok());
    }

    #[test]
    fn a_bundle_must_record_this_signature() {
        let (rekor, alice) = (TestSigner::p256(), TestSigner::p256());
        let payload = cosign_payload(REFERENCE, DIGEST);
        let mut logged = layer(&alice, DIGEST, None);
        // The log holds a different (equally valid) signature over the same payload.
        let other_signature = alice.sign(b"something else");
        logged.bundle = Some(bundle(
            &rekor,
            hashedrekord(&payload, &other_signature, &alice.public_key_pem()),
        ));
        assert_eq!(
            message(verify(&[logged], &[], DIGEST, &[root("alice", &alice)], &policy(Some(&rekor)))),
            "error validating image: [no matching signatures: signature 1: transparency log entry records another signature]"
        );
    }

    #[test]
    fn a_bundle_from_another_log_does_not_count() {
        let (rekor, impostor, alice) = (TestSigner::p256(), TestSigner::p256(), TestSigner::p256());
        let layers = [layer(&alice, DIGEST, Some(&impostor))];
        let refused = message(verify(
            &layers,
            &[],
            DIGEST,
            &[root("alice", &alice)],
            &policy(Some(&rekor)),
        ));
        assert!(
            refused.contains("not the configured Rekor key's log"),
            "{refused}"
        );
        // The impostor claims the real log's ID: its timestamp does not verify.
        let mut forged = layers;
        forged[0].bundle = forged[0].bundle.as_ref().map(|json| {
            json.replace(
                &impostor.public_key().sha256_id(),
                &rekor.public_key().sha256_id(),
            )
        });
        let refused = message(verify(
            &forged,
            &[],
            DIGEST,
            &[root("alice", &alice)],
            &policy(Some(&rekor)),
        ));
        assert!(
            refused.ends_with(
                "signature 1: Rekor bundle's SignedEntryTimestamp does not verify with the Rekor public key]"
            ),
            "{refused}"
        );
    }

    #[test]
    fn unreadable_layers_are_reasons_not_panics() {
        let alice = TestSigner::p256();
        let mut not_base64 = layer(&alice, DIGEST, None);
        not_base64.signature = "%%%".to_owned();
        let mut not_json = layer(&alice, DIGEST, None);
        not_json.payload = b"\xff".to_vec();
        not_json.signature = STANDARD.encode(alice.sign(&not_json.payload));
        let refused = message(verify(
            &[not_base64, not_json],
            &[],
            DIGEST,
            &[root("alice", &alice)],
            &policy(None),
        ));
        assert!(
            refused.contains("signature 1: signature annotation is not base64")
                && refused.contains("signature 2: payload is not a simple-signing payload"),
            "{refused}"
        );
    }

    #[test]
    fn reasons_are_bounded() {
        let (alice, mallory) = (TestSigner::p256(), TestSigner::p256());
        let layers: Vec<SignatureLayer> = (0..20).map(|_| layer(&mallory, DIGEST, None)).collect();
        let refused = message(verify(
            &layers,
            &[],
            DIGEST,
            &[root("alice", &alice)],
            &policy(None),
        ));
        assert!(refused.ends_with("; and 12 more]"), "{refused}");
        assert!(!refused.contains("signature 9:"), "{refused}");
    }

    mod keyless {
        use super::super::super::identity::ExpectedIdentity;
        use super::super::super::keyless::fixtures::{ok, LeafSpec, TestFulcio, TestLeaf, GITHUB};
        use super::super::super::keyless::KeylessRoot;
        use super::*;
        use crate::config::{IdentityMatch, Keyless};

        fn keyless_root(name: &str, fulcio: &TestFulcio) -> TrustedRoot {
            let identity = ok(ExpectedIdentity::new(&Keyless {
                issuer: IdentityMatch::Regex("github".to_owned()),
                subject: IdentityMatch::Exact("alice@example.org".to_owned()),
            }));
            TrustedRoot {
                name: name.to_owned(),
                verifier: RootVerifier::Keyless(Box::new(KeylessRoot {
                    identity,
                    trust: fulcio.trust(true),
                })),
            }
        }

        /// A keyless layer as cosign writes it: `leaf` signs the payload for `digest`;
        /// with `rekor`, a bundle of that log records the signature and certificate.
        fn keyless_layer(
            fulcio: &TestFulcio,
            leaf: &TestLeaf,
            digest: &str,
            rekor: Option<&TestSigner>,
        ) -> SignatureLayer {
            let payload = cosign_payload(REFERENCE, digest);
            let signature = leaf.sign(&payload);
            SignatureLayer {
                bundle: rekor
                    .map(|rekor| bundle(rekor, hashedrekord(&payload, &signature, &leaf.pem))),
                payload,
                signature: STANDARD.encode(signature),
                certificate: Some(leaf.pem.clone()),
                chain: Some(fulcio.chain_pem()),
            }
        }

        #[test]
        fn a_logged_keyless_signature_verifies_at_its_integrated_time() {
            let (fulcio, rekor) = (TestFulcio::new(), TestSigner::p256());
            let leaf = fulcio.leaf(&LeafSpec::default());
            let layers = [keyless_layer(&fulcio, &leaf, DIGEST, Some(&rekor))];
            let verified = verify(
                &layers,
                &[],
                DIGEST,
                &[keyless_root("who", &fulcio)],
                &policy(Some(&rekor)),
            );
            assert_eq!(
                verified.map(|v| v.roots),
                Ok(vec![RootEvidence {
                    root: "who".to_owned(),
                    outcome: Ok(vec![SignatureEvidence {
                        layer: 1,
                        docker_reference: REFERENCE.to_owned(),
                        log_entry: Some((7, 1_700_000_000)),
                    }]),
                }])
            );
            // Without the log the certificate is judged now, when it has long expired.
            let refused = message(verify(
                &layers,
                &[],
                DIGEST,
                &[keyless_root("who", &fulcio)],
                &policy(None),
            ));
            assert!(refused.ends_with(": certificate expired]"), "{refused}");
        }

        #[test]
        fn without_the_log_a_valid_certificate_verifies_now() {
            let fulcio = TestFulcio::new();
            let leaf = fulcio.leaf(&LeafSpec {
                short_lived: false,
                ..LeafSpec::default()
            });
            let layers = [keyless_layer(&fulcio, &leaf, DIGEST, None)];
            assert!(verify(
                &layers,
                &[],
                DIGEST,
                &[keyless_root("who", &fulcio)],
                &policy(None)
            )
            .is_ok());
            let other = fulcio.leaf(&LeafSpec {
                short_lived: false,
                ..LeafSpec::default()
            });
            let mut swapped = layers[0].clone();
            swapped.certificate = Some(other.pem.clone());
            assert_eq!(
                message(verify(
                    &[swapped],
                    &[],
                    DIGEST,
                    &[keyless_root("who", &fulcio)],
                    &policy(None)
                )),
                "error validating image: [no matching signatures: signature 1: invalid signature]"
            );
        }

        #[test]
        fn the_bundle_must_record_this_certificate() {
            let (fulcio, rekor) = (TestFulcio::new(), TestSigner::p256());
            let leaf = fulcio.leaf(&LeafSpec::default());
            let other = fulcio.leaf(&LeafSpec::default());
            let mut layer = keyless_layer(&fulcio, &leaf, DIGEST, None);
            let signature = match STANDARD.decode(&layer.signature) {
                Ok(signature) => signature,
                Err(e) => panic!("{e}"),
            };
            layer.bundle = Some(bundle(
                &rekor,
                hashedrekord(&layer.payload, &signature, &other.pem),
            ));
            assert_eq!(
                message(verify(&[layer], &[], DIGEST, &[keyless_root("who", &fulcio)], &policy(Some(&rekor)))),
                "error validating image: [no matching signatures: signature 1: transparency log entry records another signing certificate]"
            );
        }

        #[test]
        fn keyless_and_key_roots_judge_their_own_signatures() {
            let (fulcio, rekor, alice) =
                (TestFulcio::new(), TestSigner::p256(), TestSigner::p256());
            let leaf = fulcio.leaf(&LeafSpec {
                email: Some("mallory@example.org"),
                ..LeafSpec::default()
            });
            let roots = [root("alice", &alice), keyless_root("who", &fulcio)];
            let all = CosignPolicy {
                threshold: Some(2),
                ..policy(Some(&rekor))
            };
            let by_alice = layer(&alice, DIGEST, Some(&rekor));
            let by_mallory = keyless_layer(&fulcio, &leaf, DIGEST, Some(&rekor));
            assert_eq!(
                message(verify(
                    &[by_alice.clone(), by_mallory],
                    &[],
                    DIGEST,
                    &roots,
                    &all
                )),
                "validation threshold not reached (1/2)"
            );
            let by_who = keyless_layer(
                &fulcio,
                &fulcio.leaf(&LeafSpec::default()),
                DIGEST,
                Some(&rekor),
            );
            let verified = verify(&[by_who.clone(), by_alice], &[], DIGEST, &roots, &all);
            assert_eq!(
                verified.map(|v| v
                    .roots
                    .iter()
                    .map(|r| r
                        .outcome
                        .as_ref()
                        .map(|s| s.iter().map(|e| e.layer).collect::<Vec<_>>())
                        .ok())
                    .collect::<Vec<_>>()),
                Ok(vec![Some(vec![2]), Some(vec![1])])
            );
            let only_who = message(verify(
                &[by_who],
                &[],
                DIGEST,
                &[keyless_root("who", &fulcio), root("alice", &alice)],
                &all,
            ));
            assert_eq!(only_who, "validation threshold not reached (1/2)");
            let mallory_only = keyless_layer(&fulcio, &leaf, DIGEST, Some(&rekor));
            let refused = message(verify(
                &[mallory_only],
                &[],
                DIGEST,
                &[keyless_root("who", &fulcio)],
                &policy(Some(&rekor)),
            ));
            assert_eq!(
                refused,
                format!("error validating image: [no matching signatures: signature 1: none of the expected identities matched what was in the certificate, got subjects [mallory@example.org] with issuer {GITHUB}]")
            );
        }
    }
}
