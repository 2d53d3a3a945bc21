//! Validator objects (`validators[]`): the common `name`/`type` head and the four types
//! `static`, `notaryv1`, `cosign` and `notation`, each decoded strictly once its type is
//! known.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::auth::{Auth, RawAuth};
use super::error::Problem;
use super::pem;
use super::trust_root::{self, RawTrustRoot, TrustRoot, TrustRootError};
use super::url::ServiceUrl;
use super::yaml::Yaml11Bool;
use crate::net::https_client::{PlainHttp, PlainHttpHost};
use crate::validators::cosign::trusted_root::{SigstoreTrustedRoot, MAX_TRUSTED_ROOT_BYTES};

/// Notary server used when a notaryv1 validator names none.
pub const DEFAULT_NOTARY_HOST: &str = "https://notary.docker.io";
/// Rekor instance used when a cosign validator names none.
pub const DEFAULT_REKOR_HOST: &str = "https://rekor.sigstore.dev";
/// The validator a rule without `validator` uses.
pub const DEFAULT_VALIDATOR: &str = "default";

/// One configured validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub name: String,
    pub kind: ValidatorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidatorKind {
    /// `approve: true` admits every matched image unchanged, `false` (the default) denies.
    Static {
        approve: bool,
    },
    NotaryV1(NotaryV1Config),
    Cosign(CosignConfig),
    Notation(NotationConfig),
}

impl ValidatorKind {
    /// The `type` as written in the configuration (and used in metrics and messages).
    pub fn type_name(&self) -> &'static str {
        match self {
            ValidatorKind::Static { .. } => ValidatorType::Static.name(),
            ValidatorKind::NotaryV1(_) => ValidatorType::NotaryV1.name(),
            ValidatorKind::Cosign(_) => ValidatorType::Cosign.name(),
            ValidatorKind::Notation(_) => ValidatorType::Notation.name(),
        }
    }
}

impl Validator {
    /// The trust roots of a signature validator (none for `static`).
    pub fn trust_roots(&self) -> &[TrustRoot] {
        match &self.kind {
            ValidatorKind::Static { .. } => &[],
            ValidatorKind::NotaryV1(config) => &config.trust_roots,
            ValidatorKind::Cosign(config) => &config.trust_roots,
            ValidatorKind::Notation(config) => &config.trust_roots,
        }
    }

    /// The roots designated by a rule's references (§2.5), see [`trust_root::resolve`].
    pub fn resolve_trust_roots<S: AsRef<str>>(
        &self,
        references: &[S],
    ) -> Result<Vec<&TrustRoot>, TrustRootError> {
        trust_root::resolve(self.trust_roots(), references)
    }
}

/// Docker Content Trust (Notary v1) validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotaryV1Config {
    pub host: ServiceUrl,
    /// CA certificates to trust for TLS to the Notary server instead of the system roots.
    pub tls_roots: Option<Vec<CertificateDer<'static>>>,
    pub auth: Option<Auth>,
    pub trust_roots: Vec<TrustRoot>,
}

/// Sigstore cosign validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignConfig {
    pub rekor: ServiceUrl,
    /// `host.rekorPubkey`; `None` means the Sigstore public-good key.
    pub rekor_public_key: Option<SubjectPublicKeyInfoDer<'static>>,
    /// `host.fulcioCert`; `None` means the Sigstore public-good Fulcio roots.
    pub fulcio_roots: Option<Vec<CertificateDer<'static>>>,
    /// `host.ctLogPubkey`; `None` means the Sigstore public-good CT log keys.
    pub ct_log_public_key: Option<SubjectPublicKeyInfoDer<'static>>,
    /// `host.trustedRoot`: a Sigstore `trusted_root.json` (a private instance, or offline
    /// updates from a ConfigMap) used instead of the embedded public-good one for whatever
    /// the other `host.*` keys leave unset.
    pub trusted_root: Option<Arc<SigstoreTrustedRoot>>,
    /// CA certificates to trust for TLS to the registry.
    pub tls_roots: Option<Vec<CertificateDer<'static>>>,
    /// `plainHttpRegistries`: registries spoken to over plain HTTP.
    pub plain_http: PlainHttp,
    pub auth: Option<Auth>,
    pub trust_roots: Vec<TrustRoot>,
}

