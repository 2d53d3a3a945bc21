//! Verification of a repository's trust data (spec §5.2 C–H): the pinned root key(s) and the
//! root role's own threshold, the other base roles by the keys root names, expiry of every
//! role, the snapshot/timestamp hash chain, the choice of delegation roles with Connaisseur's
//! fallback, rollback protection, and the resolution of the tag (or digest) to one digest.
//!
//! Messages follow Connaisseur's, except where it is fixed on purpose: the root threshold is
//! honoured besides the pin, versions may not go backwards, delegation `paths` limit what a
//! delegation can sign, and the "no delegations" message names the delegations asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::digest;

use super::keys::{hex, key_id, pinned_key_id, public_key, verifies};
use super::tuf::{
    parse_root, parse_snapshot, parse_targets, parse_timestamp, BaseRole, Hashes, Key, ParseError,
    RoleKeys, Signature, Signed, Snapshot, Targets,
};
use super::versions::{Rollback, RollbackMemory};
use crate::crypto::PublicKey;

/// The raw bodies of the four base roles, as the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustData {
    pub root: Vec<u8>,
    pub targets: Vec<u8>,
    pub snapshot: Vec<u8>,
    pub timestamp: Vec<u8>,
}

/// What is looked up, and for whom.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// Validator name, for messages.
    pub validator: &'a str,
    /// Where rollback versions are kept: the Notary host and GUN.
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    /// `sha256:<hex>` given with the image, if any.
    pub digest: Option<&'a str>,
    /// The rule's `with.delegations`.
    pub delegations: &'a [String],
}

/// Fetches delegation documents: one answer per requested role, in order; an `Err` is an
/// acquisition failure (transport error or non-200 status), with its description.
pub type FetchDelegations<'a> = dyn FnMut(&[String]) -> Vec<Result<Vec<u8>, String>> + 'a;

/// Why trust data did not yield a trusted digest. Messages are Connaisseur's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotaryError {
    Parse {
        role: String,
        error: ParseError,
    },
    Root(String),
    Base(String),
    Checksum {
        role: String,
        detail: String,
    },
    Rollback(Rollback),
    NoDelegations {
        validator: String,
        delegations: Vec<String>,
    },
    Delegations(Vec<String>),
    NoTag(String),
    NoDigest(String),
    DigestMismatch {
        resolved: String,
        tag: String,
        given: String,
    },
    DigestCount {
        validator: String,
        count: usize,
        identifier: String,
    },
}

impl fmt::Display for NotaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotaryError::Parse { role, error } => write!(
                f,
                "error downloading trust data: error parsing trust data for {role}: {error}"
            ),
            NotaryError::Root(detail) => write!(
                f,
                "error validating trust data: error validating root: {detail}"
            ),
            NotaryError::Base(detail) => write!(
                f,
                "error validating trust data: error validating base trust data: {detail}"
            ),
            NotaryError::Checksum { role, detail } => write!(
                f,
                "error validating trust data: error validating base trust data checksums: error validating {role} checksums: {detail}"
            ),
            NotaryError::Rollback(rollback) => write!(
                f,
                "error validating trust data: {} trust data has version {}, older than version {} seen before (possible rollback attack)",
                rollback.role, rollback.version, rollback.highest_seen
            ),
            NotaryError::NoDelegations {
                validator,
                delegations,
            } => write!(
                f,
                "no delegations found for validator {validator}, but following were required: [{}]",
                delegations.join(" ")
            ),
            NotaryError::Delegations(roles) => {
                let quoted: Vec<String> = roles.iter().map(|r| format!("{r:?}")).collect();
                write!(
                    f,
                    "error during download and validation of delegations for targets: [{}]",
                    quoted.join(" ")
                )
            }
            NotaryError::NoTag(tag) => write!(
                f,
                "validated targets don't contain reference: no tag '{tag}' found in targets"
            ),
            NotaryError::NoDigest(digest) => write!(
                f,
                "validated targets don't contain reference: no digest '{digest}' found in targets"
            ),
            NotaryError::DigestMismatch {
                resolved,
                tag,
                given,
            } => write!(
                f,
                "digest {resolved} resolved for tag {tag} doesn't match given digest {given}"
            ),
            NotaryError::DigestCount {
                validator,
                count,
                identifier,
            } => write!(
                f,
                "validator {validator} found {count} digests for image {identifier}, expected 1"
            ),
        }
    }
}

impl std::error::Error for NotaryError {}

