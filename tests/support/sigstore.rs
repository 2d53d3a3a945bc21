//! Sigstore bundles (v0.3) as `cosign sign` writes them since cosign 3, made by the tests:
//! a DSSE envelope over the in-toto statement with predicate type
//! `https://sigstore.dev/cosign/sign/v1` naming the image digest, logged in a test Rekor (a
//! real RFC 6962 Merkle tree over the entries, a checkpoint signed as a signed note, an
//! inclusion promise over the entry), and stored as the referrer of the image by the
//! referrers tag schema on a real registry.

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use tastevin::registry::manifest::{sha256_digest, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

use super::cosign::Signer;
use super::fulcio::{Fulcio, Leaf};
use super::registry::{PushedImage, Registry};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// The integrated time of every entry, 2023-11-14 22:13:20 UTC (Fulcio leaves are valid then).
pub const INTEGRATED_AT: i64 = 1_700_000_000;
/// The checkpoint's origin line; its signature line names the key by the host alone, as
/// Rekor's do.
const ORIGIN: &str = "rekor.tastevin.test - 2605736670972794746";
const KEY_NAME: &str = "rekor.tastevin.test";

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The statement `cosign sign` signs for `digest` of `name`.
pub fn statement(name: &str, digest: &str, predicate_type: &str) -> Vec<u8> {
    let hex = digest.trim_start_matches("sha256:");
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": hex}}],
        "predicateType": predicate_type,
        "predicate": {}
    })
    .to_string()
    .into_bytes()
}

/// RFC 6962 tree hashes.
fn leaf_hash(leaf: &[u8]) -> Vec<u8> {
    sha256(&[&[0u8][..], leaf].concat())
}

fn node_hash(left: &[u8], right: &[u8]) -> Vec<u8> {
    sha256(&[&[1u8][..], left, right].concat())
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn root(leaves: &[Vec<u8>]) -> Vec<u8> {
    match leaves {
        [leaf] => leaf.clone(),
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

fn audit_path(index: usize, leaves: &[Vec<u8>]) -> Vec<Vec<u8>> {
    if leaves.len() == 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if index < k {
        let mut path = audit_path(index, &leaves[..k]);
        path.push(root(&leaves[k..]));
        path
    } else {
        let mut path = audit_path(index - k, &leaves[k..]);
        path.push(root(&leaves[..k]));
        path
    }
}

/// A transparency log with its own key: each entry goes into a Merkle tree that already
/// holds a few other entries, so proofs have several hashes.
pub struct TestRekor {
    pub key: Signer,
    leaves: Vec<Vec<u8>>,
}

/// How an entry is logged, for the negative cases.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Logging {
    Honest,
    /// The inclusion proof is for the entry, but the checkpoint is for another tree.
    CheckpointOfAnotherTree,
    /// No inclusion promise (SignedEntryTimestamp).
    NoPromise,
}

impl TestRekor {
    pub fn new() -> TestRekor {
        let leaves = (0..5u8)
            .map(|i| leaf_hash(format!("earlier entry {i}").as_bytes()))
            .collect();
        TestRekor {
            key: Signer::p256(),
            leaves,
        }
    }

    pub fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    fn checkpoint(&self, size: usize, root_hash: &[u8]) -> String {
        let note = format!("{ORIGIN}\n{size}\n{}\n", STANDARD.encode(root_hash));
        let key_hash = sha256(&self.key.spki_der());
        let mut signature = key_hash[..4].to_vec();
        signature.extend(self.key.sign(note.as_bytes()));
        format!("{note}\n— {KEY_NAME} {}\n", STANDARD.encode(signature))
    }

    /// Logs `body` (a canonicalized Rekor entry) and returns the bundle's `tlogEntries` item.
    pub fn log(&mut self, body: &[u8], logging: Logging) -> Value {
        self.log_as(body, "dsse", logging)
    }

    /// [`TestRekor::log`] of an entry of `kind` (version 0.0.1).
    pub fn log_as(&mut self, body: &[u8], kind: &str, logging: Logging) -> Value {
        self.leaves.push(leaf_hash(body));
        // A few entries after it, as a live log has.
        for i in 0..2u8 {
            let filler = format!("later entry {} {i}", self.leaves.len());
            self.leaves.push(leaf_hash(filler.as_bytes()));
        }
        let index = self.leaves.len() - 3;
        let size = self.leaves.len();
        let root_hash = root(&self.leaves);
        let path = audit_path(index, &self.leaves);
        let checkpoint = match logging {
            Logging::CheckpointOfAnotherTree => {
                self.checkpoint(size - 1, &root(&self.leaves[..size - 1]))
            }
            _ => self.checkpoint(size, &root_hash),
        };
        let log_id = sha256(&self.key.spki_der());
        let promise = json!({
            "body": STANDARD.encode(body),
            "integratedTime": INTEGRATED_AT,
            "logID": hex(&log_id),
            "logIndex": index,
        });
        let canonical = serde_json::to_vec(&promise).expect("promise JSON");
        let mut entry = json!({
            "logIndex": index.to_string(),
            "logId": {"keyId": STANDARD.encode(&log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": INTEGRATED_AT.to_string(),
            "inclusionProof": {
                "logIndex": index.to_string(),
                "rootHash": STANDARD.encode(&root_hash),
                "treeSize": size.to_string(),
                "hashes": path.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": STANDARD.encode(body),
        });
        if logging != Logging::NoPromise {
            entry["inclusionPromise"] =
                json!({"signedEntryTimestamp": STANDARD.encode(self.key.sign(&canonical))});
        }
        entry
    }
}

/// Who signs a bundle: a key, or a Fulcio leaf (keyless).
pub enum BundleSigner<'a> {
    Key(&'a Signer),
    Keyless(&'a Leaf),
}

impl BundleSigner<'_> {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            BundleSigner::Key(signer) => signer.sign(message),
            BundleSigner::Keyless(leaf) => leaf.sign(message),
        }
    }

    /// The PEM Rekor records as the verifier.
    fn verifier_pem(&self) -> String {
        match self {
            BundleSigner::Key(signer) => signer.public_key_pem(),
            BundleSigner::Keyless(leaf) => leaf.pem.clone(),
        }
    }

    fn material(&self) -> Value {
        match self {
            BundleSigner::Key(_) => json!({"publicKey": {"hint": "tastevin-test-key"}}),
            BundleSigner::Keyless(leaf) => {
                json!({"certificate": {"rawBytes": STANDARD.encode(leaf.der())}})
            }
        }
    }
}

/// The `dsse` 0.0.1 entry Rekor stores for `envelope` (its JSON) of `payload`.
pub fn dsse_entry(
    envelope: &[u8],
    payload: &[u8],
    signature: &[u8],
    verifier_pem: &str,
) -> Vec<u8> {
    json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex(&sha256(envelope))},
            "payloadHash": {"algorithm": "sha256", "value": hex(&sha256(payload))},
            "signatures": [{
                "signature": STANDARD.encode(signature),
                "verifier": STANDARD.encode(verifier_pem),
            }],
        }
    })
    .to_string()
    .into_bytes()
}

