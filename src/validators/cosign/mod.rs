//! cosign signatures made with a key: fetched from the registry, verified offline.

pub mod layer;

pub use layer::SignatureLayer;
