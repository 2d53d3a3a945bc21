//! The OCI 1.1 referrers of an image digest, as Notation and cosign 3 attach signatures:
//! the referrers API (`GET /v2/<name>/referrers/<digest>`), or, when the registry has none
//! (404), the referrers tag schema (an OCI index at tag `sha256-<hex>`). Only referrers of
//! the artifact types asked for are kept, at most a given number, in the registry's order;
//! the API's pages (`Link: <…>; rel="next"`) are followed, at most [`MAX_PAGES`].

use std::time::Instant;

use serde::Deserialize;

use super::client::{RegistryClient, RegistryError};
use super::manifest::{is_sha256_digest, MAX_DESCRIPTORS};
use crate::image_ref::ImageRef;

/// Most pages of the referrers API read for one digest.
pub const MAX_PAGES: usize = 8;

/// Why the referrers of a digest could not be listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferrersError {
    Registry(RegistryError),
    /// The referrers index is not one (its text says why).
    UnusableIndex(String),
}

impl From<RegistryError> for ReferrersError {
    fn from(error: RegistryError) -> ReferrersError {
        ReferrersError::Registry(error)
    }
}

/// The referrers tag of `digest` (`sha256:<hex>` → `sha256-<hex>`).
pub fn referrers_tag(digest: &str) -> Result<String, RegistryError> {
    if !is_sha256_digest(digest) {
        return Err(RegistryError::InvalidDigest(digest.to_string()));
    }
    Ok(digest.replacen(':', "-", 1))
}

/// The manifest digests of the referrers of `digest` whose `artifactType` is one of
/// `artifact_types`, at most `limit`. None found: `Ok(vec![])`.
pub fn of_types(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &str,
    artifact_types: &[&str],
    limit: usize,
    deadline: Instant,
) -> Result<Vec<String>, ReferrersError> {
    let Some(mut page) = client.referrers(image, digest, None, deadline)? else {
        let index = match client.manifest(image, &referrers_tag(digest)?, deadline) {
            Ok(fetched) => fetched.bytes,
            Err(RegistryError::ManifestNotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        return in_index(&index, artifact_types, limit).map_err(ReferrersError::UnusableIndex);
    };
    // The API may answer in pages: they are followed while the limit is not reached, up to
    // MAX_PAGES of them.
    let mut found = Vec::new();
    for _ in 0..MAX_PAGES {
        let left = limit - found.len();
        found.extend(
            in_index(&page.body, artifact_types, left).map_err(ReferrersError::UnusableIndex)?,
        );
        let Some(next) = page.next.filter(|_| found.len() < limit) else {
            break;
        };
        match client.referrers(image, digest, Some(&next), deadline)? {
            Some(next_page) => page = next_page,
            None => break,
        }
    }
    Ok(found)
}

#[derive(Deserialize)]
struct RawIndex {
    manifests: Vec<RawReferrer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReferrer {
    digest: String,
    artifact_type: Option<String>,
}

/// The referrers of the wanted types listed in a referrers index.
fn in_index(bytes: &[u8], artifact_types: &[&str], limit: usize) -> Result<Vec<String>, String> {
    let index: RawIndex = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if index.manifests.len() > MAX_DESCRIPTORS {
        return Err(format!(
            "{} referrers, more than the {MAX_DESCRIPTORS} accepted",
            index.manifests.len()
        ));
    }
    Ok(index
        .manifests
        .into_iter()
        .filter(|r| {
            r.artifact_type
                .as_deref()
                .is_some_and(|t| artifact_types.contains(&t))
        })
        .filter(|r| is_sha256_digest(&r.digest))
        .map(|r| r.digest)
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    const B: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000002";

    #[test]
    fn only_wanted_types_up_to_the_limit() {
        let index = serde_json::json!({"manifests": [
            {"digest": A, "artifactType": "x"},
            {"digest": "sha256:short", "artifactType": "y"},
            {"digest": B, "artifactType": "y"},
            {"digest": A, "artifactType": "z"},
            {"digest": B},
        ]})
        .to_string();
        let found = in_index(index.as_bytes(), &["x", "y"], 10);
        assert_eq!(found, Ok(vec![A.to_owned(), B.to_owned()]));
        assert_eq!(
            in_index(index.as_bytes(), &["x", "y"], 1),
            Ok(vec![A.to_owned()])
        );
        assert!(in_index(b"{}", &["x"], 1).is_err());
        let too_many: Vec<_> = (0..=MAX_DESCRIPTORS)
            .map(|_| serde_json::json!({"digest": A, "artifactType": "x"}))
            .collect();
        let index = serde_json::json!({ "manifests": too_many }).to_string();
        assert!(in_index(index.as_bytes(), &["x"], 1).is_err());
    }

    #[test]
    fn referrers_tags_replace_the_colon() {
        assert_eq!(
            referrers_tag(A).as_deref(),
            Ok(A.replace(':', "-").as_str())
        );
        assert!(referrers_tag("sha256:12").is_err());
    }
}
