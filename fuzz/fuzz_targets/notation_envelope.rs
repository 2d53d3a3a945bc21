//! Fuzzes the Notary Project JWS and COSE envelope parsers and the verification behind
//! them: any bytes, as a whole envelope (JWS or COSE_Sign1) or as each part of a well-formed
//! JWS or COSE one (payload, certificate, signature; the JWS protected header), parse or
//! fail without panicking; a parsed envelope keeps
//! its bounds, and with no trust root it is never verified under the strict level.
#![no_main]

use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use coset::cbor::value::Value as Cbor;
use coset::TaggedCborSerializable as _;
use coset::{iana, CoseSign1Builder, HeaderBuilder, RegisteredLabelWithPrivate};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tastevin::config::{VerificationLevel, VerifyTimestamp};
use tastevin::validators::notation::envelope::MAX_CHAIN_LENGTH;
use tastevin::validators::notation::{cose, verify, Envelope, Policy, TargetArtifact, TrustStore};

fn exercise(bytes: &[u8]) {
    if let Ok(envelope) = Envelope::parse(bytes) {
        assert!(envelope.signing_input().contains(&b'.'));
        check(envelope);
    }
    if let Ok(envelope) = cose::parse(bytes) {
        check(envelope);
    }
}

fn check(envelope: Envelope) {
    assert!((1..=MAX_CHAIN_LENGTH).contains(&envelope.chain.len()));
    let store = TrustStore::from_roots(&[]).expect("an empty store");
    let artifact = TargetArtifact {
        media_type: envelope.target.media_type.clone(),
        digest: envelope.target.digest.clone(),
        size: envelope.target.size,
    };
    let policy = Policy {
        level: VerificationLevel::Strict,
        verify_timestamp: VerifyTimestamp::Always,
    };
    assert!(verify(&envelope, &artifact, &store, policy, SystemTime::now()).is_err());
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    let wrapped = json!({
        "payload": URL_SAFE_NO_PAD.encode(data),
        "protected": URL_SAFE_NO_PAD.encode(data),
        "header": {"x5c": [STANDARD.encode(data)]},
        "signature": URL_SAFE_NO_PAD.encode(data),
    });
    exercise(wrapped.to_string().as_bytes());
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .content_type("application/vnd.cncf.notary.payload.v1+json".to_string())
        .add_critical_label(RegisteredLabelWithPrivate::Text(
            "io.cncf.notary.signingScheme".to_string(),
        ))
        .text_value(
            "io.cncf.notary.signingScheme".to_string(),
            Cbor::Text("notary.x509".to_string()),
        )
        .text_value(
            "io.cncf.notary.signingTime".to_string(),
            Cbor::Tag(1, Box::new(Cbor::Integer(1_700_000_000.into()))),
        )
        .build();
    let unprotected = HeaderBuilder::new()
        .value(33, Cbor::Array(vec![Cbor::Bytes(data.to_vec())]))
        .text_value(
            "io.cncf.notary.timestampSignature".to_string(),
            Cbor::Bytes(data.to_vec()),
        )
        .build();
    let cose = CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(data.to_vec())
        .signature(data.to_vec())
        .build();
    if let Ok(bytes) = cose.to_tagged_vec() {
        exercise(&bytes);
    }
});
