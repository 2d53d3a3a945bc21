//! Sigstore bundles (v0.1–v0.3), as cosign 3 attaches them to an image through OCI
//! referrers: strict, typed parsing of the protobuf-JSON form into values the verifier can
//! use. Nothing here verifies anything yet; it only refuses what is malformed, oversized or
//! of an unknown shape, so that verification works on decoded bytes and known variants.
//!
//! Field names are protobuf-JSON's camelCase; unknown fields are refused (a field we do not
//! understand could carry a meaning we would ignore). Bytes fields accept standard and
//! URL-safe base64, padded or not, as protobuf-JSON parsers do.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;

/// The media type of bundle v0.3, also the `artifactType` of cosign 3's referrer manifests.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The media types of the older bundle versions.
pub const BUNDLE_V01_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
pub const BUNDLE_V02_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
/// Largest bundle read (a bundle with a certificate chain and an inclusion proof is a few
/// KiB).
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024;
/// Most transparency log entries accepted in one bundle.
pub const MAX_TLOG_ENTRIES: usize = 8;
/// Most RFC 3161 timestamps accepted in one bundle.
pub const MAX_TIMESTAMPS: usize = 8;
/// Most hashes in one inclusion proof (a tree of 2^64 leaves needs 64).
pub const MAX_PROOF_HASHES: usize = 64;
/// Most certificates in `x509CertificateChain`.
pub const MAX_CHAIN_CERTIFICATES: usize = 10;

/// Which bundle version the media type declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleVersion {
    V01,
    V02,
    V03,
}

/// Why a bundle cannot be read; `Display` is shown to the cluster user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigstoreBundleError {
    TooLarge {
        size: usize,
    },
    Json(String),
    UnknownMediaType(String),
    /// A bytes field that is not base64.
    Base64 {
        field: &'static str,
    },
    /// A field that violates the bundle specification.
    Invalid(String),
}

impl fmt::Display for SigstoreBundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigstoreBundleError::TooLarge { size } => write!(
                f,
                "Sigstore bundle of {size} bytes exceeds the limit of {MAX_BUNDLE_BYTES}"
            ),
            SigstoreBundleError::Json(reason) => write!(f, "malformed Sigstore bundle: {reason}"),
            SigstoreBundleError::UnknownMediaType(media_type) => write!(
                f,
                "Sigstore bundle media type {media_type:?} is not supported (v0.1 to v0.3)"
            ),
            SigstoreBundleError::Base64 { field } => {
                write!(f, "malformed Sigstore bundle: {field} is not base64")
            }
            SigstoreBundleError::Invalid(reason) => {
                write!(f, "malformed Sigstore bundle: {reason}")
            }
        }
    }
}

impl std::error::Error for SigstoreBundleError {}

/// A parsed bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigstoreBundle {
    pub version: BundleVersion,
    pub material: VerificationMaterial,
    /// RFC 3161 time-stamp responses (DER `TimeStampResp`) over the signature
    /// (`timestampVerificationData.rfc3161Timestamps[].signedTimestamp`).
    pub timestamps: Vec<Vec<u8>>,
    pub tlog_entries: Vec<TlogEntry>,
    pub content: Content,
}

/// Who signed: a key named by a hint, or an X.509 certificate (DER, leaf first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerificationMaterial {
    PublicKeyHint(String),
    /// `x509CertificateChain` (v0.1, v0.2) or `certificate` (v0.3): leaf first.
    Certificates(Vec<Vec<u8>>),
}

/// What was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A signature over an artifact whose digest is given.
    MessageSignature {
        /// `(algorithm, digest)`, e.g. `("SHA2_256", …)`; absent in some bundles.
        digest: Option<(String, Vec<u8>)>,
        signature: Vec<u8>,
    },
    /// A DSSE envelope (an in-toto statement for cosign attestations and image signatures).
    Dsse(DsseEnvelope),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsseEnvelope {
    pub payload: Vec<u8>,
    pub payload_type: String,
    /// The signatures (a bundle's envelope carries exactly one).
    pub signature: Vec<u8>,
}