/// A bundle: `signer` signs `statement`; logged in `rekor` (with `logging`) when given.
/// `logged_body` replaces the entry body Rekor records (for entries of other signatures).
pub fn bundle(
    signer: &BundleSigner<'_>,
    statement: &[u8],
    rekor: Option<(&mut TestRekor, Logging)>,
    logged_body: Option<Vec<u8>>,
) -> Vec<u8> {
    let signature = signer.sign(&pae(IN_TOTO, statement));
    let envelope = json!({
        "payload": STANDARD.encode(statement),
        "payloadType": IN_TOTO,
        "signatures": [{"sig": STANDARD.encode(&signature), "keyid": ""}],
    });
    let mut material = signer.material();
    if let Some((rekor, logging)) = rekor {
        let body = logged_body.unwrap_or_else(|| {
            let envelope_json = envelope.to_string().into_bytes();
            dsse_entry(
                &envelope_json,
                statement,
                &signature,
                &signer.verifier_pem(),
            )
        });
        material["tlogEntries"] = json!([rekor.log(&body, logging)]);
    }
    json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": envelope,
    })
    .to_string()
    .into_bytes()
}

/// A message-signature bundle: `signer` signs `artifact` (the image manifest), the bundle
/// names its SHA-256; logged as a `hashedrekord` entry in `rekor` when given.
pub fn message_bundle(
    signer: &BundleSigner<'_>,
    artifact: &[u8],
    rekor: Option<(&mut TestRekor, Logging)>,
) -> Vec<u8> {
    let signature = signer.sign(artifact);
    let artifact_sha256 = sha256(artifact);
    let mut material = signer.material();
    if let Some((rekor, logging)) = rekor {
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex(&artifact_sha256)}},
                "signature": {
                    "content": STANDARD.encode(&signature),
                    "publicKey": {"content": STANDARD.encode(signer.verifier_pem())},
                },
            },
        })
        .to_string()
        .into_bytes();
        material["tlogEntries"] = json!([rekor.log_as(&body, "hashedrekord", logging)]);
    }
    json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(&artifact_sha256)},
            "signature": STANDARD.encode(&signature),
        },
    })
    .to_string()
    .into_bytes()
}

