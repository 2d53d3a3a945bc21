//! The Rekor bundle cosign attaches to a signature (`dev.sigstore.cosign/bundle`), verified
//! offline: the SignedEntryTimestamp is the log's signature over the canonical JSON of the
//! entry's `{body, integratedTime, logID, logIndex}`, and the entry body (a `hashedrekord`
//! or `rekord`) must record this payload's SHA-256, this signature and the signer's key (or,
//! for keyless signatures, the signing certificate).

use std::fmt;

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use serde::{Deserialize, Serialize};

use super::scheme;
use super::trusted_root::LogKeys;
use crate::crypto::PublicKey;

/// The public-good Rekor instance's key (rekor.sigstore.dev, log ID
/// `c0d23d6a…801d`), used when a validator configures no `host.rekorPubkey`.
pub const PUBLIC_GOOD_REKOR_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr
kBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==
-----END PUBLIC KEY-----
";

/// Why a bundle does not prove that this signature is in the transparency log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleError {
    Malformed(String),
    /// The entry was logged by another log than the configured Rekor key's.
    UnknownLog(String),
    /// The log's key was not to be trusted at the entry's integrated time.
    LogKeyNotValid {
        log_id: String,
        at: i64,
    },
    /// The SignedEntryTimestamp does not verify under the Rekor key.
    BadTimestamp,
    /// The entry body is not a `hashedrekord`/`rekord` entry we can read.
    UnreadableBody(String),
    /// The entry records another payload hash.
    OtherPayload,
    /// The entry records another signature.
    OtherSignature,
    /// The entry records another signing key (or a certificate).
    OtherKey,
    /// The entry records another signing certificate (or a key).
    OtherCertificate,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::Malformed(reason) => write!(f, "malformed Rekor bundle: {reason}"),
            BundleError::UnknownLog(id) => write!(
                f,
                "Rekor bundle is from log {id}, which is not the configured Rekor key's log"
            ),
            BundleError::LogKeyNotValid { log_id, at } => write!(
                f,
                "the key of log {log_id} is not valid at the entry's integrated time (Unix time {at}) in the trusted root"
            ),
            BundleError::BadTimestamp => f.write_str(
                "Rekor bundle's SignedEntryTimestamp does not verify with the Rekor public key",
            ),
            BundleError::UnreadableBody(reason) => {
                write!(f, "unreadable transparency log entry in bundle: {reason}")
            }
            BundleError::OtherPayload => {
                f.write_str("transparency log entry records another payload hash")
            }
            BundleError::OtherSignature => {
                f.write_str("transparency log entry records another signature")
            }
            BundleError::OtherKey => {
                f.write_str("transparency log entry records another public key")
            }
            BundleError::OtherCertificate => {
                f.write_str("transparency log entry records another signing certificate")
            }
        }
    }
}

impl std::error::Error for BundleError {}

/// A parsed, not yet verified bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    signed_entry_timestamp: Vec<u8>,
    payload: BundlePayload,
}

/// The entry as Rekor signed it. Field order is the canonical (RFC 8785: sorted) order, so
/// serde_json writes exactly the bytes Rekor signed (integers, and strings escaped as
/// RFC 8785 does).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
struct BundlePayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    #[serde(rename = "logIndex")]
    log_index: i64,
}

#[derive(Deserialize)]
struct RawBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: BundlePayload,
}

/// A `hashedrekord` or `rekord` entry body (fields we do not need are ignored).
#[derive(Deserialize)]
struct EntryBody {
    kind: String,
    spec: EntrySpec,
}

#[derive(Deserialize)]
struct EntrySpec {
    data: EntryData,
    signature: EntrySignature,
}

#[derive(Deserialize)]
struct EntryData {
    hash: EntryHash,
}

#[derive(Deserialize)]
struct EntryHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct EntrySignature {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: EntryPublicKey,
}

#[derive(Deserialize)]
struct EntryPublicKey {
    content: String,
}

/// A transparency log entry whose timestamp verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub log_index: i64,
    /// Unix seconds at which the log integrated the entry.
    pub integrated_time: i64,
    payload_sha256: String,
    signature: Vec<u8>,
    /// The logged PEM public key as DER, `None` when the entry holds something else (a
    /// keyless certificate).
    public_key: Option<Vec<u8>>,
    /// The logged PEM certificate as DER, `None` when the entry holds a key.
    certificate: Option<Vec<u8>>,
}