/// One transparency log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: i64,
    pub log_id: Vec<u8>,
    pub kind: String,
    pub kind_version: String,
    pub integrated_time: i64,
    pub signed_entry_timestamp: Option<Vec<u8>>,
    pub inclusion_proof: Option<InclusionProof>,
    pub canonicalized_body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: i64,
    pub root_hash: Vec<u8>,
    pub tree_size: i64,
    pub hashes: Vec<Vec<u8>>,
    /// The signed note (checkpoint) text.
    pub checkpoint: String,
}

impl SigstoreBundle {
    /// Parses `bytes`, a bundle in protobuf-JSON; its version comes from its own
    /// `mediaType` field.
    pub fn parse(bytes: &[u8]) -> Result<SigstoreBundle, SigstoreBundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(SigstoreBundleError::TooLarge { size: bytes.len() });
        }
        let raw: RawBundle =
            serde_json::from_slice(bytes).map_err(|e| SigstoreBundleError::Json(e.to_string()))?;
        let version = match raw.media_type.as_str() {
            BUNDLE_V03_MEDIA_TYPE => BundleVersion::V03,
            BUNDLE_V02_MEDIA_TYPE => BundleVersion::V02,
            BUNDLE_V01_MEDIA_TYPE => BundleVersion::V01,
            other => {
                return Err(SigstoreBundleError::UnknownMediaType(
                    other.chars().take(100).collect(),
                ))
            }
        };
        let content = match (
            raw.verification_material.public_key,
            raw.verification_material.x509_certificate_chain,
            raw.verification_material.certificate,
        ) {
            (Some(hint), None, None) => RawMaterialContent::PublicKey(hint),
            (None, Some(chain), None) => RawMaterialContent::X509CertificateChain(chain),
            (None, None, Some(certificate)) => RawMaterialContent::Certificate(certificate),
            _ => {
                return Err(SigstoreBundleError::Invalid(
                    "verificationMaterial needs exactly one of publicKey, x509CertificateChain and certificate".into(),
                ))
            }
        };
        let material = material(content, version)?;
        let entries = raw.verification_material.tlog_entries;
        if entries.len() > MAX_TLOG_ENTRIES {
            return Err(SigstoreBundleError::Invalid(format!(
                "{} transparency log entries, more than the {MAX_TLOG_ENTRIES} accepted",
                entries.len()
            )));
        }
        let tlog_entries = entries
            .into_iter()
            .map(tlog_entry)
            .collect::<Result<Vec<_>, _>>()?;
        if version != BundleVersion::V01 && tlog_entries.iter().any(|e| e.inclusion_proof.is_none())
        {
            return Err(SigstoreBundleError::Invalid(
                "a transparency log entry lacks its inclusion proof (required from v0.2)".into(),
            ));
        }
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(message), None) => Content::MessageSignature {
                digest: message
                    .message_digest
                    .map(|d| {
                        Ok::<_, SigstoreBundleError>((
                            d.algorithm,
                            bytes_field(&d.digest, "messageSignature.messageDigest.digest")?,
                        ))
                    })
                    .transpose()?,
                signature: bytes_field(&message.signature, "messageSignature.signature")?,
            },
            (None, Some(envelope)) => {
                let [signature] = envelope.signatures.as_slice() else {
                    return Err(SigstoreBundleError::Invalid(format!(
                        "the DSSE envelope has {} signatures, a bundle's has exactly one",
                        envelope.signatures.len()
                    )));
                };
                Content::Dsse(DsseEnvelope {
                    payload: bytes_field(&envelope.payload, "dsseEnvelope.payload")?,
                    payload_type: envelope.payload_type,
                    signature: bytes_field(&signature.sig, "dsseEnvelope.signatures.sig")?,
                })
            }
            _ => {
                return Err(SigstoreBundleError::Invalid(
                    "exactly one of messageSignature and dsseEnvelope is required".into(),
                ))
            }
        };
        let raw_timestamps = raw
            .verification_material
            .timestamp_verification_data
            .map(|data| data.rfc3161_timestamps)
            .unwrap_or_default();
        if raw_timestamps.len() > MAX_TIMESTAMPS {
            return Err(SigstoreBundleError::Invalid(format!(
                "{} RFC 3161 timestamps, more than the {MAX_TIMESTAMPS} accepted",
                raw_timestamps.len()
            )));
        }
        let timestamps = raw_timestamps
            .iter()
            .map(|t| bytes_field(&t.signed_timestamp, "rfc3161Timestamps.signedTimestamp"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SigstoreBundle {
            version,
            material,
            timestamps,
            tlog_entries,
            content,
        })
    }
}

