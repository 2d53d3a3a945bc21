//! Signed certificate timestamps embedded in a Fulcio certificate (RFC 6962 §3.3): the
//! promise of a certificate transparency log to publish the certificate, checked offline
//! against the configured CT log key (`host.ctLogPubkey`).
//!
//! The SCT list extension holds a TLS-encoded (not ASN.1) list; each timestamp is the log's
//! signature over the *precertificate*: the certificate's TBS without the SCT extension,
//! bound to the issuer by the SHA-256 of the issuing certificate's SubjectPublicKeyInfo.

use std::fmt;

use aws_lc_rs::digest;
use x509_cert::der::asn1::{ObjectIdentifier, OctetString};
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

use super::scheme;
use crate::crypto::PublicKey;

/// `1.3.6.1.4.1.11129.2.4.2`: the embedded SCT list extension.
pub const SCT_LIST_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Timestamps read from one list at most; Fulcio embeds one.
pub const MAX_SCTS: usize = 16;

/// RFC 6962 `Version` v1, the only version defined.
const SCT_VERSION_V1: u8 = 0;
/// `SignatureType.certificate_timestamp`.
const CERTIFICATE_TIMESTAMP: u8 = 0;
/// `LogEntryType.precert_entry`.
const PRECERT_ENTRY: [u8; 2] = [0, 1];
/// TLS `HashAlgorithm.sha256`.
const HASH_SHA256: u8 = 4;

/// Why a certificate's embedded timestamps do not show it was logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SctError {
    /// The certificate has no SCT list extension.
    Missing,
    /// The extension or a timestamp in it cannot be read.
    Malformed(String),
    /// The precertificate could not be rebuilt from the certificate.
    Precertificate(String),
    /// No timestamp in the list is a valid one by the configured CT log.
    NotVerified,
}

impl fmt::Display for SctError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SctError::Missing => f.write_str(
                "certificate has no embedded SCT, so it is not proven to be in the certificate transparency log (verifySCT: false skips this check)",
            ),
            SctError::Malformed(reason) => write!(f, "malformed embedded SCT list: {reason}"),
            SctError::Precertificate(reason) => {
                write!(f, "cannot rebuild the precertificate to check its SCT: {reason}")
            }
            SctError::NotVerified => f.write_str(
                "no embedded SCT verifies with the CT log public key (host.ctLogPubkey)",
            ),
        }
    }
}

impl std::error::Error for SctError {}

/// One `SignedCertificateTimestamp` of a list, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCertificateTimestamp {
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    pub extensions: Vec<u8>,
    pub hash_algorithm: u8,
    pub signature_algorithm: u8,
    pub signature: Vec<u8>,
}

/// Reads the contents of the SCT list extension (the DER OCTET STRING inside `extnValue`).
pub fn parse_extension(extn_value: &[u8]) -> Result<Vec<SignedCertificateTimestamp>, SctError> {
    let list = OctetString::from_der(extn_value)
        .map_err(|e| SctError::Malformed(format!("not an OCTET STRING: {e}")))?;
    parse_list(list.as_bytes())
}

/// Reads a TLS-encoded `SignedCertificateTimestampList`.
pub fn parse_list(bytes: &[u8]) -> Result<Vec<SignedCertificateTimestamp>, SctError> {
    let mut outer = Reader(bytes);
    let mut list = Reader(outer.vector16("list")?);
    outer.finish("list")?;
    let mut timestamps = Vec::new();
    while !list.0.is_empty() {
        if timestamps.len() == MAX_SCTS {
            return Err(SctError::Malformed(format!(
                "more than {MAX_SCTS} timestamps"
            )));
        }
        let mut sct = Reader(list.vector16("timestamp")?);
        timestamps.push(parse_one(&mut sct)?);
    }
    if timestamps.is_empty() {
        return Err(SctError::Malformed("empty list".to_owned()));
    }
    Ok(timestamps)
}

