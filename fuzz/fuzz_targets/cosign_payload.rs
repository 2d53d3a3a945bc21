//! Fuzzes the simple-signing payload and the cosign verdict: any bytes, signed by a trusted
//! key, are admitted exactly when they are a cosign payload for the resolved digest; the
//! same bytes with a signature that does not verify never are. No input panics.
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tastevin::crypto::PublicKey;
use tastevin::validators::cosign::{
    payload, verify, CosignPolicy, RootVerifier, SignatureLayer, TransparencyLog, TrustedRoot,
};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn signer() -> &'static (EcdsaKeyPair, PublicKey) {
    static SIGNER: OnceLock<(EcdsaKeyPair, PublicKey)> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("keygen");
        let der = key.public_key().as_der().expect("der");
        let public = PublicKey::from_spki_der(der.as_ref()).expect("own key");
        (key, public)
    })
}

fuzz_target!(|data: &[u8]| {
    let claims = payload::parse(data);
    let (key, public) = signer();
    let signature = key.sign(&SystemRandom::new(), data).expect("sign");
    let layer = SignatureLayer {
        payload: data.to_vec(),
        signature: STANDARD.encode(signature.as_ref()),
        bundle: None,
        certificate: None,
        chain: None,
    };
    let roots = [TrustedRoot {
        name: "fuzz".to_owned(),
        verifier: RootVerifier::Key(public.clone()),
    }];
    let policy = CosignPolicy {
        threshold: None,
        required: Vec::new(),
        transparency_log: TransparencyLog::Ignore,
        timestamp_authorities: Vec::new(),
    };
    let verdict = verify(&[layer.clone()], &[], DIGEST, &roots, &policy);
    let expected = matches!(&claims, Ok(claims) if claims.digest == DIGEST);
    assert_eq!(verdict.is_ok(), expected, "{verdict:?}");

    let mut forged = layer;
    forged.signature = STANDARD.encode(data);
    assert!(verify(&[forged], &[], DIGEST, &roots, &policy).is_err());
});