/// Notary Project (Notation) validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotationConfig {
    /// CA certificates to trust for TLS to the registry.
    pub tls_roots: Option<Vec<CertificateDer<'static>>>,
    /// `plainHttpRegistries`: registries spoken to over plain HTTP.
    pub plain_http: PlainHttp,
    pub auth: Option<Auth>,
    pub trust_roots: Vec<TrustRoot>,
}

/// The validator `type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ValidatorType {
    Static,
    NotaryV1,
    Cosign,
    Notation,
}

impl ValidatorType {
    pub(super) fn parse(name: &str) -> Option<ValidatorType> {
        match name {
            "static" => Some(ValidatorType::Static),
            "notaryv1" => Some(ValidatorType::NotaryV1),
            "cosign" => Some(ValidatorType::Cosign),
            "notation" => Some(ValidatorType::Notation),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ValidatorType::Static => "static",
            ValidatorType::NotaryV1 => "notaryv1",
            ValidatorType::Cosign => "cosign",
            ValidatorType::Notation => "notation",
        }
    }
}

/// First pass: only `name` and `type`, everything else skipped, so that the type is known
/// before the strict second pass.
#[derive(Deserialize)]
#[serde(expecting = "a validator object (name, type, …)")]
pub(super) struct ValidatorHead {
    pub(super) name: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
}

