//! RFC 3161 timestamp countersignatures on Notation signatures, through the library's
//! `Envelope::parse` and `notation::verify` with an injected verification time: tokens
//! from a real TSA (`openssl ts`, each token cross-checked by `openssl ts -verify`), signing
//! certificates with validity windows relative to today, and the Notary Project
//! trust-policy rules (`verifyTimestamp: always | afterCertExpiry`, the `tsa:` store, the
//! stamped interval inside the signing chain's validity, strict / permissive / audit).

mod support;

use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use tastevin::config::{TrustRoot, TrustRootMaterial, VerificationLevel, VerifyTimestamp};
use tastevin::validators::notation::verify::Validation;
use tastevin::validators::notation::{
    verify, Envelope, Policy, TargetArtifact, TrustStore, Verified, VerifyError,
};

use support::notation::{signature_bytes, with_timestamp, Signer, DAY};
use support::tsa::Tsa;

const DIGEST: &str = "sha256:a136cc4e785798e5e8483047cf621cf0a0300a93d47703a3f066c340c070f5cf";
const MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

fn artifact() -> TargetArtifact {
    TargetArtifact {
        media_type: MEDIA_TYPE.to_string(),
        digest: DIGEST.to_string(),
        size: 742,
    }
}

fn target() -> Value {
    json!({"mediaType": MEDIA_TYPE, "digest": DIGEST, "size": 742})
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate")
}

/// The trust store of one root `default`: the signer's CA, and `tsa` as its `tsCert`.
fn store(signer: &Signer, tsa: Option<&Tsa>) -> TrustStore {
    let root = TrustRoot {
        name: "default".to_string(),
        material: TrustRootMaterial::Cert {
            cert: der(&signer.root_pem),
            timestamp_cert: tsa.map(|tsa| der(&tsa.root_pem)),
        },
    };
    TrustStore::from_roots(&[&root]).expect("trust store")
}

/// An envelope of `signer` countersigned by `tsa` over its signature.
fn stamped(signer: &Signer, tsa: &Tsa) -> Envelope {
    let envelope = signer.envelope_value(&target());
    let token = tsa.stamp(&signature_bytes(&envelope), "sha256");
    Envelope::parse(&with_timestamp(envelope, &token)).expect("envelope")
}

fn unstamped(signer: &Signer) -> Envelope {
    Envelope::parse(&signer.envelope(&target())).expect("envelope")
}

fn check(
    envelope: &Envelope,
    store: &TrustStore,
    level: VerificationLevel,
    verify_timestamp: VerifyTimestamp,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let policy = Policy {
        level,
        verify_timestamp,
    };
    verify(envelope, &artifact(), store, policy, now)
}

fn strict(
    envelope: &Envelope,
    store: &TrustStore,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    check(
        envelope,
        store,
        VerificationLevel::Strict,
        VerifyTimestamp::Always,
        now,
    )
}

fn assert_timestamp_denied(result: Result<Verified, VerifyError>, reason: &str) {
    match result {
        Ok(verified) => panic!("admitted, expected a denial containing {reason:?}: {verified:?}"),
        Err(e) => {
            assert_eq!(e.validation, Validation::TrustedTimestamp, "{e}");
            assert!(e.to_string().contains(reason), "{e}");
        }
    }
}

#[test]
fn a_valid_stamp_from_an_ec_or_rsa_tsa_verifies_under_strict() {
    let signer = Signer::with_ca();
    for key in ["ec", "rsa:2048"] {
        let tsa = Tsa::new(key);
        let verified = strict(
            &stamped(&signer, &tsa),
            &store(&signer, Some(&tsa)),
            SystemTime::now(),
        )
        .unwrap_or_else(|e| panic!("{key} TSA: {e}"));
        assert_eq!(verified.trust_root.as_deref(), Some("default"));
        assert!(verified.logged.is_empty(), "{key}: {:?}", verified.logged);
    }
}

#[test]
fn stamps_with_sha384_and_sha512_imprints_verify() {
    let signer = Signer::with_ca();
    let tsa = Tsa::new("ec");
    for digest in ["sha384", "sha512"] {
        let envelope = signer.envelope_value(&target());
        let token = tsa.stamp(&signature_bytes(&envelope), digest);
        let envelope = Envelope::parse(&with_timestamp(envelope, &token)).unwrap();
        strict(&envelope, &store(&signer, Some(&tsa)), SystemTime::now())
            .unwrap_or_else(|e| panic!("{digest}: {e}"));
    }
}

