//! The Notary Project JWS signature envelope (`application/jose+json`, flattened JWS JSON
//! serialization), parsed into typed values: the algorithm, the signing scheme and times
//! from the protected header, the `x5c` certificate chain, the signed payload's target
//! artifact, and the exact bytes the signature covers.
//!
//! Parsing checks the envelope's own rules (critical headers, content type, sizes); it does
//! not verify anything cryptographically: that is [`super::verify`]'s job.

use std::fmt;
use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::crypto::KeyKind;
use crate::validators::notaryv1::timestamp::parse_rfc3339;

/// Media type of a JWS envelope layer.
pub const JWS_MEDIA_TYPE: &str = "application/jose+json";
/// Media type of a COSE_Sign1 envelope layer (parsed in `cose.rs`).
pub const COSE_MEDIA_TYPE: &str = "application/cose";
/// The only payload content type (`cty`) of Notary Project signatures.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Largest envelope read (certificate chains make envelopes a few KiB; 256 KiB is plenty).
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// Most certificates accepted in `x5c`.
pub const MAX_CHAIN_LENGTH: usize = 10;

pub(super) const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub(super) const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(super) const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(super) const EXPIRY: &str = "io.cncf.notary.expiry";
/// Critical headers that ask for a Notation plugin, which tastevin cannot run.
const PLUGIN_HEADERS: [&str; 2] = [
    "io.cncf.notary.verificationPlugin",
    "io.cncf.notary.verificationPluginMinVersion",
];

/// The signature algorithms the Notary Project allows, by their JWS names (COSE's PS256
/// -37 … ES512 -36 map to the same six).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwsAlgorithm {
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
}

impl JwsAlgorithm {
    fn from_name(name: &str) -> Option<JwsAlgorithm> {
        Some(match name {
            "PS256" => JwsAlgorithm::Ps256,
            "PS384" => JwsAlgorithm::Ps384,
            "PS512" => JwsAlgorithm::Ps512,
            "ES256" => JwsAlgorithm::Es256,
            "ES384" => JwsAlgorithm::Es384,
            "ES512" => JwsAlgorithm::Es512,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            JwsAlgorithm::Ps256 => "PS256",
            JwsAlgorithm::Ps384 => "PS384",
            JwsAlgorithm::Ps512 => "PS512",
            JwsAlgorithm::Es256 => "ES256",
            JwsAlgorithm::Es384 => "ES384",
            JwsAlgorithm::Es512 => "ES512",
        }
    }

    /// The algorithm the Notary Project assigns to a signing key: the key, not the header,
    /// is the source of truth (this stops algorithm substitution).
    pub fn for_key(kind: KeyKind) -> Option<JwsAlgorithm> {
        Some(match kind {
            KeyKind::Rsa { bits: 2048 } => JwsAlgorithm::Ps256,
            KeyKind::Rsa { bits: 3072 } => JwsAlgorithm::Ps384,
            KeyKind::Rsa { bits: 4096 } => JwsAlgorithm::Ps512,
            KeyKind::EcdsaP256 => JwsAlgorithm::Es256,
            KeyKind::EcdsaP384 => JwsAlgorithm::Es384,
            KeyKind::EcdsaP521 => JwsAlgorithm::Es512,
            KeyKind::Rsa { .. } | KeyKind::Ed25519 => return None,
        })
    }
}

/// The Notary Project signing scheme (`io.cncf.notary.signingScheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningScheme {
    /// `notary.x509`: the signing time is a claim; trusted time comes from a TSA.
    X509,
    /// `notary.x509.signingAuthority`: the signer vouches for the signing time.
    X509SigningAuthority,
}

impl SigningScheme {
    pub fn name(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::X509SigningAuthority => "notary.x509.signingAuthority",
        }
    }
}

/// The descriptor of the artifact a signature covers (`targetArtifact` of the payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetArtifact {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// A parsed signature envelope, JWS (here) or COSE (`cose.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub algorithm: JwsAlgorithm,
    pub scheme: SigningScheme,
    /// `io.cncf.notary.signingTime` (`notary.x509`): claimed by the signer, not trusted.
    pub signing_time: Option<SystemTime>,
    /// `io.cncf.notary.authenticSigningTime` (`notary.x509.signingAuthority`).
    pub authentic_signing_time: Option<SystemTime>,
    /// `io.cncf.notary.expiry`: the signature is not to be used after this time.
    pub expiry: Option<SystemTime>,
    /// `x5c`: the signing certificate first, then intermediates and the root.
    pub chain: Vec<CertificateDer<'static>>,
    /// `io.cncf.notary.timestampSignature`: an RFC 3161 time-stamp token (DER) over the
    /// signature, as found (unsigned, so verified before any use).
    pub timestamp_token: Option<Vec<u8>>,
    pub target: TargetArtifact,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