/// Verifies `data` against the `pinned` root keys (all must have signed root) and returns the
/// `sha256:…` digest the lookup resolves to. Delegation documents are fetched through
/// `fetch_delegations` once the base trust data is verified.
pub fn verify_trust_data(
    data: &TrustData,
    pinned: &[PublicKey],
    lookup: &Lookup<'_>,
    now: SystemTime,
    versions: &dyn RollbackMemory,
    fetch_delegations: &mut FetchDelegations<'_>,
) -> Result<String, NotaryError> {
    let parse_error = |role: BaseRole| {
        move |error| NotaryError::Parse {
            role: role.name().to_owned(),
            error,
        }
    };
    let root = parse_root(&data.root).map_err(parse_error(BaseRole::Root))?;
    let targets = parse_targets(&data.targets).map_err(parse_error(BaseRole::Targets))?;
    let snapshot = parse_snapshot(&data.snapshot).map_err(parse_error(BaseRole::Snapshot))?;
    let timestamp = parse_timestamp(&data.timestamp).map_err(parse_error(BaseRole::Timestamp))?;

    verify_root(&root, pinned, now)?;
    let base_signatures: [(BaseRole, &[u8], &[Signature], SystemTime); 3] = [
        (
            BaseRole::Targets,
            &targets.message,
            &targets.signatures,
            targets.role.common.expires,
        ),
        (
            BaseRole::Snapshot,
            &snapshot.message,
            &snapshot.signatures,
            snapshot.role.common.expires,
        ),
        (
            BaseRole::Timestamp,
            &timestamp.message,
            &timestamp.signatures,
            timestamp.role.common.expires,
        ),
    ];
    for (role, message, signatures, expires) in base_signatures {
        let keys = root.role.roles.get(role.name());
        if !keys.is_some_and(|keys| meets_threshold(message, signatures, keys, &root.role.keys)) {
            return Err(NotaryError::Base(format!(
                "error validating {} signatures",
                role.name()
            )));
        }
        if expires < now {
            return Err(NotaryError::Base(format!(
                "{} trust data expired",
                role.name()
            )));
        }
    }

    let checksum = |role: &str, bytes: &[u8], expected: Option<&Hashes>| {
        check_hashes(bytes, expected).map_err(|detail| NotaryError::Checksum {
            role: role.to_owned(),
            detail,
        })
    };
    checksum("root", &data.root, snapshot.role.meta.get("root"))?;
    checksum("targets", &data.targets, snapshot.role.meta.get("targets"))?;
    checksum("snapshot", &data.snapshot, Some(&timestamp.role.snapshot))?;

    let mut seen_versions = vec![
        ("root".to_owned(), root.role.common.version),
        ("targets".to_owned(), targets.role.common.version),
        ("snapshot".to_owned(), snapshot.role.common.version),
        ("timestamp".to_owned(), timestamp.role.common.version),
    ];
    versions
        .check(lookup.repository, &seen_versions)
        .map_err(NotaryError::Rollback)?;

    let chosen = roles_to_search(&targets.role, lookup)?;
    let searched = if chosen == [BaseRole::Targets.name()] {
        vec![SearchedRole {
            targets: targets.role.clone(),
            paths: None,
        }]
    } else {
        match load_delegations(
            &chosen,
            &targets.role,
            &snapshot.role,
            now,
            fetch_delegations,
        ) {
            Ok(delegations) => {
                for (name, delegation) in &delegations {
                    seen_versions.push((name.clone(), delegation.targets.common.version));
                }
                versions
                    .check(lookup.repository, &seen_versions)
                    .map_err(NotaryError::Rollback)?;
                delegations.into_iter().map(|(_, role)| role).collect()
            }
            Err(DelegationFailure::OnlyAcquisition)
                if chosen
                    .iter()
                    .any(|role| !snapshot.role.meta.contains_key(role)) =>
            {
                vec![SearchedRole {
                    targets: targets.role.clone(),
                    paths: None,
                }]
            }
            Err(_) => return Err(NotaryError::Delegations(chosen)),
        }
    };
    versions.record(lookup.repository, &seen_versions);

    resolve_digest(&searched, lookup)
}

/// §5.2.D: every pinned key signed root, root's own root keys meet its threshold, root is
/// not expired.
fn verify_root(
    root: &Signed<super::tuf::Root>,
    pinned: &[PublicKey],
    now: SystemTime,
) -> Result<(), NotaryError> {
    if root.signatures.is_empty() {
        return Err(NotaryError::Root("no signatures found for root".to_owned()));
    }
    for key in pinned {
        let signed = root
            .signatures
            .iter()
            .any(|signature| verifies(key, &signature.method, &root.message, &signature.sig));
        if !signed {
            return Err(NotaryError::Root(format!(
                "error validating root signature with key {}: signature was invalid",
                pinned_key_id(key)
            )));
        }
    }
    let own = root.role.roles.get(BaseRole::Root.name());
    let valid = own
        .and_then(|keys| valid_key_count(&root.message, &root.signatures, keys, &root.role.keys));
    let threshold = own.map_or(1, |keys| keys.threshold);
    if valid.is_none_or(|valid| valid < threshold) {
        return Err(NotaryError::Root(format!(
            "root is signed by {} of the root keys it lists, below its threshold of {threshold}",
            valid.unwrap_or(0)
        )));
    }
    if root.role.common.expires < now {
        return Err(NotaryError::Root("root trust data expired".to_owned()));
    }
    Ok(())
}

fn meets_threshold(
    message: &[u8],
    signatures: &[Signature],
    role: &RoleKeys,
    keys: &BTreeMap<String, Key>,
) -> bool {
    valid_key_count(message, signatures, role, keys).is_some_and(|count| count >= role.threshold)
}

/// How many distinct keys of `role` signed `message`; `None` when a signing key's listed ID
/// is not the ID of its key material (the role then fails, as in Notary).
fn valid_key_count(
    message: &[u8],
    signatures: &[Signature],
    role: &RoleKeys,
    keys: &BTreeMap<String, Key>,
) -> Option<u64> {
    let mut valid = BTreeSet::new();
    for signature in signatures {
        if valid.contains(signature.key_id.as_str()) || !role.key_ids.contains(&signature.key_id) {
            continue;
        }
        let Some(key) = keys.get(&signature.key_id) else {
            continue;
        };
        if key_id(&key.key_type, &key.public) != signature.key_id {
            return None;
        }
        let verified = public_key(key)
            .is_some_and(|public| verifies(&public, &signature.method, message, &signature.sig));
        if verified {
            valid.insert(signature.key_id.as_str());
        }
    }
    Some(valid.len() as u64)
}

