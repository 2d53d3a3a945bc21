//! Pulling from OCI registries: manifests, blobs, referrers and cosign signatures, with
//! registry authentication, custom CAs and digest checks on everything fetched.
//!
//! [`RegistryClient`] is blocking and meant for the worker threads of
//! [`crate::net::workers`]; every call takes the deadline of the admission request.

pub mod auth;
pub mod bundles;
pub mod client;
pub mod credentials;
pub mod manifest;
pub mod referrers;
pub mod signatures;

pub use client::{FetchedManifest, RegistryClient, RegistryError, RegistryOptions};
pub use credentials::{Credentials, CredentialsError};
