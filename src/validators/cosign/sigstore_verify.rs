//! A cosign 3 signature — a Sigstore bundle found among the image's referrers — judged for
//! one trust root, offline:
//!
//! - the bundle holds a DSSE envelope whose in-toto statement (`cosign sign`'s predicate
//!   type) names the image's resolved digest as a subject, signed over DSSE's PAE;
//! - by the root's key, or by the key of a Fulcio certificate the keyless root accepts at
//!   the time the log integrated the entry;
//! - with the transparency log on, one of its log entries is from the configured Rekor log,
//!   is included (RFC 9162 audit path) in a tree whose checkpoint that log signed, carries a
//!   verified inclusion promise when its integrated time is relied on (keyless), and its
//!   `dsse` body records this payload, this signature and this key or certificate;
//! - every RFC 3161 timestamp it carries verifies over the signature under a time-stamping
//!   authority of the trusted root; a keyless certificate must have been valid at each
//!   signed time (the log's promise and the stamps).
//!
//! A bundle may instead hold a message signature over the image manifest's SHA-256 (the
//! message digest must be the resolved digest), logged as a `hashedrekord` entry.

use std::time::UNIX_EPOCH;

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use serde::Deserialize;

use super::bundle::Bundle;
use super::checkpoint;
use super::dsse;
use super::merkle;
use super::scheme;
use super::sigstore_bundle::{Content, SigstoreBundle, TlogEntry, VerificationMaterial};
use super::trusted_root::{Authority, LogKeys};
use super::verify::{CosignPolicy, RootVerifier, TransparencyLog};
use crate::crypto::PublicKey;
use crate::timestamp_token::{self, TsaRoot};

/// The Rekor entry kind (and version) that records a DSSE envelope.
const DSSE_KIND: (&str, &str) = ("dsse", "0.0.1");
/// The Rekor entry kind (and version) that records a signature over a digest.
const HASHEDREKORD_KIND: (&str, &str) = ("hashedrekord", "0.0.1");

/// What a bundle signs, and how.
enum Signed<'a> {
    /// A DSSE envelope: the signature is over its PAE.
    Envelope {
        pae: Vec<u8>,
        payload: &'a [u8],
        signature: &'a [u8],
    },
    /// A message signature over an artifact known by its SHA-256, here the image manifest.
    Digest {
        digest: &'a [u8],
        signature: &'a [u8],
    },
}

impl Signed<'_> {
    fn signature(&self) -> &[u8] {
        match self {
            Signed::Envelope { signature, .. } | Signed::Digest { signature, .. } => signature,
        }
    }

    fn logged_kind(&self) -> (&'static str, &'static str) {
        match self {
            Signed::Envelope { .. } => DSSE_KIND,
            Signed::Digest { .. } => HASHEDREKORD_KIND,
        }
    }

    fn verify(&self, key: &PublicKey) -> Result<(), String> {
        match self {
            Signed::Envelope { pae, signature, .. } => scheme::verify(key, pae, signature)
                .map_err(|e| format!("DSSE envelope signature: {e}")),
            Signed::Digest { digest, signature } => scheme::verify_digest(key, digest, signature)
                .map_err(|e| format!("message signature: {e}")),
        }
    }

    /// Whether the logged entry `body` records this signature, what it signs and `signer`.
    fn bound_by(&self, body: &[u8], signer: &Signer) -> Result<(), String> {
        match self {
            Signed::Envelope {
                payload, signature, ..
            } => binds(body, payload, signature, signer),
            Signed::Digest { digest, signature } => {
                binds_hashedrekord(body, digest, signature, signer)
            }
        }
    }
}
/// Most signatures read from one logged `dsse` entry.
const MAX_LOGGED_SIGNATURES: usize = 16;

/// What a bundle that verified for a root proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleEvidence {
    /// The statement subject's `name` (the image as the signer named it).
    pub subject: String,
    /// `(logIndex, integratedTime)` of the log entry, when the log was checked.
    pub log_entry: Option<(i64, i64)>,
}

/// A log entry whose inclusion in the configured log is proven.
struct ProvenEntry<'a> {
    entry: &'a TlogEntry,
    /// The integrated time, only when the log's inclusion promise covering it verified.
    promised_time: Option<i64>,
}

