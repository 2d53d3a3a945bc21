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
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence, Tagged};
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{anchor_from_trusted_cert, EndEntityCert, KeyUsage, ALL_VERIFICATION_ALGS};
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_tsp::{TimeStampResp, TstInfo};

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
    /// `time + accuracy`, checked to be representable when the token was read.
    latest: SystemTime,
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
        self.latest
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

/// The token of an RFC 3161 `TimeStampResp` (DER), the form Sigstore bundles store: only a
/// response whose status is granted (with or without modifications) has one that counts.
pub fn token_of_response(response: &[u8]) -> Result<Vec<u8>, TimestampError> {
    if response.len() > MAX_TOKEN_BYTES {
        return Err(TimestampError::TooLarge(response.len()));
    }
    let response = TimeStampResp::from_der(response)
        .map_err(|e| TimestampError::Malformed(format!("TimeStampResp: {e}")))?;
    // PKIStatus: granted (0) or grantedWithMods (1); the rest carry no usable token.
    let status = response.status.status as u8;
    if status > 1 {
        return Err(TimestampError::Malformed(format!(
            "the TimeStampResp status is {status}, not granted"
        )));
    }
    response
        .time_stamp_token
        .ok_or_else(|| TimestampError::Malformed("a granted TimeStampResp without a token".into()))?
        .to_der()
        .map_err(|e| TimestampError::Malformed(format!("TimeStampResp token: {e}")))
}

