//! RFC 3161 time-stamp tokens: a Time-Stamping Authority's signature that some bytes (here,
//! always a signature) existed at a time. Notation signatures carry one as a countersignature
//! and Sigstore bundles may carry several; both ask the same question of it, answered here.
//!
//! A token is a CMS `SignedData` whose content is a `TSTInfo` (RFC 3161 §2.4.2). It counts
//! when: the `TSTInfo`'s message imprint is the hash of the stamped bytes; exactly one
//! signer, whose signed attributes name the `TSTInfo` content type and its digest and bind
//! the signer's certificate (ESS `signing-certificate-v2`, RFC 5816); that certificate,
//! found in the token, verifies the signature over the signed attributes; and it chains, at
//! the stamped time, to a configured TSA root with the time-stamping EKU, which RFC 3161
//! §2.3 requires to be the only one and critical. The result is the stamped time with its
//! accuracy (an interval, as the Notary Project trust-policy specification uses it).
//!
//! Parsing is the RustCrypto `cms`/`x509-tsp` crates' (DER only), signatures aws-lc-rs',
//! chains webpki's. Limits: the token's size ([`MAX_TOKEN_BYTES`]) and certificate count.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence};
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{anchor_from_trusted_cert, EndEntityCert, KeyUsage, ALL_VERIFICATION_ALGS};
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_tsp::TstInfo;

use crate::crypto::{KeyKind, PublicKey};

/// Largest token accepted (real ones are a few KiB with their certificates).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Most certificates a token may carry.
const MAX_CERTIFICATES: usize = 10;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ID_SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const ID_SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// ETSI's baseline time-stamp policy (RFC 3628 §5.2): accuracy of one second when unstated.
const BASELINE_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.2023.1.1");
/// DER contents of the time-stamping EKU OID, as webpki wants it.
const TIME_STAMPING_EKU: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// A trusted TSA root certificate and the name it is configured under.
#[derive(Clone, Copy, Debug)]
pub struct TsaRoot<'a> {
    pub name: &'a str,
    pub der: &'a CertificateDer<'static>,
}

/// A verified time stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// `TSTInfo.genTime`.
    pub time: SystemTime,
    /// `TSTInfo.accuracy` (one second under the baseline policy when absent, else zero).
    pub accuracy: Duration,
    /// The TSA root the signer chains to.
    pub root: String,
    /// The TSA's certificates as the token carries them, signer first.
    pub chain: Vec<CertificateDer<'static>>,
}

impl Timestamp {
    /// The earliest time the stamp can mean.
    pub fn earliest(&self) -> SystemTime {
        self.time.checked_sub(self.accuracy).unwrap_or(UNIX_EPOCH)
    }

    /// The latest time the stamp can mean.
    pub fn latest(&self) -> SystemTime {
        self.time + self.accuracy
    }
}

/// Why a token does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimestampError {
    TooLarge(usize),
    /// Not DER, or not a `SignedData` holding a `TSTInfo`.
    Malformed(String),
    /// The message imprint is not the hash of the stamped signature.
    ImprintMismatch,
    /// Signer, signed attributes or signature are missing or wrong.
    Signature(String),
    /// The TSA certificate is unusable or does not chain to a configured TSA root.
    Untrusted(String),
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampError::TooLarge(size) => write!(
                f,
                "the timestamp token has {size} bytes, more than {MAX_TOKEN_BYTES}"
            ),
            TimestampError::Malformed(reason) => {
                write!(f, "the timestamp token is malformed: {reason}")
            }
            TimestampError::ImprintMismatch => f.write_str(
                "the timestamp token is for other data: its message imprint is not the hash of the signature",
            ),
            TimestampError::Signature(reason) => {
                write!(f, "the timestamp token's signature is invalid: {reason}")
            }
            TimestampError::Untrusted(reason) => {
                write!(f, "the timestamp authority is not trusted: {reason}")
            }
        }
    }
}

impl std::error::Error for TimestampError {}

