//! Finding the Notary Project signatures of an image digest in its repository: the OCI
//! referrers API (`GET /v2/<name>/referrers/<digest>`), or, when the registry has none
//! (404), the referrers tag schema (an OCI index at tag `sha256-<hex>`). Signature
//! manifests are those whose `artifactType` is `application/vnd.cncf.notary.signature`;
//! each holds one envelope layer, fetched under a size limit and digest-checked.

use std::fmt;
use std::time::Instant;

use super::envelope::{COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, MAX_ENVELOPE_BYTES};
use crate::image_ref::ImageRef;
use crate::registry::manifest::Manifest;
use crate::registry::referrers::{self, ReferrersError};
use crate::registry::{RegistryClient, RegistryError};

/// The artifact type (or, in older signatures, the config media type) of signatures.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// Most signatures tried for one image, as Notation does.
pub const MAX_SIGNATURES: usize = 10;

/// How a signature's envelope is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeFormat {
    Jws,
    Cose,
}

/// One signature as stored: its manifest's digest and its envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSignature {
    pub manifest_digest: String,
    pub format: EnvelopeFormat,
    pub envelope: Vec<u8>,
}

/// Why signatures could not be listed or fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    Registry(RegistryError),
    /// A referrers index or signature manifest that does not follow the specification.
    Unusable {
        what: String,
        detail: String,
    },
}

