//! A re-signer for trust data captured from a real `notary-server`: it signs the documents
//! again with the `notary` client's own keys (read from its trust directory), so that a test
//! can change a signed field — an `expires` moved into the past — and still serve validly
//! signed data. The timestamp key lives in the server and cannot be read, so the repository
//! is given a harness timestamp key: added to root's keys, named as the timestamp role's
//! only key, and root re-signed with the real root key. After any change the hash chain is
//! rebuilt: snapshot lists the new hashes of root, targets and delegations, timestamp the
//! new hash of snapshot.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};
use tastevin::validators::notaryv1::canonical::to_canonical;
use tastevin::validators::notaryv1::keys::{key_id, public_key, verifies};
use tastevin::validators::notaryv1::tuf::Key;

use super::notary::PASSPHRASES;

/// An `expires` long past.
pub const PAST: &str = "2001-01-01T00:00:00Z";

/// The base roles, in the order they are signed: snapshot lists root's and targets' hashes,
/// timestamp lists snapshot's.
const BASE_ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

/// One repository's trust data and a signing key for each of its roles.
pub struct Resigner {
    /// The captured documents by role name (`root`, …, `targets/releases`).
    documents: BTreeMap<String, Value>,
    /// Every private key at hand.
    keys: Vec<EcdsaKeyPair>,
    /// The key that signs each role, as an index into `keys`, with the key ID the role
    /// lists it under.
    signers: BTreeMap<String, RoleSigner>,
}

struct RoleSigner {
    key: usize,
    key_id: String,
}

impl Resigner {
    /// Takes `captured` (role name and body as the server served it: the four base roles
    /// and any delegation roles), the `notary` client's `trust_dir` holding the root,
    /// targets and snapshot keys, and the PKCS#8 PEM of each delegation key. Each role gets
    /// the key that verifies against a key the role lists; the timestamp role gets a new
    /// harness key, written into root.
    pub fn new(trust_dir: &Path, captured: &[(&str, Vec<u8>)], delegation_keys: &[&str]) -> Self {
        let mut documents: BTreeMap<String, Value> = captured
            .iter()
            .map(|(role, body)| {
                let document = serde_json::from_slice(body)
                    .unwrap_or_else(|e| panic!("{role} is not JSON: {e}"));
                ((*role).to_owned(), document)
            })
            .collect();
        for role in BASE_ROLES {
            assert!(documents.contains_key(role), "{role} was not captured");
        }

        let (timestamp_key, timestamp_key_id) = harness_timestamp_key(&mut documents);
        let mut keys = vec![timestamp_key];
        keys.extend(client_keys(trust_dir));
        keys.extend(delegation_keys.iter().map(|pem| {
            let pkcs8 = rcgen::KeyPair::from_pem(pem)
                .unwrap_or_else(|e| panic!("delegation key: {e}"))
                .serialize_der();
            ecdsa_key(&pkcs8)
        }));

        let mut signers = BTreeMap::new();
        for role in documents.keys() {
            let (key_ids, table) = listed_keys(&documents, role);
            let signer = keys
                .iter()
                .enumerate()
                .find_map(|(index, key)| {
                    let id = key_ids.iter().find(|id| key_verifies(key, id, &table))?;
                    Some(RoleSigner {
                        key: index,
                        key_id: id.clone(),
                    })
                })
                .unwrap_or_else(|| panic!("no private key for {role} (listed: {key_ids:?})"));
            signers.insert(role.clone(), signer);
        }
        assert_eq!(
            signers.get("timestamp").map(|signer| &signer.key_id),
            Some(&timestamp_key_id),
            "timestamp is signed by the harness key"
        );
        Resigner {
            documents,
            keys,
            signers,
        }
    }

    /// Every document re-signed and the hash chain rebuilt, nothing else changed (but root's
    /// timestamp key): what the validator must admit.
    pub fn resigned(&self) -> Vec<(String, Vec<u8>)> {
        self.sealed(self.documents.clone())
    }