/// ESS `SigningCertificateV2` (RFC 5035): the certificates the signer vouches for.
#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<der::Any>,
}

/// ESS `ESSCertIDv2`: a certificate's hash (SHA-256 unless another algorithm is named).
#[derive(Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<der::Any>,
}

/// Verifies `token` (DER) as a time stamp of `stamped` by a TSA under one of `roots`.
pub fn verify(
    token: &[u8],
    stamped: &[u8],
    roots: &[TsaRoot<'_>],
) -> Result<Timestamp, TimestampError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TimestampError::TooLarge(token.len()));
    }
    let malformed = |what: &str, e: der::Error| TimestampError::Malformed(format!("{what}: {e}"));
    let content_info = ContentInfo::from_der(token).map_err(|e| malformed("ContentInfo", e))?;
    if content_info.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::Malformed(format!(
            "content type {} is not SignedData",
            content_info.content_type
        )));
    }
    let signed_data = content_info
        .content
        .decode_as::<SignedData>()
        .map_err(|e| malformed("SignedData", e))?;
    let encapsulated = &signed_data.encap_content_info;
    if encapsulated.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::Malformed(format!(
            "content type {} is not TSTInfo",
            encapsulated.econtent_type
        )));
    }
    let tst_der = encapsulated
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::Malformed("no TSTInfo content".to_string()))?
        .decode_as::<OctetString>()
        .map_err(|e| malformed("TSTInfo content", e))?;
    let tst_der = tst_der.as_bytes();
    let tst = TstInfo::from_der(tst_der).map_err(|e| malformed("TSTInfo", e))?;

    let imprint = &tst.message_imprint;
    let imprint_algorithm = digest_algorithm(&imprint.hash_algorithm.oid).ok_or_else(|| {
        TimestampError::Malformed(format!(
            "message imprint hash {} is not SHA-256, SHA-384 or SHA-512",
            imprint.hash_algorithm.oid
        ))
    })?;
    if digest::digest(imprint_algorithm, stamped).as_ref() != imprint.hashed_message.as_bytes() {
        return Err(TimestampError::ImprintMismatch);
    }

    let certificates = certificates(&signed_data)?;
    let signer = only_signer(&signed_data)?;
    let (signer_cert, signer_der) = certificates
        .iter()
        .find(|(cert, _)| identifies(&signer.sid, cert))
        .ok_or_else(|| {
            TimestampError::Signature(
                "the token does not carry the TSA's certificate (certReq was not set)".to_string(),
            )
        })?;
    check_signed_attributes(signer, tst_der, signer_der)?;
    check_signature(signer, signer_cert)?;

    let time = tst.gen_time.to_system_time();
    let accuracy = accuracy(&tst);
    let rest: Vec<CertificateDer<'static>> = certificates
        .iter()
        .filter(|(_, der)| der != signer_der)
        .map(|(_, der)| der.clone())
        .collect();
    check_time_stamping_usage(signer_cert)?;
    let root = chain_to_root(signer_der, &rest, time, roots)?;
    let mut chain = vec![signer_der.clone()];
    chain.extend(rest);
    Ok(Timestamp {
        time,
        accuracy,
        root: root.to_string(),
        chain,
    })
}

/// The token's certificates, parsed, with their DER.
fn certificates(
    signed_data: &SignedData,
) -> Result<Vec<(Certificate, CertificateDer<'static>)>, TimestampError> {
    let Some(set) = &signed_data.certificates else {
        return Ok(Vec::new());
    };
    if set.0.len() > MAX_CERTIFICATES {
        return Err(TimestampError::Malformed(format!(
            "{} certificates, more than {MAX_CERTIFICATES}",
            set.0.len()
        )));
    }
    set.0
        .iter()
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => Some(cert),
            CertificateChoices::Other(_) => None,
        })
        .map(|cert| {
            let der = cert
                .to_der()
                .map_err(|e| TimestampError::Malformed(format!("certificate: {e}")))?;
            Ok((cert.clone(), CertificateDer::from(der)))
        })
        .collect()
}

