//! cosign 3's signature storage: each signature is a Sigstore bundle, the single layer of a
//! manifest whose `artifactType` is the bundle's media type and whose `subject` is the
//! image, found through the referrers of the image digest ([`super::referrers`]). The bundle
//! blob is fetched under a size limit and digest-checked; it is parsed by the verifier.

use std::time::Instant;

use super::client::{RegistryClient, RegistryError};
use super::manifest::Manifest;
use super::referrers::{self, ReferrersError};
use crate::image_ref::ImageRef;
use crate::validators::cosign::layer::StoredBundle;
use crate::validators::cosign::sigstore_bundle::{
    BUNDLE_V01_MEDIA_TYPE, BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE, MAX_BUNDLE_BYTES,
};

/// The artifact types (and layer media types) of bundle referrers.
pub const BUNDLE_MEDIA_TYPES: [&str; 3] = [
    BUNDLE_V03_MEDIA_TYPE,
    BUNDLE_V02_MEDIA_TYPE,
    BUNDLE_V01_MEDIA_TYPE,
];
/// Most bundles read for one image, as many as signature layers of a `.sig` manifest.
pub const MAX_BUNDLES: usize = super::signatures::MAX_SIGNATURE_LAYERS;

/// The bundles attached to `digest`. None: `Ok(vec![])`. A referrer that is not a bundle
/// manifest after all is an error, not skipped: it claimed to be a signature.
pub fn fetch(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &str,
    deadline: Instant,
) -> Result<Vec<StoredBundle>, RegistryError> {
    let invalid = |detail: String| RegistryError::InvalidSignatures {
        image: image.context().to_string(),
        detail,
    };
    let manifests = referrers::of_types(
        client,
        image,
        digest,
        &BUNDLE_MEDIA_TYPES,
        MAX_BUNDLES,
        deadline,
    )
    .map_err(|e| match e {
        ReferrersError::Registry(error) => error,
        ReferrersError::UnusableIndex(detail) => {
            invalid(format!("referrers of {digest}: {detail}"))
        }
    })?;
    let mut bundles = Vec::with_capacity(manifests.len());
    for manifest_digest in manifests {
        let fetched = client.manifest(image, &manifest_digest, deadline)?;
        let unusable =
            |detail: String| invalid(format!("bundle manifest {manifest_digest}: {detail}"));
        let Manifest::Image { layers, .. } = &fetched.manifest else {
            return Err(unusable("an index, not a bundle manifest".to_owned()));
        };
        let [layer] = layers.as_slice() else {
            return Err(unusable(format!(
                "{} layers, a bundle manifest has exactly one",
                layers.len()
            )));
        };
        if !BUNDLE_MEDIA_TYPES.contains(&layer.media_type.as_str()) {
            return Err(unusable(format!(
                "layer media type {:?} is not a Sigstore bundle",
                layer.media_type.chars().take(100).collect::<String>()
            )));
        }
        if layer.size > MAX_BUNDLE_BYTES as u64 {
            return Err(unusable(format!(
                "bundle of {} bytes exceeds the limit of {MAX_BUNDLE_BYTES}",
                layer.size
            )));
        }
        let bytes = client.blob(image, &layer.digest, MAX_BUNDLE_BYTES, deadline)?;
        if bytes.len() as u64 != layer.size {
            return Err(unusable(format!(
                "bundle has {} bytes, its descriptor says {}",
                bytes.len(),
                layer.size
            )));
        }
        bundles.push(StoredBundle {
            manifest_digest,
            bytes,
        });
    }
    Ok(bundles)
}