/// Stores `bundles` as the referrers of `pushed`, as cosign 3 does on a registry without the
/// referrers API: one manifest per bundle (artifactType the bundle media type, `subject` the
/// image, the bundle its one layer) and the index at tag `sha256-<hex>` listing them.
pub fn push_bundles(
    registry: &Registry,
    repository: &str,
    pushed: &PushedImage,
    bundles: &[Vec<u8>],
) {
    let config = registry.push_blob(repository, b"{}");
    let mut referrers = Vec::new();
    for bundle in bundles {
        let layer = registry.push_blob(repository, bundle);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_MEDIA_TYPE,
            "config": {"mediaType": EMPTY_CONFIG, "digest": config, "size": 2},
            "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "digest": layer, "size": bundle.len()}],
            "subject": {"mediaType": DOCKER_MANIFEST, "digest": pushed.digest, "size": pushed.manifest.len()},
            "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                            "dev.sigstore.bundle.predicateType": SIGN_PREDICATE},
        })
        .to_string()
        .into_bytes();
        let digest = sha256_digest(&manifest);
        registry.push_manifest(repository, &digest, OCI_MANIFEST, &manifest);
        referrers.push(json!({"mediaType": OCI_MANIFEST, "digest": digest,
                              "size": manifest.len(), "artifactType": BUNDLE_MEDIA_TYPE}));
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers})
        .to_string()
        .into_bytes();
    let tag = pushed.digest.replacen(':', "-", 1);
    registry.push_manifest(repository, &tag, OCI_INDEX, &index);
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("certificate PEM")
        .to_vec()
}

/// A Sigstore `trusted_root.json` for the test's Fulcio (its CT log) and the log `rekor`,
/// every part valid from 2020 on.
pub fn trusted_root(fulcio: &Fulcio, rekor: &Signer) -> Value {
    trusted_root_with_tsa(fulcio, rekor, None)
}

/// [`trusted_root`] with a time-stamping authority (its chain as PEM: signer, then root).
pub fn trusted_root_with_tsa(
    fulcio: &Fulcio,
    rekor: &Signer,
    tsa_chain: Option<(&str, &str)>,
) -> Value {
    let since = json!({"start": "2020-01-01T00:00:00Z"});
    let key = |spki: Vec<u8>| {
        json!({
            "rawBytes": STANDARD.encode(&spki),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": since,
        })
    };
    let log_id = |spki: &[u8]| STANDARD.encode(sha256(spki));
    json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.tastevin.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": key(rekor.spki_der()),
            "logId": {"keyId": log_id(&rekor.spki_der())},
        }],
        "certificateAuthorities": [{
            "subject": {"organization": "tastevin.test", "commonName": "fulcio"},
            "uri": "https://fulcio.tastevin.test",
            "certChain": {"certificates": [
                {"rawBytes": STANDARD.encode(der_of(&fulcio.intermediate_pem))},
                {"rawBytes": STANDARD.encode(der_of(&fulcio.root_pem))},
            ]},
            "validFor": since,
        }],
        "ctlogs": [{
            "baseUrl": "https://ctfe.tastevin.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": key(fulcio.ct_log.spki_der()),
            "logId": {"keyId": log_id(&fulcio.ct_log.spki_der())},
        }],
        "timestampAuthorities": tsa_chain.map_or_else(Vec::new, |(signer, root)| vec![json!({
            "subject": {"organization": "tastevin.test", "commonName": "tsa"},
            "uri": "https://tsa.tastevin.test",
            "certChain": {"certificates": [
                {"rawBytes": STANDARD.encode(der_of(signer))},
                {"rawBytes": STANDARD.encode(der_of(root))},
            ]},
            "validFor": since,
        })]),
    })
}

/// `bundle` (JSON) with `response` (a DER `TimeStampResp`) as its RFC 3161 timestamp.
pub fn with_timestamp(bundle: &[u8], response: &[u8]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(bundle).expect("bundle JSON");
    value["verificationMaterial"]["timestampVerificationData"] =
        json!({"rfc3161Timestamps": [{"signedTimestamp": STANDARD.encode(response)}]});
    value.to_string().into_bytes()
}

/// The DSSE signature of `bundle` (what a TSA stamps).
pub fn signature_of(bundle: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(bundle).expect("bundle JSON");
    let sig = value["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .expect("sig");
    STANDARD.decode(sig).expect("base64 signature")
}