impl Bundle {
    /// Parses the bundle annotation.
    pub fn parse(json: &str) -> Result<Bundle, BundleError> {
        let raw: RawBundle =
            serde_json::from_str(json).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let signed_entry_timestamp = STANDARD
            .decode(raw.signed_entry_timestamp)
            .map_err(|e| BundleError::Malformed(format!("SignedEntryTimestamp: {e}")))?;
        Ok(Bundle {
            signed_entry_timestamp,
            payload: raw.payload,
        })
    }

    /// The same promise as a Sigstore bundle's tlog entry makes it: its `inclusionPromise`
    /// over its canonicalized body, integrated time, log index and log ID.
    pub fn from_entry(
        signed_entry_timestamp: Vec<u8>,
        canonicalized_body: &[u8],
        integrated_time: i64,
        log_index: i64,
        log_id: &[u8],
    ) -> Bundle {
        Bundle {
            signed_entry_timestamp,
            payload: BundlePayload {
                body: STANDARD.encode(canonicalized_body),
                integrated_time,
                log_id: hex(log_id),
                log_index,
            },
        }
    }

    /// Checks that the configured log (`rekor_key`) signed this entry's timestamp, without
    /// reading the entry.
    pub fn verify_timestamp(&self, rekor_key: &PublicKey) -> Result<(), BundleError> {
        if !self
            .payload
            .log_id
            .eq_ignore_ascii_case(&rekor_key.sha256_id())
        {
            return Err(BundleError::UnknownLog(self.payload.log_id.clone()));
        }
        let canonical =
            serde_json::to_vec(&self.payload).map_err(|e| BundleError::Malformed(e.to_string()))?;
        scheme::verify(rekor_key, &canonical, &self.signed_entry_timestamp)
            .map_err(|_| BundleError::BadTimestamp)
    }

    /// [`Bundle::verify`] with the key, among `logs`, of the log that made the entry, which
    /// must have been valid at the entry's integrated time.
    pub fn verify_with(&self, logs: &LogKeys) -> Result<LogEntry, BundleError> {
        let log = logs
            .by_id(&self.payload.log_id)
            .ok_or_else(|| BundleError::UnknownLog(self.payload.log_id.clone()))?;
        if !log.valid.contains(self.payload.integrated_time) {
            return Err(BundleError::LogKeyNotValid {
                log_id: self.payload.log_id.clone(),
                at: self.payload.integrated_time,
            });
        }
        self.verify(&log.key)
    }

    /// Checks the SignedEntryTimestamp under `rekor_key` and reads the entry it covers.
    pub fn verify(&self, rekor_key: &PublicKey) -> Result<LogEntry, BundleError> {
        self.verify_timestamp(rekor_key)?;
        let body = STANDARD
            .decode(&self.payload.body)
            .map_err(|e| BundleError::UnreadableBody(format!("body is not base64: {e}")))?;
        let entry: EntryBody = serde_json::from_slice(&body)
            .map_err(|e| BundleError::UnreadableBody(e.to_string()))?;
        if entry.kind != "hashedrekord" && entry.kind != "rekord" {
            return Err(BundleError::UnreadableBody(format!(
                "entry kind {:?} does not record a signature over a payload",
                entry.kind
            )));
        }
        let hash = entry.spec.data.hash;
        if hash.algorithm != "sha256" {
            return Err(BundleError::UnreadableBody(format!(
                "payload hash algorithm {:?}, expected sha256",
                hash.algorithm
            )));
        }
        let signature = STANDARD
            .decode(entry.spec.signature.content)
            .map_err(|e| BundleError::UnreadableBody(format!("signature is not base64: {e}")))?;
        let key_pem = STANDARD
            .decode(entry.spec.signature.public_key.content)
            .map_err(|e| BundleError::UnreadableBody(format!("public key is not base64: {e}")))?;
        let public_key = SubjectPublicKeyInfoDer::from_pem_slice(&key_pem)
            .ok()
            .map(|der| der.as_ref().to_vec());
        let certificate = CertificateDer::from_pem_slice(&key_pem)
            .ok()
            .map(|der| der.as_ref().to_vec());
        Ok(LogEntry {
            log_index: self.payload.log_index,
            integrated_time: self.payload.integrated_time,
            payload_sha256: hash.value,
            signature,
            public_key,
            certificate,
        })
    }
}