#[test]
fn an_expired_leaf_is_admitted_with_a_stamp_from_its_validity_only_with_a_tsa_root() {
    let now = SystemTime::now();
    let signer = Signer::with_leaf_validity(now - 10 * DAY, now + 10 * DAY);
    let tsa = Tsa::new("ec");
    let envelope = stamped(&signer, &tsa);
    let later = now + 30 * DAY;
    let with_tsa = store(&signer, Some(&tsa));
    for verify_timestamp in [VerifyTimestamp::Always, VerifyTimestamp::AfterCertExpiry] {
        let verified = check(
            &envelope,
            &with_tsa,
            VerificationLevel::Strict,
            verify_timestamp,
            later,
        )
        .unwrap_or_else(|e| panic!("{verify_timestamp:?}: {e}"));
        assert!(verified.logged.is_empty());
    }
    // Without a tsa: store the stamp is not looked at, and the chain must be valid now.
    assert_timestamp_denied(strict(&envelope, &store(&signer, None), later), "expired");
    // Without a stamp, the tsa: store cannot vouch for the signing time either.
    assert_timestamp_denied(
        check(
            &unstamped(&signer),
            &with_tsa,
            VerificationLevel::Strict,
            VerifyTimestamp::AfterCertExpiry,
            later,
        ),
        "no timestamp countersignature was found",
    );
}

#[test]
fn always_requires_a_stamp_and_after_cert_expiry_only_once_a_certificate_expired() {
    let signer = Signer::with_ca();
    let tsa = Tsa::new("ec");
    let with_tsa = store(&signer, Some(&tsa));
    let now = SystemTime::now();
    let envelope = unstamped(&signer);
    assert_timestamp_denied(
        strict(&envelope, &with_tsa, now),
        "no timestamp countersignature was found",
    );
    check(
        &envelope,
        &with_tsa,
        VerificationLevel::Strict,
        VerifyTimestamp::AfterCertExpiry,
        now,
    )
    .expect("afterCertExpiry with an unexpired chain needs no stamp");
    // No tsa: store: no stamp is required (nor verified).
    strict(&envelope, &store(&signer, None), now).expect("no tsa store");
}

#[test]
fn after_cert_expiry_skips_a_broken_stamp_while_the_chain_is_valid() {
    let signer = Signer::with_ca();
    let tsa = Tsa::new("ec");
    let other = Tsa::new("ec");
    let envelope = stamped(&signer, &other);
    let with_tsa = store(&signer, Some(&tsa));
    let now = SystemTime::now();
    check(
        &envelope,
        &with_tsa,
        VerificationLevel::Strict,
        VerifyTimestamp::AfterCertExpiry,
        now,
    )
    .expect("the stamp is not verified while every certificate is valid");
    assert_timestamp_denied(
        strict(&envelope, &with_tsa, now),
        "timestamp authority is not trusted",
    );
}

#[test]
fn a_stamp_from_an_unknown_tsa_is_denied() {
    let signer = Signer::with_ca();
    let trusted = Tsa::new("ec");
    let unknown = Tsa::new("rsa:2048");
    let result = strict(
        &stamped(&signer, &unknown),
        &store(&signer, Some(&trusted)),
        SystemTime::now(),
    );
    assert_timestamp_denied(result, "timestamp authority is not trusted");
}

#[test]
fn a_stamp_over_other_bytes_is_denied() {
    let signer = Signer::with_ca();
    let tsa = Tsa::new("ec");
    let envelope = signer.envelope_value(&target());
    let mut other = signature_bytes(&envelope);
    other[0] ^= 1;
    let token = tsa.stamp(&other, "sha256");
    let envelope = Envelope::parse(&with_timestamp(envelope, &token)).unwrap();
    assert_timestamp_denied(
        strict(&envelope, &store(&signer, Some(&tsa)), SystemTime::now()),
        "its message imprint is not the hash of the signature",
    );
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in token")
}