/// Every supported checksum present must match, and there must be one.
fn check_hashes(bytes: &[u8], expected: Option<&Hashes>) -> Result<(), String> {
    let Some(expected) = expected else {
        return Err("no checksums listed".to_owned());
    };
    if expected.sha256.is_none() && expected.sha512.is_none() {
        return Err("no supported checksum (sha256 or sha512) listed".to_owned());
    }
    for (name, algorithm, listed) in [
        ("sha256", &digest::SHA256, &expected.sha256),
        ("sha512", &digest::SHA512, &expected.sha512),
    ] {
        if let Some(listed) = listed {
            if digest::digest(algorithm, bytes).as_ref() != listed.as_slice() {
                return Err(format!("{name} checksum mismatch"));
            }
        }
    }
    Ok(())
}

/// §5.2.G 1–3: the targets roles whose entries count.
fn roles_to_search(targets: &Targets, lookup: &Lookup<'_>) -> Result<Vec<String>, NotaryError> {
    let declared = &targets.delegations.roles;
    if lookup.delegations.is_empty() && declared.is_empty() {
        return Ok(vec![BaseRole::Targets.name().to_owned()]);
    }
    if declared.is_empty() {
        return Err(NotaryError::NoDelegations {
            validator: lookup.validator.to_owned(),
            delegations: lookup.delegations.to_vec(),
        });
    }
    if lookup.delegations.is_empty() {
        return Ok(vec!["targets/releases".to_owned()]);
    }
    let mut roles: Vec<String> = Vec::new();
    for delegation in lookup.delegations {
        let name = if delegation.starts_with("targets/") {
            delegation.clone()
        } else {
            format!("targets/{delegation}")
        };
        if !roles.contains(&name) {
            roles.push(name);
        }
    }
    Ok(roles)
}

/// A targets document whose entries count, limited to `paths` for a delegation.
struct SearchedRole {
    targets: Targets,
    paths: Option<(Vec<String>, Vec<String>)>,
}

impl SearchedRole {
    fn may_sign(&self, target: &str) -> bool {
        let Some((paths, hash_prefixes)) = &self.paths else {
            return true;
        };
        if paths.iter().any(|path| target.starts_with(path.as_str())) {
            return true;
        }
        let name_hash = hex(digest::digest(&digest::SHA256, target.as_bytes()).as_ref());
        hash_prefixes
            .iter()
            .any(|prefix| name_hash.starts_with(prefix.as_str()))
    }
}

enum DelegationFailure {
    /// Every failure was a download failure (e.g. a signer that never signed: 404).
    OnlyAcquisition,
    Invalid,
}

/// §5.2.G 4: downloads and verifies each chosen delegation.
fn load_delegations(
    chosen: &[String],
    targets: &Targets,
    snapshot: &Snapshot,
    now: SystemTime,
    fetch: &mut FetchDelegations<'_>,
) -> Result<Vec<(String, SearchedRole)>, DelegationFailure> {
    let bodies = fetch(chosen);
    if bodies.len() != chosen.len() {
        return Err(DelegationFailure::Invalid);
    }
    let mut loaded = Vec::new();
    let mut failure = None;
    for (name, body) in chosen.iter().zip(bodies) {
        let body = match body {
            Ok(body) => body,
            Err(_) => {
                failure.get_or_insert(DelegationFailure::OnlyAcquisition);
                continue;
            }
        };
        match verify_delegation(name, &body, targets, snapshot, now) {
            Some(role) => loaded.push((name.clone(), role)),
            None => failure = Some(DelegationFailure::Invalid),
        }
    }
    match failure {
        Some(failure) => Err(failure),
        None => Ok(loaded),
    }
}

fn verify_delegation(
    name: &str,
    body: &[u8],
    targets: &Targets,
    snapshot: &Snapshot,
    now: SystemTime,
) -> Option<SearchedRole> {
    let declared = targets.delegations.roles.iter().find(|r| r.name == name)?;
    let document = parse_targets(body).ok()?;
    if !meets_threshold(
        &document.message,
        &document.signatures,
        &declared.keys,
        &targets.delegations.keys,
    ) || document.role.common.expires < now
    {
        return None;
    }
    check_hashes(body, snapshot.meta.get(name)).ok()?;
    Some(SearchedRole {
        targets: document.role,
        paths: Some((declared.paths.clone(), declared.path_hash_prefixes.clone())),
    })
}

/// §5.2.H: the digest each searched role gives; they must agree.
fn resolve_digest(searched: &[SearchedRole], lookup: &Lookup<'_>) -> Result<String, NotaryError> {
    let mut digests = BTreeSet::new();
    for role in searched {
        digests.insert(resolve_in(role, lookup)?);
    }
    let mut found = digests.into_iter();
    match (found.next(), found.len()) {
        (Some(digest), 0) => Ok(digest),
        (first, rest) => Err(NotaryError::DigestCount {
            validator: lookup.validator.to_owned(),
            count: usize::from(first.is_some()) + rest,
            identifier: lookup.digest.or(lookup.tag).unwrap_or_default().to_owned(),
        }),
    }
}

