//! tastevin: a Kubernetes mutating admission webhook that verifies container image
//! signatures and pins every admitted image to its trusted digest. A drop-in for
//! Connaisseur: same configuration format, same `/mutate` behaviour, same metrics.
//!
//! The binary is a thin wrapper around [`cli`]. Everything that parses untrusted input
//! (HTTP framing, AdmissionReviews, configuration, image references) lives in this
//! library so that tests and fuzz targets reach it without sockets.

// A panic on untrusted input would take every connection down (release builds abort):
// outside tests, no unwrap, expect, panic or unchecked indexing.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod admission;
pub mod alerts;
pub mod cache;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod http;
pub mod image_ref;
pub mod kube;
pub mod log;
pub mod metrics;
pub mod net;
pub mod policy;
pub mod redis;
pub mod registry;
pub mod reload;
pub mod routes;
pub mod server;
pub mod timestamp_token;
pub mod tls;
pub mod validators;
pub mod yaml_depth;