#[test]
fn a_tampered_token_is_denied() {
    let signer = Signer::with_ca();
    let tsa = Tsa::new("ec");
    let envelope = signer.envelope_value(&target());
    let token = tsa.stamp(&signature_bytes(&envelope), "sha256");
    let store = store(&signer, Some(&tsa));
    let now = SystemTime::now();

    // genTime (GeneralizedTime, tag 0x18, 15 bytes "YYYYMMDDhhmmssZ") moved by a second:
    // the TSTInfo no longer has the digest the TSA signed.
    let mut moved = token.clone();
    let at = find(&token, &[0x18, 0x0f]) + 2 + 13;
    moved[at] = if moved[at] == b'0' { b'1' } else { b'0' };
    let stamped = Envelope::parse(&with_timestamp(envelope.clone(), &moved)).unwrap();
    assert_timestamp_denied(
        strict(&stamped, &store, now),
        "the message digest is not the TSTInfo's",
    );

    // The last byte of the signature value flipped.
    let mut forged = token.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    let stamped = Envelope::parse(&with_timestamp(envelope.clone(), &forged)).unwrap();
    assert_timestamp_denied(strict(&stamped, &store, now), "timestamp token");

    // Truncated.
    let stamped = Envelope::parse(&with_timestamp(envelope, &token[..token.len() / 2])).unwrap();
    assert_timestamp_denied(
        strict(&stamped, &store, now),
        "the timestamp token is malformed",
    );
}

#[test]
fn a_leaf_already_expired_at_the_stamped_time_is_denied() {
    let now = SystemTime::now();
    let signer = Signer::with_leaf_validity(now - 20 * DAY, now - 10 * DAY);
    let tsa = Tsa::new("ec");
    let envelope = stamped(&signer, &tsa);
    assert_timestamp_denied(
        strict(&envelope, &store(&signer, Some(&tsa)), now),
        "at the time stamped by TSA root default",
    );
}

