//! The simple-signing payload a cosign signature signs: which image digest it vouches for
//! and under which name it was signed. Parsed strictly: the `critical` section may hold
//! only the fields of the format, and its `type` must be cosign's.

use std::fmt;

use serde::de::IgnoredAny;
use serde::Deserialize;

/// The `critical.type` of cosign image signatures.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

/// What a verified payload claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// `critical.image.docker-manifest-digest`, e.g. `sha256:…`.
    pub digest: String,
    /// `critical.identity.docker-reference`: the repository the signer named (not checked,
    /// shown in explanations).
    pub docker_reference: String,
}

/// Why a payload is not a cosign simple-signing payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Not JSON of the expected shape.
    Malformed(String),
    /// `critical.type` is not [`COSIGN_SIGNATURE_TYPE`].
    WrongType(String),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Malformed(reason) => {
                write!(f, "payload is not a simple-signing payload: {reason}")
            }
            PayloadError::WrongType(found) => write!(
                f,
                "payload type is {found:?}, expected {COSIGN_SIGNATURE_TYPE:?}"
            ),
        }
    }
}

impl std::error::Error for PayloadError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimpleSigning {
    critical: Critical,
    /// Free-form annotations of the signer (a map or `null`); not used.
    #[serde(default, rename = "optional")]
    _optional: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Parses a payload's bytes into its claims.
pub fn parse(payload: &[u8]) -> Result<Claims, PayloadError> {
    let parsed: SimpleSigning =
        serde_json::from_slice(payload).map_err(|e| PayloadError::Malformed(e.to_string()))?;
    let critical = parsed.critical;
    if critical.kind != COSIGN_SIGNATURE_TYPE {
        return Err(PayloadError::WrongType(critical.kind));
    }
    Ok(Claims {
        digest: critical.image.docker_manifest_digest,
        docker_reference: critical.identity.docker_reference,
    })
}

/// A payload as cosign writes it (compact JSON, Go field order), for tests.
#[cfg(test)]
pub(crate) fn cosign_payload(reference: &str, digest: &str) -> Vec<u8> {
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"{reference}\"}},\"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\"type\":\"{COSIGN_SIGNATURE_TYPE}\"}},\"optional\":null}}"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";

    #[test]
    fn cosign_payloads_parse() {
        let claims = parse(&cosign_payload("registry.local/team/app", DIGEST));
        assert_eq!(
            claims,
            Ok(Claims {
                digest: DIGEST.to_owned(),
                docker_reference: "registry.local/team/app".to_owned(),
            })
        );
        let with_annotations = format!(
            "{{\"optional\":{{\"sig\":\"x\",\"n\":[1,2]}},\"critical\":{{\"type\":\"{COSIGN_SIGNATURE_TYPE}\",\"image\":{{\"docker-manifest-digest\":\"{DIGEST}\"}},\"identity\":{{\"docker-reference\":\"r\"}}}}}}"
        );
        assert_eq!(
            parse(with_annotations.as_bytes()).map(|c| c.digest),
            Ok(DIGEST.to_owned())
        );
    }

    #[test]
    fn other_types_are_refused() {
        let atomic = String::from_utf8_lossy(&cosign_payload("r", DIGEST))
            .replace(COSIGN_SIGNATURE_TYPE, "atomic container signature");
        assert_eq!(
            parse(atomic.as_bytes()),
            Err(PayloadError::WrongType(
                "atomic container signature".to_owned()
            ))
        );
    }

    #[test]
    fn strict_shape() {
        let payload = String::from_utf8_lossy(&cosign_payload("r", DIGEST)).into_owned();
        let extra_critical = payload.replace("\"type\"", "\"extra\":1,\"type\"");
        let extra_top = payload.replace("\"optional\"", "\"other\":1,\"optional\"");
        let duplicate = payload.replace(
            "\"image\"",
            &format!("\"image\":{{\"docker-manifest-digest\":\"{DIGEST}\"}},\"image\""),
        );
        let no_identity = payload.replace("\"identity\":{\"docker-reference\":\"r\"},", "");
        let numeric_digest = format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"r\"}},\"image\":{{\"docker-manifest-digest\":1}},\"type\":\"{COSIGN_SIGNATURE_TYPE}\"}}}}"
        );
        for bad in [
            extra_critical,
            extra_top,
            duplicate,
            no_identity,
            numeric_digest,
            String::new(),
            "null".to_owned(),
            "[]".to_owned(),
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(PayloadError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
