//! Manifests as registries serve them: the four media types (Docker schema 2 manifest and
//! manifest list, OCI image manifest and index), parsed into typed descriptors, and the
//! sha256 digests every fetched manifest and blob is checked against.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The `Accept` header for manifest requests: every media type this client reads.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Most descriptors (layers or child manifests) accepted in one manifest.
pub const MAX_DESCRIPTORS: usize = 1024;

const SHA256_PREFIX: &str = "sha256:";

/// Which of the four manifest formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    DockerManifest,
    DockerManifestList,
    OciManifest,
    OciIndex,
}

impl ManifestKind {
    pub fn from_media_type(media_type: &str) -> Option<ManifestKind> {
        match media_type {
            DOCKER_MANIFEST => Some(ManifestKind::DockerManifest),
            DOCKER_MANIFEST_LIST => Some(ManifestKind::DockerManifestList),
            OCI_MANIFEST => Some(ManifestKind::OciManifest),
            OCI_INDEX => Some(ManifestKind::OciIndex),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::DockerManifest => DOCKER_MANIFEST,
            ManifestKind::DockerManifestList => DOCKER_MANIFEST_LIST,
            ManifestKind::OciManifest => OCI_MANIFEST,
            ManifestKind::OciIndex => OCI_INDEX,
        }
    }

    /// An index or manifest list (multi-platform), rather than one image.
    pub fn is_index(self) -> bool {
        matches!(
            self,
            ManifestKind::DockerManifestList | ManifestKind::OciIndex
        )
    }
}

/// A content descriptor: what a manifest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    /// `sha256:<64 lower-case hex>`.
    pub digest: String,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
    pub platform: Option<Platform>,
}

/// The platform of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// One image: a config blob and layers. OCI artifacts (such as Notation signatures)
    /// have this shape too and name their type in `artifact_type`.
    Image {
        kind: ManifestKind,
        artifact_type: Option<String>,
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    /// An index or manifest list of per-platform manifests.
    Index {
        kind: ManifestKind,
        manifests: Vec<Descriptor>,
    },
}

impl Manifest {
    pub fn kind(&self) -> ManifestKind {
        match self {
            Manifest::Image { kind, .. } | Manifest::Index { kind, .. } => *kind,
        }
    }
}

/// Why a manifest is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    Malformed(String),
    /// `schemaVersion` other than 2 (schema 1 manifests are not supported).
    UnsupportedSchema(u64),
    /// A media type other than the four supported ones.
    UnsupportedMediaType(String),
    /// A descriptor's digest is not `sha256:<64 hex>`.
    InvalidDigest(String),
    /// More than [`MAX_DESCRIPTORS`] layers or children.
    TooManyDescriptors(usize),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Malformed(reason) => write!(f, "malformed manifest: {reason}"),
            ManifestError::UnsupportedSchema(version) => write!(
                f,
                "manifest schemaVersion {version} is not supported (only 2)"
            ),
            ManifestError::UnsupportedMediaType(media_type) => write!(
                f,
                "manifest media type {media_type:?} is not supported (Docker schema 2 or OCI only)"
            ),
            ManifestError::InvalidDigest(digest) => write!(
                f,
                "manifest refers to digest {digest:?}, which is not sha256:<64 hex>"
            ),
            ManifestError::TooManyDescriptors(n) => write!(
                f,
                "manifest lists {n} entries, more than the {MAX_DESCRIPTORS} accepted"
            ),
        }
    }
}

impl std::error::Error for ManifestError {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: u64,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    platform: Option<Platform>,
}

impl RawDescriptor {
    fn check(self) -> Result<Descriptor, ManifestError> {
        if !is_sha256_digest(&self.digest) {
            return Err(ManifestError::InvalidDigest(
                self.digest.chars().take(100).collect(),
            ));
        }
        Ok(Descriptor {
            media_type: self.media_type,
            digest: self.digest,
            size: self.size,
            annotations: self.annotations.unwrap_or_default(),
            platform: self.platform,
        })
    }
}