/// Checks `bundle` as a signature of the image whose digest is `digest` for the trust
/// root `verifier`; `now` (Unix seconds) is when a certificate is checked without the log.
pub fn check(
    bundle: &SigstoreBundle,
    verifier: &RootVerifier,
    digest: &str,
    policy: &CosignPolicy,
    now: u64,
) -> Result<BundleEvidence, String> {
    let (signed, subject) = match &bundle.content {
        Content::Dsse(envelope) => {
            let subject = dsse::check_statement(&envelope.payload_type, &envelope.payload, digest)
                .map_err(|e| e.to_string())?;
            let pae = dsse::pae(&envelope.payload_type, &envelope.payload);
            let signed = Signed::Envelope {
                pae,
                payload: &envelope.payload,
                signature: &envelope.signature,
            };
            (signed, subject)
        }
        Content::MessageSignature {
            digest: message_digest,
            signature,
        } => {
            let Some((algorithm, message_digest)) = message_digest else {
                return Err("the message signature names no messageDigest".to_owned());
            };
            if algorithm != "SHA2_256" {
                return Err(format!(
                    "the message signature's digest algorithm {:?} is not SHA2_256",
                    algorithm.chars().take(50).collect::<String>()
                ));
            }
            let signed_digest = format!("sha256:{}", hex(message_digest));
            if !signed_digest.eq_ignore_ascii_case(digest) {
                return Err(format!(
                    "the message signature signs {signed_digest}, not the image's digest {digest}"
                ));
            }
            let signed = Signed::Digest {
                digest: message_digest,
                signature,
            };
            (signed, String::new())
        }
    };
    let stamped = stamped_times(bundle, signed.signature(), &policy.timestamp_authorities)?;
    let proven = match &policy.transparency_log {
        TransparencyLog::Ignore => None,
        TransparencyLog::Require(logs) => Some(prove(bundle, logs, signed.logged_kind())?),
    };
    let signer = match (verifier, &bundle.material) {
        (RootVerifier::Key(key), VerificationMaterial::PublicKeyHint(_)) => {
            signed.verify(key)?;
            Signer::Key(key.spki_der().to_vec())
        }
        (RootVerifier::Keyless(root), VerificationMaterial::Certificates(chain)) => {
            // When the certificate was used: every signed time the bundle has (the log's
            // promise, RFC 3161 stamps); it must have been valid at each.
            let mut times = stamped;
            match &proven {
                Some(ProvenEntry {
                    promised_time: Some(time),
                    ..
                }) => times.push(u64::try_from(*time).map_err(|_| {
                    format!("transparency log entry has a negative integrated time {time}")
                })?),
                Some(_) if times.is_empty() => return Err(
                    "the log entry has no inclusion promise (SignedEntryTimestamp) and the bundle no RFC 3161 timestamp, so nothing signs when the certificate was used".to_owned(),
                ),
                Some(_) => {}
                None if times.is_empty() => times.push(now),
                None => {}
            }
            let Some((leaf, intermediates)) = chain.split_first() else {
                return Err("bundle has no signing certificate".to_owned());
            };
            let intermediates: Vec<CertificateDer<'_>> = intermediates
                .iter()
                .map(|der| CertificateDer::from(der.as_slice()))
                .collect();
            let mut certified = None;
            for at in times {
                certified = Some(
                    root.certify_der(CertificateDer::from(leaf.as_slice()), &intermediates, at)
                        .map_err(|e| e.to_string())?,
                );
            }
            let certificate = certified.ok_or("bundle has no signing time")?;
            signed.verify(&certificate.key)?;
            Signer::Certificate(certificate.der)
        }
        (RootVerifier::Key(_), VerificationMaterial::Certificates(_)) => {
            return Err(
                "bundle is signed with a certificate (keyless); this trust root is a key"
                    .to_owned(),
            )
        }
        (RootVerifier::Keyless(_), VerificationMaterial::PublicKeyHint(_)) => {
            return Err(
                "bundle is signed with a key; this trust root is keyless (a Fulcio identity)"
                    .to_owned(),
            )
        }
    };
    let log_entry = match proven {
        None => None,
        Some(proven) => {
            signed.bound_by(&proven.entry.canonicalized_body, &signer)?;
            Some((proven.entry.log_index, proven.entry.integrated_time))
        }
    };
    Ok(BundleEvidence { subject, log_entry })
}

