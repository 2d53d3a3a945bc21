//! The Notary Project COSE signature envelope (`application/cose`): a `COSE_Sign1_Tagged`
//! (RFC 9052, CBOR tag 18) with an embedded payload, parsed into the same [`Envelope`] as
//! the JWS format. The protected header carries `alg` (label 1), `crit` (2), the content
//! type (3) and the Notary Project's text-labelled headers, whose times are epoch-based
//! date/times (CBOR tag 1 over an integer); the unprotected header carries `x5chain` (label
//! 33, or in the protected header), `io.cncf.notary.timestampSignature` (a byte string) and
//! `io.cncf.notary.signingAgent`. The signature covers the `Sig_structure` built over the
//! protected header's bytes as they arrived.
//!
//! CBOR and COSE decoding are `coset`'s (on `ciborium`), which also refuses duplicate
//! labels; nothing is verified cryptographically here: that is [`super::verify`]'s job.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coset::cbor::value::Value;
use coset::iana::{self, EnumI64 as _};
use coset::{
    Algorithm, ContentType, CoseSign1, Header, Label, RegisteredLabelWithPrivate,
    TaggedCborSerializable as _,
};
use rustls_pki_types::CertificateDer;

use super::envelope::{
    check_critical_and_times, missing, parse_payload, shorten, signing_scheme, Envelope,
    EnvelopeError, JwsAlgorithm, ProtectedHeaders, AUTHENTIC_SIGNING_TIME, EXPIRY,
    MAX_CHAIN_LENGTH, MAX_ENVELOPE_BYTES, PAYLOAD_CONTENT_TYPE, SIGNING_SCHEME, SIGNING_TIME,
};

/// `x5chain` (RFC 9360), the label of the certificate chain.
const X5CHAIN: i64 = 33;
const TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";
/// CBOR tag of an epoch-based date/time (RFC 8949 §3.4.2).
const EPOCH_TIME_TAG: u64 = 1;

/// Parses a `COSE_Sign1_Tagged` envelope blob of at most [`MAX_ENVELOPE_BYTES`].
pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(EnvelopeError::TooLarge(bytes.len()));
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes).map_err(|e| {
        EnvelopeError::Malformed(format!("not a tagged COSE_Sign1 (CBOR tag 18): {e}"))
    })?;
    let protected = &sign1.protected.header;
    let headers = protected_headers(protected)?;
    let chain = match (
        label_value(protected, X5CHAIN),
        label_value(&sign1.unprotected, X5CHAIN),
    ) {
        (Some(_), Some(_)) => {
            return Err(EnvelopeError::Chain(
                "x5chain is in both the protected and the unprotected header".to_string(),
            ))
        }
        (Some(value), None) | (None, Some(value)) => certificate_chain(value)?,
        (None, None) => return Err(EnvelopeError::Chain("no x5chain".to_string())),
    };
    let timestamp_token = match text_value(&sign1.unprotected, TIMESTAMP_SIGNATURE) {
        None => None,
        Some(Value::Bytes(token)) => Some(token.clone()),
        Some(_) => {
            return Err(EnvelopeError::Malformed(format!(
                "{TIMESTAMP_SIGNATURE} must be a byte string"
            )))
        }
    };
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| EnvelopeError::Malformed("the payload is detached".to_string()))?;
    let target = parse_payload(payload)?;
    let signing_input = sign1.tbs_data(b"");
    Ok(Envelope::from_parts(
        headers,
        chain,
        timestamp_token,
        target,
        signing_input,
        sign1.signature,
    ))
}