/// Parses manifest bytes; `content_type` is the response's `Content-Type`, used when the
/// manifest does not name its own media type.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    if raw.schema_version != 2 {
        return Err(ManifestError::UnsupportedSchema(raw.schema_version));
    }
    let declared = raw.media_type.as_deref().or_else(|| {
        content_type
            .map(|ct| ct.split(';').next().unwrap_or_default().trim())
            .filter(|ct| ManifestKind::from_media_type(ct).is_some())
    });
    let kind = match declared {
        Some(media_type) => ManifestKind::from_media_type(media_type).ok_or_else(|| {
            ManifestError::UnsupportedMediaType(media_type.chars().take(100).collect())
        })?,
        // OCI allows leaving `mediaType` out; the shape tells which one it is.
        None if raw.manifests.is_some() => ManifestKind::OciIndex,
        None => ManifestKind::OciManifest,
    };
    let check_all = |list: Vec<RawDescriptor>| -> Result<Vec<Descriptor>, ManifestError> {
        if list.len() > MAX_DESCRIPTORS {
            return Err(ManifestError::TooManyDescriptors(list.len()));
        }
        list.into_iter().map(RawDescriptor::check).collect()
    };
    if kind.is_index() {
        let manifests = raw
            .manifests
            .ok_or_else(|| ManifestError::Malformed("index without manifests".to_string()))?;
        Ok(Manifest::Index {
            kind,
            manifests: check_all(manifests)?,
        })
    } else {
        let config = raw
            .config
            .ok_or_else(|| ManifestError::Malformed("image manifest without config".to_string()))?
            .check()?;
        let layers = raw
            .layers
            .ok_or_else(|| ManifestError::Malformed("image manifest without layers".to_string()))?;
        Ok(Manifest::Image {
            kind,
            artifact_type: raw.artifact_type,
            config,
            layers: check_all(layers)?,
        })
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = String::with_capacity(SHA256_PREFIX.len() + 64);
    out.push_str(SHA256_PREFIX);
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `s` is `sha256:` followed by 64 lower-case hex characters.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix(SHA256_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn docker_manifest_with_layers() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"{D1}"}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":3,"digest":"{D2}","annotations":{{"a":"b"}}}}]}}"#
        );
        let Manifest::Image {
            kind,
            config,
            layers,
            ..
        } = parse(json.as_bytes(), None).unwrap()
        else {
            panic!("not an image manifest");
        };
        assert_eq!(kind, ManifestKind::DockerManifest);
        assert_eq!(config.digest, D1);
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].size, 3);
        assert_eq!(
            layers[0].annotations.get("a").map(String::as_str),
            Some("b")
        );
    }

    #[test]
    fn index_kind_from_content_type_or_shape() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{D1}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#
        );
        let m = parse(
            json.as_bytes(),
            Some(&format!("{DOCKER_MANIFEST_LIST}; charset=utf-8")),
        )
        .unwrap();
        assert_eq!(m.kind(), ManifestKind::DockerManifestList);
        let m = parse(json.as_bytes(), None).unwrap();
        assert_eq!(m.kind(), ManifestKind::OciIndex);
        let Manifest::Index { manifests, .. } = m else {
            panic!("not an index")
        };
        assert_eq!(
            manifests[0].platform.as_ref().unwrap().variant.as_deref(),
            Some("v8")
        );
    }

    #[test]
    fn unusable_manifests_are_errors() {
        assert!(matches!(
            parse(b"{", None),
            Err(ManifestError::Malformed(_))
        ));
        assert_eq!(
            parse(br#"{"schemaVersion":1}"#, None),
            Err(ManifestError::UnsupportedSchema(1))
        );
        assert!(matches!(
            parse(
                br#"{"schemaVersion":2,"mediaType":"text/html","layers":[]}"#,
                None
            ),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        let bad_digest = r#"{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"sha256:AB"},"layers":[]}"#;
        assert!(matches!(
            parse(bad_digest.as_bytes(), None),
            Err(ManifestError::InvalidDigest(_))
        ));
    }

    #[test]
    fn digests() {
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_digest(D1));
        assert!(!is_sha256_digest("sha256:11"));
        assert!(!is_sha256_digest(&D1.to_uppercase()));
        assert!(!is_sha256_digest(&D1.replace("sha256", "sha512")));
    }
}
