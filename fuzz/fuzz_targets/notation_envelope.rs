//! Fuzzes the Notary Project JWS envelope parser and the verification behind it: any bytes,
//! as a whole envelope or as each part of a well-formed one (protected header, payload,
//! `x5c` certificate, signature), parse or fail without panicking; a parsed envelope keeps
//! its bounds, and with no trust root it is never verified under the strict level.
#![no_main]

use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tastevin::config::{VerificationLevel, VerifyTimestamp};
use tastevin::validators::notation::envelope::MAX_CHAIN_LENGTH;
use tastevin::validators::notation::{verify, Envelope, Policy, TargetArtifact, TrustStore};

fn exercise(bytes: &[u8]) {
    let Ok(envelope) = Envelope::parse(bytes) else {
        return;
    };
    assert!((1..=MAX_CHAIN_LENGTH).contains(&envelope.chain.len()));
    assert!(envelope.signing_input().contains(&b'.'));
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
});