impl Envelope {
    /// Parses a JWS envelope blob of at most [`MAX_ENVELOPE_BYTES`].
    pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let raw: RawEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| EnvelopeError::Malformed(format!("not a flattened JWS: {e}")))?;
        let protected_bytes = decode_url(&raw.protected, "protected header")?;
        let protected: Map<String, Value> = serde_json::from_slice(&protected_bytes)
            .map_err(|e| EnvelopeError::Malformed(format!("protected header: {e}")))?;
        let headers = ProtectedHeaders::parse(&protected)?;
        let target = parse_payload(&decode_url(&raw.payload, "payload")?)?;
        let signature = decode_url(&raw.signature, "signature")?;
        let chain = decode_chain(&raw.header.x5c)?;
        let timestamp_token = match &raw.header.timestamp_signature {
            Some(text) => Some(STANDARD.decode(text).map_err(|e| {
                EnvelopeError::Malformed(format!(
                    "io.cncf.notary.timestampSignature is not base64: {e}"
                ))
            })?),
            None => None,
        };
        let mut signing_input = Vec::with_capacity(raw.protected.len() + 1 + raw.payload.len());
        signing_input.extend_from_slice(raw.protected.as_bytes());
        signing_input.push(b'.');
        signing_input.extend_from_slice(raw.payload.as_bytes());
        Ok(Envelope::from_parts(
            headers,
            chain,
            timestamp_token,
            target,
            signing_input,
            signature,
        ))
    }

    /// An envelope from the parts a format's parser found (JWS here, COSE in `cose.rs`).
    pub(super) fn from_parts(
        headers: ProtectedHeaders,
        chain: Vec<CertificateDer<'static>>,
        timestamp_token: Option<Vec<u8>>,
        target: TargetArtifact,
        signing_input: Vec<u8>,
        signature: Vec<u8>,
    ) -> Envelope {
        Envelope {
            algorithm: headers.algorithm,
            scheme: headers.scheme,
            signing_time: headers.signing_time,
            authentic_signing_time: headers.authentic_signing_time,
            expiry: headers.expiry,
            chain,
            timestamp_token,
            target,
            signing_input,
            signature,
        }
    }

    /// The bytes the signature covers: `BASE64URL(protected) '.' BASE64URL(payload)` for
    /// JWS, the CBOR `Sig_structure` for COSE.
    pub fn signing_input(&self) -> &[u8] {
        &self.signing_input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The signing certificate (`x5c[0]`); parsing guarantees there is one.
    pub fn signing_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }
}

/// Why an envelope is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    TooLarge(usize),
    Malformed(String),
    /// A protected header is missing or has the wrong type.
    Header(String),
    UnsupportedAlgorithm(String),
    UnsupportedContentType(String),
    UnsupportedSigningScheme(String),
    /// A critical header this implementation does not process.
    UnsupportedCritical(String),
    /// The signature needs a Notation plugin.
    PluginRequired(String),
    Chain(String),
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::TooLarge(n) => write!(
                f,
                "signature envelope of {n} bytes exceeds the limit of {MAX_ENVELOPE_BYTES}"
            ),
            EnvelopeError::Malformed(detail) => {
                write!(f, "malformed signature envelope: {detail}")
            }
            EnvelopeError::Header(detail) => {
                write!(f, "invalid signature envelope header: {detail}")
            }
            EnvelopeError::UnsupportedAlgorithm(alg) => write!(
                f,
                "signature algorithm {alg:?} is not supported (PS256/384/512 or ES256/384/512)"
            ),
            EnvelopeError::UnsupportedContentType(cty) => write!(
                f,
                "payload content type {cty:?} is not supported (expected {PAYLOAD_CONTENT_TYPE})"
            ),
            EnvelopeError::UnsupportedSigningScheme(scheme) => write!(
                f,
                "signing scheme {scheme:?} is not supported (notary.x509 or notary.x509.signingAuthority)"
            ),
            EnvelopeError::UnsupportedCritical(name) => {
                write!(f, "critical header {name:?} is not supported")
            }
            EnvelopeError::PluginRequired(name) => write!(
                f,
                "the signature requires verification plugin {name:?}; plugins are not supported"
            ),
            EnvelopeError::Chain(detail) => {
                write!(f, "invalid certificate chain in x5c: {detail}")
            }
        }
    }
}

impl std::error::Error for EnvelopeError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    payload: String,
    protected: String,
    header: RawUnprotected,
    signature: String,
}

