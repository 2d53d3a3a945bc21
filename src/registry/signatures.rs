//! cosign's signature storage: the manifest at tag `sha256-<hex>.sig` in the image's
//! repository, one layer per signature. Each layer's blob is the simple-signing payload
//! (fetched under a size limit and digest-checked), its annotations carry the signature and,
//! when present, the Rekor bundle and the signing certificate and chain.

use std::time::Instant;

use super::client::{RegistryClient, RegistryError};
use super::manifest::{self, Manifest};
use crate::image_ref::ImageRef;
use crate::validators::cosign::SignatureLayer;

/// The media type of a signature layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Largest payload blob read.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Most layers accepted in one signature manifest.
pub const MAX_SIGNATURE_LAYERS: usize = 64;

/// The tag cosign stores the signatures of `digest` (`sha256:<hex>`) under.
pub fn signature_tag(digest: &str) -> Result<String, RegistryError> {
    if !manifest::is_sha256_digest(digest) {
        return Err(RegistryError::InvalidDigest(digest.to_string()));
    }
    Ok(format!("{}.sig", digest.replacen(':', "-", 1)))
}

/// The signature layers attached to `digest` of the image's repository, in manifest order.
/// No signature manifest: `Ok(vec![])`. Layers of other media types, or without a
/// signature annotation, are skipped (as cosign does).
pub fn fetch(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &str,
    deadline: Instant,
) -> Result<Vec<SignatureLayer>, RegistryError> {
    let tag = signature_tag(digest)?;
    let fetched = match client.manifest(image, &tag, deadline) {
        Ok(fetched) => fetched,
        Err(RegistryError::ManifestNotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let invalid = |detail: String| RegistryError::InvalidSignatures {
        image: image.context().to_string(),
        detail,
    };
    let Manifest::Image { layers, .. } = fetched.manifest else {
        return Err(invalid(format!(
            "tag {tag} holds an index, not a signature manifest"
        )));
    };
    if layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(RegistryError::TooManySignatures {
            image: image.context().to_string(),
            count: layers.len(),
            limit: MAX_SIGNATURE_LAYERS,
        });
    }
    let mut signatures = Vec::new();
    for layer in layers {
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
            continue;
        };
        if layer.size > MAX_PAYLOAD_BYTES as u64 {
            return Err(invalid(format!(
                "payload {} of {} bytes exceeds the limit of {MAX_PAYLOAD_BYTES}",
                layer.digest, layer.size
            )));
        }
        let payload = client.blob(image, &layer.digest, MAX_PAYLOAD_BYTES, deadline)?;
        if payload.len() as u64 != layer.size {
            return Err(invalid(format!(
                "payload {} has {} bytes, its descriptor says {}",
                layer.digest,
                payload.len(),
                layer.size
            )));
        }
        signatures.push(SignatureLayer {
            payload,
            signature: signature.clone(),
            bundle: layer.annotations.get(BUNDLE_ANNOTATION).cloned(),
            certificate: layer.annotations.get(CERTIFICATE_ANNOTATION).cloned(),
            chain: layer.annotations.get(CHAIN_ANNOTATION).cloned(),
        });
    }
    Ok(signatures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tag_replaces_the_colon() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            signature_tag(&digest).unwrap(),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        assert!(signature_tag("sha256:ab").is_err());
    }
}
