//! Notary v1 TUF metadata as typed values: the signed envelope and the `root`, `targets`
//! (and delegated targets), `snapshot` and `timestamp` roles, with the structural checks
//! Notary's `tuf/data` makes. Everything is read from the exact bytes the server sent; the
//! canonical form of `signed` (what the signatures cover) is kept beside the typed role.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::canonical::to_canonical;
use super::timestamp::parse_rfc3339;

/// Largest trust-data document accepted, per role.
pub const MAX_ROLE_BYTES: usize = 8 << 20;
/// Most signatures one document may carry (each may cost an RSA verification).
pub const MAX_SIGNATURES: usize = 64;

const SHA256_LEN: usize = 32;
const SHA512_LEN: usize = 64;

/// The four base roles, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BaseRole {
    Root,
    Targets,
    Snapshot,
    Timestamp,
}

impl BaseRole {
    pub const ALL: [BaseRole; 4] = [
        BaseRole::Root,
        BaseRole::Targets,
        BaseRole::Snapshot,
        BaseRole::Timestamp,
    ];

    /// The role's name in URLs, `roles` and `meta`.
    pub fn name(self) -> &'static str {
        match self {
            BaseRole::Root => "root",
            BaseRole::Targets => "targets",
            BaseRole::Snapshot => "snapshot",
            BaseRole::Timestamp => "timestamp",
        }
    }

    /// The `_type` its documents carry.
    fn type_name(self) -> &'static str {
        match self {
            BaseRole::Root => "Root",
            BaseRole::Targets => "Targets",
            BaseRole::Snapshot => "Snapshot",
            BaseRole::Timestamp => "Timestamp",
        }
    }
}

/// Why a document is not well-formed trust data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooLarge(usize),
    Json(String),
    Canonical(String),
    TooManySignatures(usize),
    Structure(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge(size) => write!(
                f,
                "document of {size} bytes exceeds the limit of {MAX_ROLE_BYTES} bytes"
            ),
            ParseError::Json(e) => write!(f, "not a TUF signed envelope: {e}"),
            ParseError::Canonical(e) => write!(f, "signed part has no canonical form: {e}"),
            ParseError::TooManySignatures(n) => {
                write!(f, "{n} signatures, more than the {MAX_SIGNATURES} accepted")
            }
            ParseError::Structure(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ParseError {}

fn structure(message: impl Into<String>) -> ParseError {
    ParseError::Structure(message.into())
}

/// One entry of `signatures`, its `sig` decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub key_id: String,
    pub method: String,
    pub sig: Vec<u8>,
}

/// A parsed document: the typed role, what its signatures cover, and the signatures.
#[derive(Debug, Clone)]
pub struct Signed<T> {
    pub role: T,
    /// Canonical JSON of `signed`: the message every signature is over.
    pub message: Vec<u8>,
    pub signatures: Vec<Signature>,
}

/// A key as TUF lists it: its type and its decoded `keyval.public`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub key_type: String,
    pub public: Vec<u8>,
}

/// Key IDs and threshold of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleKeys {
    pub key_ids: Vec<String>,
    pub threshold: u64,
}

/// Fields every role has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub version: u64,
    pub expires: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub common: Common,
    pub keys: BTreeMap<String, Key>,
    /// Always holds the four base roles.
    pub roles: BTreeMap<String, RoleKeys>,
}

/// `hashes` of a file: the supported algorithms, length-checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashes {
    pub sha256: Option<Vec<u8>>,
    pub sha512: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationRole {
    pub name: String,
    pub keys: RoleKeys,
    pub paths: Vec<String>,
    pub path_hash_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delegations {
    pub keys: BTreeMap<String, Key>,
    pub roles: Vec<DelegationRole>,
}

/// `targets.json` or a delegated `targets/<x>.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub common: Common,
    pub targets: BTreeMap<String, Hashes>,
    pub delegations: Delegations,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub common: Common,
    pub meta: BTreeMap<String, Hashes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub common: Common,
    pub snapshot: Hashes,
}