impl LogEntry {
    /// Whether the entry records exactly this payload, signature and signing key.
    pub fn binds(
        &self,
        payload: &[u8],
        signature: &[u8],
        signer: &PublicKey,
    ) -> Result<(), BundleError> {
        self.binds_signature(payload, signature)?;
        if self.public_key.as_deref() != Some(signer.spki_der()) {
            return Err(BundleError::OtherKey);
        }
        Ok(())
    }

    /// Whether the entry records exactly this payload, signature and signing certificate
    /// (DER), as cosign logs keyless signatures.
    pub fn binds_certificate(
        &self,
        payload: &[u8],
        signature: &[u8],
        certificate: &[u8],
    ) -> Result<(), BundleError> {
        self.binds_signature(payload, signature)?;
        if self.certificate.as_deref() != Some(certificate) {
            return Err(BundleError::OtherCertificate);
        }
        Ok(())
    }

    fn binds_signature(&self, payload: &[u8], signature: &[u8]) -> Result<(), BundleError> {
        let payload_sha256 = digest::digest(&digest::SHA256, payload);
        if !self
            .payload_sha256
            .eq_ignore_ascii_case(&hex(payload_sha256.as_ref()))
        {
            return Err(BundleError::OtherPayload);
        }
        if self.signature != signature {
            return Err(BundleError::OtherSignature);
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// Test fixtures: Rekor-style bundles signed by a test log key.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::crypto::tests::TestSigner;

    /// A `hashedrekord` body recording `payload`, `signature` and `signer_pem`.
    pub(crate) fn hashedrekord(payload: &[u8], signature: &[u8], signer_pem: &str) -> String {
        let payload_sha256 = hex(digest::digest(&digest::SHA256, payload).as_ref());
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": payload_sha256}},
                "signature": {
                    "content": STANDARD.encode(signature),
                    "publicKey": {"content": STANDARD.encode(signer_pem)}
                }
            }
        });
        STANDARD.encode(body.to_string())
    }

    /// A bundle for `body` whose timestamp `rekor` signs, at log index 7.
    pub(crate) fn bundle(rekor: &TestSigner, body: String) -> String {
        let payload = BundlePayload {
            body,
            integrated_time: 1_700_000_000,
            log_id: rekor.public_key().sha256_id(),
            log_index: 7,
        };
        let canonical = match serde_json::to_vec(&payload) {
            Ok(bytes) => bytes,
            Err(e) => panic!("{e}"),
        };
        let set = STANDARD.encode(rekor.sign(&canonical));
        serde_json::json!({"SignedEntryTimestamp": set, "Payload": payload}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{bundle, hashedrekord};
    use super::*;
    use crate::crypto::tests::TestSigner;

    struct Setup {
        rekor: TestSigner,
        signer: TestSigner,
        payload: Vec<u8>,
        signature: Vec<u8>,
    }

    fn setup() -> Setup {
        let signer = TestSigner::p256();
        let payload = b"{\"critical\":\"payload\"}".to_vec();
        let signature = signer.sign(&payload);
        Setup {
            rekor: TestSigner::p256(),
            signer,
            payload,
            signature,
        }
    }

    fn verified(json: &str, rekor: &PublicKey) -> Result<LogEntry, BundleError> {
        Bundle::parse(json)?.verify(rekor)
    }

    #[test]
    fn a_matching_bundle_verifies_and_binds() {
        let s = setup();
        let body = hashedrekord(&s.payload, &s.signature, &s.signer.public_key_pem());
        let entry = verified(&bundle(&s.rekor, body), &s.rekor.public_key());
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => panic!("{e}"),
        };
        assert_eq!((entry.log_index, entry.integrated_time), (7, 1_700_000_000));
        assert_eq!(
            entry.binds(&s.payload, &s.signature, &s.signer.public_key()),
            Ok(())
        );
        assert_eq!(
            entry.binds(b"other", &s.signature, &s.signer.public_key()),
            Err(BundleError::OtherPayload)
        );
        let other_signature = s.signer.sign(b"other");
        assert_eq!(
            entry.binds(&s.payload, &other_signature, &s.signer.public_key()),
            Err(BundleError::OtherSignature)
        );
        assert_eq!(
            entry.binds(&s.payload, &s.signature, &TestSigner::p256().public_key()),
            Err(BundleError::OtherKey)
        );
    }

    #[test]
    fn the_timestamp_must_be_the_configured_logs() {
        let s = setup();
        let body = hashedrekord(&s.payload, &s.signature, &s.signer.public_key_pem());
        let json = bundle(&s.rekor, body.clone());
        let other_log = TestSigner::p256().public_key();
        assert!(matches!(
            verified(&json, &other_log),
            Err(BundleError::UnknownLog(_))
        ));
        // Same log ID, timestamp signed by an impostor.
        let impostor = TestSigner::p256();
        let forged = bundle(&impostor, body).replace(
            &impostor.public_key().sha256_id(),
            &s.rekor.public_key().sha256_id(),
        );
        assert_eq!(
            verified(&forged, &s.rekor.public_key()),
            Err(BundleError::BadTimestamp)
        );
        // Any change to the signed fields breaks the timestamp.
        let moved = json.replace("\"logIndex\":7", "\"logIndex\":8");
        assert_ne!(moved, json);
        assert_eq!(
            verified(&moved, &s.rekor.public_key()),
            Err(BundleError::BadTimestamp)
        );
    }

    #[test]
    fn only_signature_entries_are_read() {
        let s = setup();
        let intoto = STANDARD.encode(
            "{\"kind\":\"intoto\",\"spec\":{\"data\":{\"hash\":{\"algorithm\":\"sha256\",\"value\":\"00\"}},\"signature\":{\"content\":\"\",\"publicKey\":{\"content\":\"\"}}}}",
        );
        assert!(matches!(
            verified(&bundle(&s.rekor, intoto), &s.rekor.public_key()),
            Err(BundleError::UnreadableBody(_))
        ));
        assert!(matches!(
            verified(
                &bundle(&s.rekor, "not base64!".to_owned()),
                &s.rekor.public_key()
            ),
            Err(BundleError::UnreadableBody(_))
        ));
        for malformed in [
            "",
            "{}",
            "{\"SignedEntryTimestamp\":\"***\",\"Payload\":{\"body\":\"\",\"integratedTime\":1,\"logIndex\":1,\"logID\":\"\"}}",
            "{\"SignedEntryTimestamp\":\"\",\"Payload\":{\"body\":\"\",\"integratedTime\":1.5,\"logIndex\":1,\"logID\":\"\"}}",
        ] {
            assert!(
                matches!(Bundle::parse(malformed), Err(BundleError::Malformed(_))),
                "{malformed}"
            );
        }
    }

    #[test]
    fn a_certificate_in_the_entry_binds_only_that_certificate() {
        let s = setup();
        let certificate =
            |name: &str| match rcgen::generate_simple_self_signed(vec![name.to_owned()]) {
                Ok(certified) => certified.cert,
                Err(e) => panic!("rcgen: {e}"),
            };
        let (logged, other) = (certificate("signer.test"), certificate("other.test"));
        let body = hashedrekord(&s.payload, &s.signature, &logged.pem());
        let entry = match verified(&bundle(&s.rekor, body), &s.rekor.public_key()) {
            Ok(entry) => entry,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            entry.binds(&s.payload, &s.signature, &s.signer.public_key()),
            Err(BundleError::OtherKey)
        );
        assert_eq!(
            entry.binds_certificate(&s.payload, &s.signature, logged.der()),
            Ok(())
        );
        assert_eq!(
            entry.binds_certificate(&s.payload, &s.signature, other.der()),
            Err(BundleError::OtherCertificate)
        );
        assert_eq!(
            entry.binds_certificate(b"other", &s.signature, logged.der()),
            Err(BundleError::OtherPayload)
        );
        let key_entry = hashedrekord(&s.payload, &s.signature, &s.signer.public_key_pem());
        let key_entry = verified(&bundle(&s.rekor, key_entry), &s.rekor.public_key());
        assert_eq!(
            key_entry.map(|e| e.binds_certificate(&s.payload, &s.signature, logged.der())),
            Ok(Err(BundleError::OtherCertificate))
        );
    }

    #[test]
    fn the_public_good_key_is_rekor_sigstore_dev() {
        let key = PublicKey::from_pem(PUBLIC_GOOD_REKOR_KEY).map(|k| k.sha256_id());
        assert_eq!(
            key,
            Ok("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d".to_owned())
        );
    }
}