#[derive(Deserialize)]
struct RawUnprotected {
    x5c: Vec<String>,
    #[serde(rename = "io.cncf.notary.timestampSignature")]
    timestamp_signature: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPayload {
    target_artifact: RawTarget,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTarget {
    media_type: String,
    digest: String,
    size: u64,
}

/// The Notary Project's protected headers, read from either envelope format.
pub(super) struct ProtectedHeaders {
    pub(super) algorithm: JwsAlgorithm,
    pub(super) scheme: SigningScheme,
    pub(super) signing_time: Option<SystemTime>,
    pub(super) authentic_signing_time: Option<SystemTime>,
    pub(super) expiry: Option<SystemTime>,
}

/// The signed payload's target artifact (the same JSON in both envelope formats).
pub(super) fn parse_payload(bytes: &[u8]) -> Result<TargetArtifact, EnvelopeError> {
    let payload: RawPayload = serde_json::from_slice(bytes)
        .map_err(|e| EnvelopeError::Malformed(format!("payload: {e}")))?;
    Ok(TargetArtifact {
        media_type: payload.target_artifact.media_type,
        digest: payload.target_artifact.digest,
        size: payload.target_artifact.size,
    })
}

/// The signing scheme named by `io.cncf.notary.signingScheme`.
pub(super) fn signing_scheme(name: &str) -> Result<SigningScheme, EnvelopeError> {
    match name {
        "notary.x509" => Ok(SigningScheme::X509),
        "notary.x509.signingAuthority" => Ok(SigningScheme::X509SigningAuthority),
        other => Err(EnvelopeError::UnsupportedSigningScheme(shorten(other))),
    }
}

/// The rules on `crit` and the times that both formats share: the signing scheme is
/// critical, plugins are refused, only known headers may be critical and must be present,
/// `authenticSigningTime` and `expiry` must be critical, and the scheme's time is present.
/// `present` says whether a header is there; `plugin` gives a plugin header's value.
pub(super) fn check_critical_and_times(
    critical: &[&str],
    present: impl Fn(&str) -> bool,
    plugin: impl Fn(&str) -> Option<String>,
    scheme: SigningScheme,
    signing_time: Option<SystemTime>,
    authentic_signing_time: Option<SystemTime>,
) -> Result<(), EnvelopeError> {
    if !critical.contains(&SIGNING_SCHEME) {
        return Err(EnvelopeError::Header(format!(
            "crit must list {SIGNING_SCHEME}"
        )));
    }
    for name in critical {
        if PLUGIN_HEADERS.contains(name) {
            let value = plugin(name).unwrap_or_else(|| (*name).to_string());
            return Err(EnvelopeError::PluginRequired(shorten(&value)));
        }
        if ![SIGNING_SCHEME, AUTHENTIC_SIGNING_TIME, EXPIRY].contains(name) {
            return Err(EnvelopeError::UnsupportedCritical(shorten(name)));
        }
        if !present(name) {
            return Err(EnvelopeError::Header(format!(
                "critical header {name} is listed in crit but absent"
            )));
        }
    }
    for name in [AUTHENTIC_SIGNING_TIME, EXPIRY] {
        if present(name) && !critical.contains(&name) {
            return Err(EnvelopeError::Header(format!(
                "{name} must be listed in crit"
            )));
        }
    }
    match scheme {
        SigningScheme::X509 if signing_time.is_none() => Err(missing(SIGNING_TIME)),
        SigningScheme::X509SigningAuthority if authentic_signing_time.is_none() => {
            Err(missing(AUTHENTIC_SIGNING_TIME))
        }
        _ => Ok(()),
    }
}

impl ProtectedHeaders {
    fn parse(headers: &Map<String, Value>) -> Result<ProtectedHeaders, EnvelopeError> {
        let alg = string(headers, "alg")?.ok_or_else(|| missing("alg"))?;
        let algorithm = JwsAlgorithm::from_name(alg)
            .ok_or_else(|| EnvelopeError::UnsupportedAlgorithm(shorten(alg)))?;
        let cty = string(headers, "cty")?.ok_or_else(|| missing("cty"))?;
        if cty != PAYLOAD_CONTENT_TYPE {
            return Err(EnvelopeError::UnsupportedContentType(shorten(cty)));
        }
        let scheme_name =
            string(headers, SIGNING_SCHEME)?.ok_or_else(|| missing(SIGNING_SCHEME))?;
        let scheme = signing_scheme(scheme_name)?;
        let critical = critical_headers(headers)?;
        let signing_time = time(headers, SIGNING_TIME)?;
        let authentic_signing_time = time(headers, AUTHENTIC_SIGNING_TIME)?;
        check_critical_and_times(
            &critical,
            |name| headers.contains_key(name),
            |name| {
                headers
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            },
            scheme,
            signing_time,
            authentic_signing_time,
        )?;
        Ok(ProtectedHeaders {
            algorithm,
            scheme,
            signing_time,
            authentic_signing_time,
            expiry: time(headers, EXPIRY)?,
        })
    }
}

fn critical_headers(headers: &Map<String, Value>) -> Result<Vec<&str>, EnvelopeError> {
    let Some(Value::Array(list)) = headers.get("crit") else {
        return Err(missing("crit"));
    };
    list.iter()
        .map(|entry| {
            entry
                .as_str()
                .ok_or_else(|| EnvelopeError::Header("crit must list strings".to_string()))
        })
        .collect()
}

fn string<'a>(
    headers: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, EnvelopeError> {
    match headers.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(EnvelopeError::Header(format!("{name} must be a string"))),
    }
}

fn time(headers: &Map<String, Value>, name: &str) -> Result<Option<SystemTime>, EnvelopeError> {
    string(headers, name)?
        .map(|text| {
            parse_rfc3339(text).ok_or_else(|| {
                EnvelopeError::Header(format!(
                    "{name} {:?} is not an RFC 3339 time",
                    shorten(text)
                ))
            })
        })
        .transpose()
}

pub(super) fn missing(name: &str) -> EnvelopeError {
    EnvelopeError::Header(format!("{name} is missing"))
}

fn decode_url(text: &str, what: &str) -> Result<Vec<u8>, EnvelopeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| EnvelopeError::Malformed(format!("{what} is not unpadded base64url: {e}")))
}

