//! DSSE envelopes as Sigstore bundles carry them: the signature is over the
//! pre-authentication encoding (PAE) of the payload type and payload, and the payload is
//! an in-toto statement whose subject must name the image's digest.

use std::fmt;

use serde::Deserialize;

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type of the statement `cosign sign` makes for an image. Attestations
/// (`cosign attest`: provenance, SBOMs, …) are bundles attached the same way but with other
/// predicate types: they say something about the image, they do not sign it.
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Most subjects read from one statement.
const MAX_SUBJECTS: usize = 1024;

/// DSSE's PAE: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Why a statement does not sign the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementError {
    PayloadType(String),
    Malformed(String),
    /// No subject carries the image's digest.
    OtherSubject {
        digest: String,
    },
    /// An attestation, not a signature.
    PredicateType(String),
}

impl fmt::Display for StatementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatementError::PayloadType(found) => write!(
                f,
                "DSSE payload type {found:?} is not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE})"
            ),
            StatementError::Malformed(reason) => write!(f, "malformed in-toto statement: {reason}"),
            StatementError::OtherSubject { digest } => write!(
                f,
                "in-toto statement has no subject with the image's digest {digest}"
            ),
            StatementError::PredicateType(found) => write!(
                f,
                "in-toto statement of predicate type {found:?} is an attestation, not an image signature ({COSIGN_SIGN_PREDICATE_TYPE})"
            ),
        }
    }
}

impl std::error::Error for StatementError {}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// Checks that `payload` (of `payload_type`) is a `cosign sign` in-toto statement with a
/// subject whose `sha256` is the hex of `digest` (`sha256:<hex>`); returns that subject's name.
pub fn check_statement(
    payload_type: &str,
    payload: &[u8],
    digest: &str,
) -> Result<String, StatementError> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(StatementError::PayloadType(
            payload_type.chars().take(100).collect(),
        ));
    }
    let statement: Statement =
        serde_json::from_slice(payload).map_err(|e| StatementError::Malformed(e.to_string()))?;
    if !statement.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(StatementError::Malformed(format!(
            "_type {:?} is not an in-toto statement",
            statement.kind.chars().take(100).collect::<String>()
        )));
    }
    if statement.predicate_type != COSIGN_SIGN_PREDICATE_TYPE {
        return Err(StatementError::PredicateType(
            statement.predicate_type.chars().take(100).collect(),
        ));
    }
    if statement.subject.len() > MAX_SUBJECTS {
        return Err(StatementError::Malformed(format!(
            "more than {MAX_SUBJECTS} subjects"
        )));
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    let named = statement.subject.into_iter().find(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|value| !hex.is_empty() && value.eq_ignore_ascii_case(hex))
    });
    match named {
        Some(subject) => Ok(subject.name),
        None => Err(StatementError::OtherSubject {
            digest: digest.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "sha256:a136cc4e785798e5e8483047cf621cf0a0300a93d47703a3f066c340c070f5cf";

    fn statement(hex: &str) -> Vec<u8> {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.test/app", "digest": {"sha256": hex}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": {}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn pae_follows_the_dsse_specification() {
        // The DSSE specification's example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn the_statement_must_name_the_image_digest() {
        let hex = DIGEST.trim_start_matches("sha256:");
        assert_eq!(
            check_statement(IN_TOTO_PAYLOAD_TYPE, &statement(hex), DIGEST),
            Ok("registry.test/app".to_owned())
        );
        let other = "0".repeat(64);
        assert_eq!(
            check_statement(IN_TOTO_PAYLOAD_TYPE, &statement(&other), DIGEST),
            Err(StatementError::OtherSubject {
                digest: DIGEST.to_owned()
            })
        );
        assert!(matches!(
            check_statement("text/plain", &statement(hex), DIGEST),
            Err(StatementError::PayloadType(_))
        ));
        assert!(matches!(
            check_statement(IN_TOTO_PAYLOAD_TYPE, b"{", DIGEST),
            Err(StatementError::Malformed(_))
        ));
        let not_in_toto = json!({"_type": "x", "subject": []}).to_string();
        assert!(matches!(
            check_statement(IN_TOTO_PAYLOAD_TYPE, not_in_toto.as_bytes(), DIGEST),
            Err(StatementError::Malformed(_))
        ));
    }

    #[test]
    fn an_attestation_is_not_a_signature() {
        let hex = DIGEST.trim_start_matches("sha256:");
        let provenance = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.test/app", "digest": {"sha256": hex}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {}
        })
        .to_string();
        assert_eq!(
            check_statement(IN_TOTO_PAYLOAD_TYPE, provenance.as_bytes(), DIGEST),
            Err(StatementError::PredicateType(
                "https://slsa.dev/provenance/v1".to_owned()
            ))
        );
    }
}