fn protected_headers(header: &Header) -> Result<ProtectedHeaders, EnvelopeError> {
    let algorithm = match &header.alg {
        Some(alg) => algorithm(alg)?,
        None => return Err(missing("alg (label 1)")),
    };
    match &header.content_type {
        Some(ContentType::Text(cty)) if cty == PAYLOAD_CONTENT_TYPE => {}
        Some(ContentType::Text(cty)) => {
            return Err(EnvelopeError::UnsupportedContentType(shorten(cty)))
        }
        Some(ContentType::Assigned(format)) => {
            return Err(EnvelopeError::UnsupportedContentType(format!(
                "CoAP content format {}",
                format.to_i64()
            )))
        }
        None => return Err(missing("content type (label 3)")),
    }
    if !header.key_id.is_empty()
        || !header.iv.is_empty()
        || !header.partial_iv.is_empty()
        || !header.counter_signatures.is_empty()
    {
        return Err(EnvelopeError::Header(
            "kid, IV and counter signature headers have no place in a Notary Project signature"
                .to_string(),
        ));
    }
    let scheme_name = match text_value(header, SIGNING_SCHEME) {
        Some(Value::Text(name)) => name.as_str(),
        Some(_) => {
            return Err(EnvelopeError::Header(format!(
                "{SIGNING_SCHEME} must be a text string"
            )))
        }
        None => return Err(missing(SIGNING_SCHEME)),
    };
    let scheme = signing_scheme(scheme_name)?;
    let critical = header
        .crit
        .iter()
        .map(|label| match label {
            RegisteredLabelWithPrivate::Text(name) => Ok(name.as_str()),
            // The specification allows only text labels besides 0..8, and tastevin
            // processes none of those as critical: refuse rather than ignore.
            RegisteredLabelWithPrivate::Assigned(parameter) => Err(
                EnvelopeError::UnsupportedCritical(format!("label {}", parameter.to_i64())),
            ),
            RegisteredLabelWithPrivate::PrivateUse(label) => {
                Err(EnvelopeError::UnsupportedCritical(format!("label {label}")))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if header.crit.is_empty() {
        return Err(missing("crit (label 2)"));
    }
    let signing_time = time(header, SIGNING_TIME)?;
    let authentic_signing_time = time(header, AUTHENTIC_SIGNING_TIME)?;
    check_critical_and_times(
        &critical,
        |name| text_value(header, name).is_some(),
        |name| match text_value(header, name) {
            Some(Value::Text(value)) => Some(value.clone()),
            _ => None,
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
        expiry: time(header, EXPIRY)?,
    })
}

/// The Notary Project's subset of COSE algorithms (signature specification).
fn algorithm(alg: &Algorithm) -> Result<JwsAlgorithm, EnvelopeError> {
    match alg {
        RegisteredLabelWithPrivate::Assigned(iana::Algorithm::PS256) => Ok(JwsAlgorithm::Ps256),
        RegisteredLabelWithPrivate::Assigned(iana::Algorithm::PS384) => Ok(JwsAlgorithm::Ps384),
        RegisteredLabelWithPrivate::Assigned(iana::Algorithm::PS512) => Ok(JwsAlgorithm::Ps512),
        RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256) => Ok(JwsAlgorithm::Es256),
        RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384) => Ok(JwsAlgorithm::Es384),
        RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES512) => Ok(JwsAlgorithm::Es512),
        RegisteredLabelWithPrivate::Assigned(other) => Err(EnvelopeError::UnsupportedAlgorithm(
            format!("COSE {}", other.to_i64()),
        )),
        RegisteredLabelWithPrivate::PrivateUse(value) => Err(EnvelopeError::UnsupportedAlgorithm(
            format!("COSE private {value}"),
        )),
        RegisteredLabelWithPrivate::Text(name) => {
            Err(EnvelopeError::UnsupportedAlgorithm(shorten(name)))
        }
    }
}

fn label_value(header: &Header, label: i64) -> Option<&Value> {
    header
        .rest
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, value)| value)
}

fn text_value<'a>(header: &'a Header, name: &str) -> Option<&'a Value> {
    header
        .rest
        .iter()
        .find(|(l, _)| matches!(l, Label::Text(text) if text == name))
        .map(|(_, value)| value)
}