fn only_signer(signed_data: &SignedData) -> Result<&SignerInfo, TimestampError> {
    let mut signers = signed_data.signer_infos.0.iter();
    match (signers.next(), signers.next()) {
        (Some(signer), None) => Ok(signer),
        (None, _) => Err(TimestampError::Signature("no signer".to_string())),
        (Some(_), Some(_)) => Err(TimestampError::Signature(
            "more than one signer".to_string(),
        )),
    }
}

/// Whether the signer identifier names `cert`.
fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == tbs.issuer && id.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(id) => tbs
            .get::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, ski)| ski == *id),
    }
}

/// The one value of the signed attribute `oid`.
fn signed_attribute<'a>(
    signer: &'a SignerInfo,
    oid: ObjectIdentifier,
    name: &str,
) -> Result<&'a der::Any, TimestampError> {
    let attributes = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TimestampError::Signature("no signed attributes".to_string()))?;
    let mut matching = attributes.iter().filter(|a| a.oid == oid);
    let attribute = match (matching.next(), matching.next()) {
        (Some(attribute), None) => attribute,
        (None, _) => {
            return Err(TimestampError::Signature(format!(
                "the {name} attribute is missing"
            )))
        }
        (Some(_), Some(_)) => {
            return Err(TimestampError::Signature(format!(
                "the {name} attribute appears twice"
            )))
        }
    };
    let mut values = attribute.values.iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Ok(value),
        _ => Err(TimestampError::Signature(format!(
            "the {name} attribute needs exactly one value"
        ))),
    }
}

/// Content type, message digest of the `TSTInfo`, and the signer's certificate hash.
fn check_signed_attributes(
    signer: &SignerInfo,
    tst_der: &[u8],
    signer_der: &CertificateDer<'static>,
) -> Result<(), TimestampError> {
    let bad = |what: &str, e: der::Error| TimestampError::Signature(format!("{what}: {e}"));
    let content_type = signed_attribute(signer, ID_CONTENT_TYPE, "content-type")?
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| bad("content-type", e))?;
    if content_type != ID_CT_TST_INFO {
        return Err(TimestampError::Signature(format!(
            "the signed content type is {content_type}, not TSTInfo"
        )));
    }
    let digest_alg = digest_algorithm(&signer.digest_alg.oid).ok_or_else(|| {
        TimestampError::Signature(format!(
            "digest algorithm {} is not SHA-256, SHA-384 or SHA-512",
            signer.digest_alg.oid
        ))
    })?;
    let message_digest = signed_attribute(signer, ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as::<OctetString>()
        .map_err(|e| bad("message-digest", e))?;
    if digest::digest(digest_alg, tst_der).as_ref() != message_digest.as_bytes() {
        return Err(TimestampError::Signature(
            "the message digest is not the TSTInfo's".to_string(),
        ));
    }
    let signing_certificate =
        signed_attribute(signer, ID_SIGNING_CERTIFICATE_V2, "signing-certificate-v2")?
            .decode_as::<SigningCertificateV2>()
            .map_err(|e| bad("signing-certificate-v2", e))?;
    let first = signing_certificate.certs.first().ok_or_else(|| {
        TimestampError::Signature("signing-certificate-v2 names no certificate".to_string())
    })?;
    let hash_oid = first
        .hash_algorithm
        .as_ref()
        .map_or(ID_SHA256, |algorithm| algorithm.oid);
    let hash = digest_algorithm(&hash_oid).ok_or_else(|| {
        TimestampError::Signature(format!(
            "signing-certificate-v2 hash {hash_oid} unsupported"
        ))
    })?;
    if digest::digest(hash, signer_der.as_ref()).as_ref() != first.cert_hash.as_bytes() {
        return Err(TimestampError::Signature(
            "signing-certificate-v2 names another certificate than the signer's".to_string(),
        ));
    }
    Ok(())
}

