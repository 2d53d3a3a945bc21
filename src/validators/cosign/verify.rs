//! The cosign verdict over fetched signature layers: which trust roots produced a valid
//! signature for the resolved digest, and whether that satisfies the rule's threshold and
//! required roots (Connaisseur 2.x semantics: distinct roots are counted, not signatures).
//!
//! A signature counts for a root when it verifies under the root's key, its payload is a
//! cosign simple-signing payload for exactly the digest resolved from the registry, and,
//! with the transparency log on, its Rekor bundle verifies and records this very signature.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::bundle::{Bundle, BundleError, LogEntry};
use super::layer::SignatureLayer;
use super::payload::{self, Claims, PayloadError};
use super::scheme;
use crate::config::TrustRootError;
use crate::crypto::{KeyError, PublicKey};

/// Failure reasons listed per trust root at most; beyond that they are counted, so that a
/// signature manifest with many layers cannot make the message unbounded.
const MAX_LISTED_REASONS: usize = 8;

/// A trust root's name and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    pub name: String,
    pub key: PublicKey,
}

/// Whether signatures must be proven to be in the transparency log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransparencyLog {
    /// `verifyInTransparencyLog: false`: bundles are ignored.
    Ignore,
    /// Every signature needs a Rekor bundle verifying under this key.
    Require(PublicKey),
}

/// What the rule asks for beyond a valid signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignPolicy {
    /// Minimum number of distinct trust roots with a valid signature; `None`: no check.
    pub threshold: Option<usize>,
    /// Trust roots that must each have produced a valid signature.
    pub required: Vec<String>,
    pub transparency_log: TransparencyLog,
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
    /// Position of the layer in the signature manifest, from 1.
    pub layer: usize,
    /// `critical.identity.docker-reference` of the payload.
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

/// The root-independent facts about one layer, computed once.
struct Candidate<'a> {
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

impl<'a> Candidate<'a> {
    fn new(layer: &'a SignatureLayer, log: &TransparencyLog) -> Candidate<'a> {
        let signature = STANDARD
            .decode(layer.signature.trim())
            .map_err(|e| format!("signature annotation is not base64: {e}"));
        let log_entry = match log {
            TransparencyLog::Ignore => None,
            TransparencyLog::Require(rekor_key) => Some(match &layer.bundle {
                None => Err(LogProblem::NoBundle),
                Some(json) => Bundle::parse(json)
                    .and_then(|bundle| bundle.verify(rekor_key))
                    .map_err(LogProblem::Bundle),
            }),
        };
        Candidate {
            layer,
            signature,
            claims: payload::parse(&layer.payload),
            log_entry,
        }
    }

    /// Whether this layer (number `layer`) is a valid signature by `key` for `digest`.
    fn check(
        &self,
        layer: usize,
        key: &PublicKey,
        digest: &str,
    ) -> Result<SignatureEvidence, String> {
        let signature = self.signature.as_ref()?;
        scheme::verify(key, &self.layer.payload, signature).map_err(|e| e.to_string())?;
        let log_entry = match &self.log_entry {
            None => None,
            Some(Err(problem)) => return Err(problem.to_string()),
            Some(Ok(entry)) => {
                entry
                    .binds(&self.layer.payload, signature, key)
                    .map_err(|e| e.to_string())?;
                Some((entry.log_index, entry.integrated_time))
            }
        };
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

/// Verifies the signature layers of the image whose manifest digest the registry resolved
/// to `resolved_digest`, against `roots` (the trust roots the rule evaluates, in order).
pub fn verify(
    layers: &[SignatureLayer],
    resolved_digest: &str,
    roots: &[TrustedKey],
    policy: &CosignPolicy,
) -> Result<Verified, CosignError> {
    let candidates: Vec<Candidate> = layers
        .iter()
        .map(|layer| Candidate::new(layer, &policy.transparency_log))
        .collect();
    let evidence: Vec<RootEvidence> = roots
        .iter()
        .map(|root| RootEvidence {
            root: root.name.clone(),
            outcome: root_outcome(&candidates, &root.key, resolved_digest),
        })
        .collect();
    let signed = |name: &str| {
        evidence
            .iter()
            .any(|root| root.root == name && root.outcome.is_ok())
    };
    let found = evidence.iter().filter(|root| root.outcome.is_ok()).count();
    if let Some(threshold) = policy.threshold {
        if found < threshold {
            return Err(CosignError::ThresholdNotReached { found, threshold });
        }
    }
    let missing: Vec<String> = policy
        .required
        .iter()
        .filter(|name| !signed(name))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(CosignError::MissingRequired(missing));
    }
    if found == 0 {
        let reasons = if layers.is_empty() {
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

/// The valid signatures of one root, or `no matching signatures: <why, per layer>`.
fn root_outcome(
    candidates: &[Candidate],
    key: &PublicKey,
    digest: &str,
) -> Result<Vec<SignatureEvidence>, String> {
    let mut valid = Vec::new();
    let mut reasons = Vec::new();
    for (index, candidate) in candidates.iter().enumerate() {
        let layer = index + 1;
        match candidate.check(layer, key, digest) {
            Ok(evidence) => valid.push(evidence),
            Err(reason) => reasons.push(format!("signature {layer}: {reason}")),
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
