//! tastevin: a Kubernetes mutating admission webhook that verifies container image
//! signatures and pins every admitted image to its trusted digest. A drop-in for
//! Connaisseur: same configuration format, same `/mutate` behaviour, same metrics.
//!
//! The binary is a thin wrapper around [`cli`]. Everything that parses untrusted input
//! (HTTP framing, AdmissionReviews, configuration, image references) lives in this
//! library so that tests and fuzz targets reach it without sockets.

pub mod admission;
pub mod cli;
pub mod config;
pub mod http;
pub mod image_ref;
pub mod log;
pub mod metrics;
pub mod net;
pub mod policy;
pub mod routes;
pub mod server;
pub mod tls;
pub mod validators;