/// The signature over the DER of the signed attributes, with the signer certificate's key.
fn check_signature(signer: &SignerInfo, cert: &Certificate) -> Result<(), TimestampError> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| TimestampError::Untrusted(format!("TSA public key: {e}")))?;
    let key = PublicKey::from_spki_der(&spki)
        .map_err(|e| TimestampError::Untrusted(format!("TSA public key: {e}")))?;
    let algorithm = verification_algorithm(
        key.kind(),
        &signer.signature_algorithm.oid,
        &signer.digest_alg.oid,
    )
    .ok_or_else(|| {
        TimestampError::Signature(format!(
            "signature algorithm {} with digest {} for a {} key is not allowed",
            signer.signature_algorithm.oid,
            signer.digest_alg.oid,
            key.kind()
        ))
    })?;
    // The signature covers the attributes as a SET OF (RFC 5652 §5.4), not as [0].
    let signed = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TimestampError::Signature("no signed attributes".to_string()))?
        .to_der()
        .map_err(|e| TimestampError::Signature(format!("signed attributes: {e}")))?;
    UnparsedPublicKey::new(algorithm, key.spki_der())
        .verify(&signed, signer.signature.as_bytes())
        .map_err(|_| {
            TimestampError::Signature(
                "it does not verify with the TSA certificate's key".to_string(),
            )
        })
}

/// RFC 3161 §2.3: the TSA certificate has one EKU, time stamping, marked critical.
fn check_time_stamping_usage(cert: &Certificate) -> Result<(), TimestampError> {
    let extension = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .ok_or_else(|| {
            TimestampError::Untrusted("the TSA certificate has no extended key usage".to_string())
        })?;
    let usages = ExtendedKeyUsage::from_der(extension.extn_value.as_bytes())
        .map_err(|e| TimestampError::Untrusted(format!("extended key usage: {e}")))?;
    if !extension.critical || usages.0 != [ID_KP_TIME_STAMPING] {
        return Err(TimestampError::Untrusted(
            "the TSA certificate's extended key usage must be time stamping only, marked critical"
                .to_string(),
        ));
    }
    Ok(())
}

/// The name of the root `signer` chains to at `at`, through `intermediates`.
fn chain_to_root<'r>(
    signer: &CertificateDer<'static>,
    intermediates: &[CertificateDer<'static>],
    at: SystemTime,
    roots: &[TsaRoot<'r>],
) -> Result<&'r str, TimestampError> {
    if roots.is_empty() {
        return Err(TimestampError::Untrusted(
            "no TSA root is configured (a trust root's tsCert)".to_string(),
        ));
    }
    let time = UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap_or_default());
    let end_entity = EndEntityCert::try_from(signer)
        .map_err(|e| TimestampError::Untrusted(format!("TSA certificate: {e:?}")))?;
    let mut reasons = Vec::new();
    for root in roots {
        if root.der.as_ref() == signer.as_ref() {
            // A self-signed TSA certificate configured as its own root: webpki has no notion
            // of that, so its validity at the stamped time is all there is to check.
            return if valid_at(signer, at) {
                Ok(root.name)
            } else {
                Err(TimestampError::Untrusted(format!(
                    "TSA certificate of root {} is not valid at the stamped time",
                    root.name
                )))
            };
        }
        let anchor = match anchor_from_trusted_cert(root.der) {
            Ok(anchor) => anchor,
            Err(e) => {
                reasons.push(format!("root {}: unusable certificate ({e:?})", root.name));
                continue;
            }
        };
        match end_entity.verify_for_usage(
            ALL_VERIFICATION_ALGS,
            &[anchor],
            intermediates,
            time,
            KeyUsage::required(TIME_STAMPING_EKU),
            None,
            None,
        ) {
            Ok(_) => return Ok(root.name),
            Err(e) => reasons.push(format!("root {}: {e:?}", root.name)),
        }
    }
    Err(TimestampError::Untrusted(reasons.join("; ")))
}