#[test]
fn permissive_and_audit_only_log_a_failed_timestamp_validation() {
    let now = SystemTime::now();
    let signer = Signer::with_leaf_validity(now - 10 * DAY, now + 10 * DAY);
    let tsa = Tsa::new("ec");
    let unknown = Tsa::new("ec");
    let later = now + 30 * DAY;
    let with_tsa = store(&signer, Some(&tsa));
    for envelope in [unstamped(&signer), stamped(&signer, &unknown)] {
        assert!(strict(&envelope, &with_tsa, later).is_err());
        for level in [VerificationLevel::Permissive, VerificationLevel::Audit] {
            let verified = check(&envelope, &with_tsa, level, VerifyTimestamp::Always, later)
                .unwrap_or_else(|e| panic!("{level:?}: {e}"));
            assert_eq!(verified.logged.len(), 1, "{level:?}: {:?}", verified.logged);
            assert_eq!(verified.logged[0].validation, Validation::TrustedTimestamp);
        }
    }
    // A broken signature stays fatal under audit, stamp or not.
    let mut raw =
        signer.envelope_value(&json!({"mediaType": MEDIA_TYPE, "digest": DIGEST, "size": 1}));
    let token = tsa.stamp(&signature_bytes(&raw), "sha256");
    raw["header"]["io.cncf.notary.timestampSignature"] = json!(base64_of(&token));
    let envelope = Envelope::parse(raw.to_string().as_bytes()).unwrap();
    let e = check(
        &envelope,
        &with_tsa,
        VerificationLevel::Audit,
        VerifyTimestamp::Always,
        now,
    )
    .unwrap_err();
    assert_eq!(e.validation, Validation::Integrity, "{e}");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn cose_envelopes_are_countersigned_the_same_way() {
    use support::notation::cose_bytes;
    use tastevin::validators::notation::cose;
    let now = SystemTime::now();
    let signer = Signer::with_leaf_validity(now - 10 * DAY, now + 10 * DAY);
    let tsa = Tsa::new("ec");
    let with_tsa = store(&signer, Some(&tsa));
    let sign1 = signer.cose_sign1(&target());
    let token = tsa.stamp(&sign1.signature, "sha256");
    let stamped = cose::parse(&cose_bytes(sign1.clone(), Some(&token))).expect("COSE envelope");
    strict(&stamped, &with_tsa, now).expect("a valid stamp");
    strict(&stamped, &with_tsa, now + 30 * DAY).expect("an expired leaf with a stamp");
    let unstamped = cose::parse(&cose_bytes(sign1, None)).unwrap();
    assert_timestamp_denied(
        strict(&unstamped, &with_tsa, now),
        "no timestamp countersignature was found",
    );
    assert_timestamp_denied(
        strict(&unstamped, &store(&signer, None), now + 30 * DAY),
        "expired",
    );
    // A payload swapped after signing breaks the signature, stamp or not.
    let mut swapped = signer.cose_sign1(&target());
    swapped.payload = Some(
        json!({"targetArtifact": {"mediaType": MEDIA_TYPE, "digest": DIGEST, "size": 743}})
            .to_string()
            .into_bytes(),
    );
    let swapped = cose::parse(&cose_bytes(swapped, None)).unwrap();
    let e = check(
        &swapped,
        &with_tsa,
        VerificationLevel::Audit,
        VerifyTimestamp::Always,
        now,
    )
    .unwrap_err();
    assert_eq!(e.validation, Validation::Integrity, "{e}");
    assert!(e.reason.contains("does not verify"), "{e}");
    let other = signer.cose_sign1(&target());
    let foreign = cose::parse(&cose_bytes(other, Some(&token))).unwrap();
    assert_timestamp_denied(
        strict(&foreign, &with_tsa, now),
        "its message imprint is not the hash of the signature",
    );
}

/// A token of the Notary Project's `tspclient-go` test data (see the README beside them).
fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/tspclient-go/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_real_globalsign_token_verifies_and_its_broken_variants_do_not() {
    use tastevin::timestamp_token::{self, TimestampError, TsaRoot};
    let root = der(&String::from_utf8(vector("GlobalSignRootCA.crt")).unwrap());
    let roots = [TsaRoot {
        name: "globalsign",
        der: &root,
    }];
    let stamp = timestamp_token::verify(&vector("TimeStampToken.p7s"), b"notation", &roots)
        .expect("GlobalSign's token");
    assert_eq!(stamp.root, "globalsign");
    // genTime 2021-09-17T14:09:10Z, accuracy 1 s, as `openssl ts -reply -text` shows.
    let gen_time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_631_887_750);
    assert_eq!(stamp.time, gen_time);
    assert_eq!(stamp.accuracy, std::time::Duration::from_secs(1));
    assert!(stamp.chain.len() >= 2, "the TSA certificate and its issuer");
    assert_eq!(
        timestamp_token::verify(&vector("TimeStampToken.p7s"), b"notary", &roots),
        Err(TimestampError::ImprintMismatch)
    );
    let unknown = der(&Signer::with_ca().root_pem);
    let other = [TsaRoot {
        name: "other",
        der: &unknown,
    }];
    assert!(matches!(
        timestamp_token::verify(&vector("TimeStampToken.p7s"), b"notation", &other),
        Err(TimestampError::Untrusted(_))
    ));
    for (name, expected) in [
        (
            "TimeStampTokenWithInvalidSignature.p7s",
            "signature is invalid",
        ),
        (
            "TimeStampTokenWithMismatchCertHash.p7s",
            "signing-certificate-v2",
        ),
        ("TimeStampTokenWithTSTInfoVersion2.p7s", "malformed"),
        (
            "TimeStampTokenWithoutCertificate.p7s",
            "does not carry the TSA's certificate",
        ),
        // RFC 3161 §2.4.2: the TSA's is the only signature (tspclient-go accepts any valid one).
        (
            "TimeStampTokenWithValidAndInvalidSignerInfos.p7s",
            "more than one signer",
        ),
    ] {
        match timestamp_token::verify(&vector(name), b"notation", &roots) {
            Ok(stamp) => panic!("{name} verified: {stamp:?}"),
            Err(e) => assert!(e.to_string().contains(expected), "{name}: {e}"),
        }
    }
}

#[test]
fn cose_envelopes_made_by_python_cbor2_verify() {
    use tastevin::validators::notation::cose;
    let signer = Signer::with_ca();
    let bytes = support::python_cose::envelope(&signer, &target());
    let envelope = cose::parse(&bytes).expect("cbor2's COSE_Sign1");
    let verified = strict(&envelope, &store(&signer, None), SystemTime::now())
        .expect("cryptography's ES256 signature over cbor2's Sig_structure");
    assert_eq!(verified.trust_root.as_deref(), Some("default"));
    // One byte of the payload changed (inside the CBOR, so it still parses): integrity.
    let at = bytes
        .windows(DIGEST.len())
        .position(|w| w == DIGEST.as_bytes())
        .expect("digest in the payload")
        + DIGEST.len()
        - 1;
    let mut tampered = bytes.clone();
    tampered[at] = if tampered[at] == b'f' { b'e' } else { b'f' };
    let envelope = cose::parse(&tampered).expect("still CBOR");
    let e = check(
        &envelope,
        &store(&signer, None),
        VerificationLevel::Audit,
        VerifyTimestamp::Always,
        SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(e.validation, Validation::Integrity, "{e}");
}