fn material(
    content: RawMaterialContent,
    version: BundleVersion,
) -> Result<VerificationMaterial, SigstoreBundleError> {
    match content {
        RawMaterialContent::PublicKey(hint) => Ok(VerificationMaterial::PublicKeyHint(
            hint.hint.unwrap_or_default(),
        )),
        RawMaterialContent::X509CertificateChain(chain) => {
            if chain.certificates.is_empty() || chain.certificates.len() > MAX_CHAIN_CERTIFICATES {
                return Err(SigstoreBundleError::Invalid(format!(
                    "x509CertificateChain holds {} certificates (1 to {MAX_CHAIN_CERTIFICATES})",
                    chain.certificates.len()
                )));
            }
            chain
                .certificates
                .iter()
                .map(|c| bytes_field(&c.raw_bytes, "x509CertificateChain.certificates.rawBytes"))
                .collect::<Result<Vec<_>, _>>()
                .map(VerificationMaterial::Certificates)
        }
        RawMaterialContent::Certificate(certificate) => {
            if version != BundleVersion::V03 {
                return Err(SigstoreBundleError::Invalid(
                    "verificationMaterial.certificate needs bundle v0.3".into(),
                ));
            }
            Ok(VerificationMaterial::Certificates(vec![bytes_field(
                &certificate.raw_bytes,
                "certificate.rawBytes",
            )?]))
        }
    }
}

fn tlog_entry(raw: RawTlogEntry) -> Result<TlogEntry, SigstoreBundleError> {
    let inclusion_proof = raw
        .inclusion_proof
        .map(|proof| {
            if proof.hashes.len() > MAX_PROOF_HASHES {
                return Err(SigstoreBundleError::Invalid(format!(
                    "inclusion proof has {} hashes, more than {MAX_PROOF_HASHES}",
                    proof.hashes.len()
                )));
            }
            Ok(InclusionProof {
                log_index: int_field(&proof.log_index, "inclusionProof.logIndex")?,
                root_hash: bytes_field(&proof.root_hash, "inclusionProof.rootHash")?,
                tree_size: int_field(&proof.tree_size, "inclusionProof.treeSize")?,
                hashes: proof
                    .hashes
                    .iter()
                    .map(|h| bytes_field(h, "inclusionProof.hashes"))
                    .collect::<Result<Vec<_>, _>>()?,
                checkpoint: proof.checkpoint.envelope,
            })
        })
        .transpose()?;
    Ok(TlogEntry {
        log_index: int_field(&raw.log_index, "tlogEntries.logIndex")?,
        log_id: bytes_field(&raw.log_id.key_id, "tlogEntries.logId.keyId")?,
        kind: raw.kind_version.kind,
        kind_version: raw.kind_version.version,
        integrated_time: int_field(&raw.integrated_time, "tlogEntries.integratedTime")?,
        signed_entry_timestamp: raw
            .inclusion_promise
            .map(|p| {
                bytes_field(
                    &p.signed_entry_timestamp,
                    "inclusionPromise.signedEntryTimestamp",
                )
            })
            .transpose()?,
        inclusion_proof,
        canonicalized_body: bytes_field(&raw.canonicalized_body, "tlogEntries.canonicalizedBody")?,
    })
}

