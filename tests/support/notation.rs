//! Notary Project signing identities for tests: a CA and a code-signing leaf made with
//! rcgen (validity windows relative to today, so no test depends on a fixed year), JWS
//! envelopes signed with the leaf's P-256 key via aws-lc-rs, and the unprotected header
//! where a timestamp countersignature goes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use coset::cbor::value::Value as Cbor;
use coset::iana;
use coset::{
    CoseSign1, CoseSign1Builder, HeaderBuilder, Label, RegisteredLabelWithPrivate,
    TaggedCborSerializable as _,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};

pub const DAY: Duration = Duration::from_secs(86_400);

/// A signing identity: the certificate to configure as trust root, the `x5c` chain and the
/// P-256 signing key.
pub struct Signer {
    pub root_pem: String,
    pub chain: Vec<Vec<u8>>,
    /// The leaf's PKCS#8 key (DER), for signers outside the harness.
    pub pkcs8: Vec<u8>,
    /// The `io.cncf.notary.signingTime` the envelopes claim (inside the leaf's validity).
    pub signing_time: SystemTime,
}

fn code_signing_params(is_ca: bool) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "notation e2e signer");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    if is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

/// `at` as the (year, month, day) rcgen takes, in UTC (civil-from-days, H. Hinnant).
fn ymd(at: SystemTime) -> (i32, u8, u8) {
    let days = at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() / 86_400;
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// Sets the validity of `params` to the UTC days of `not_before` and `not_after`.
fn set_validity(params: &mut CertificateParams, not_before: SystemTime, not_after: SystemTime) {
    let (year, month, day) = ymd(not_before);
    params.not_before = rcgen::date_time_ymd(year, month, day);
    let (year, month, day) = ymd(not_after);
    params.not_after = rcgen::date_time_ymd(year, month, day);
}

/// `at` in RFC 3339 (`2026-12-07T12:00:00Z`), as the signed headers carry times.
pub fn rfc3339(at: SystemTime) -> String {
    let (year, month, day) = ymd(at);
    let secs = at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl Signer {
    /// A CA and a code-signing leaf issued by it; the CA is the trust root. Both valid
    /// from 30 days ago for ten years.
    pub fn with_ca() -> Signer {
        let now = SystemTime::now();
        Signer::with_leaf_validity(now - 30 * DAY, now + 3650 * DAY)
    }

    /// As [`Signer::with_ca`], with the leaf valid from `not_before` to `not_after` (whole
    /// days, UTC midnight) and envelopes claiming a signing time in its middle, or now if
    /// that is earlier (a signer does not claim the future).
    pub fn with_leaf_validity(not_before: SystemTime, not_after: SystemTime) -> Signer {
        let now = SystemTime::now();
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "notation e2e CA");
        set_validity(&mut ca_params, now - 365 * DAY, now + 3650 * DAY);
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params = code_signing_params(false);
        set_validity(&mut leaf_params, not_before, not_after);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        let middle = not_before
            + not_after
                .duration_since(not_before)
                .expect("not_before before not_after")
                / 2;
        Signer {
            root_pem: ca.pem(),
            chain: vec![leaf.der().to_vec(), ca.der().to_vec()],
            pkcs8: leaf_key.serialize_der(),
            signing_time: middle.min(now),
        }
    }

    /// A self-signed signing certificate (CA:TRUE), configured itself as trust root.
    pub fn self_signed() -> Signer {
        let key = KeyPair::generate().expect("key");
        let cert = code_signing_params(true).self_signed(&key).expect("cert");
        Signer {
            root_pem: cert.pem(),
            chain: vec![cert.der().to_vec()],
            pkcs8: key.serialize_der(),
            signing_time: SystemTime::now(),
        }
    }

    /// A JWS envelope signing `target`.
    pub fn envelope(&self, target: &Value) -> Vec<u8> {
        self.envelope_value(target).to_string().into_bytes()
    }

    /// The envelope as JSON, to add unprotected header fields to.
    pub fn envelope_value(&self, target: &Value) -> Value {
        let protected = json!({
            "alg": "ES256",
            "cty": "application/vnd.cncf.notary.payload.v1+json",
            "crit": ["io.cncf.notary.signingScheme"],
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": rfc3339(self.signing_time),
        });
        let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
        let payload = URL_SAFE_NO_PAD.encode(json!({ "targetArtifact": target }).to_string());
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8)
            .expect("signing key");
        let signature = key
            .sign(
                &SystemRandom::new(),
                format!("{protected}.{payload}").as_bytes(),
            )
            .expect("signature");
        json!({
            "payload": payload,
            "protected": protected,
            "header": {
                "x5c": self.chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
                "io.cncf.notary.signingAgent": "tastevin e2e",
            },
            "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
        })
    }
}

impl Signer {
    /// A `COSE_Sign1` signing `target` as `notation sign --signature-format cose` makes it:
    /// ES256, the Notary Project's protected headers (epoch times under tag 1), `x5chain`
    /// in the unprotected header. Encode with [`cose_bytes`].
    pub fn cose_sign1(&self, target: &Value) -> CoseSign1 {
        let signing_time = self
            .signing_time
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
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
                Cbor::Tag(1, Box::new(Cbor::Integer(signing_time.into()))),
            )
            .build();
        let unprotected = HeaderBuilder::new()
            .value(
                33,
                Cbor::Array(self.chain.iter().map(|c| Cbor::Bytes(c.clone())).collect()),
            )
            .text_value(
                "io.cncf.notary.signingAgent".to_string(),
                Cbor::Text("tastevin e2e".to_string()),
            )
            .build();
        let payload = json!({ "targetArtifact": target }).to_string().into_bytes();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8)
            .expect("signing key");
        CoseSign1Builder::new()
            .protected(protected)
            .unprotected(unprotected)
            .payload(payload)
            .create_signature(b"", |tbs| {
                key.sign(&SystemRandom::new(), tbs)
                    .expect("signature")
                    .as_ref()
                    .to_vec()
            })
            .build()
    }
}

/// `sign1` as a `COSE_Sign1_Tagged` blob (`application/cose`), with `token` as its
/// `io.cncf.notary.timestampSignature` when given (unprotected: added after signing).
pub fn cose_bytes(mut sign1: CoseSign1, token: Option<&[u8]>) -> Vec<u8> {
    if let Some(token) = token {
        sign1.unprotected.rest.push((
            Label::Text("io.cncf.notary.timestampSignature".to_string()),
            Cbor::Bytes(token.to_vec()),
        ));
    }
    sign1.to_tagged_vec().expect("COSE encoding")
}

/// The raw signature bytes of `envelope`: what a timestamp countersignature stamps.
pub fn signature_bytes(envelope: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(envelope["signature"].as_str().expect("signature"))
        .expect("base64url signature")
}

/// `envelope` with `token` as its `io.cncf.notary.timestampSignature`.
pub fn with_timestamp(mut envelope: Value, token: &[u8]) -> Vec<u8> {
    envelope["header"]["io.cncf.notary.timestampSignature"] = json!(STANDARD.encode(token));
    envelope.to_string().into_bytes()
}