/// Second pass: the validator decoded strictly according to its type.
pub(super) enum RawValidator {
    Static(RawStatic),
    NotaryV1(RawNotaryV1),
    Cosign(RawCosign),
    Notation(RawNotation),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatic {
    name: String,
    #[serde(rename = "type")]
    _type: IgnoredAny,
    approve: Option<Yaml11Bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawNotaryV1 {
    name: String,
    #[serde(rename = "type")]
    _type: IgnoredAny,
    host: Option<String>,
    cert: Option<String>,
    auth: Option<RawAuth>,
    trust_roots: Option<Vec<RawTrustRoot>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawCosign {
    name: String,
    #[serde(rename = "type")]
    _type: IgnoredAny,
    host: Option<RawCosignHost>,
    cert: Option<String>,
    plain_http_registries: Option<Vec<String>>,
    auth: Option<RawAuth>,
    trust_roots: Option<Vec<RawTrustRoot>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCosignHost {
    rekor: Option<String>,
    rekor_pubkey: Option<String>,
    fulcio_cert: Option<String>,
    ct_log_pubkey: Option<String>,
    trusted_root: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawNotation {
    name: String,
    #[serde(rename = "type")]
    _type: IgnoredAny,
    cert: Option<String>,
    plain_http_registries: Option<Vec<String>>,
    auth: Option<RawAuth>,
    trust_roots: Option<Vec<RawTrustRoot>>,
}

/// A problem at a path relative to the validator (`""` = the validator itself).
pub(super) type ValidatorProblems = Vec<(String, Problem)>;

impl RawValidator {
    pub(super) fn deserialize_as<'de, D: serde::Deserializer<'de>>(
        kind: ValidatorType,
        deserializer: D,
    ) -> Result<RawValidator, D::Error> {
        Ok(match kind {
            ValidatorType::Static => RawValidator::Static(RawStatic::deserialize(deserializer)?),
            ValidatorType::NotaryV1 => {
                RawValidator::NotaryV1(RawNotaryV1::deserialize(deserializer)?)
            }
            ValidatorType::Cosign => RawValidator::Cosign(RawCosign::deserialize(deserializer)?),
            ValidatorType::Notation => {
                RawValidator::Notation(RawNotation::deserialize(deserializer)?)
            }
        })
    }

    /// Checks every value and returns the validator or all problems found.
    pub(super) fn check(self) -> Result<Validator, ValidatorProblems> {
        let mut problems = Vec::new();
        let (name, kind) = match self {
            RawValidator::Static(raw) => (
                raw.name,
                Some(ValidatorKind::Static {
                    approve: raw.approve.is_some_and(|approve| approve.0),
                }),
            ),
            RawValidator::NotaryV1(raw) => {
                let host = url(
                    raw.host.as_deref().unwrap_or(DEFAULT_NOTARY_HOST),
                    "host",
                    &mut problems,
                );
                let tls_roots = certificates(raw.cert.as_deref(), "cert", &mut problems);
                let auth = auth(raw.auth, &mut problems);
                let roots = trust_roots(&raw.name, raw.trust_roots, false, &mut problems);
                let kind = match (host, roots) {
                    (Some(host), Some(trust_roots)) => {
                        Some(ValidatorKind::NotaryV1(NotaryV1Config {
                            host,
                            tls_roots,
                            auth,
                            trust_roots,
                        }))
                    }
                    _ => None,
                };
                (raw.name, kind)
            }
            RawValidator::Cosign(raw) => {
                let host = raw.host.unwrap_or(RawCosignHost {
                    rekor: None,
                    rekor_pubkey: None,
                    fulcio_cert: None,
                    ct_log_pubkey: None,
                    trusted_root: None,
                });
                let rekor = url(
                    host.rekor.as_deref().unwrap_or(DEFAULT_REKOR_HOST),
                    "host.rekor",
                    &mut problems,
                );
                let rekor_public_key = public_key(
                    host.rekor_pubkey.as_deref(),
                    "host.rekorPubkey",
                    &mut problems,
                );
                let fulcio_roots = certificates(
                    host.fulcio_cert.as_deref(),
                    "host.fulcioCert",
                    &mut problems,
                );
                let ct_log_public_key = public_key(
                    host.ct_log_pubkey.as_deref(),
                    "host.ctLogPubkey",
                    &mut problems,
                );
                let trusted_root = host
                    .trusted_root
                    .as_deref()
                    .and_then(|path| sigstore_trusted_root(path, &mut problems));
                let tls_roots = certificates(raw.cert.as_deref(), "cert", &mut problems);
                let plain_http = plain_http(raw.plain_http_registries, &mut problems);
                let auth = auth(raw.auth, &mut problems);
                let roots = trust_roots(&raw.name, raw.trust_roots, false, &mut problems);
                let kind = match (rekor, roots) {
                    (Some(rekor), Some(trust_roots)) => Some(ValidatorKind::Cosign(CosignConfig {
                        rekor,
                        rekor_public_key,
                        fulcio_roots,
                        ct_log_public_key,
                        trusted_root,
                        tls_roots,
                        plain_http,
                        auth,
                        trust_roots,
                    })),
                    _ => None,
                };
                (raw.name, kind)
            }
            RawValidator::Notation(raw) => {
                let tls_roots = certificates(raw.cert.as_deref(), "cert", &mut problems);
                let plain_http = plain_http(raw.plain_http_registries, &mut problems);
                let auth = auth(raw.auth, &mut problems);
                let roots = trust_roots(&raw.name, raw.trust_roots, true, &mut problems);
                let kind = roots.map(|trust_roots| {
                    ValidatorKind::Notation(NotationConfig {
                        tls_roots,
                        plain_http,
                        auth,
                        trust_roots,
                    })
                });
                (raw.name, kind)
            }
        };
        if name.is_empty() {
            problems.push((String::new(), Problem::MissingField("name")));
        }
        match kind {
            Some(kind) if problems.is_empty() => Ok(Validator { name, kind }),
            _ => Err(problems),
        }
    }
}

fn url(raw: &str, field: &str, problems: &mut ValidatorProblems) -> Option<ServiceUrl> {
    ServiceUrl::parse(raw)
        .map_err(|reason| {
            let url = raw.to_owned();
            problems.push((field.to_owned(), Problem::BadUrl { url, reason }));
        })
        .ok()
}

fn certificates(
    text: Option<&str>,
    field: &str,
    problems: &mut ValidatorProblems,
) -> Option<Vec<CertificateDer<'static>>> {
    pem::certificates(text?)
        .map_err(|problem| problems.push((field.to_owned(), problem)))
        .ok()
}

/// `host.trustedRoot`: the file, read and parsed when the configuration is (re)loaded.
fn sigstore_trusted_root(
    path: &str,
    problems: &mut ValidatorProblems,
) -> Option<Arc<SigstoreTrustedRoot>> {
    let problem = |reason: String| {
        (
            "host.trustedRoot".to_owned(),
            Problem::TrustedRoot {
                path: path.to_owned(),
                reason,
            },
        )
    };
    let read = std::fs::File::open(path).and_then(|file| {
        let mut bytes = Vec::new();
        let limit = MAX_TRUSTED_ROOT_BYTES as u64 + 1;
        std::io::Read::read_to_end(&mut std::io::Read::take(file, limit), &mut bytes)?;
        Ok(bytes)
    });
    match read {
        Err(e) => {
            problems.push(problem(e.to_string()));
            None
        }
        Ok(bytes) => SigstoreTrustedRoot::parse(&bytes)
            .map(Arc::new)
            .map_err(|e| problems.push(problem(e.to_string())))
            .ok(),
    }
}

fn public_key(
    text: Option<&str>,
    field: &str,
    problems: &mut ValidatorProblems,
) -> Option<SubjectPublicKeyInfoDer<'static>> {
    pem::public_key(text?)
        .map_err(|problem| problems.push((field.to_owned(), problem)))
        .ok()
}

/// `plainHttpRegistries`: each entry `host` or `host:port`.
fn plain_http(raw: Option<Vec<String>>, problems: &mut ValidatorProblems) -> PlainHttp {
    let Some(entries) = raw else {
        return PlainHttp::Nowhere;
    };
    let mut hosts = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match PlainHttpHost::parse(entry) {
            Ok(host) => hosts.push(host),
            Err(reason) => problems.push((
                format!("plainHttpRegistries[{index}]"),
                Problem::BadUrl {
                    url: entry.chars().take(200).collect(),
                    reason,
                },
            )),
        }
    }
    if hosts.is_empty() {
        PlainHttp::Nowhere
    } else {
        PlainHttp::To(hosts)
    }
}

fn auth(raw: Option<RawAuth>, problems: &mut ValidatorProblems) -> Option<Auth> {
    raw?.check()
        .map_err(|(field, problem)| problems.push((join("auth", field), problem)))
        .ok()
}

fn trust_roots(
    validator: &str,
    raw: Option<Vec<RawTrustRoot>>,
    notation: bool,
    problems: &mut ValidatorProblems,
) -> Option<Vec<TrustRoot>> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        problems.push((
            "trustRoots".to_owned(),
            Problem::NoTrustRoots {
                validator: validator.to_owned(),
            },
        ));
        return None;
    }
    let mut roots = Vec::with_capacity(raw.len());
    for (index, root) in raw.into_iter().enumerate() {
        let checked = if notation {
            root.check_notation_root()
        } else {
            root.check_signature_root()
        };
        match checked {
            Ok(root) => roots.push(root),
            Err(found) => {
                problems.extend(found.into_iter().map(|(field, problem)| {
                    (join(&format!("trustRoots[{index}]"), field), problem)
                }))
            }
        }
    }
    Some(roots)
}

/// `parent.field`, or `parent` when `field` is empty.
pub(super) fn join(parent: &str, field: &str) -> String {
    match (parent.is_empty(), field.is_empty()) {
        (_, true) => parent.to_owned(),
        (true, false) => field.to_owned(),
        (false, false) => format!("{parent}.{field}"),
    }
}