    /// As [`Resigner::resigned`], with `role`'s `expires` set to [`PAST`] before signing.
    pub fn expired(&self, role: &str) -> Vec<(String, Vec<u8>)> {
        let mut documents = self.documents.clone();
        let document = documents
            .get_mut(role)
            .unwrap_or_else(|| panic!("{role} was not captured"));
        document["signed"]["expires"] = json!(PAST);
        self.sealed(documents)
    }

    /// Signs every role, then lists the bodies' hashes in snapshot and timestamp, signed
    /// last, in that order: each hash is over the exact bytes returned.
    fn sealed(&self, mut documents: BTreeMap<String, Value>) -> Vec<(String, Vec<u8>)> {
        let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let listed_last = ["snapshot", "timestamp"];
        for (role, document) in documents
            .iter_mut()
            .filter(|(role, _)| !listed_last.contains(&role.as_str()))
        {
            bodies.insert(role.clone(), self.signed_body(role, document));
        }

        let mut snapshot = documents.remove("snapshot").expect("snapshot captured");
        let meta = snapshot["signed"]["meta"]
            .as_object_mut()
            .expect("snapshot lists meta");
        for (role, entry) in meta.iter_mut() {
            if let Some(body) = bodies.get(role) {
                describe(entry, body);
            }
        }
        let snapshot_body = self.signed_body("snapshot", &mut snapshot);

        let mut timestamp = documents.remove("timestamp").expect("timestamp captured");
        describe(&mut timestamp["signed"]["meta"]["snapshot"], &snapshot_body);
        let timestamp_body = self.signed_body("timestamp", &mut timestamp);

        bodies.insert("snapshot".to_owned(), snapshot_body);
        bodies.insert("timestamp".to_owned(), timestamp_body);
        bodies.into_iter().collect()
    }

    /// Replaces `document`'s signatures with one by its role's key and serialises it
    /// compactly, as the server does.
    fn signed_body(&self, role: &str, document: &mut Value) -> Vec<u8> {
        let signer = self
            .signers
            .get(role)
            .unwrap_or_else(|| panic!("no signer for {role}"));
        let message = to_canonical(&document["signed"]).expect("canonical JSON of signed");
        let signature = self.keys[signer.key]
            .sign(&SystemRandom::new(), &message)
            .expect("ECDSA signing");
        document["signatures"] = json!([{
            "keyid": signer.key_id,
            "method": "ecdsa",
            "sig": STANDARD.encode(signature.as_ref()),
        }]);
        serde_json::to_vec(document).expect("serialise trust data")
    }
}

/// Sets a `meta` entry's length and recomputes each hash it lists.
fn describe(entry: &mut Value, body: &[u8]) {
    entry["length"] = json!(body.len());
    let hashes = entry["hashes"].as_object_mut().expect("meta lists hashes");
    for (algorithm, value) in hashes.iter_mut() {
        let algorithm = match algorithm.as_str() {
            "sha256" => &digest::SHA256,
            "sha512" => &digest::SHA512,
            other => panic!("cannot recompute a {other} hash"),
        };
        *value = json!(STANDARD.encode(digest::digest(algorithm, body).as_ref()));
    }
}

/// Generates the harness timestamp key, lists it in root as an `ecdsa` key and makes it the
/// timestamp role's only key; returns it with its key ID.
fn harness_timestamp_key(documents: &mut BTreeMap<String, Value>) -> (EcdsaKeyPair, String) {
    let generated = rcgen::KeyPair::generate().expect("generate a P-256 key");
    let spki = rcgen::PublicKeyData::subject_public_key_info(&generated);
    let id = key_id("ecdsa", &spki);
    let root = documents.get_mut("root").expect("root captured");
    root["signed"]["keys"][&id] = json!({
        "keytype": "ecdsa",
        "keyval": {"private": null, "public": STANDARD.encode(&spki)},
    });
    root["signed"]["roles"]["timestamp"]["keyids"] = json!([id]);
    (ecdsa_key(&generated.serialize_der()), id)
}

