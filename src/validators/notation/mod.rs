//! Notary Project (Notation) signatures: the JWS and COSE envelopes, the trust store built from a
//! validator's `cert` trust roots, verification under a trust policy's level, and the
//! discovery of signatures in the registry (referrers API, then the referrers tag schema).
//! [`crate::validators::notation_validator`] puts them together for one image.

pub mod cose;
pub mod discovery;
pub mod envelope;
pub mod trust;
pub mod verify;

#[cfg(test)]
pub(crate) mod testing;

pub use discovery::{DiscoveryError, EnvelopeFormat, StoredSignature};
pub use envelope::{Envelope, EnvelopeError, TargetArtifact};
pub use trust::{TrustError, TrustStore};
pub use verify::{verify, Policy, Verified, VerifyError};