fn valid_at(cert: &CertificateDer<'static>, at: SystemTime) -> bool {
    Certificate::from_der(cert.as_ref()).is_ok_and(|cert| {
        let validity = &cert.tbs_certificate.validity;
        validity.not_before.to_date_time().to_system_time() <= at
            && at <= validity.not_after.to_date_time().to_system_time()
    })
}

fn accuracy(tst: &TstInfo) -> Duration {
    match &tst.accuracy {
        Some(accuracy) => {
            Duration::from_secs(accuracy.seconds.unwrap_or(0))
                + Duration::from_millis(accuracy.millis.map_or(0, |m| m.max(0) as u64))
                + Duration::from_micros(accuracy.micros.map_or(0, |m| m.max(0) as u64))
        }
        None if tst.policy == BASELINE_POLICY => Duration::from_secs(1),
        None => Duration::ZERO,
    }
}

fn digest_algorithm(oid: &ObjectIdentifier) -> Option<&'static digest::Algorithm> {
    match *oid {
        ID_SHA256 => Some(&digest::SHA256),
        ID_SHA384 => Some(&digest::SHA384),
        ID_SHA512 => Some(&digest::SHA512),
        _ => None,
    }
}

/// The algorithm for a signature of `kind` named `signature_oid` over a `digest_oid` hash.
fn verification_algorithm(
    kind: KeyKind,
    signature_oid: &ObjectIdentifier,
    digest_oid: &ObjectIdentifier,
) -> Option<&'static dyn VerificationAlgorithm> {
    let digest = match *digest_oid {
        ID_SHA256 => 256,
        ID_SHA384 => 384,
        ID_SHA512 => 512,
        _ => return None,
    };
    let rsa_pkcs1 = matches!(
        (*signature_oid, digest),
        (ID_RSA_ENCRYPTION, _)
            | (ID_SHA256_WITH_RSA, 256)
            | (ID_SHA384_WITH_RSA, 384)
            | (ID_SHA512_WITH_RSA, 512)
    );
    let ecdsa = matches!(
        (*signature_oid, digest),
        (ID_EC_PUBLIC_KEY, _)
            | (ID_ECDSA_WITH_SHA256, 256)
            | (ID_ECDSA_WITH_SHA384, 384)
            | (ID_ECDSA_WITH_SHA512, 512)
    );
    let algorithm: &'static dyn VerificationAlgorithm = match (kind, digest) {
        (KeyKind::Rsa { .. }, 256) if rsa_pkcs1 => &signature::RSA_PKCS1_2048_8192_SHA256,
        (KeyKind::Rsa { .. }, 384) if rsa_pkcs1 => &signature::RSA_PKCS1_2048_8192_SHA384,
        (KeyKind::Rsa { .. }, 512) if rsa_pkcs1 => &signature::RSA_PKCS1_2048_8192_SHA512,
        (KeyKind::Rsa { .. }, 256) if *signature_oid == ID_RSASSA_PSS => {
            &signature::RSA_PSS_2048_8192_SHA256
        }
        (KeyKind::Rsa { .. }, 384) if *signature_oid == ID_RSASSA_PSS => {
            &signature::RSA_PSS_2048_8192_SHA384
        }
        (KeyKind::Rsa { .. }, 512) if *signature_oid == ID_RSASSA_PSS => {
            &signature::RSA_PSS_2048_8192_SHA512
        }
        (KeyKind::EcdsaP256, 256) if ecdsa => &signature::ECDSA_P256_SHA256_ASN1,
        (KeyKind::EcdsaP256, 384) if ecdsa => &signature::ECDSA_P256_SHA384_ASN1,
        (KeyKind::EcdsaP384, 256) if ecdsa => &signature::ECDSA_P384_SHA256_ASN1,
        (KeyKind::EcdsaP384, 384) if ecdsa => &signature::ECDSA_P384_SHA384_ASN1,
        (KeyKind::EcdsaP521, 512) if ecdsa => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return None,
    };
    Some(algorithm)
}
