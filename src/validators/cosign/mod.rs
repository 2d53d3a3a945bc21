//! cosign signatures made with a key or keyless (a Fulcio certificate): fetched from the
//! registry, verified offline.
//!
//! [`CosignVerifier::from_config`] turns a validator and a rule's options into keys and a
//! policy; [`CosignVerifier::verify`] (or [`verify`]) judges the fetched
//! [`SignatureLayer`]s against the digest the registry resolved.

pub mod bundle;
pub mod checkpoint;
pub mod dsse;
pub mod identity;
pub mod keyless;
pub mod layer;
pub mod merkle;
pub mod payload;
mod scheme;
pub mod sct;
pub mod setup;
pub mod sigstore_bundle;
pub mod sigstore_verify;
pub mod trusted_root;
pub mod verify;

pub use bundle::{Bundle, BundleError, LogEntry, PUBLIC_GOOD_REKOR_KEY};
pub use layer::{SignatureLayer, StoredBundle};
pub use payload::{Claims, PayloadError};
pub use setup::CosignVerifier;
pub use verify::{
    verify, CosignError, CosignPolicy, RootEvidence, RootVerifier, SignatureEvidence,
    TransparencyLog, TrustedRoot, Verified,
};