impl From<RegistryError> for DiscoveryError {
    fn from(error: RegistryError) -> DiscoveryError {
        DiscoveryError::Registry(error)
    }
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Registry(error) => error.fmt(f),
            DiscoveryError::Unusable { what, detail } => write!(f, "unusable {what}: {detail}"),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// The digests of the signature manifests of `digest` (at most [`MAX_SIGNATURES`], in the
/// registry's order). None found: `Ok(vec![])`.
pub fn signature_manifests(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &str,
    deadline: Instant,
) -> Result<Vec<String>, DiscoveryError> {
    let types = [SIGNATURE_ARTIFACT_TYPE];
    referrers::of_types(client, image, digest, &types, MAX_SIGNATURES, deadline).map_err(
        |e| match e {
            ReferrersError::Registry(error) => DiscoveryError::Registry(error),
            ReferrersError::UnusableIndex(detail) => DiscoveryError::Unusable {
                what: format!("referrers index of {}@{digest}", image.context()),
                detail,
            },
        },
    )
}

/// The signature manifest `manifest_digest` and its envelope.
pub fn fetch_signature(
    client: &RegistryClient,
    image: &ImageRef,
    manifest_digest: &str,
    deadline: Instant,
) -> Result<StoredSignature, DiscoveryError> {
    let fetched = client.manifest(image, manifest_digest, deadline)?;
    let unusable = |detail: String| DiscoveryError::Unusable {
        what: format!("signature manifest {manifest_digest}"),
        detail,
    };
    // The registry client has parsed (and digest-checked) the manifest already.
    let Manifest::Image {
        artifact_type,
        config,
        layers,
        ..
    } = &fetched.manifest
    else {
        return Err(unusable("an index, not a signature manifest".to_owned()));
    };
    let is_signature = artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE)
        || config.media_type == SIGNATURE_ARTIFACT_TYPE;
    if !is_signature {
        return Err(unusable(format!(
            "not a Notary Project signature (artifactType {SIGNATURE_ARTIFACT_TYPE} expected)"
        )));
    }
    let [layer] = layers.as_slice() else {
        return Err(unusable(format!(
            "{} layers, a signature has exactly one",
            layers.len()
        )));
    };
    let format = match layer.media_type.as_str() {
        JWS_MEDIA_TYPE => EnvelopeFormat::Jws,
        COSE_MEDIA_TYPE => EnvelopeFormat::Cose,
        other => {
            return Err(unusable(format!(
                "envelope media type {:?} is not supported ({JWS_MEDIA_TYPE} or {COSE_MEDIA_TYPE})",
                other.chars().take(100).collect::<String>()
            )))
        }
    };
    if layer.size > MAX_ENVELOPE_BYTES as u64 {
        return Err(unusable(format!(
            "envelope of {} bytes exceeds the limit of {MAX_ENVELOPE_BYTES}",
            layer.size
        )));
    }
    let envelope = client.blob(image, &layer.digest, MAX_ENVELOPE_BYTES, deadline)?;
    if envelope.len() as u64 != layer.size {
        return Err(unusable(format!(
            "envelope has {} bytes, its descriptor says {}",
            envelope.len(),
            layer.size
        )));
    }
    Ok(StoredSignature {
        manifest_digest: manifest_digest.to_string(),
        format,
        envelope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifest::{sha256_digest, OCI_INDEX, OCI_MANIFEST};
    use crate::registry::referrers::referrers_tag;
    use crate::registry::RegistryOptions;
    use serde_json::json;
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A registry that answers fixed bodies by path (404 otherwise) and records the paths
    /// asked for.
    struct FakeRegistry {
        host: String,
        requested: Arc<Mutex<Vec<String>>>,
    }

    impl FakeRegistry {
        fn start(routes: HashMap<String, (String, Vec<u8>)>) -> FakeRegistry {
            FakeRegistry::start_with_links(routes, HashMap::new())
        }

        /// `links`: the `Link` header sent with the answer for a path.
        fn start_with_links(
            routes: HashMap<String, (String, Vec<u8>)>,
            links: HashMap<String, String>,
        ) -> FakeRegistry {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let host = listener.local_addr().unwrap().to_string();
            let requested = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&requested);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let path = text.split(' ').nth(1).unwrap_or("").to_string();
                    log.lock().unwrap().push(path.clone());
                    let (status, content_type, body) = match routes.get(&path) {
                        Some((content_type, body)) => {
                            ("200 OK", content_type.as_str(), body.clone())
                        }
                        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
                    };
                    let link = links
                        .get(&path)
                        .map(|link| format!("Link: {link}\r\n"))
                        .unwrap_or_default();
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{link}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                    let _ = stream.write_all(&body);
                }
            });
            FakeRegistry { host, requested }
        }

        fn requested(&self) -> Vec<String> {
            self.requested.lock().unwrap().clone()
        }
    }

    fn client() -> RegistryClient {
        RegistryClient::new(RegistryOptions {
            plain_http: crate::net::https_client::PlainHttp::Anywhere,
            ..RegistryOptions::default()
        })
        .unwrap()
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    const IMAGE_DIGEST: &str =
        "sha256:a136cc4e785798e5e8483047cf621cf0a0300a93d47703a3f066c340c070f5cf";

    fn referrer(digest: &str, artifact_type: &str) -> serde_json::Value {
        json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "artifactType": artifact_type})
    }

    /// A signature manifest with one JWS layer; its bytes, digest and the envelope's.
    fn signature_manifest(envelope: &[u8]) -> (Vec<u8>, String, String) {
        let envelope_digest = sha256_digest(envelope);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_ARTIFACT_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_digest(b"{}"), "size": 2},
            "layers": [{"mediaType": JWS_MEDIA_TYPE, "digest": envelope_digest, "size": envelope.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": IMAGE_DIGEST, "size": 1},
        })
        .to_string()
        .into_bytes();
        let digest = sha256_digest(&manifest);
        (manifest, digest, envelope_digest)
    }

    #[test]
    fn signatures_are_found_through_the_referrers_api() {
        let envelope = b"{\"envelope\":1}".to_vec();
        let (manifest, manifest_digest, envelope_digest) = signature_manifest(&envelope);
        let sbom = sha256_digest(b"sbom");
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            referrer(&sbom, "application/spdx+json"),
            referrer(&manifest_digest, SIGNATURE_ARTIFACT_TYPE),
        ]});
        let mut routes = HashMap::new();
        routes.insert(
            format!("/v2/app/referrers/{IMAGE_DIGEST}"),
            (OCI_INDEX.to_string(), index.to_string().into_bytes()),
        );
        routes.insert(
            format!("/v2/app/manifests/{manifest_digest}"),
            (OCI_MANIFEST.to_string(), manifest),
        );
        routes.insert(
            format!("/v2/app/blobs/{envelope_digest}"),
            ("application/octet-stream".to_string(), envelope.clone()),
        );
        let registry = FakeRegistry::start(routes);
        let image = ImageRef::parse(&format!("{}/app:v1", registry.host)).unwrap();
        let found = signature_manifests(&client(), &image, IMAGE_DIGEST, deadline()).unwrap();
        assert_eq!(found, vec![manifest_digest.clone()]);
        let stored = fetch_signature(&client(), &image, &manifest_digest, deadline()).unwrap();
        assert_eq!(stored.format, EnvelopeFormat::Jws);
        assert_eq!(stored.envelope, envelope);
        assert!(
            !registry.requested().iter().any(|p| p.contains("sha256-")),
            "the tag schema is not consulted when the API answers: {:?}",
            registry.requested()
        );
    }

    #[test]
    fn the_referrers_api_is_read_page_by_page_on_its_own_path_only() {
        let first = format!("/v2/app/referrers/{IMAGE_DIGEST}");
        let second = format!("{first}?n=1&last=sig1");
        let page = |digest: &str| {
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                   "manifests": [referrer(digest, SIGNATURE_ARTIFACT_TYPE)]})
            .to_string()
            .into_bytes()
        };
        let (one, two) = (sha256_digest(b"sig1"), sha256_digest(b"sig2"));
        let mut routes = HashMap::new();
        routes.insert(first.clone(), (OCI_INDEX.to_string(), page(&one)));
        routes.insert(second.clone(), (OCI_INDEX.to_string(), page(&two)));
        let mut links = HashMap::new();
        links.insert(first.clone(), format!("<{second}>; rel=\"next\""));
        let registry = FakeRegistry::start_with_links(routes.clone(), links);
        let image = ImageRef::parse(&format!("{}/app:v1", registry.host)).unwrap();
        let found = signature_manifests(&client(), &image, IMAGE_DIGEST, deadline()).unwrap();
        assert_eq!(found, vec![one.clone(), two]);

        // A next page elsewhere (another host, another repository) is not followed.
        for elsewhere in [
            format!("<http://evil.test{second}>; rel=\"next\""),
            format!("</v2/other/referrers/{IMAGE_DIGEST}?n=1>; rel=\"next\""),
        ] {
            let mut links = HashMap::new();
            links.insert(first.clone(), elsewhere);
            let registry = FakeRegistry::start_with_links(routes.clone(), links);
            let image = ImageRef::parse(&format!("{}/app:v1", registry.host)).unwrap();
            let found = signature_manifests(&client(), &image, IMAGE_DIGEST, deadline()).unwrap();
            assert_eq!(found, vec![one.clone()]);
            assert_eq!(registry.requested().len(), 1, "{:?}", registry.requested());
        }
    }

    #[test]
    fn without_the_api_the_tag_schema_is_read() {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            referrer(IMAGE_DIGEST, SIGNATURE_ARTIFACT_TYPE),
        ]});
        let mut routes = HashMap::new();
        routes.insert(
            format!("/v2/app/manifests/{}", referrers_tag(IMAGE_DIGEST).unwrap()),
            (OCI_INDEX.to_string(), index.to_string().into_bytes()),
        );
        let registry = FakeRegistry::start(routes);
        let image = ImageRef::parse(&format!("{}/app:v1", registry.host)).unwrap();
        let found = signature_manifests(&client(), &image, IMAGE_DIGEST, deadline()).unwrap();
        assert_eq!(found, vec![IMAGE_DIGEST.to_string()]);
        // A catch-all page where the API would be is not the API.
        let mut routes = HashMap::new();
        routes.insert(
            format!("/v2/app/referrers/{IMAGE_DIGEST}"),
            ("text/html".to_string(), b"<html></html>".to_vec()),
        );
        routes.insert(
            format!("/v2/app/manifests/{}", referrers_tag(IMAGE_DIGEST).unwrap()),
            (OCI_INDEX.to_string(), index.to_string().into_bytes()),
        );
        let registry = FakeRegistry::start(routes);
        let image = ImageRef::parse(&format!("{}/app:v1", registry.host)).unwrap();
        let found = signature_manifests(&client(), &image, IMAGE_DIGEST, deadline()).unwrap();
        assert_eq!(found, vec![IMAGE_DIGEST.to_string()]);
        // Neither the API nor the tag: no signatures.
        let unsigned = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let found = signature_manifests(&client(), &image, unsigned, deadline()).unwrap();
        assert!(found.is_empty());
    }
}