/// An epoch-based date/time: tag 1 over a whole number of seconds since 1970.
fn time(header: &Header, name: &str) -> Result<Option<SystemTime>, EnvelopeError> {
    let Some(value) = text_value(header, name) else {
        return Ok(None);
    };
    let seconds = match value {
        Value::Tag(EPOCH_TIME_TAG, inner) => match inner.as_ref() {
            Value::Integer(seconds) => u64::try_from(i128::from(*seconds)).ok(),
            _ => None,
        },
        _ => None,
    };
    seconds
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .map(Some)
        .ok_or_else(|| {
            EnvelopeError::Header(format!(
                "{name} must be an epoch date/time (tag 1 over whole seconds since 1970)"
            ))
        })
}

/// `x5chain`: an array of DER certificates, signing certificate first (a single byte
/// string when there is only one, as RFC 9360 allows).
fn certificate_chain(value: &Value) -> Result<Vec<CertificateDer<'static>>, EnvelopeError> {
    let items: Vec<&Value> = match value {
        Value::Bytes(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        _ => {
            return Err(EnvelopeError::Chain(
                "x5chain must be a byte string or an array of them".to_string(),
            ))
        }
    };
    if items.is_empty() {
        return Err(EnvelopeError::Chain("no certificate".to_string()));
    }
    if items.len() > MAX_CHAIN_LENGTH {
        return Err(EnvelopeError::Chain(format!(
            "{} certificates, more than the {MAX_CHAIN_LENGTH} accepted",
            items.len()
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Bytes(der) => Ok(CertificateDer::from(der.clone())),
            _ => Err(EnvelopeError::Chain(format!(
                "certificate {index} is not a byte string"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::{CborSerializable as _, CoseSign1Builder, HeaderBuilder};

    const DIGEST: &str = "sha256:a136cc4e785798e5e8483047cf621cf0a0300a93d47703a3f066c340c070f5cf";

    fn payload() -> Vec<u8> {
        format!(
            r#"{{"targetArtifact":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{DIGEST}","size":7}}}}"#
        )
        .into_bytes()
    }

    fn protected() -> HeaderBuilder {
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .content_type(PAYLOAD_CONTENT_TYPE.to_string())
            .add_critical_label(RegisteredLabelWithPrivate::Text(SIGNING_SCHEME.to_string()))
            .text_value(
                SIGNING_SCHEME.to_string(),
                Value::Text("notary.x509".into()),
            )
            .text_value(
                SIGNING_TIME.to_string(),
                Value::Tag(
                    EPOCH_TIME_TAG,
                    Box::new(Value::Integer(1_700_000_000.into())),
                ),
            )
    }

    fn unprotected() -> HeaderBuilder {
        HeaderBuilder::new().value(
            X5CHAIN,
            Value::Array(vec![
                Value::Bytes(b"leaf".to_vec()),
                Value::Bytes(b"root".to_vec()),
            ]),
        )
    }

    fn encode(protected: HeaderBuilder, unprotected: HeaderBuilder) -> Vec<u8> {
        CoseSign1Builder::new()
            .protected(protected.build())
            .unprotected(unprotected.build())
            .payload(payload())
            .signature(b"sig".to_vec())
            .build()
            .to_tagged_vec()
            .unwrap()
    }

    fn header_error(bytes: &[u8], text: &str) {
        match parse(bytes) {
            Err(e) => assert!(e.to_string().contains(text), "{e}"),
            Ok(envelope) => panic!("parsed, expected {text:?}: {envelope:?}"),
        }
    }

    #[test]
    fn a_notary_project_cose_sign1_parses_into_an_envelope() {
        let token = b"token".to_vec();
        let bytes = encode(
            protected(),
            unprotected().text_value(TIMESTAMP_SIGNATURE.to_string(), Value::Bytes(token)),
        );
        let envelope = parse(&bytes).unwrap();
        assert_eq!(envelope.algorithm, JwsAlgorithm::Es256);
        assert_eq!(
            envelope.signing_time,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(envelope.chain.len(), 2);
        assert_eq!(envelope.chain[0].as_ref(), b"leaf");
        assert_eq!(envelope.timestamp_token.as_deref(), Some(&b"token"[..]));
        assert_eq!(envelope.target.digest, DIGEST);
        assert_eq!(envelope.signature(), b"sig");
        // The Sig_structure: ["Signature1", protected, h'', payload].
        let sign1 = CoseSign1::from_tagged_slice(&bytes).unwrap();
        assert_eq!(envelope.signing_input(), sign1.tbs_data(b"").as_slice());
        assert!(envelope
            .signing_input()
            .windows(10)
            .any(|w| w == b"Signature1"));
    }

    #[test]
    fn untagged_or_non_cose_input_is_malformed() {
        let untagged = CoseSign1::from_tagged_slice(&encode(protected(), unprotected()))
            .unwrap()
            .to_vec()
            .unwrap();
        header_error(&untagged, "not a tagged COSE_Sign1");
        header_error(b"{\"payload\":1}", "not a tagged COSE_Sign1");
        header_error(b"", "not a tagged COSE_Sign1");
        header_error(&[0xd2, 0x84], "not a tagged COSE_Sign1");
    }

    #[test]
    fn header_rules_are_the_notary_projects() {
        header_error(
            &encode(protected().algorithm(iana::Algorithm::EdDSA), unprotected()),
            "not supported",
        );
        header_error(
            &encode(
                protected().content_type("text/plain".to_string()),
                unprotected(),
            ),
            "payload content type",
        );
        let no_crit = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .content_type(PAYLOAD_CONTENT_TYPE.to_string())
            .text_value(
                SIGNING_SCHEME.to_string(),
                Value::Text("notary.x509".into()),
            );
        header_error(&encode(no_crit, unprotected()), "crit (label 2) is missing");
        header_error(
            &encode(
                protected().add_critical(iana::HeaderParameter::Alg),
                unprotected(),
            ),
            "critical header \"label 1\" is not supported",
        );
        header_error(
            &encode(
                protected().text_value(
                    EXPIRY.to_string(),
                    Value::Tag(EPOCH_TIME_TAG, Box::new(Value::Integer(1.into()))),
                ),
                unprotected(),
            ),
            "io.cncf.notary.expiry must be listed in crit",
        );
        let text_time = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .content_type(PAYLOAD_CONTENT_TYPE.to_string())
            .add_critical_label(RegisteredLabelWithPrivate::Text(SIGNING_SCHEME.to_string()))
            .text_value(
                SIGNING_SCHEME.to_string(),
                Value::Text("notary.x509".into()),
            )
            .text_value(SIGNING_TIME.to_string(), Value::Text("2026".into()));
        header_error(
            &encode(text_time, unprotected()),
            "must be an epoch date/time",
        );
    }

    #[test]
    fn the_chain_and_the_timestamp_have_their_types() {
        header_error(&encode(protected(), HeaderBuilder::new()), "no x5chain");
        header_error(
            &encode(
                protected().value(X5CHAIN, Value::Bytes(b"leaf".to_vec())),
                unprotected(),
            ),
            "both the protected and the unprotected header",
        );
        header_error(
            &encode(
                protected(),
                HeaderBuilder::new().value(X5CHAIN, Value::Array(vec![Value::Text("c".into())])),
            ),
            "certificate 0 is not a byte string",
        );
        header_error(
            &encode(
                protected(),
                HeaderBuilder::new().value(
                    X5CHAIN,
                    Value::Array(vec![Value::Bytes(vec![1]); MAX_CHAIN_LENGTH + 1]),
                ),
            ),
            "more than the",
        );
        header_error(
            &encode(
                protected(),
                unprotected().text_value(TIMESTAMP_SIGNATURE.to_string(), Value::Text("t".into())),
            ),
            "must be a byte string",
        );
        let single = parse(&encode(
            protected(),
            HeaderBuilder::new().value(X5CHAIN, Value::Bytes(b"leaf".to_vec())),
        ))
        .unwrap();
        assert_eq!(single.chain.len(), 1);
    }

    #[test]
    fn truncations_are_errors_not_panics() {
        let bytes = encode(protected(), unprotected());
        for len in 0..bytes.len() {
            assert!(parse(&bytes[..len]).is_err(), "truncated to {len}");
        }
    }
}
