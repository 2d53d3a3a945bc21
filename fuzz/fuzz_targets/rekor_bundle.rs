//! Fuzzes Rekor bundle parsing and offline verification. The first byte picks the mode:
//! raw bundle JSON checked against the public-good Rekor key, or a log entry body wrapped
//! in a bundle that a test log key really signs, so that the body parsing and the binding
//! to the signature are reached. No input panics, and nothing unsigned is accepted.
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tastevin::crypto::PublicKey;
use tastevin::validators::cosign::trusted_root::LogKeys;
use tastevin::validators::cosign::{
    verify, Bundle, CosignPolicy, RootVerifier, SignatureLayer, TransparencyLog, TrustedRoot,
    PUBLIC_GOOD_REKOR_KEY,
};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Keys {
    rekor: EcdsaKeyPair,
    rekor_public: PublicKey,
    public_good: PublicKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rekor = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("keygen");
        let der = rekor.public_key().as_der().expect("der");
        Keys {
            rekor_public: PublicKey::from_spki_der(der.as_ref()).expect("own key"),
            rekor,
            public_good: PublicKey::from_pem(PUBLIC_GOOD_REKOR_KEY).expect("built-in key"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    if mode % 2 == 0 {
        let Ok(json) = std::str::from_utf8(rest) else {
            return;
        };
        if let Ok(bundle) = Bundle::parse(json) {
            // A fuzzer cannot forge the public-good log's signature.
            assert!(bundle.verify(&keys.public_good).is_err());
        }
        return;
    }
    // `rest` is the entry body; the log signs it as Rekor would (canonical JSON, sorted keys).
    let body = STANDARD.encode(rest);
    let canonical = format!(
        "{{\"body\":\"{body}\",\"integratedTime\":1,\"logID\":\"{}\",\"logIndex\":2}}",
        keys.rekor_public.sha256_id()
    );
    let set = keys
        .rekor
        .sign(&SystemRandom::new(), canonical.as_bytes())
        .expect("sign");
    let json = format!(
        "{{\"SignedEntryTimestamp\":\"{}\",\"Payload\":{}}}",
        STANDARD.encode(set.as_ref()),
        canonical
    );
    let bundle = Bundle::parse(&json).expect("well-formed bundle");
    let entry = bundle.verify(&keys.rekor_public);
    // The fuzzed entry names no key we trust: a signer key is never bound.
    if let Ok(entry) = &entry {
        assert!(entry.binds(rest, rest, &keys.public_good).is_err());
    }
    let layer = SignatureLayer {
        payload: rest.to_vec(),
        signature: STANDARD.encode(rest),
        bundle: Some(json),
        certificate: None,
        chain: None,
    };
    let roots = [TrustedRoot {
        name: "fuzz".to_owned(),
        verifier: RootVerifier::Key(keys.public_good.clone()),
    }];
    let policy = CosignPolicy {
        threshold: Some(1),
        required: vec!["fuzz".to_owned()],
        transparency_log: TransparencyLog::Require(LogKeys::single(keys.rekor_public.clone())),
        timestamp_authorities: Vec::new(),
    };
    assert!(verify(&[layer], &[], DIGEST, &roots, &policy).is_err());
});
