//! One cosign signature as the registry stores it: a layer of the `sha256-<hex>.sig`
//! manifest, whose blob is the simple-signing payload and whose annotations carry the
//! signature and, when present, the Rekor bundle and the signing certificate (cosign 2); or
//! a Sigstore bundle, the one layer of a referrer manifest of the image (cosign 3).

/// A signature layer, fetched and digest-checked, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The simple-signing JSON payload (the layer's blob, checked against its digest).
    pub payload: Vec<u8>,
    /// Base64 signature over `payload` (`dev.cosignproject.cosign/signature`).
    pub signature: String,
    /// Rekor bundle JSON (`dev.sigstore.cosign/bundle`), if any.
    pub bundle: Option<String>,
    /// PEM signing certificate (`dev.sigstore.cosign/certificate`), keyless only.
    pub certificate: Option<String>,
    /// PEM certificate chain (`dev.sigstore.cosign/chain`), keyless only.
    pub chain: Option<String>,
}

/// A Sigstore bundle as fetched (size-limited, digest-checked), not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBundle {
    /// The digest of the referrer manifest holding it (named in explanations).
    pub manifest_digest: String,
    pub bytes: Vec<u8>,
}