#[derive(Deserialize)]
struct WireEnvelope {
    signed: Value,
    signatures: Vec<WireSignature>,
}

#[derive(Deserialize)]
struct WireSignature {
    keyid: String,
    method: String,
    sig: String,
}

#[derive(Deserialize)]
struct WireKeyVal {
    public: String,
}

#[derive(Deserialize)]
struct WireKey {
    keytype: String,
    keyval: WireKeyVal,
}

#[derive(Deserialize)]
struct WireRoleKeys {
    keyids: Vec<String>,
    threshold: u64,
}

#[derive(Deserialize)]
struct WireRoot {
    #[serde(rename = "_type")]
    kind: String,
    version: u64,
    expires: String,
    keys: BTreeMap<String, WireKey>,
    roles: BTreeMap<String, WireRoleKeys>,
}

#[derive(Deserialize)]
struct WireFileMeta {
    hashes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct WireDelegationRole {
    name: String,
    keyids: Vec<String>,
    threshold: u64,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    path_hash_prefixes: Vec<String>,
}

#[derive(Deserialize, Default)]
struct WireDelegations {
    #[serde(default)]
    keys: BTreeMap<String, WireKey>,
    #[serde(default)]
    roles: Vec<WireDelegationRole>,
}

#[derive(Deserialize)]
struct WireTargets {
    #[serde(rename = "_type")]
    kind: String,
    version: u64,
    expires: String,
    targets: BTreeMap<String, WireFileMeta>,
    #[serde(default)]
    delegations: WireDelegations,
}

#[derive(Deserialize)]
struct WireMeta {
    #[serde(rename = "_type")]
    kind: String,
    version: u64,
    expires: String,
    meta: BTreeMap<String, WireFileMeta>,
}

fn decode_base64(what: &str, text: &str) -> Result<Vec<u8>, ParseError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| structure(format!("{what} is not base64: {e}")))
}