fn parse_one(sct: &mut Reader) -> Result<SignedCertificateTimestamp, SctError> {
    let version = sct.byte("version")?;
    if version != SCT_VERSION_V1 {
        return Err(SctError::Malformed(format!(
            "unknown SCT version {version}"
        )));
    }
    let log_id = sct.array::<32>("log ID")?;
    let timestamp = u64::from_be_bytes(sct.array::<8>("timestamp")?);
    let extensions = sct.vector16("extensions")?.to_vec();
    let hash_algorithm = sct.byte("hash algorithm")?;
    let signature_algorithm = sct.byte("signature algorithm")?;
    let signature = sct.vector16("signature")?.to_vec();
    sct.finish("timestamp")?;
    Ok(SignedCertificateTimestamp {
        log_id,
        timestamp,
        extensions,
        hash_algorithm,
        signature_algorithm,
        signature,
    })
}

/// Checks that `leaf` carries a timestamp by `ct_log` over its precertificate, issued by
/// the certificate whose SubjectPublicKeyInfo DER is `issuer_spki`.
pub fn verify_embedded(
    leaf: &Certificate,
    issuer_spki: &[u8],
    ct_log: &PublicKey,
) -> Result<(), SctError> {
    let extension = leaf
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|extension| extension.extn_id == SCT_LIST_OID)
        .ok_or(SctError::Missing)?;
    let timestamps = parse_extension(extension.extn_value.as_bytes())?;
    let tbs = precertificate_tbs(leaf)?;
    let issuer_key_hash = digest::digest(&digest::SHA256, issuer_spki);
    let log_id = digest::digest(&digest::SHA256, ct_log.spki_der());
    let verified = timestamps.iter().any(|sct| {
        sct.log_id.as_slice() == log_id.as_ref()
            && sct.hash_algorithm == HASH_SHA256
            && signed_data(sct, issuer_key_hash.as_ref(), &tbs)
                .is_some_and(|message| scheme::verify(ct_log, &message, &sct.signature).is_ok())
    });
    if verified {
        Ok(())
    } else {
        Err(SctError::NotVerified)
    }
}

/// The DER TBSCertificate of `leaf` without its SCT list extension: what the log signed.
pub fn precertificate_tbs(leaf: &Certificate) -> Result<Vec<u8>, SctError> {
    let mut tbs = leaf.tbs_certificate.clone();
    if let Some(extensions) = tbs.extensions.as_mut() {
        extensions.retain(|extension| extension.extn_id != SCT_LIST_OID);
    }
    tbs.to_der()
        .map_err(|e| SctError::Precertificate(e.to_string()))
}

/// The `digitally-signed` struct of RFC 6962 §3.2 for a precertificate entry; `None` when a
/// length does not fit its TLS field.
fn signed_data(
    sct: &SignedCertificateTimestamp,
    issuer_key_hash: &[u8],
    tbs: &[u8],
) -> Option<Vec<u8>> {
    let tbs_length = u32::try_from(tbs.len()).ok().filter(|n| *n < 1 << 24)?;
    let extensions_length = u16::try_from(sct.extensions.len()).ok()?;
    let mut message = Vec::with_capacity(tbs.len() + sct.extensions.len() + 64);
    message.push(SCT_VERSION_V1);
    message.push(CERTIFICATE_TIMESTAMP);
    message.extend_from_slice(&sct.timestamp.to_be_bytes());
    message.extend_from_slice(&PRECERT_ENTRY);
    message.extend_from_slice(issuer_key_hash);
    message.extend_from_slice(tbs_length.to_be_bytes().get(1..)?);
    message.extend_from_slice(tbs);
    message.extend_from_slice(&extensions_length.to_be_bytes());
    message.extend_from_slice(&sct.extensions);
    Some(message)
}

/// A cursor over TLS presentation-language data.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SctError> {
        if self.0.len() < n {
            return Err(SctError::Malformed(format!("{what} is truncated")));
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    fn byte(&mut self, what: &str) -> Result<u8, SctError> {
        let [byte] = self.array::<1>(what)?;
        Ok(byte)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], SctError> {
        let bytes = self.take(N, what)?;
        bytes
            .try_into()
            .map_err(|_| SctError::Malformed(format!("{what} is truncated")))
    }

    /// A vector with a two-byte length prefix.
    fn vector16(&mut self, what: &str) -> Result<&'a [u8], SctError> {
        let length = u16::from_be_bytes(self.array::<2>(what)?);
        self.take(usize::from(length), what)
    }

    fn finish(&self, what: &str) -> Result<(), SctError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SctError::Malformed(format!("trailing bytes after {what}")))
        }
    }
}