fn decode_chain(x5c: &[String]) -> Result<Vec<CertificateDer<'static>>, EnvelopeError> {
    if x5c.is_empty() {
        return Err(EnvelopeError::Chain("no certificate".to_string()));
    }
    if x5c.len() > MAX_CHAIN_LENGTH {
        return Err(EnvelopeError::Chain(format!(
            "{} certificates, more than the {MAX_CHAIN_LENGTH} accepted",
            x5c.len()
        )));
    }
    x5c.iter()
        .enumerate()
        .map(|(index, text)| {
            STANDARD
                .decode(text)
                .map(CertificateDer::from)
                .map_err(|e| {
                    EnvelopeError::Chain(format!("certificate {index} is not base64: {e}"))
                })
        })
        .collect()
}

/// At most 100 characters of an attacker-chosen string, for messages.
pub(super) fn shorten(text: &str) -> String {
    text.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn protected() -> Value {
        json!({
            "alg": "ES256",
            "cty": PAYLOAD_CONTENT_TYPE,
            "crit": [SIGNING_SCHEME],
            SIGNING_SCHEME: "notary.x509",
            SIGNING_TIME: "2025-01-24T13:43:46+01:00",
        })
    }

    fn envelope(protected: &Value, x5c: &[&[u8]]) -> Vec<u8> {
        let payload = json!({"targetArtifact": {"mediaType": "m", "digest": DIGEST, "size": 7}});
        json!({
            "payload": URL_SAFE_NO_PAD.encode(payload.to_string()),
            "protected": URL_SAFE_NO_PAD.encode(protected.to_string()),
            "header": {"x5c": x5c.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
                       "io.cncf.notary.signingAgent": "test"},
            "signature": URL_SAFE_NO_PAD.encode(b"sig"),
        })
        .to_string()
        .into_bytes()
    }

    fn with(key: &str, value: Value) -> Value {
        let mut headers = protected();
        headers[key] = value;
        headers
    }

    #[test]
    fn a_valid_envelope_is_parsed_into_typed_values() {
        let bytes = envelope(&protected(), &[b"leaf", b"root"]);
        let parsed = Envelope::parse(&bytes).unwrap();
        assert_eq!(parsed.algorithm, JwsAlgorithm::Es256);
        assert_eq!(parsed.scheme, SigningScheme::X509);
        assert_eq!(parsed.signing_time, parse_rfc3339("2025-01-24T12:43:46Z"));
        assert_eq!(parsed.expiry, None);
        assert_eq!(parsed.chain.len(), 2);
        assert_eq!(parsed.chain[0].as_ref(), b"leaf");
        assert!(parsed.timestamp_token.is_none());
        assert_eq!(parsed.target.digest, DIGEST);
        assert_eq!(parsed.target.size, 7);
        assert_eq!(parsed.signature(), b"sig");
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let expected = format!(
            "{}.{}",
            raw["protected"].as_str().unwrap(),
            raw["payload"].as_str().unwrap()
        );
        assert_eq!(parsed.signing_input(), expected.as_bytes());
    }

    #[test]
    fn expiry_must_be_critical_and_is_read() {
        let headers = with(EXPIRY, json!("2030-01-01T00:00:00Z"));
        assert!(matches!(
            Envelope::parse(&envelope(&headers, &[b"c"])),
            Err(EnvelopeError::Header(_))
        ));
        let mut headers = headers;
        headers["crit"] = json!([SIGNING_SCHEME, EXPIRY]);
        let parsed = Envelope::parse(&envelope(&headers, &[b"c"])).unwrap();
        assert_eq!(parsed.expiry, parse_rfc3339("2030-01-01T00:00:00Z"));
    }

    #[test]
    fn header_rules_are_enforced() {
        let cases = [
            (with("alg", json!("RS256")), "UnsupportedAlgorithm"),
            (with("alg", json!("none")), "UnsupportedAlgorithm"),
            (
                with("cty", json!("application/json")),
                "UnsupportedContentType",
            ),
            (
                with(SIGNING_SCHEME, json!("notary.x509.other")),
                "UnsupportedSigningScheme",
            ),
            (with("crit", json!([])), "Header"),
            (
                with("crit", json!([SIGNING_SCHEME, "x.unknown"])),
                "UnsupportedCritical",
            ),
            (with("crit", json!([SIGNING_SCHEME, EXPIRY])), "Header"),
            (with(SIGNING_TIME, json!("yesterday")), "Header"),
            (with(SIGNING_TIME, json!(17)), "Header"),
            (
                with("crit", json!([SIGNING_SCHEME, PLUGIN_HEADERS[0]])),
                "PluginRequired",
            ),
        ];
        for (headers, expected) in cases {
            let result = Envelope::parse(&envelope(&headers, &[b"c"]));
            let got = format!("{result:?}");
            assert!(got.contains(expected), "{headers}: {got}");
        }
        let mut no_time = protected();
        no_time.as_object_mut().unwrap().remove(SIGNING_TIME);
        assert!(Envelope::parse(&envelope(&no_time, &[b"c"])).is_err());
    }

    #[test]
    fn signing_authority_needs_an_authentic_signing_time() {
        let mut headers = with(SIGNING_SCHEME, json!("notary.x509.signingAuthority"));
        assert!(Envelope::parse(&envelope(&headers, &[b"c"])).is_err());
        headers[AUTHENTIC_SIGNING_TIME] = json!("2025-01-01T00:00:00Z");
        headers["crit"] = json!([SIGNING_SCHEME, AUTHENTIC_SIGNING_TIME]);
        let parsed = Envelope::parse(&envelope(&headers, &[b"c"])).unwrap();
        assert_eq!(parsed.scheme, SigningScheme::X509SigningAuthority);
        assert!(parsed.authentic_signing_time.is_some());
    }

    #[test]
    fn chains_are_bounded_and_timestamps_noticed() {
        assert!(matches!(
            Envelope::parse(&envelope(&protected(), &[])),
            Err(EnvelopeError::Chain(_))
        ));
        let eleven: Vec<&[u8]> = vec![b"c"; MAX_CHAIN_LENGTH + 1];
        assert!(matches!(
            Envelope::parse(&envelope(&protected(), &eleven)),
            Err(EnvelopeError::Chain(_))
        ));
        let mut raw: Value = serde_json::from_slice(&envelope(&protected(), &[b"c"])).unwrap();
        raw["header"]["io.cncf.notary.timestampSignature"] = json!("AAAA");
        let parsed = Envelope::parse(raw.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.timestamp_token, Some(vec![0, 0, 0]));
        raw["header"]["io.cncf.notary.timestampSignature"] = json!("not base64!");
        let broken = serde_json::to_vec(&raw).unwrap();
        assert!(matches!(
            Envelope::parse(&broken),
            Err(EnvelopeError::Malformed(m)) if m.contains("timestampSignature is not base64")
        ));
    }

    #[test]
    fn malformed_envelopes_are_errors_not_panics() {
        for bytes in [
            &b""[..],
            b"{}",
            b"[]",
            br#"{"payload":"!","protected":"e30","header":{"x5c":["YQ=="]},"signature":""}"#,
            br#"{"payload":"e30","protected":"e30","header":{"x5c":["YQ=="]},"signature":"","extra":1}"#,
        ] {
            assert!(Envelope::parse(bytes).is_err());
        }
        let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            Envelope::parse(&huge),
            Err(EnvelopeError::TooLarge(_))
        ));
    }
}