/// A protobuf-JSON bytes field: standard or URL-safe base64, padded or not.
fn bytes_field(text: &str, field: &'static str) -> Result<Vec<u8>, SigstoreBundleError> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or(SigstoreBundleError::Base64 { field })
}

/// A protobuf-JSON int64 field: a decimal string (or, from lenient writers, a number).
fn int_field(value: &RawInt, field: &'static str) -> Result<i64, SigstoreBundleError> {
    match value {
        RawInt::Number(n) => Ok(*n),
        RawInt::Text(text) => text
            .parse()
            .map_err(|_| SigstoreBundleError::Invalid(format!("{field} is not an integer"))),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawInt {
    Number(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMaterial {
    public_key: Option<RawHint>,
    x509_certificate_chain: Option<RawChain>,
    certificate: Option<RawCertificate>,
    #[serde(default)]
    tlog_entries: Vec<RawTlogEntry>,
    /// RFC 3161 timestamps are not verified yet (see the README); the field is accepted
    /// and ignored, so a signature still needs its transparency log entry.
    #[serde(default)]
    timestamp_verification_data: Option<RawTimestampData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTimestampData {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTimestamp {
    signed_timestamp: String,
}

/// The one kind of verification material a bundle holds.
enum RawMaterialContent {
    PublicKey(RawHint),
    X509CertificateChain(RawChain),
    Certificate(RawCertificate),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHint {
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    certificates: Vec<RawCertificate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCertificate {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTlogEntry {
    log_index: RawInt,
    log_id: RawLogId,
    kind_version: RawKindVersion,
    integrated_time: RawInt,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawProof {
    log_index: RawInt,
    root_hash: String,
    tree_size: RawInt,
    hashes: Vec<String>,
    checkpoint: RawCheckpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMessageSignature {
    message_digest: Option<RawDigest>,
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    signatures: Vec<RawEnvelopeSignature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelopeSignature {
    sig: String,
    #[serde(default, rename = "keyid")]
    _keyid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v03_dsse() -> serde_json::Value {
        json!({
            "mediaType": BUNDLE_V03_MEDIA_TYPE,
            "verificationMaterial": {
                "certificate": {"rawBytes": STANDARD.encode(b"leaf-der")},
                "tlogEntries": [{
                    "logIndex": "25",
                    "logId": {"keyId": STANDARD.encode([7u8; 32])},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": "1700000000",
                    "inclusionPromise": {"signedEntryTimestamp": STANDARD.encode(b"set")},
                    "inclusionProof": {
                        "logIndex": "3",
                        "rootHash": URL_SAFE_NO_PAD.encode([0xfbu8; 32]),
                        "treeSize": "8",
                        "hashes": [STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32])],
                        "checkpoint": {"envelope": "log\n8\nroot\n\n— log sig\n"}
                    },
                    "canonicalizedBody": STANDARD.encode(b"{\"kind\":\"dsse\"}")
                }]
            },
            "dsseEnvelope": {
                "payload": STANDARD.encode(b"{\"_type\":\"statement\"}"),
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": STANDARD.encode(b"sig"), "keyid": ""}]
            }
        })
    }

    fn parse(value: &serde_json::Value) -> Result<SigstoreBundle, SigstoreBundleError> {
        SigstoreBundle::parse(value.to_string().as_bytes())
    }

    #[test]
    fn a_v03_dsse_bundle_parses_into_typed_values() {
        let bundle = parse(&v03_dsse()).unwrap();
        assert_eq!(bundle.version, BundleVersion::V03);
        assert_eq!(
            bundle.material,
            VerificationMaterial::Certificates(vec![b"leaf-der".to_vec()])
        );
        let [entry] = bundle.tlog_entries.as_slice() else {
            panic!("one entry expected")
        };
        assert_eq!(
            (entry.log_index, entry.integrated_time),
            (25, 1_700_000_000)
        );
        assert_eq!(entry.kind, "dsse");
        let proof = entry.inclusion_proof.as_ref().unwrap();
        assert_eq!((proof.log_index, proof.tree_size), (3, 8));
        assert_eq!(proof.root_hash, vec![0xfb; 32], "URL-safe unpadded base64");
        assert_eq!(proof.hashes.len(), 2);
        assert_eq!(
            bundle.content,
            Content::Dsse(DsseEnvelope {
                payload: b"{\"_type\":\"statement\"}".to_vec(),
                payload_type: "application/vnd.in-toto+json".to_owned(),
                signature: b"sig".to_vec(),
            })
        );
    }

    #[test]
    fn a_v01_message_signature_bundle_with_a_key_hint_parses() {
        let value = json!({
            "mediaType": BUNDLE_V01_MEDIA_TYPE,
            "verificationMaterial": {
                "publicKey": {"hint": "abc"},
                "tlogEntries": [{
                    "logIndex": 1, "logId": {"keyId": "AAAA"},
                    "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                    "integratedTime": 5,
                    "inclusionPromise": {"signedEntryTimestamp": "AAAA"},
                    "canonicalizedBody": "e30="
                }]
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode([9u8; 32])},
                "signature": "c2ln"
            }
        });
        let bundle = parse(&value).unwrap();
        assert_eq!(
            bundle.material,
            VerificationMaterial::PublicKeyHint("abc".to_owned())
        );
        assert_eq!(
            bundle.content,
            Content::MessageSignature {
                digest: Some(("SHA2_256".to_owned(), vec![9; 32])),
                signature: b"sig".to_vec()
            }
        );
        // From v0.2 on, an entry without its inclusion proof is refused.
        let mut v02 = value.clone();
        v02["mediaType"] = json!(BUNDLE_V02_MEDIA_TYPE);
        assert!(matches!(parse(&v02), Err(SigstoreBundleError::Invalid(_))));
    }

    #[test]
    fn malformed_bundles_are_refused_with_reasons() {
        let mut unknown = v03_dsse();
        unknown["verificationMaterial"]["surprise"] = json!(1);
        assert!(matches!(parse(&unknown), Err(SigstoreBundleError::Json(_))));

        let mut media = v03_dsse();
        media["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v0.9+json");
        assert!(matches!(
            parse(&media),
            Err(SigstoreBundleError::UnknownMediaType(_))
        ));

        let mut not_base64 = v03_dsse();
        not_base64["dsseEnvelope"]["payload"] = json!("%%%");
        assert_eq!(
            parse(&not_base64),
            Err(SigstoreBundleError::Base64 {
                field: "dsseEnvelope.payload"
            })
        );

        let mut both = v03_dsse();
        both["messageSignature"] = json!({"signature": "c2ln"});
        assert!(matches!(parse(&both), Err(SigstoreBundleError::Invalid(_))));

        let mut two_signatures = v03_dsse();
        two_signatures["dsseEnvelope"]["signatures"] = json!([{"sig": "AA=="}, {"sig": "AA=="}]);
        assert!(matches!(
            parse(&two_signatures),
            Err(SigstoreBundleError::Invalid(_))
        ));

        let mut not_int = v03_dsse();
        not_int["verificationMaterial"]["tlogEntries"][0]["logIndex"] = json!("x");
        assert!(matches!(
            parse(&not_int),
            Err(SigstoreBundleError::Invalid(_))
        ));

        let mut long_proof = v03_dsse();
        long_proof["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"] =
            json!(vec!["AA=="; MAX_PROOF_HASHES + 1]);
        assert!(matches!(
            parse(&long_proof),
            Err(SigstoreBundleError::Invalid(_))
        ));

        let big = vec![b' '; MAX_BUNDLE_BYTES + 1];
        assert_eq!(
            SigstoreBundle::parse(&big),
            Err(SigstoreBundleError::TooLarge {
                size: MAX_BUNDLE_BYTES + 1
            })
        );
        assert!(SigstoreBundle::parse(b"\xff{").is_err());
    }
}