/// The times the bundle's RFC 3161 timestamps sign for `signature` (Unix seconds), by
/// authorities of the trusted root within their windows. Every
/// timestamp present must verify: one that does not is a forgery or from an unknown TSA.
fn stamped_times(
    bundle: &SigstoreBundle,
    signature: &[u8],
    authorities: &[Authority],
) -> Result<Vec<u64>, String> {
    if bundle.timestamps.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = (1..=authorities.len())
        .map(|n| format!("timestamp authority {n}"))
        .collect();
    let roots: Vec<TsaRoot<'_>> = authorities
        .iter()
        .zip(&names)
        .flat_map(|(authority, name)| {
            authority
                .certificates
                .iter()
                .map(move |der| TsaRoot { name, der })
        })
        .collect();
    let known: Vec<CertificateDer<'static>> = authorities
        .iter()
        .flat_map(|authority| authority.certificates.iter().cloned())
        .collect();
    bundle
        .timestamps
        .iter()
        .map(|response| {
            let stamp = timestamp_token::token_of_response(response)
                .and_then(|token| {
                    timestamp_token::verify_with(&token, signature, &roots, &known)
                })
                .map_err(|e| format!("RFC 3161 timestamp: {e}"))?;
            // genTime, as Sigstore's verifiers take it (its accuracy is the TSA's claim
            // about its clock, not a range the signing could lie in).
            let at = stamp
                .time
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            let window = names
                .iter()
                .position(|name| *name == stamp.root)
                .and_then(|index| authorities.get(index))
                .map(|authority| authority.valid);
            let in_window = window
                .is_some_and(|valid| valid.contains(i64::try_from(at).unwrap_or(i64::MAX)));
            if !in_window {
                return Err(format!(
                    "RFC 3161 timestamp at Unix time {at} is outside its authority's validity in the trusted root"
                ));
            }
            Ok(at)
        })
        .collect()
}

/// The first of the bundle's entries whose inclusion in the configured log is proven.
fn prove<'a>(
    bundle: &'a SigstoreBundle,
    logs: &LogKeys,
    kind: (&str, &str),
) -> Result<ProvenEntry<'a>, String> {
    let mut first_problem = None;
    for entry in &bundle.tlog_entries {
        match prove_entry(entry, logs, kind) {
            Ok(proven) => return Ok(proven),
            Err(problem) => {
                first_problem.get_or_insert(problem);
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| {
        "bundle has no transparency log entry (verifyInTransparencyLog: false accepts signatures without one)".to_owned()
    }))
}

fn prove_entry<'a>(
    entry: &'a TlogEntry,
    logs: &LogKeys,
    kind: (&str, &str),
) -> Result<ProvenEntry<'a>, String> {
    let log_id = hex(&entry.log_id);
    let log = logs.by_id(&log_id).ok_or_else(|| {
        format!("log entry is from log {log_id}, which is not the configured Rekor key's log")
    })?;
    if !log.valid.contains(entry.integrated_time) {
        return Err(format!(
            "the key of log {log_id} is not valid at the entry's integrated time (Unix time {}) in the trusted root",
            entry.integrated_time
        ));
    }
    let rekor_key = &log.key;
    if (entry.kind.as_str(), entry.kind_version.as_str()) != kind {
        return Err(format!(
            "log entry of kind {:?} version {:?}: this signature is logged as {} {}",
            entry.kind.chars().take(50).collect::<String>(),
            entry.kind_version.chars().take(50).collect::<String>(),
            kind.0,
            kind.1
        ));
    }
    let proof = entry
        .inclusion_proof
        .as_ref()
        .ok_or("log entry has no inclusion proof")?;
    let checkpoint = checkpoint::verify(&proof.checkpoint, rekor_key).map_err(|e| e.to_string())?;
    if checkpoint.tree_size != proof.tree_size || checkpoint.root_hash != proof.root_hash {
        return Err(format!(
            "inclusion proof is for a tree of size {} other than the signed checkpoint's ({})",
            proof.tree_size, checkpoint.tree_size
        ));
    }
    merkle::verify_inclusion(
        &merkle::leaf_hash(&entry.canonicalized_body),
        proof.log_index,
        proof.tree_size,
        &proof.hashes,
        &proof.root_hash,
    )
    .map_err(|e| e.to_string())?;
    let promised_time = match &entry.signed_entry_timestamp {
        None => None,
        Some(promise) => {
            Bundle::from_entry(
                promise.clone(),
                &entry.canonicalized_body,
                entry.integrated_time,
                entry.log_index,
                &entry.log_id,
            )
            .verify_timestamp(rekor_key)
            .map_err(|e| format!("inclusion promise: {e}"))?;
            Some(entry.integrated_time)
        }
    };
    Ok(ProvenEntry {
        entry,
        promised_time,
    })
}

