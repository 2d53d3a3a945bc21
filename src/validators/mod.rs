//! The validator seam: every validator type answers through one [`Outcome`].
//!
//! The engine resolves the rule and validator for an image, then calls [`validate`]. Static
//! validators answer at once; cosign, Notary v1 and Notation fetch and verify signatures
//! within the deadline on a worker thread. Validators do not know about the AdmissionReview:
//! they receive the parsed image, the rule's options and the deadline.

pub mod clients;
pub mod cosign;
pub mod cosign_validator;
pub mod in_flight;
pub mod notaryv1;
pub mod notaryv1_validator;
pub mod notation;
pub mod notation_validator;
pub mod static_validator;

use std::fmt;
use std::time::Instant;

use crate::config::{Rule, Validator, ValidatorKind};
use crate::image_ref::ImageRef;
pub use clients::Clients;

/// What one validator concluded about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Trusted. `digest` is the verified `sha256:…` digest, or `None` when the validator vouches
    /// for the reference as written (static allow of a tag-only image).
    Verified { digest: Option<String> },
    /// Not trusted; the reason is shown to the cluster user.
    Rejected(Rejection),
}

/// Why a validator did not trust an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A static validator with `approve: false`.
    StaticDeny,
    /// A signature validator's own explanation (section 5 of the spec).
    Failed(String),
    /// The data needed could not be fetched (network, server error, deadline): no verdict
    /// about the image itself, so it is never cached.
    Unavailable(String),
}

impl Rejection {
    /// True when the rejection judges the image (and may be cached), not the circumstances.
    pub fn is_verdict(&self) -> bool {
        matches!(self, Rejection::Failed(_))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::StaticDeny => f.write_str("static deny"),
            Rejection::Failed(reason) | Rejection::Unavailable(reason) => f.write_str(reason),
        }
    }
}

/// Runs the validator selected for `image`. Must return by `deadline` (static never waits).
pub fn validate(
    validator: &Validator,
    rule: &Rule,
    image: &ImageRef,
    deadline: Instant,
    clients: &Clients,
) -> Outcome {
    match &validator.kind {
        ValidatorKind::Static { approve } => static_validator::validate(*approve, image),
        ValidatorKind::Cosign(config) => {
            cosign_validator::validate(&validator.name, config, rule, image, deadline, clients)
        }
        ValidatorKind::NotaryV1(config) => {
            notaryv1_validator::validate(&validator.name, config, rule, image, deadline, clients)
        }
        ValidatorKind::Notation(config) => {
            notation_validator::validate(&validator.name, config, rule, image, deadline, clients)
        }
    }
}
