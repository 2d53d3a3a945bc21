//! The Kubernetes API, as far as admission needs it: an in-cluster client ([`client`]) and
//! the owner lookups of automatic child approval ([`owners`]). Both run on worker threads
//! only, like every other outbound call.

pub mod client;
pub mod owners;
