//! Fuzzes manifest and index parsing: never panics, and whatever parses has the shape its
//! kind promises, with every descriptor digest well-formed and within the entry limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::registry::manifest::{self, Manifest, MAX_DESCRIPTORS};

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some(manifest::DOCKER_MANIFEST),
    Some(manifest::DOCKER_MANIFEST_LIST),
    Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let Ok(parsed) = manifest::parse(bytes, content_type) else {
        return;
    };
    let descriptors = match &parsed {
        Manifest::Image {
            kind,
            config,
            layers,
            ..
        } => {
            assert!(!kind.is_index());
            assert!(manifest::is_sha256_digest(&config.digest));
            layers
        }
        Manifest::Index { kind, manifests } => {
            assert!(kind.is_index());
            manifests
        }
    };
    assert!(descriptors.len() <= MAX_DESCRIPTORS);
    assert!(descriptors
        .iter()
        .all(|d| manifest::is_sha256_digest(&d.digest)));
    assert_eq!(manifest::sha256_digest(bytes).len(), 71);
});