fn resolve_in(role: &SearchedRole, lookup: &Lookup<'_>) -> Result<String, NotaryError> {
    let sha256_of = |name: &str| -> Option<String> {
        let hashes = role.targets.targets.get(name)?;
        let sha256 = hashes.sha256.as_ref()?;
        role.may_sign(name)
            .then(|| format!("sha256:{}", hex(sha256)))
    };
    match (lookup.tag, lookup.digest) {
        (Some(tag), given) => {
            let resolved = sha256_of(tag).ok_or_else(|| NotaryError::NoTag(tag.to_owned()))?;
            match given {
                Some(given) if !given.eq_ignore_ascii_case(&resolved) => {
                    Err(NotaryError::DigestMismatch {
                        resolved,
                        tag: tag.to_owned(),
                        given: given.to_owned(),
                    })
                }
                _ => Ok(resolved),
            }
        }
        (None, Some(given)) => role
            .targets
            .targets
            .keys()
            .filter_map(|name| sha256_of(name))
            .find(|digest| digest.eq_ignore_ascii_case(given))
            .ok_or_else(|| NotaryError::NoDigest(given.to_owned())),
        (None, None) => Err(NotaryError::NoTag(String::new())),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::tests::TestSigner;
    use crate::crypto::SignatureAlgorithm;
    use crate::validators::notaryv1::canonical::to_canonical;
    use crate::validators::notaryv1::versions::VersionMemory;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use base64::Engine;
    use serde_json::{json, Value};
    use std::collections::HashMap;
    use std::time::{Duration, UNIX_EPOCH};

    const FUTURE: &str = "2999-01-01T00:00:00Z";
    const PAST: &str = "2001-01-01T00:00:00Z";
    pub(crate) const DIGEST_A: [u8; 32] = [0xa1; 32];
    const DIGEST_B: [u8; 32] = [0xb2; 32];

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    pub(crate) fn sha256_of(digest: [u8; 32]) -> String {
        format!("sha256:{}", hex(&digest))
    }

    /// A Notary signing key: P-256 with raw r‖s signatures (`ecdsa`), or another scheme.
    pub(crate) enum Signer {
        Ecdsa(EcdsaKeyPair),
        Other(TestSigner, &'static str, &'static str),
    }

    impl Signer {
        fn ecdsa() -> Signer {
            match EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING) {
                Ok(pair) => Signer::Ecdsa(pair),
                Err(e) => panic!("{e}"),
            }
        }
        fn rsa_pss() -> Signer {
            Signer::Other(
                TestSigner::rsa(SignatureAlgorithm::RsaPssSha256),
                "rsa",
                "rsapss",
            )
        }
        fn rsa_pkcs1() -> Signer {
            Signer::Other(
                TestSigner::rsa(SignatureAlgorithm::RsaPkcs1Sha256),
                "rsa",
                "rsapkcs1v15",
            )
        }
        fn ed25519() -> Signer {
            Signer::Other(TestSigner::ed25519(), "ed25519", "eddsa")
        }
        fn key_type(&self) -> &'static str {
            match self {
                Signer::Ecdsa(_) => "ecdsa",
                Signer::Other(_, key_type, _) => key_type,
            }
        }
        fn method(&self) -> &'static str {
            match self {
                Signer::Ecdsa(_) => "ecdsa",
                Signer::Other(_, _, method) => method,
            }
        }
        pub(crate) fn spki(&self) -> Vec<u8> {
            match self {
                Signer::Ecdsa(pair) => {
                    let public = aws_lc_rs::encoding::AsDer::as_der(pair.public_key());
                    match public {
                        Ok(der) => der.as_ref().to_vec(),
                        Err(e) => panic!("{e}"),
                    }
                }
                Signer::Other(signer, _, _) => signer.spki_der(),
            }
        }
        /// `keyval.public` as Notary writes it (raw 32 bytes for Ed25519).
        fn public(&self) -> Vec<u8> {
            let spki = self.spki();
            match self.key_type() {
                "ed25519" => spki
                    .get(spki.len() - 32..)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
                _ => spki,
            }
        }
        pub(crate) fn public_key(&self) -> PublicKey {
            match PublicKey::from_spki_der(&self.spki()) {
                Ok(key) => key,
                Err(e) => panic!("{e}"),
            }
        }
        fn id(&self) -> String {
            key_id(self.key_type(), &self.public())
        }
        fn key_json(&self) -> Value {
            json!({"keytype": self.key_type(), "keyval": {"private": null, "public": b64(&self.public())}})
        }
        fn sign(&self, message: &[u8]) -> Vec<u8> {
            match self {
                Signer::Ecdsa(pair) => match pair.sign(&SystemRandom::new(), message) {
                    Ok(signature) => signature.as_ref().to_vec(),
                    Err(e) => panic!("{e}"),
                },
                Signer::Other(signer, _, _) => signer.sign(message),
            }
        }
    }

    /// Wraps `signed` in an envelope signed by `signers`, pretty-printed so that the raw
    /// bytes differ from the canonical form.
    fn envelope(signed: &Value, signers: &[&Signer]) -> Vec<u8> {
        let message = match to_canonical(signed) {
            Ok(message) => message,
            Err(e) => panic!("{e}"),
        };
        let signatures: Vec<Value> = signers
            .iter()
            .map(|s| json!({"keyid": s.id(), "method": s.method(), "sig": b64(&s.sign(&message))}))
            .collect();
        match serde_json::to_vec_pretty(&json!({"signed": signed, "signatures": signatures})) {
            Ok(bytes) => bytes,
            Err(e) => panic!("{e}"),
        }
    }

    fn hashes_json(bytes: &[u8]) -> Value {
        json!({
            "hashes": {
                "sha256": b64(digest::digest(&digest::SHA256, bytes).as_ref()),
                "sha512": b64(digest::digest(&digest::SHA512, bytes).as_ref()),
            },
            "length": bytes.len(),
        })
    }

    fn targets_json(entries: &[(&str, [u8; 32])], version: u64) -> Value {
        let targets: serde_json::Map<String, Value> = entries
            .iter()
            .map(|(name, digest)| {
                (
                    (*name).to_owned(),
                    json!({"hashes": {"sha256": b64(digest)}, "length": 1}),
                )
            })
            .collect();
        json!({"_type": "Targets", "expires": FUTURE, "version": version, "targets": targets,
               "delegations": {"keys": {}, "roles": []}})
    }

    struct Delegation {
        name: String,
        signer: Signer,
        signed: Value,
        paths: Vec<&'static str>,
        published: bool,
        in_snapshot: bool,
    }

    /// A repository's keys and metadata, editable before [`Repo::seal`] signs it.
    pub(crate) struct Repo {
        root_key: Signer,
        targets_key: Signer,
        snapshot_key: Signer,
        timestamp_key: Signer,
        root: Value,
        targets: Value,
        snapshot_expires: &'static str,
        timestamp_expires: &'static str,
        snapshot_version: u64,
        timestamp_version: u64,
        delegations: Vec<Delegation>,
    }

    impl Repo {
        pub(crate) fn new(entries: &[(&str, [u8; 32])]) -> Repo {
            Repo::with_targets_key(entries, Signer::ecdsa())
        }

        fn with_targets_key(entries: &[(&str, [u8; 32])], targets_key: Signer) -> Repo {
            let root_key = Signer::ecdsa();
            let snapshot_key = Signer::ecdsa();
            let timestamp_key = Signer::ecdsa();
            let mut keys = serde_json::Map::new();
            let mut roles = serde_json::Map::new();
            for (role, key) in [
                ("root", &root_key),
                ("targets", &targets_key),
                ("snapshot", &snapshot_key),
                ("timestamp", &timestamp_key),
            ] {
                keys.insert(key.id(), key.key_json());
                roles.insert(
                    role.to_owned(),
                    json!({"keyids": [key.id()], "threshold": 1}),
                );
            }
            let root = json!({"_type": "Root", "consistent_snapshot": false, "expires": FUTURE,
                              "version": 1, "keys": keys, "roles": roles});
            Repo {
                root_key,
                targets_key,
                snapshot_key,
                timestamp_key,
                root,
                targets: targets_json(entries, 1),
                snapshot_expires: FUTURE,
                timestamp_expires: FUTURE,
                snapshot_version: 1,
                timestamp_version: 1,
                delegations: Vec::new(),
            }
        }

        pub(crate) fn delegate(&mut self, name: &str, entries: &[(&str, [u8; 32])]) {
            self.delegations.push(Delegation {
                name: format!("targets/{name}"),
                signer: Signer::ecdsa(),
                signed: targets_json(entries, 1),
                paths: vec![""],
                published: true,
                in_snapshot: true,
            });
        }

        fn delegation(&mut self, name: &str) -> &mut Delegation {
            match self.delegations.iter_mut().find(|d| d.name == name) {
                Some(delegation) => delegation,
                None => panic!("no delegation {name}"),
            }
        }

        /// Signs everything: the base trust data and the published delegation files.
        pub(crate) fn seal(&self) -> (TrustData, HashMap<String, Vec<u8>>) {
            let mut targets = self.targets.clone();
            let mut keys = serde_json::Map::new();
            let mut roles = Vec::new();
            for delegation in &self.delegations {
                keys.insert(delegation.signer.id(), delegation.signer.key_json());
                roles.push(
                    json!({"name": delegation.name, "keyids": [delegation.signer.id()],
                                  "threshold": 1, "paths": delegation.paths}),
                );
            }
            if !self.delegations.is_empty() {
                targets["delegations"] = json!({"keys": keys, "roles": roles});
            }
            let root = envelope(&self.root, &[&self.root_key]);
            let targets = envelope(&targets, &[&self.targets_key]);
            let mut meta = serde_json::Map::new();
            meta.insert("root".to_owned(), hashes_json(&root));
            meta.insert("targets".to_owned(), hashes_json(&targets));
            let mut files = HashMap::new();
            for delegation in &self.delegations {
                let body = envelope(&delegation.signed, &[&delegation.signer]);
                if delegation.in_snapshot {
                    meta.insert(delegation.name.clone(), hashes_json(&body));
                }
                if delegation.published {
                    files.insert(delegation.name.clone(), body);
                }
            }
            let snapshot = envelope(
                &json!({"_type": "Snapshot", "expires": self.snapshot_expires,
                        "version": self.snapshot_version, "meta": meta}),
                &[&self.snapshot_key],
            );
            let timestamp = envelope(
                &json!({"_type": "Timestamp", "expires": self.timestamp_expires,
                        "version": self.timestamp_version,
                        "meta": {"snapshot": hashes_json(&snapshot)}}),
                &[&self.timestamp_key],
            );
            (
                TrustData {
                    root,
                    targets,
                    snapshot,
                    timestamp,
                },
                files,
            )
        }

        /// The root key as a trust root's PEM.
        pub(crate) fn root_key_pem(&self) -> String {
            let body = b64(&self.root_key.spki());
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .filter_map(|line| std::str::from_utf8(line).ok())
                .collect();
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                lines.join("\n")
            )
        }

        pub(crate) fn pin(&self) -> Vec<PublicKey> {
            vec![self.root_key.public_key()]
        }
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_764_000_000)
    }

    struct Check<'a> {
        tag: Option<&'a str>,
        digest: Option<&'a str>,
        delegations: Vec<String>,
    }

    fn by_tag(tag: &str) -> Check<'_> {
        Check {
            tag: Some(tag),
            digest: None,
            delegations: Vec::new(),
        }
    }

    impl<'a> Check<'a> {
        fn delegations(mut self, names: &[&str]) -> Check<'a> {
            self.delegations = names.iter().map(|n| (*n).to_owned()).collect();
            self
        }
        fn digest(mut self, digest: &'a str) -> Check<'a> {
            self.digest = Some(digest);
            self
        }
    }

    fn run_with(
        data: &TrustData,
        files: &HashMap<String, Vec<u8>>,
        pinned: &[PublicKey],
        check: &Check<'_>,
        versions: &VersionMemory,
    ) -> Result<String, NotaryError> {
        let lookup = Lookup {
            validator: "notary",
            repository: "notary.test/library/app",
            tag: check.tag,
            digest: check.digest,
            delegations: &check.delegations,
        };
        let mut fetch = |roles: &[String]| {
            roles
                .iter()
                .map(|role| {
                    files
                        .get(role)
                        .cloned()
                        .ok_or_else(|| "404 Not Found".to_owned())
                })
                .collect()
        };
        verify_trust_data(data, pinned, &lookup, now(), versions, &mut fetch)
    }

    fn run(repo: &Repo, check: &Check<'_>) -> Result<String, NotaryError> {
        let (data, files) = repo.seal();
        run_with(&data, &files, &repo.pin(), check, &VersionMemory::new())
    }

    fn message(result: Result<String, NotaryError>) -> String {
        match result {
            Ok(digest) => panic!("verified: {digest}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn signed_tags_resolve_to_their_digests() {
        let repo = Repo::new(&[("sign", DIGEST_A), ("v1", DIGEST_B)]);
        assert_eq!(run(&repo, &by_tag("sign")), Ok(sha256_of(DIGEST_A)));
        assert_eq!(run(&repo, &by_tag("v1")), Ok(sha256_of(DIGEST_B)));
        assert_eq!(
            message(run(&repo, &by_tag("v2"))),
            "validated targets don't contain reference: no tag 'v2' found in targets"
        );
    }

    #[test]
    fn digests_are_found_and_compared() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let a = sha256_of(DIGEST_A);
        let b = sha256_of(DIGEST_B);
        let by_digest = Check {
            tag: None,
            digest: Some(&a),
            delegations: Vec::new(),
        };
        assert_eq!(run(&repo, &by_digest), Ok(a.clone()));
        assert_eq!(run(&repo, &by_tag("sign").digest(&a)), Ok(a.clone()));
        assert_eq!(
            message(run(&repo, &by_tag("sign").digest(&b))),
            format!("digest {a} resolved for tag sign doesn't match given digest {b}")
        );
        let unknown = Check {
            tag: None,
            digest: Some(&b),
            delegations: Vec::new(),
        };
        assert_eq!(
            message(run(&repo, &unknown)),
            format!("validated targets don't contain reference: no digest '{b}' found in targets")
        );
    }

    #[test]
    fn other_roles_may_use_every_notary_method() {
        for signer in [Signer::rsa_pss(), Signer::rsa_pkcs1(), Signer::ed25519()] {
            let method = signer.method();
            let repo = Repo::with_targets_key(&[("sign", DIGEST_A)], signer);
            assert_eq!(
                run(&repo, &by_tag("sign")),
                Ok(sha256_of(DIGEST_A)),
                "{method}"
            );
        }
    }

    #[test]
    fn the_pinned_key_must_have_signed_root() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let (data, files) = repo.seal();
        let stranger = Signer::ecdsa().public_key();
        assert_eq!(
            message(run_with(&data, &files, std::slice::from_ref(&stranger), &by_tag("sign"), &VersionMemory::new())),
            format!(
                "error validating trust data: error validating root: error validating root signature with key {}: signature was invalid",
                pinned_key_id(&stranger)
            )
        );
        // Under "*" every pinned key must have signed (Connaisseur's AND).
        let both = [repo.root_key.public_key(), stranger];
        assert!(message(run_with(
            &data,
            &files,
            &both,
            &by_tag("sign"),
            &VersionMemory::new()
        ))
        .contains("signature was invalid"));
        // An Ed25519 pin never verifies Notary's ECDSA root signature.
        let ed25519 = TestSigner::ed25519().public_key();
        assert!(message(run_with(
            &data,
            &files,
            &[ed25519],
            &by_tag("sign"),
            &VersionMemory::new()
        ))
        .ends_with("signature was invalid"));
    }

    #[test]
    fn root_needs_signatures() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let (mut data, files) = repo.seal();
        let unsigned = envelope(&repo.root, &[]);
        data.root = unsigned;
        assert_eq!(
            message(run_with(
                &data,
                &files,
                &repo.pin(),
                &by_tag("sign"),
                &VersionMemory::new()
            )),
            "error validating trust data: error validating root: no signatures found for root"
        );
    }

    #[test]
    fn the_root_threshold_is_honoured_besides_the_pin() {
        let mut repo = Repo::new(&[("sign", DIGEST_A)]);
        let second = Signer::ecdsa();
        repo.root["keys"][second.id()] = second.key_json();
        repo.root["roles"]["root"] =
            json!({"keyids": [repo.root_key.id(), second.id()], "threshold": 2});
        assert_eq!(
            message(run(&repo, &by_tag("sign"))),
            "error validating trust data: error validating root: root is signed by 1 of the root keys it lists, below its threshold of 2"
        );
        let (mut data, files) = repo.seal();
        data.root = envelope(&repo.root, &[&repo.root_key, &second]);
        let mut meta = serde_json::Map::new();
        meta.insert("root".to_owned(), hashes_json(&data.root));
        meta.insert("targets".to_owned(), hashes_json(&data.targets));
        data.snapshot = envelope(
            &json!({"_type": "Snapshot", "expires": FUTURE, "version": 1, "meta": meta}),
            &[&repo.snapshot_key],
        );
        data.timestamp = envelope(
            &json!({"_type": "Timestamp", "expires": FUTURE, "version": 1,
                    "meta": {"snapshot": hashes_json(&data.snapshot)}}),
            &[&repo.timestamp_key],
        );
        assert_eq!(
            run_with(
                &data,
                &files,
                &repo.pin(),
                &by_tag("sign"),
                &VersionMemory::new()
            ),
            Ok(sha256_of(DIGEST_A))
        );
    }

    #[test]
    fn every_role_expires() {
        let mut repo = Repo::new(&[("sign", DIGEST_A)]);
        repo.root["expires"] = json!(PAST);
        assert_eq!(
            message(run(&repo, &by_tag("sign"))),
            "error validating trust data: error validating root: root trust data expired"
        );
        for role in ["targets", "snapshot", "timestamp"] {
            let mut repo = Repo::new(&[("sign", DIGEST_A)]);
            match role {
                "targets" => repo.targets["expires"] = json!(PAST),
                "snapshot" => repo.snapshot_expires = PAST,
                _ => repo.timestamp_expires = PAST,
            }
            assert_eq!(
                message(run(&repo, &by_tag("sign"))),
                format!("error validating trust data: error validating base trust data: {role} trust data expired")
            );
        }
    }

    #[test]
    fn base_roles_need_their_keys() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let (mut data, files) = repo.seal();
        // Validly signed targets, by another repository's targets key.
        let impostor = Repo::new(&[("sign", DIGEST_B)]);
        data.targets = envelope(
            &targets_json(&[("sign", DIGEST_B)], 1),
            &[&impostor.targets_key],
        );
        assert_eq!(
            message(run_with(&data, &files, &repo.pin(), &by_tag("sign"), &VersionMemory::new())),
            "error validating trust data: error validating base trust data: error validating targets signatures"
        );
    }

    #[test]
    fn a_key_listed_under_another_id_fails_the_role() {
        let mut repo = Repo::new(&[("sign", DIGEST_A)]);
        let target_id = repo.targets_key.id();
        // The timestamp key's entry carries the targets key material under the timestamp ID.
        repo.root["keys"][repo.timestamp_key.id()] = repo.targets_key.key_json();
        assert_ne!(target_id, repo.timestamp_key.id());
        assert_eq!(
            message(run(&repo, &by_tag("sign"))),
            "error validating trust data: error validating base trust data: error validating timestamp signatures"
        );
    }

    #[test]
    fn the_hash_chain_binds_the_roles() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let (data, files) = repo.seal();
        // Validly signed targets, but not the ones the snapshot lists.
        let mut swapped = data.clone();
        swapped.targets = envelope(
            &targets_json(&[("sign", DIGEST_B)], 1),
            &[&repo.targets_key],
        );
        assert_eq!(
            message(run_with(&swapped, &files, &repo.pin(), &by_tag("sign"), &VersionMemory::new())),
            "error validating trust data: error validating base trust data checksums: error validating targets checksums: sha256 checksum mismatch"
        );
        // Same signed content, different bytes: the hash is over the bytes.
        let mut reformatted = data.clone();
        reformatted.root.push(b'\n');
        assert!(message(run_with(
            &reformatted,
            &files,
            &repo.pin(),
            &by_tag("sign"),
            &VersionMemory::new()
        ))
        .ends_with("error validating root checksums: sha256 checksum mismatch"));
        let mut foreign_snapshot = data;
        foreign_snapshot.snapshot = envelope(
            &json!({"_type": "Snapshot", "expires": FUTURE, "version": 1,
                    "meta": {"root": hashes_json(&foreign_snapshot.root),
                             "targets": hashes_json(&foreign_snapshot.targets)}}),
            &[&repo.snapshot_key],
        );
        assert!(message(run_with(
            &foreign_snapshot,
            &files,
            &repo.pin(),
            &by_tag("sign"),
            &VersionMemory::new()
        ))
        .ends_with("error validating snapshot checksums: sha256 checksum mismatch"));
    }

    #[test]
    fn versions_may_not_go_back() {
        let versions = VersionMemory::new();
        let mut repo = Repo::new(&[("sign", DIGEST_A)]);
        repo.timestamp_version = 5;
        repo.snapshot_version = 3;
        let (data, files) = repo.seal();
        assert_eq!(
            run_with(&data, &files, &repo.pin(), &by_tag("sign"), &versions),
            Ok(sha256_of(DIGEST_A))
        );
        repo.timestamp_version = 4;
        let (older, files) = repo.seal();
        assert_eq!(
            message(run_with(&older, &files, &repo.pin(), &by_tag("sign"), &versions)),
            "error validating trust data: timestamp trust data has version 4, older than version 5 seen before (possible rollback attack)"
        );
        repo.timestamp_version = 6;
        repo.snapshot_version = 2;
        let (older_snapshot, files) = repo.seal();
        assert!(message(run_with(
            &older_snapshot,
            &files,
            &repo.pin(),
            &by_tag("sign"),
            &versions
        ))
        .contains("snapshot trust data has version 2, older than version 3"));
        repo.snapshot_version = 3;
        let (newer, files) = repo.seal();
        assert_eq!(
            run_with(&newer, &files, &repo.pin(), &by_tag("sign"), &versions),
            Ok(sha256_of(DIGEST_A))
        );
    }

    #[test]
    fn delegation_versions_may_not_go_back() {
        let versions = VersionMemory::new();
        let mut repo = Repo::new(&[]);
        repo.delegate("releases", &[("sign", DIGEST_A)]);
        repo.delegation("targets/releases").signed["version"] = json!(2);
        let (data, files) = repo.seal();
        assert_eq!(
            run_with(&data, &files, &repo.pin(), &by_tag("sign"), &versions),
            Ok(sha256_of(DIGEST_A))
        );
        repo.delegation("targets/releases").signed["version"] = json!(1);
        let (data, files) = repo.seal();
        assert!(message(run_with(
            &data,
            &files,
            &repo.pin(),
            &by_tag("sign"),
            &versions
        ))
        .contains("targets/releases trust data has version 1, older than version 2"));
    }

    #[test]
    fn delegations_are_chosen_like_connaisseur() {
        let mut repo = Repo::new(&[("sign", DIGEST_B)]);
        repo.delegate("releases", &[("sign", DIGEST_A)]);
        repo.delegate("del1", &[("sign", DIGEST_A)]);
        repo.delegate("del2", &[("other", DIGEST_A)]);
        // No rule delegations: only targets/releases counts, not targets itself.
        assert_eq!(run(&repo, &by_tag("sign")), Ok(sha256_of(DIGEST_A)));
        assert_eq!(
            run(&repo, &by_tag("sign").delegations(&["del1"])),
            Ok(sha256_of(DIGEST_A))
        );
        assert_eq!(
            run(&repo, &by_tag("sign").delegations(&["targets/del1"])),
            Ok(sha256_of(DIGEST_A))
        );
        let a = sha256_of(DIGEST_A);
        let by_digest = Check {
            tag: None,
            digest: Some(&a),
            delegations: vec!["del1".to_owned()],
        };
        assert_eq!(run(&repo, &by_digest), Ok(a.clone()));
        assert_eq!(
            run(&repo, &by_tag("sign").digest(&a).delegations(&["del1"])),
            Ok(a.clone())
        );
        // Every required delegation must have signed the tag.
        assert_eq!(
            message(run(&repo, &by_tag("sign").delegations(&["del1", "del2"]))),
            "validated targets don't contain reference: no tag 'sign' found in targets"
        );
        let b = sha256_of(DIGEST_B);
        assert_eq!(
            message(run(
                &repo,
                &by_tag("other").digest(&b).delegations(&["del2"])
            )),
            format!("digest {a} resolved for tag other doesn't match given digest {b}")
        );
    }

    #[test]
    fn conflicting_delegations_are_refused() {
        let mut repo = Repo::new(&[]);
        repo.delegate("del1", &[("sign", DIGEST_A)]);
        repo.delegate("del2", &[("sign", DIGEST_B)]);
        assert_eq!(
            message(run(&repo, &by_tag("sign").delegations(&["del1", "del2"]))),
            "validator notary found 2 digests for image sign, expected 1"
        );
    }

    #[test]
    fn no_delegations_names_the_ones_asked_for() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        assert_eq!(
            message(run(&repo, &by_tag("sign").delegations(&["missing", "other"]))),
            "no delegations found for validator notary, but following were required: [missing other]"
        );
    }

    #[test]
    fn an_unsigned_delegation_outside_the_snapshot_falls_back_to_targets() {
        let mut repo = Repo::new(&[("sign", DIGEST_A)]);
        repo.delegate("releases", &[]);
        let releases = repo.delegation("targets/releases");
        releases.published = false;
        releases.in_snapshot = false;
        assert_eq!(run(&repo, &by_tag("sign")), Ok(sha256_of(DIGEST_A)));
    }

    #[test]
    fn a_missing_delegation_listed_in_the_snapshot_is_an_error() {
        let mut repo = Repo::new(&[("sign", DIGEST_A)]);
        repo.delegate("releases", &[("sign", DIGEST_A)]);
        repo.delegation("targets/releases").published = false;
        assert_eq!(
            message(run(&repo, &by_tag("sign"))),
            r#"error during download and validation of delegations for targets: ["targets/releases"]"#
        );
    }

    #[test]
    fn delegations_are_verified() {
        let mut repo = Repo::new(&[]);
        repo.delegate("releases", &[("sign", DIGEST_A)]);
        let (data, mut files) = repo.seal();
        // Signed by a key the delegation does not list.
        files.insert(
            "targets/releases".to_owned(),
            envelope(&targets_json(&[("sign", DIGEST_B)], 1), &[&Signer::ecdsa()]),
        );
        assert_eq!(
            message(run_with(
                &data,
                &files,
                &repo.pin(),
                &by_tag("sign"),
                &VersionMemory::new()
            )),
            r#"error during download and validation of delegations for targets: ["targets/releases"]"#
        );
        // Validly signed, but not the file the snapshot lists.
        let signer = &repo
            .delegations
            .iter()
            .find(|d| d.name == "targets/releases")
            .map(|d| &d.signer);
        let Some(signer) = signer else {
            panic!("releases")
        };
        files.insert(
            "targets/releases".to_owned(),
            envelope(&targets_json(&[("sign", DIGEST_B)], 1), &[signer]),
        );
        assert!(message(run_with(
            &data,
            &files,
            &repo.pin(),
            &by_tag("sign"),
            &VersionMemory::new()
        ))
        .starts_with("error during download"));
        let mut expired = Repo::new(&[]);
        expired.delegate("releases", &[("sign", DIGEST_A)]);
        expired.delegation("targets/releases").signed["expires"] = json!(PAST);
        assert!(message(run(&expired, &by_tag("sign"))).starts_with("error during download"));
    }

    #[test]
    fn delegation_paths_limit_what_a_delegation_signs() {
        let mut repo = Repo::new(&[]);
        repo.delegate("releases", &[("sign", DIGEST_A), ("release-1", DIGEST_B)]);
        repo.delegation("targets/releases").paths = vec!["release-"];
        assert_eq!(
            message(run(&repo, &by_tag("sign"))),
            "validated targets don't contain reference: no tag 'sign' found in targets"
        );
        assert_eq!(run(&repo, &by_tag("release-1")), Ok(sha256_of(DIGEST_B)));
        let a = sha256_of(DIGEST_A);
        let by_digest = Check {
            tag: None,
            digest: Some(&a),
            delegations: Vec::new(),
        };
        assert!(message(run(&repo, &by_digest)).contains("no digest"));
    }

    #[test]
    fn malformed_trust_data_names_its_role() {
        let repo = Repo::new(&[("sign", DIGEST_A)]);
        let (mut data, files) = repo.seal();
        data.snapshot = b"<html>".to_vec();
        assert!(message(run_with(
            &data,
            &files,
            &repo.pin(),
            &by_tag("sign"),
            &VersionMemory::new()
        ))
        .starts_with("error downloading trust data: error parsing trust data for snapshot: "));
    }
}