/// Who signed, as the log entry must record it (DER).
enum Signer {
    Key(Vec<u8>),
    Certificate(Vec<u8>),
}

#[derive(Deserialize)]
struct DsseBody {
    kind: String,
    spec: DsseSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    payload_hash: LoggedHash,
    signatures: Vec<LoggedSignature>,
}

#[derive(Deserialize)]
struct LoggedHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct LoggedSignature {
    signature: String,
    /// Base64 of the PEM key or certificate.
    verifier: String,
}

/// Whether the logged `dsse` body records this payload, signature and signer.
fn binds(body: &[u8], payload: &[u8], signature: &[u8], signer: &Signer) -> Result<(), String> {
    let body: DsseBody = serde_json::from_slice(body)
        .map_err(|e| format!("unreadable transparency log entry: {e}"))?;
    if body.kind != DSSE_KIND.0 {
        return Err("transparency log entry is not a dsse entry".to_owned());
    }
    let payload_sha256 = hex(digest::digest(&digest::SHA256, payload).as_ref());
    let hash = &body.spec.payload_hash;
    if hash.algorithm != "sha256" || !hash.value.eq_ignore_ascii_case(&payload_sha256) {
        return Err("transparency log entry records another payload hash".to_owned());
    }
    if body.spec.signatures.len() > MAX_LOGGED_SIGNATURES {
        return Err(format!(
            "transparency log entry records more than {MAX_LOGGED_SIGNATURES} signatures"
        ));
    }
    let recorded = body.spec.signatures.iter().any(|logged| {
        STANDARD
            .decode(&logged.signature)
            .is_ok_and(|s| s == signature)
            && logged_signer(&logged.verifier, signer)
    });
    if !recorded {
        return Err(match signer {
            Signer::Key(_) => "transparency log entry records another signature or public key",
            Signer::Certificate(_) => {
                "transparency log entry records another signature or signing certificate"
            }
        }
        .to_owned());
    }
    Ok(())
}

#[derive(Deserialize)]
struct HashedRekordBody {
    kind: String,
    spec: HashedRekordSpec,
}

#[derive(Deserialize)]
struct HashedRekordSpec {
    data: HashedRekordData,
    signature: HashedRekordSignature,
}

#[derive(Deserialize)]
struct HashedRekordData {
    hash: LoggedHash,
}

#[derive(Deserialize)]
struct HashedRekordSignature {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: HashedRekordKey,
}

#[derive(Deserialize)]
struct HashedRekordKey {
    /// Base64 of the PEM key or certificate.
    content: String,
}

/// Whether the logged `hashedrekord` body records this digest, signature and signer.
fn binds_hashedrekord(
    body: &[u8],
    digest: &[u8],
    signature: &[u8],
    signer: &Signer,
) -> Result<(), String> {
    let body: HashedRekordBody = serde_json::from_slice(body)
        .map_err(|e| format!("unreadable transparency log entry: {e}"))?;
    if body.kind != HASHEDREKORD_KIND.0 {
        return Err("transparency log entry is not a hashedrekord entry".to_owned());
    }
    let hash = &body.spec.data.hash;
    if hash.algorithm != "sha256" || !hash.value.eq_ignore_ascii_case(&hex(digest)) {
        return Err("transparency log entry records another digest".to_owned());
    }
    let same_signature = STANDARD
        .decode(&body.spec.signature.content)
        .is_ok_and(|logged| logged == signature);
    if !same_signature || !logged_signer(&body.spec.signature.public_key.content, signer) {
        return Err("transparency log entry records another signature or signer".to_owned());
    }
    Ok(())
}

/// Whether `verifier` (base64 of a PEM key or certificate) is `signer`.
fn logged_signer(verifier: &str, signer: &Signer) -> bool {
    let Ok(pem) = STANDARD.decode(verifier) else {
        return false;
    };
    match signer {
        Signer::Key(spki) => SubjectPublicKeyInfoDer::from_pem_slice(&pem)
            .is_ok_and(|der| der.as_ref() == spki.as_slice()),
        Signer::Certificate(certificate) => CertificateDer::from_pem_slice(&pem)
            .is_ok_and(|der| der.as_ref() == certificate.as_slice()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