/// Test fixtures: SCT lists signed by a test CT log key.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::crypto::tests::TestSigner;

    /// The DER `extnValue` contents of an SCT list extension holding one timestamp by
    /// `log` over the precertificate `tbs` of an issuer whose SPKI is `issuer_spki`.
    pub(crate) fn sct_extension(log: &TestSigner, issuer_spki: &[u8], tbs: &[u8]) -> Vec<u8> {
        let log_id: [u8; 32] = match digest::digest(&digest::SHA256, &log.spki_der())
            .as_ref()
            .try_into()
        {
            Ok(id) => id,
            Err(e) => panic!("{e}"),
        };
        let mut sct = SignedCertificateTimestamp {
            log_id,
            timestamp: 1_700_000_000_000,
            extensions: Vec::new(),
            hash_algorithm: HASH_SHA256,
            signature_algorithm: 3,
            signature: Vec::new(),
        };
        let issuer_key_hash = digest::digest(&digest::SHA256, issuer_spki);
        let message = signed_data(&sct, issuer_key_hash.as_ref(), tbs);
        sct.signature = log.sign(&message.unwrap_or_default());
        let list = encode_list(&[sct]);
        match OctetString::new(list).and_then(|octets| octets.to_der()) {
            Ok(der) => der,
            Err(e) => panic!("{e}"),
        }
    }

    /// TLS encoding of a list (lengths are small in tests).
    pub(crate) fn encode_list(timestamps: &[SignedCertificateTimestamp]) -> Vec<u8> {
        let mut list = Vec::new();
        for sct in timestamps {
            let mut one = vec![SCT_VERSION_V1];
            one.extend_from_slice(&sct.log_id);
            one.extend_from_slice(&sct.timestamp.to_be_bytes());
            one.extend_from_slice(&length16(&sct.extensions));
            one.extend_from_slice(&sct.extensions);
            one.push(sct.hash_algorithm);
            one.push(sct.signature_algorithm);
            one.extend_from_slice(&length16(&sct.signature));
            one.extend_from_slice(&sct.signature);
            list.extend_from_slice(&length16(&one));
            list.extend_from_slice(&one);
        }
        let mut encoded = length16(&list).to_vec();
        encoded.extend_from_slice(&list);
        encoded
    }

    fn length16(bytes: &[u8]) -> [u8; 2] {
        u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::encode_list;
    use super::*;

    fn sample() -> SignedCertificateTimestamp {
        SignedCertificateTimestamp {
            log_id: [7; 32],
            timestamp: 1_700_000_000_000,
            extensions: vec![1, 2],
            hash_algorithm: HASH_SHA256,
            signature_algorithm: 3,
            signature: vec![9; 70],
        }
    }

    #[test]
    fn lists_round_trip() {
        let list = encode_list(&[sample(), sample()]);
        assert_eq!(parse_list(&list), Ok(vec![sample(), sample()]));
    }

    #[test]
    fn malformed_lists_are_errors() {
        let list = encode_list(&[sample()]);
        let mut trailing = list.clone();
        trailing.push(0);
        let mut other_version = list.clone();
        if let Some(version) = other_version.get_mut(4) {
            *version = 1;
        }
        let too_many = encode_list(&vec![sample(); MAX_SCTS + 1]);
        for bad in [
            Vec::new(),
            vec![0, 0],
            list.get(..list.len() - 1).unwrap_or_default().to_vec(),
            trailing,
            other_version,
            too_many,
        ] {
            assert!(
                matches!(parse_list(&bad), Err(SctError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_extension_value_is_an_octet_string() {
        let list = encode_list(&[sample()]);
        assert!(matches!(
            parse_extension(&list),
            Err(SctError::Malformed(_))
        ));
        let wrapped = OctetString::new(list).and_then(|octets| octets.to_der());
        assert_eq!(
            wrapped
                .map_err(|e| e.to_string())
                .map(|der| parse_extension(&der)),
            Ok(Ok(vec![sample()]))
        );
    }
}
