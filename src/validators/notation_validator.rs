//! The Notation validator at work: resolve the image's digest at its registry, find the
//! Notary Project signatures that refer to it, and accept the first (of at most ten) that
//! verifies under the rule's trust roots and trust policy level.
//!
//! Runs on a worker thread (it blocks on the network), within the request's deadline,
//! with the validator's own registry client from [`Clients`] (its CA and credentials never
//! leak into other validators' requests).

use std::time::{Instant, SystemTime};

use super::clients::{Clients, MAX_PER_REGISTRY};
use super::notation::cose;
use super::notation::discovery::{self, EnvelopeFormat};
use super::notation::{verify, DiscoveryError, Envelope, Policy, TargetArtifact, TrustStore};
use super::{Outcome, Rejection};
use crate::config::{resolve_trust_roots, NotationConfig, Rule};
use crate::image_ref::ImageRef;
use crate::registry::RegistryError;
use crate::{log_debug, log_warn};

/// Verifies `image` with the Notation validator `name`.
pub fn validate(
    name: &str,
    config: &NotationConfig,
    rule: &Rule,
    image: &ImageRef,
    deadline: Instant,
    clients: &Clients,
) -> Outcome {
    let roots = match resolve_trust_roots(&config.trust_roots, rule.with.trust_root_references()) {
        Ok(roots) => roots,
        Err(e) => {
            return failed(format!(
                "failed to set up trust policy: failed to get trust roots: {e}"
            ))
        }
    };
    let store = match TrustStore::from_roots(&roots) {
        Ok(store) => store,
        Err(e) => return failed(e.to_string()),
    };
    let policy = Policy {
        level: rule.with.verification_level,
        verify_timestamp: rule.with.verify_timestamp,
    };
    let client = match clients.notation_registry(name, config) {
        Ok(client) => client,
        Err(e) => return failed(e),
    };
    let Some(_turn) = clients.turn(image.registry(), deadline) else {
        return Outcome::Rejected(Rejection::Unavailable(format!(
            "registry {} is busy with {MAX_PER_REGISTRY} validations and none finished before the deadline",
            image.registry()
        )));
    };
    // One GET gives the digest (checked against the content) and the descriptor the
    // signature must name: its media type and size.
    let reference = image
        .digest()
        .or(image.tag())
        .unwrap_or(crate::image_ref::DEFAULT_TAG);
    let artifact = match client.manifest(image, reference, deadline) {
        Ok(fetched) => TargetArtifact {
            media_type: fetched.manifest.kind().media_type().to_string(),
            digest: fetched.digest,
            size: fetched.bytes.len() as u64,
        },
        Err(e) => return registry_failure("failed to resolve image tag: ", e),
    };
    let digest = artifact.digest.clone();
    let reference = format!("{}@{digest}", image.context());
    let manifests = match discovery::signature_manifests(&client, image, &digest, deadline) {
        Ok(manifests) => manifests,
        Err(e) => return discovery_failure(e),
    };
    if manifests.is_empty() {
        return failed(format!(
            "failed to verify image: no signature is associated with \"{reference}\", make sure the artifact was signed successfully"
        ));
    }
    let mut reasons = Vec::new();
    for manifest_digest in &manifests {
        let stored = match discovery::fetch_signature(&client, image, manifest_digest, deadline) {
            Ok(stored) => stored,
            Err(DiscoveryError::Registry(e)) if e.is_transport() => return registry_failure("", e),
            Err(e) => {
                reasons.push(format!("signature {manifest_digest}: {e}"));
                continue;
            }
        };
        let result = match stored.format {
            EnvelopeFormat::Cose => cose::parse(&stored.envelope),
            EnvelopeFormat::Jws => Envelope::parse(&stored.envelope),
        }
        .map_err(|e| e.to_string())
        .and_then(|envelope| {
            verify(&envelope, &artifact, &store, policy, SystemTime::now())
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(verified) => {
                for logged in &verified.logged {
                    log_warn!(
                        "notation validator {name}: signature {manifest_digest} of {reference}: {logged} (logged, not enforced by verificationLevel)"
                    );
                }
                if let Some(root) = &verified.trust_root {
                    log_debug!(
                        "notation validator {name}: {reference} verified by signature {manifest_digest} from trust root {root}"
                    );
                }
                return Outcome::Verified {
                    digest: Some(digest),
                };
            }
            Err(reason) => reasons.push(format!("signature {manifest_digest}: {reason}")),
        }
    }
    failed(format!(
        "failed to verify image: failed to verify signature of \"{reference}\": {}",
        reasons.join("; ")
    ))
}

fn failed(message: String) -> Outcome {
    Outcome::Rejected(Rejection::Failed(message))
}

fn registry_failure(prefix: &str, error: RegistryError) -> Outcome {
    let message = format!("{prefix}{error}");
    Outcome::Rejected(if error.is_transport() {
        Rejection::Unavailable(message)
    } else {
        Rejection::Failed(message)
    })
}

fn discovery_failure(error: DiscoveryError) -> Outcome {
    match error {
        DiscoveryError::Registry(e) => registry_failure("failed to verify image: ", e),
        unusable => failed(format!("failed to verify image: {unusable}")),
    }
}