/// Verifies `token` (DER) as a time stamp of `stamped` by a TSA under one of `roots`.
pub fn verify(
    token: &[u8],
    stamped: &[u8],
    roots: &[TsaRoot<'_>],
) -> Result<Timestamp, TimestampError> {
    verify_with(token, stamped, roots, &[])
}

/// [`verify`] for tokens that may lack the TSA's certificates (Sigstore's TSA leaves them
/// out): `known` are the authority's certificates from the trust configuration, looked
/// among for the signer and its chain next to the token's own. Being known does not make a
/// certificate trusted: it must still chain to one of `roots`.
pub fn verify_with(
    token: &[u8],
    stamped: &[u8],
    roots: &[TsaRoot<'_>],
    known: &[CertificateDer<'static>],
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
    // RFC 5652 §5.1: version 3 when the content is not id-data. Nothing signs these outer
    // fields, so they are held to the one value they may have.
    if signed_data.version != CmsVersion::V3 {
        return Err(TimestampError::Malformed(format!(
            "SignedData version {:?} is not 3",
            signed_data.version
        )));
    }
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

    let mut certificates = certificates(&signed_data)?;
    for der in known.iter().take(MAX_CERTIFICATES) {
        if certificates.iter().all(|(_, carried)| carried != der) {
            let cert = Certificate::from_der(der).map_err(|e| {
                TimestampError::Untrusted(format!("a configured TSA certificate: {e}"))
            })?;
            certificates.push((cert, der.clone()));
        }
    }
    let signer = only_signer(&signed_data)?;
    if let Some(odd) = signed_data
        .digest_algorithms
        .iter()
        .find(|algorithm| hash_algorithm(algorithm).is_none())
    {
        return Err(TimestampError::Malformed(format!(
            "digest algorithm {} (with these parameters) is not SHA-256, SHA-384 or SHA-512",
            odd.oid
        )));
    }
    // RFC 5652 §5.3: version 1 with an issuer and serial number, 3 with a key identifier.
    let signer_version = match signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if signer.version != signer_version {
        return Err(TimestampError::Malformed(format!(
            "SignerInfo version {:?} does not fit its signer identifier",
            signer.version
        )));
    }
    if !signed_data
        .digest_algorithms
        .iter()
        .any(|algorithm| algorithm.oid == signer.digest_alg.oid)
    {
        return Err(TimestampError::Malformed(format!(
            "the signer's digest algorithm {} is not among the SignedData's",
            signer.digest_alg.oid
        )));
    }
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
    // After the signature, so that a fuzzer reaches every check before it.
    let imprint = &tst.message_imprint;
    let imprint_algorithm = hash_algorithm(&imprint.hash_algorithm).ok_or_else(|| {
        TimestampError::Malformed(format!(
            "message imprint hash {} is not SHA-256, SHA-384 or SHA-512",
            imprint.hash_algorithm.oid
        ))
    })?;
    if digest::digest(imprint_algorithm, stamped).as_ref() != imprint.hashed_message.as_bytes() {
        return Err(TimestampError::ImprintMismatch);
    }

    let time = tst.gen_time.to_system_time();
    let accuracy = accuracy(&tst)?;
    let latest = time.checked_add(accuracy).ok_or_else(|| {
        TimestampError::Malformed(format!("accuracy of {} s is too large", accuracy.as_secs()))
    })?;
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
        latest,
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
    let digest_alg = hash_algorithm(&signer.digest_alg).ok_or_else(|| {
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
    let hash = match &first.hash_algorithm {
        Some(algorithm) => hash_algorithm(algorithm),
        None => Some(&digest::SHA256),
    }
    .ok_or_else(|| {
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
            // webpki checks the EKU of every certificate on the path; the signer's is
            // already held to RFC 3161 (present, sole, critical), and intermediates without
            // the extension (RFC 5280 §4.2.1.12, as GlobalSign's) are not restricted by it.
            KeyUsage::required_if_present(TIME_STAMPING_EKU),
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

/// `TSTInfo.accuracy`; millis and micros are `INTEGER (1..999)` (RFC 3161 §2.4.2).
fn accuracy(tst: &TstInfo) -> Result<Duration, TimestampError> {
    let Some(accuracy) = &tst.accuracy else {
        return Ok(if tst.policy == BASELINE_POLICY {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        });
    };
    let fraction = |value: Option<i16>, name: &str| -> Result<u64, TimestampError> {
        match value {
            None => Ok(0),
            Some(v @ 1..=999) => Ok(v.unsigned_abs().into()),
            Some(v) => Err(TimestampError::Malformed(format!(
                "accuracy {name} {v} is outside 1..999"
            ))),
        }
    };
    let millis = fraction(accuracy.millis, "millis")?;
    let micros = fraction(accuracy.micros, "micros")?;
    Ok(Duration::from_secs(accuracy.seconds.unwrap_or(0))
        .saturating_add(Duration::from_millis(millis))
        .saturating_add(Duration::from_micros(micros)))
}

/// A SHA-2 hash named by `algorithm`, whose parameters are absent or NULL (RFC 5754 §2).
fn hash_algorithm(algorithm: &AlgorithmIdentifierOwned) -> Option<&'static digest::Algorithm> {
    let parameters_ok = algorithm
        .parameters
        .as_ref()
        .is_none_or(|p| p.tag() == der::Tag::Null && p.value().is_empty());
    if !parameters_ok {
        return None;
    }
    match algorithm.oid {
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
    // RFC 3370 §3.2 allows rsaEncryption in place of the sha*WithRSAEncryption names.
    let rsa_pkcs1 = matches!(
        (*signature_oid, digest),
        (ID_RSA_ENCRYPTION, _)
            | (ID_SHA256_WITH_RSA, 256)
            | (ID_SHA384_WITH_RSA, 384)
            | (ID_SHA512_WITH_RSA, 512)
    );
    let ecdsa = matches!(
        (*signature_oid, digest),
        (ID_ECDSA_WITH_SHA256, 256) | (ID_ECDSA_WITH_SHA384, 384) | (ID_ECDSA_WITH_SHA512, 512)
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

#[cfg(test)]
mod tests {
    use super::*;
    use cms::signed_data::SignerInfos;
    use der::asn1::SetOfVec;
    use der::Any;
    use std::path::PathBuf;
    use std::process::Command;

    const STAMPED: &[u8] = b"the signature a countersignature stamps";

    /// A self-signed TSA certificate (critical, sole time-stamping EKU) and a token over
    /// [`STAMPED`] from `openssl ts`, in a fresh temporary directory.
    struct Fixture {
        token: Vec<u8>,
        root: CertificateDer<'static>,
    }

    fn openssl(dir: &PathBuf, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn fixture(ext: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "tastevin-tst-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data.bin"), STAMPED).unwrap();
        std::fs::write(dir.join("ts.cnf"), format!(
            "[tsa]\nserial = serial\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\ness_cert_id_alg = sha256\n{ext}"
        )).unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.crt",
                "-subj",
                "/CN=unit TSA",
                "-days",
                "30",
                "-addext",
                "extendedKeyUsage=critical,timeStamping",
            ],
        );
        openssl(
            &dir,
            &[
                "ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "q.tsq",
            ],
        );
        openssl(
            &dir,
            &[
                "ts",
                "-reply",
                "-config",
                "ts.cnf",
                "-section",
                "tsa",
                "-queryfile",
                "q.tsq",
                "-inkey",
                "tsa.key",
                "-signer",
                "tsa.crt",
                "-token_out",
                "-out",
                "t.der",
            ],
        );
        let token = std::fs::read(dir.join("t.der")).unwrap();
        let pem = std::fs::read(dir.join("tsa.crt")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        use rustls_pki_types::pem::PemObject;
        let root = CertificateDer::from_pem_slice(&pem).unwrap().into_owned();
        Fixture { token, root }
    }

    fn check(fixture: &Fixture, token: &[u8]) -> Result<Timestamp, TimestampError> {
        let roots = [TsaRoot {
            name: "unit",
            der: &fixture.root,
        }];
        verify(token, STAMPED, &roots)
    }

    /// `token` with its `SignedData` changed by `edit`, re-encoded.
    fn edited(token: &[u8], edit: impl FnOnce(&mut SignedData)) -> Vec<u8> {
        let mut info = ContentInfo::from_der(token).unwrap();
        let mut signed_data = info.content.decode_as::<SignedData>().unwrap();
        edit(&mut signed_data);
        info.content = Any::encode_from(&signed_data).unwrap();
        info.to_der().unwrap()
    }

    fn malformed(result: Result<Timestamp, TimestampError>, reason: &str) {
        match result {
            Err(TimestampError::Malformed(m)) => assert!(m.contains(reason), "{m}"),
            other => panic!("expected Malformed({reason:?}), got {other:?}"),
        }
    }

    #[test]
    fn a_token_from_a_self_signed_tsa_root_verifies_with_its_accuracy() {
        let fixture = fixture("accuracy = secs:2, millisecs:250\n");
        let stamp = check(&fixture, &fixture.token).unwrap();
        assert_eq!(stamp.root, "unit");
        assert_eq!(stamp.accuracy, Duration::from_millis(2250));
        assert_eq!(stamp.latest(), stamp.time + Duration::from_millis(2250));
        assert_eq!(stamp.earliest(), stamp.time - Duration::from_millis(2250));
        let age = SystemTime::now().duration_since(stamp.earliest()).unwrap();
        assert!(age < Duration::from_secs(120), "stamped {age:?} ago");
        assert_eq!(stamp.chain, vec![fixture.root.clone()]);
        // Another root, or none, is not trusted.
        assert!(matches!(
            verify(&fixture.token, STAMPED, &[]),
            Err(TimestampError::Untrusted(m)) if m.contains("no TSA root")
        ));
        assert_eq!(
            verify(&fixture.token, b"other bytes", &[]),
            Err(TimestampError::ImprintMismatch)
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_not_a_panic() {
        let fixture = fixture("");
        let token = &fixture.token;
        for len in 0..token.len() {
            assert!(
                check(&fixture, &token[..len]).is_err(),
                "truncated to {len}"
            );
        }
        for at in 0..token.len() {
            let mut flipped = token.clone();
            flipped[at] ^= 0x01;
            // Some flips land in unsigned parts (e.g. certificate fields the signature does
            // not cover but the chain check then refuses); none may pass unnoticed or panic.
            if let Ok(stamp) = check(&fixture, &flipped) {
                panic!("byte {at} flipped and still verified: {stamp:?}");
            }
        }
        malformed(check(&fixture, &[0x30, 0x00]), "ContentInfo");
        let mut large = token.clone();
        large.resize(MAX_TOKEN_BYTES + 1, 0);
        assert_eq!(
            check(&fixture, &large),
            Err(TimestampError::TooLarge(MAX_TOKEN_BYTES + 1))
        );
    }

    #[test]
    fn wrong_content_types_are_refused() {
        let fixture = fixture("");
        let mut info = ContentInfo::from_der(&fixture.token).unwrap();
        info.content_type = ID_CT_TST_INFO;
        malformed(
            check(&fixture, &info.to_der().unwrap()),
            "is not SignedData",
        );
        let other = edited(&fixture.token, |sd| {
            sd.encap_content_info.econtent_type = ID_SIGNED_DATA;
        });
        malformed(check(&fixture, &other), "is not TSTInfo");
        let detached = edited(&fixture.token, |sd| sd.encap_content_info.econtent = None);
        malformed(check(&fixture, &detached), "no TSTInfo content");
    }

    #[test]
    fn two_signers_or_none_are_refused() {
        let fixture = fixture("");
        let doubled = edited(&fixture.token, |sd| {
            let mut second = sd.signer_infos.0.get(0).unwrap().clone();
            let mut signature = second.signature.as_bytes().to_vec();
            signature[0] ^= 1;
            second.signature = OctetString::new(signature).unwrap();
            sd.signer_infos.0.insert(second).unwrap();
        });
        assert_eq!(
            check(&fixture, &doubled),
            Err(TimestampError::Signature(
                "more than one signer".to_string()
            ))
        );
        let none = edited(&fixture.token, |sd| {
            sd.signer_infos = SignerInfos(SetOfVec::new());
        });
        assert_eq!(
            check(&fixture, &none),
            Err(TimestampError::Signature("no signer".to_string()))
        );
    }

    #[test]
    fn a_token_without_the_tsa_certificate_is_refused() {
        let fixture = fixture("");
        let bare = edited(&fixture.token, |sd| sd.certificates = None);
        assert!(matches!(
            check(&fixture, &bare),
            Err(TimestampError::Signature(m)) if m.contains("does not carry the TSA's certificate")
        ));
    }

    #[test]
    fn accuracy_fractions_outside_1_to_999_are_malformed() {
        let fixture = fixture("");
        let mut tst = {
            let info = ContentInfo::from_der(&fixture.token).unwrap();
            let sd = info.content.decode_as::<SignedData>().unwrap();
            let content = sd.encap_content_info.econtent.unwrap();
            TstInfo::from_der(content.decode_as::<OctetString>().unwrap().as_bytes()).unwrap()
        };
        tst.accuracy = Some(x509_tsp::Accuracy {
            seconds: None,
            millis: Some(1000),
            micros: None,
        });
        malformed(accuracy(&tst).map(|_| unreachable_stamp()), "millis 1000");
        tst.accuracy = Some(x509_tsp::Accuracy {
            seconds: Some(u64::MAX),
            millis: Some(999),
            micros: Some(999),
        });
        assert!(accuracy(&tst).is_ok(), "saturates, never overflows");
    }

    /// Stands in for a stamp where only the error of a helper is looked at.
    fn unreachable_stamp() -> Timestamp {
        Timestamp {
            time: UNIX_EPOCH,
            accuracy: Duration::ZERO,
            latest: UNIX_EPOCH,
            root: String::new(),
            chain: Vec::new(),
        }
    }

    #[test]
    fn only_a_granted_response_yields_a_token() {
        assert!(matches!(
            token_of_response(b"\x30\x03\x02\x01\x00"),
            Err(TimestampError::Malformed(_))
        ));
        // status rejection (2), no token
        assert!(matches!(
            token_of_response(b"\x30\x05\x30\x03\x02\x01\x02"),
            Err(TimestampError::Malformed(reason)) if reason.contains("not granted")
        ));
        // granted, no token
        assert!(matches!(
            token_of_response(b"\x30\x05\x30\x03\x02\x01\x00"),
            Err(TimestampError::Malformed(reason)) if reason.contains("without a token")
        ));
        assert!(matches!(
            token_of_response(&vec![0u8; MAX_TOKEN_BYTES + 1]),
            Err(TimestampError::TooLarge(_))
        ));
    }
}