/// Splits a document into its `signed` value (with canonical bytes) and signatures.
fn envelope(bytes: &[u8]) -> Result<(Value, Vec<u8>, Vec<Signature>), ParseError> {
    if bytes.len() > MAX_ROLE_BYTES {
        return Err(ParseError::TooLarge(bytes.len()));
    }
    let wire: WireEnvelope =
        serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))?;
    if !wire.signed.is_object() {
        return Err(ParseError::Json("`signed` is not an object".to_owned()));
    }
    if wire.signatures.len() > MAX_SIGNATURES {
        return Err(ParseError::TooManySignatures(wire.signatures.len()));
    }
    let message = to_canonical(&wire.signed).map_err(|e| ParseError::Canonical(e.to_string()))?;
    let signatures = wire
        .signatures
        .into_iter()
        .map(|s| {
            Ok(Signature {
                sig: decode_base64("signature", &s.sig)?,
                key_id: s.keyid,
                method: s.method,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    Ok((wire.signed, message, signatures))
}

fn typed<T: for<'de> Deserialize<'de>>(signed: Value) -> Result<T, ParseError> {
    serde_json::from_value(signed).map_err(|e| structure(e.to_string()))
}

fn common(role: BaseRole, kind: &str, version: u64, expires: &str) -> Result<Common, ParseError> {
    if kind != role.type_name() {
        return Err(structure(format!(
            "_type is {kind:?}, expected {:?}",
            role.type_name()
        )));
    }
    if version < 1 {
        return Err(structure("version must be at least 1"));
    }
    let expires = parse_rfc3339(expires)
        .ok_or_else(|| structure(format!("expires {expires:?} is not an RFC 3339 time")))?;
    Ok(Common { version, expires })
}

fn keys(wire: BTreeMap<String, WireKey>) -> Result<BTreeMap<String, Key>, ParseError> {
    wire.into_iter()
        .map(|(id, key)| {
            let public = decode_base64(&format!("public key {id}"), &key.keyval.public)?;
            Ok((
                id,
                Key {
                    key_type: key.keytype,
                    public,
                },
            ))
        })
        .collect()
}

fn role_keys(
    name: &str,
    key_ids: Vec<String>,
    threshold: u64,
    known: &BTreeMap<String, Key>,
) -> Result<RoleKeys, ParseError> {
    if threshold < 1 {
        return Err(structure(format!("role {name} has threshold 0")));
    }
    if key_ids.is_empty() {
        return Err(structure(format!("role {name} lists no keys")));
    }
    if let Some(missing) = key_ids.iter().find(|id| !known.contains_key(*id)) {
        return Err(structure(format!(
            "role {name} names unknown key {missing}"
        )));
    }
    Ok(RoleKeys { key_ids, threshold })
}

fn hashes(what: &str, wire: BTreeMap<String, String>) -> Result<Hashes, ParseError> {
    let mut out = Hashes::default();
    for (algorithm, value) in wire {
        let (slot, length) = match algorithm.as_str() {
            "sha256" => (&mut out.sha256, SHA256_LEN),
            "sha512" => (&mut out.sha512, SHA512_LEN),
            _ => continue,
        };
        let digest = decode_base64(&format!("{algorithm} of {what}"), &value)?;
        if digest.len() != length {
            return Err(structure(format!(
                "{algorithm} of {what} has {} bytes, expected {length}",
                digest.len()
            )));
        }
        *slot = Some(digest);
    }
    Ok(out)
}

fn required_sha256(what: &str, meta: &BTreeMap<String, Hashes>) -> Result<(), ParseError> {
    match meta.get(what) {
        Some(Hashes {
            sha256: Some(_), ..
        }) => Ok(()),
        _ => Err(structure(format!("missing sha256 checksum for {what}"))),
    }
}

/// Parses `root.json`.
pub fn parse_root(bytes: &[u8]) -> Result<Signed<Root>, ParseError> {
    let (signed, message, signatures) = envelope(bytes)?;
    let wire: WireRoot = typed(signed)?;
    let common = common(BaseRole::Root, &wire.kind, wire.version, &wire.expires)?;
    let keys = keys(wire.keys)?;
    let mut roles = BTreeMap::new();
    for (name, role) in wire.roles {
        let checked = role_keys(&name, role.keyids, role.threshold, &keys)?;
        roles.insert(name, checked);
    }
    if let Some(missing) = BaseRole::ALL
        .iter()
        .find(|role| !roles.contains_key(role.name()))
    {
        return Err(structure(format!(
            "root does not define the {} role",
            missing.name()
        )));
    }
    Ok(Signed {
        role: Root {
            common,
            keys,
            roles,
        },
        message,
        signatures,
    })
}

/// True for `targets/<x>`: a direct child of `targets`, the only delegations Notary follows.
pub fn is_direct_delegation(name: &str) -> bool {
    name.strip_prefix("targets/")
        .is_some_and(|child| !child.is_empty() && !child.contains('/'))
}

/// Parses `targets.json` or a delegation's document.
pub fn parse_targets(bytes: &[u8]) -> Result<Signed<Targets>, ParseError> {
    let (signed, message, signatures) = envelope(bytes)?;
    let wire: WireTargets = typed(signed)?;
    let common = common(BaseRole::Targets, &wire.kind, wire.version, &wire.expires)?;
    let targets = wire
        .targets
        .into_iter()
        .map(|(name, meta)| {
            let checked = hashes(&format!("target {name}"), meta.hashes)?;
            Ok((name, checked))
        })
        .collect::<Result<_, ParseError>>()?;
    let delegation_keys = keys(wire.delegations.keys)?;
    let mut roles = Vec::new();
    for role in wire.delegations.roles {
        if !is_direct_delegation(&role.name) {
            return Err(structure(format!(
                "delegation {} is not a direct child of targets",
                role.name
            )));
        }
        let keys = role_keys(&role.name, role.keyids, role.threshold, &delegation_keys)?;
        roles.push(DelegationRole {
            name: role.name,
            keys,
            paths: role.paths,
            path_hash_prefixes: role.path_hash_prefixes,
        });
    }
    Ok(Signed {
        role: Targets {
            common,
            targets,
            delegations: Delegations {
                keys: delegation_keys,
                roles,
            },
        },
        message,
        signatures,
    })
}

fn meta(wire: BTreeMap<String, WireFileMeta>) -> Result<BTreeMap<String, Hashes>, ParseError> {
    wire.into_iter()
        .map(|(name, file)| {
            let checked = hashes(&name, file.hashes)?;
            Ok((name, checked))
        })
        .collect()
}

/// Parses `snapshot.json`.
pub fn parse_snapshot(bytes: &[u8]) -> Result<Signed<Snapshot>, ParseError> {
    let (signed, message, signatures) = envelope(bytes)?;
    let wire: WireMeta = typed(signed)?;
    let common = common(BaseRole::Snapshot, &wire.kind, wire.version, &wire.expires)?;
    let meta = meta(wire.meta)?;
    required_sha256("root", &meta)?;
    required_sha256("targets", &meta)?;
    Ok(Signed {
        role: Snapshot { common, meta },
        message,
        signatures,
    })
}

/// Parses `timestamp.json`.
pub fn parse_timestamp(bytes: &[u8]) -> Result<Signed<Timestamp>, ParseError> {
    let (signed, message, signatures) = envelope(bytes)?;
    let wire: WireMeta = typed(signed)?;
    let common = common(BaseRole::Timestamp, &wire.kind, wire.version, &wire.expires)?;
    let mut meta = meta(wire.meta)?;
    required_sha256("snapshot", &meta)?;
    let snapshot = meta.remove("snapshot").unwrap_or_default();
    Ok(Signed {
        role: Timestamp { common, snapshot },
        message,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256_B64: &str = "oVR5e4MAFllW7h8W2Y86FCYwHBFo8EYsc86bwDNhyr8=";

    fn envelope_of(signed: &str) -> Vec<u8> {
        format!(
            r#"{{"signed":{signed},"signatures":[{{"keyid":"k","method":"ecdsa","sig":"AAAA"}}]}}"#
        )
        .into_bytes()
    }

    fn root_json(roles: &str) -> String {
        format!(
            r#"{{"_type":"Root","consistent_snapshot":false,"expires":"2999-01-01T00:00:00Z","version":1,
               "keys":{{"k":{{"keytype":"ecdsa","keyval":{{"private":null,"public":"AAAA"}}}}}},
               "roles":{{{roles}}}}}"#
        )
    }

    const ALL_ROLES: &str = r#""root":{"keyids":["k"],"threshold":1},"targets":{"keyids":["k"],"threshold":1},
        "snapshot":{"keyids":["k"],"threshold":1},"timestamp":{"keyids":["k"],"threshold":1}"#;

    fn error_of<T: fmt::Debug>(result: Result<T, ParseError>) -> String {
        match result {
            Ok(value) => panic!("parsed: {value:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn root_parses_with_all_roles() {
        let parsed = parse_root(&envelope_of(&root_json(ALL_ROLES)));
        let Ok(root) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(root.role.common.version, 1);
        assert_eq!(root.role.keys.get("k").map(|k| k.public.len()), Some(3));
        assert_eq!(root.signatures.len(), 1);
        assert!(root
            .message
            .starts_with(br#"{"_type":"Root","consistent_snapshot":false"#));
    }

    #[test]
    fn root_structure_is_checked() {
        let missing = ALL_ROLES.replace(r#","timestamp":{"keyids":["k"],"threshold":1}"#, "");
        assert_eq!(
            error_of(parse_root(&envelope_of(&root_json(&missing)))),
            "root does not define the timestamp role"
        );
        let zero = ALL_ROLES.replacen(r#""threshold":1"#, r#""threshold":0"#, 1);
        assert_eq!(
            error_of(parse_root(&envelope_of(&root_json(&zero)))),
            "role root has threshold 0"
        );
        let unknown = ALL_ROLES.replacen(r#"["k"]"#, r#"["nope"]"#, 1);
        assert_eq!(
            error_of(parse_root(&envelope_of(&root_json(&unknown)))),
            "role root names unknown key nope"
        );
        let targets_type = root_json(ALL_ROLES).replace(r#""Root""#, r#""Targets""#);
        assert_eq!(
            error_of(parse_root(&envelope_of(&targets_type))),
            r#"_type is "Targets", expected "Root""#
        );
        let version_zero = root_json(ALL_ROLES).replace(r#""version":1"#, r#""version":0"#);
        assert_eq!(
            error_of(parse_root(&envelope_of(&version_zero))),
            "version must be at least 1"
        );
    }

    #[test]
    fn envelopes_are_bounded_and_strict() {
        assert!(matches!(
            parse_root(b"{\"signed\":{}}"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(parse_root(b"[]"), Err(ParseError::Json(_))));
        assert!(matches!(
            parse_root(&vec![b' '; MAX_ROLE_BYTES + 1]),
            Err(ParseError::TooLarge(_))
        ));
        let signature = r#"{"keyid":"k","method":"ecdsa","sig":"AAAA"}"#;
        let many = vec![signature; MAX_SIGNATURES + 1].join(",");
        let document = format!(
            r#"{{"signed":{},"signatures":[{many}]}}"#,
            root_json(ALL_ROLES)
        );
        assert_eq!(
            parse_root(document.as_bytes()).err(),
            Some(ParseError::TooManySignatures(MAX_SIGNATURES + 1))
        );
        let fraction = root_json(ALL_ROLES).replace(r#""version":1"#, r#""version":1.5"#);
        assert!(matches!(
            parse_root(&envelope_of(&fraction)),
            Err(ParseError::Canonical(_))
        ));
    }

    #[test]
    fn targets_and_delegations_parse() {
        let signed = format!(
            r#"{{"_type":"Targets","expires":"2999-01-01T00:00:00Z","version":3,
               "targets":{{"v1":{{"hashes":{{"sha256":"{SHA256_B64}"}},"length":1}}}},
               "delegations":{{"keys":{{"d":{{"keytype":"ecdsa","keyval":{{"private":null,"public":"AAAA"}}}}}},
                 "roles":[{{"name":"targets/releases","keyids":["d"],"threshold":1,"paths":[""]}}]}}}}"#
        );
        let parsed = parse_targets(&envelope_of(&signed));
        let Ok(targets) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            targets
                .role
                .targets
                .get("v1")
                .and_then(|h| h.sha256.as_ref())
                .map(Vec::len),
            Some(32)
        );
        assert_eq!(targets.role.delegations.roles.len(), 1);
        let nested = signed.replace("targets/releases", "targets/a/b");
        assert_eq!(
            error_of(parse_targets(&envelope_of(&nested))),
            "delegation targets/a/b is not a direct child of targets"
        );
        let short = signed.replace(SHA256_B64, "AAAA");
        assert_eq!(
            error_of(parse_targets(&envelope_of(&short))),
            "sha256 of target v1 has 3 bytes, expected 32"
        );
    }

    #[test]
    fn snapshot_and_timestamp_need_their_checksums() {
        let snapshot = format!(
            r#"{{"_type":"Snapshot","expires":"2999-01-01T00:00:00Z","version":2,
               "meta":{{"root":{{"hashes":{{"sha256":"{SHA256_B64}"}}}}}}}}"#
        );
        assert_eq!(
            error_of(parse_snapshot(&envelope_of(&snapshot))),
            "missing sha256 checksum for targets"
        );
        let timestamp = format!(
            r#"{{"_type":"Timestamp","expires":"2999-01-01T00:00:00Z","version":2,
               "meta":{{"snapshot":{{"hashes":{{"sha256":"{SHA256_B64}"}},"length":5}}}}}}"#
        );
        let parsed = parse_timestamp(&envelope_of(&timestamp));
        let Ok(timestamp) = parsed else {
            panic!("{parsed:?}")
        };
        assert!(timestamp.role.snapshot.sha256.is_some());
        assert_eq!(timestamp.role.common.version, 2);
    }
}
