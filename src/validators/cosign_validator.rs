//! The cosign validator at work: resolve the image's digest at its registry, fetch the
//! signatures stored beside it (the `.sig` manifest of cosign 2, and, when those do not
//! satisfy the rule, the Sigstore bundles among the digest's referrers, as cosign 3 stores
//! them), and verify them against the rule's trust roots.
//!
//! Runs on a worker thread (it blocks on the network), within the request's deadline.
//! Registry clients are kept per validator in [`Clients`], so connections and tokens are
//! reused.

use std::time::Instant;

use super::clients::{Clients, MAX_PER_REGISTRY};
use super::cosign::CosignVerifier;
use super::{Outcome, Rejection};
use crate::config::{CosignConfig, Rule};
use crate::image_ref::ImageRef;
use crate::registry::{bundles, signatures, RegistryError};

/// Verifies `image` with the cosign validator `name`.
pub fn validate(
    name: &str,
    config: &CosignConfig,
    rule: &Rule,
    image: &ImageRef,
    deadline: Instant,
    clients: &Clients,
) -> Outcome {
    let verifier = match CosignVerifier::from_config(name, config, &rule.with) {
        Ok(verifier) => verifier,
        Err(e) => return Outcome::Rejected(Rejection::Failed(e.to_string())),
    };
    let client = match clients.registry(name, config) {
        Ok(client) => client,
        Err(e) => return Outcome::Rejected(Rejection::Failed(e)),
    };
    let Some(_turn) = clients.turn(image.registry(), deadline) else {
        return Outcome::Rejected(Rejection::Unavailable(format!(
            "registry {} is busy with {MAX_PER_REGISTRY} validations and none finished before the deadline",
            image.registry()
        )));
    };
    let digest = match client.resolve_digest(image, deadline) {
        Ok(digest) => digest,
        Err(e) => return registry_failure(e),
    };
    let layers = match signatures::fetch(&client, image, &digest, deadline) {
        Ok(layers) => layers,
        Err(e) => return registry_failure(e),
    };
    // cosign 2 signatures alone often suffice; only then are the referrers not asked for
    // (one round trip less, and registries without the referrers API keep working).
    if let Ok(verified) = verifier.verify(&layers, &[], &digest) {
        return Outcome::Verified {
            digest: Some(verified.digest),
        };
    }
    let bundles = match bundles::fetch(&client, image, &digest, deadline) {
        Ok(bundles) => bundles,
        Err(e) => return registry_failure(e),
    };
    match verifier.verify(&layers, &bundles, &digest) {
        Ok(verified) => Outcome::Verified {
            digest: Some(verified.digest),
        },
        Err(e) => Outcome::Rejected(Rejection::Failed(e.to_string())),
    }
}

fn registry_failure(error: RegistryError) -> Outcome {
    let message = error.to_string();
    Outcome::Rejected(if error.is_transport() {
        Rejection::Unavailable(message)
    } else {
        Rejection::Failed(message)
    })
}