/// The key IDs `role` lists and the table its keys are in: root's for base roles, the
/// targets document's delegation keys for delegation roles (direct delegations only).
fn listed_keys(documents: &BTreeMap<String, Value>, role: &str) -> (Vec<String>, Value) {
    let (key_ids, table) = if BASE_ROLES.contains(&role) {
        let root = &documents["root"]["signed"];
        (root["roles"][role]["keyids"].clone(), root["keys"].clone())
    } else {
        let delegations = &documents["targets"]["signed"]["delegations"];
        let declared = delegations["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|declared| declared["name"] == role))
            .unwrap_or_else(|| panic!("targets does not delegate to {role}"));
        (declared["keyids"].clone(), delegations["keys"].clone())
    };
    let key_ids = serde_json::from_value(key_ids).expect("keyids are strings");
    (key_ids, table)
}

/// True when a signature by `key` verifies with the key `id` names in `table`.
fn key_verifies(key: &EcdsaKeyPair, id: &str, table: &Value) -> bool {
    let entry = &table[id];
    let (Some(key_type), Some(public)) = (
        entry["keytype"].as_str(),
        entry["keyval"]["public"].as_str(),
    ) else {
        return false;
    };
    let listed = Key {
        key_type: key_type.to_owned(),
        public: STANDARD.decode(public).expect("public key is base64"),
    };
    let probe = b"which key is this";
    let signature = key
        .sign(&SystemRandom::new(), probe)
        .expect("ECDSA signing");
    public_key(&listed).is_some_and(|public| verifies(&public, "ecdsa", probe, signature.as_ref()))
}

/// The root, targets and snapshot keys in the `notary` client's trust directory, decrypted
/// with their passphrases. Each file is an `ENCRYPTED PRIVATE KEY` PEM block with header
/// lines (`role: …`, `gun: …`) and a blank line inside, which openssl does not accept: they
/// are dropped before openssl decrypts the PKCS#8.
fn client_keys(trust_dir: &Path) -> Vec<EcdsaKeyPair> {
    let private = trust_dir.join("private");
    let entries = fs::read_dir(&private).unwrap_or_else(|e| panic!("{private:?}: {e}"));
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.expect("trust directory entry").path();
        if path.extension().is_none_or(|extension| extension != "key") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let role = text
            .lines()
            .find_map(|line| line.strip_prefix("role: "))
            .unwrap_or_else(|| panic!("{path:?} names no role"));
        let Some(passphrase) = passphrase_for(role) else {
            continue;
        };
        let pem: String = text
            .lines()
            .filter(|line| !line.is_empty() && !line.contains(": "))
            .map(|line| format!("{line}\n"))
            .collect();
        keys.push(ecdsa_key(&decrypt_pkcs8(&pem, passphrase)));
    }
    keys
}

/// The passphrase the harness gives the `notary` client for a base role's key.
fn passphrase_for(role: &str) -> Option<&'static str> {
    let variable = match role {
        "root" => "NOTARY_ROOT_PASSPHRASE",
        "targets" => "NOTARY_TARGETS_PASSPHRASE",
        "snapshot" => "NOTARY_SNAPSHOT_PASSPHRASE",
        _ => return None,
    };
    PASSPHRASES
        .iter()
        .find(|(name, _)| *name == variable)
        .map(|(_, passphrase)| *passphrase)
}

/// The plain PKCS#8 DER of an encrypted PKCS#8 PEM, decrypted by openssl. Its PEM output is
/// read: OpenSSL 3.0 writes DER output in the traditional (SEC1) form instead.
fn decrypt_pkcs8(pem: &str, passphrase: &str) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["pkcs8", "-passin"])
        .arg(format!("pass:{passphrase}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .expect("openssl stdin")
        .write_all(pem.as_bytes())
        .expect("write the key to openssl");
    let output = child.wait_with_output().expect("openssl output");
    assert!(
        output.status.success(),
        "openssl pkcs8: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PrivatePkcs8KeyDer::from_pem_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("openssl printed no PKCS#8 PEM: {e:?}"))
        .secret_pkcs8_der()
        .to_vec()
}

fn ecdsa_key(pkcs8: &[u8]) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
        .unwrap_or_else(|e| panic!("not a P-256 PKCS#8 key: {e}"))
}
