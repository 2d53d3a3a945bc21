//! The application configuration, Connaisseur v3's `config.yaml`: `validators`, `policy`
//! and a tolerated `alerting` section, decoded strictly and checked completely at load.
//!
//! Decoding runs in two passes over the YAML text. The first reads only each validator's
//! `name` and `type`; the second decodes every validator with the struct of its type and
//! unknown keys refused (serde's `deny_unknown_fields` does not work through internally
//! tagged enums). Value checks then collect every problem, each reported with its YAML
//! path and line (see [`yaml::line_of`]).

mod alerting;
mod auth;
mod error;
mod glob;
mod pem;
mod rule;
mod trust_root;
mod url;
mod validator;
mod yaml;

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

pub use alerting::{AlertReceiver, AlertStream, AlertingConfig};
pub use auth::{Auth, SECRETS_DIR, SECRET_FILES};
pub use error::{ConfigError, Problem};
pub use glob::{Glob, GlobError};
pub use rule::{Mode, Rule, RuleOptions, VerificationLevel, VerifyTimestamp};
pub use trust_root::{
    resolve as resolve_trust_roots, IdentityMatch, KeyRef, Keyless, KmsKey, KmsProvider, TrustRoot,
    TrustRootError, TrustRootMaterial, ALL_TRUST_ROOTS, DEFAULT_TRUST_ROOT,
};
pub use url::ServiceUrl;
pub use validator::{
    CosignConfig, NotaryV1Config, NotationConfig, Validator, ValidatorKind, DEFAULT_NOTARY_HOST,
    DEFAULT_REKOR_HOST, DEFAULT_VALIDATOR,
};
pub use yaml::Yaml11Bool;

use rule::RawRule;
use validator::{RawValidator, ValidatorHead, ValidatorType};

/// Largest configuration file read; real ones are a few kilobytes.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Errors beyond this many are reported without a line number (each lookup re-reads
/// the document).
const MAX_LINE_LOOKUPS: usize = 64;

/// The embedded default configuration: deny everything except Kubernetes' own images.
const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.yaml");

/// A loaded, checked configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    validators: Vec<Validator>,
    rules: Vec<Rule>,
    /// For each rule, a fingerprint of everything that judges its images: the rule and the
    /// validator it names. Verdicts are cached under it, so that a changed rule or validator
    /// never reuses a verdict; computed once here rather than per image.
    judges: Vec<u64>,
    alerting: Option<AlertingConfig>,
}

impl Config {
    /// Where the configuration is mounted in the Connaisseur layout.
    pub const DEFAULT_PATH: &str = "/app/config/config.yaml";

    /// Decodes and checks a configuration document.
    pub fn from_yaml(text: &str) -> Result<Config, Vec<ConfigError>> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(vec![too_large(text.len())]);
        }
        // Before any decoding: deep nesting costs the YAML scanner quadratic time.
        crate::yaml_depth::check(text).map_err(|too_deep| {
            vec![ConfigError::Yaml {
                message: too_deep.to_string(),
                line: Some(too_deep.line),
            }]
        })?;
        let heads: Heads = serde_norway::from_str(text).map_err(|e| vec![decoder_error(&e)])?;
        let kinds = check_heads(heads.validators.unwrap_or_default())
            .map_err(|problems| with_lines(text, problems))?;
        let raw = ConfigSeed { kinds: &kinds }
            .deserialize(serde_norway::Deserializer::from_str(text))
            .map_err(|e| vec![decoder_error(&e)])?;
        let mut problems = Vec::new();
        let mut validators = Vec::with_capacity(raw.validators.len());
        for (index, validator) in raw.validators.into_iter().enumerate() {
            match validator.check() {
                Ok(validator) => validators.push(validator),
                Err(found) => problems.extend(found.into_iter().map(|(path, problem)| {
                    (
                        validator::join(&format!("validators[{index}]"), &path),
                        problem,
                    )
                })),
            }
        }
        if raw.policy.is_empty() {
            problems.push(("policy".to_owned(), Problem::EmptyList));
        }
        let mut rules = Vec::with_capacity(raw.policy.len());
        for (index, rule) in raw.policy.into_iter().enumerate() {
            match rule.check() {
                Ok(rule) => rules.push(rule),
                Err(found) => problems.extend(found.into_iter().map(|(path, problem)| {
                    (validator::join(&format!("policy[{index}]"), &path), problem)
                })),
            }
        }
        if !problems.is_empty() {
            return Err(with_lines(text, problems));
        }
        Ok(Config::assemble(validators, rules, raw.alerting))
    }

    fn assemble(
        validators: Vec<Validator>,
        rules: Vec<Rule>,
        alerting: Option<AlertingConfig>,
    ) -> Config {
        let judges = rules
            .iter()
            .map(|rule| {
                let validator = validators.iter().find(|v| v.name == rule.validator_name());
                // SHA-256, not the std hasher: the fingerprint names verdicts shared through
                // Redis, so it must be the same in every replica.
                let text = format!("{rule:?}{validator:?}");
                let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
                let mut first = [0u8; 8];
                first.copy_from_slice(hash.as_ref().get(..8).unwrap_or(&[0; 8]));
                u64::from_be_bytes(first)
            })
            .collect();
        Config {
            validators,
            rules,
            judges,
            alerting,
        }
    }

    /// The fingerprint of rule `index` and its validator (see [`Config`]'s `judges`).
    pub fn judge(&self, index: usize) -> u64 {
        self.judges.get(index).copied().unwrap_or_default()
    }

    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let read_error = |reason: String| {
            vec![ConfigError::Read {
                file: path.to_owned(),
                reason,
            }]
        };
        let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
        let mut text = String::new();
        let limit = u64::try_from(MAX_CONFIG_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        file.take(limit)
            .read_to_string(&mut text)
            .map_err(|e| read_error(e.to_string()))?;
        Config::from_yaml(&text)
    }

    /// The compiled-in `config/default.yaml`.
    pub fn embedded_default() -> Config {
        // The embedded text is covered by a test; should it ever fail to load, deny all.
        Config::from_yaml(EMBEDDED_DEFAULT).unwrap_or_else(|_| Config::deny_all())
    }

    /// The text of the compiled-in default configuration.
    pub fn embedded_default_text() -> &'static str {
        EMBEDDED_DEFAULT
    }

    fn deny_all() -> Config {
        Config::assemble(
            vec![Validator {
                name: DEFAULT_VALIDATOR.to_owned(),
                kind: ValidatorKind::Static { approve: false },
            }],
            vec![Rule::everything()],
            None,
        )
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The policy rules in configuration order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The `alerting` section if present (accepted for compatibility, not used).
    pub fn alerting(&self) -> Option<&AlertingConfig> {
        self.alerting.as_ref()
    }

    /// Checks that every secret named by an `auth.secretName` has a credential file under
    /// `secrets_dir` (normally [`SECRETS_DIR`]); Connaisseur refuses to start otherwise.
    pub fn check_secrets(&self, secrets_dir: &Path) -> Result<(), Vec<ConfigError>> {
        let errors: Vec<ConfigError> = self
            .validators
            .iter()
            .enumerate()
            .filter_map(|(index, validator)| {
                let auth = match &validator.kind {
                    ValidatorKind::Static { .. } => None,
                    ValidatorKind::NotaryV1(config) => config.auth.as_ref(),
                    ValidatorKind::Cosign(config) => config.auth.as_ref(),
                    ValidatorKind::Notation(config) => config.auth.as_ref(),
                }?;
                let missing = auth.secret_file(secrets_dir)?.err()?;
                Some(ConfigError::Invalid {
                    path: format!("validators[{index}].auth.secretName"),
                    problem: Problem::SecretMissing(missing),
                    line: None,
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The validator of that name; the first one wins when names repeat, as in Connaisseur.
    pub fn validator(&self, name: &str) -> Option<&Validator> {
        self.validators
            .iter()
            .find(|validator| validator.name == name)
    }
}

fn too_large(len: usize) -> ConfigError {
    ConfigError::Yaml {
        message: format!(
            "the configuration is {len} bytes long, more than the {MAX_CONFIG_BYTES} allowed"
        ),
        line: None,
    }
}

fn decoder_error(error: &serde_norway::Error) -> ConfigError {
    ConfigError::Yaml {
        message: error.to_string(),
        line: error.location().map(|location| location.line()),
    }
}

fn with_lines(text: &str, problems: Vec<(String, Problem)>) -> Vec<ConfigError> {
    problems
        .into_iter()
        .enumerate()
        .map(|(index, (path, problem))| {
            let line = if index < MAX_LINE_LOOKUPS {
                line_of_nearest(text, &path)
            } else {
                None
            };
            ConfigError::Invalid {
                path,
                problem,
                line,
            }
        })
        .collect()
}

/// The line of `path`, or of its closest enclosing node when it is absent (a missing
/// field is reported at the object that lacks it).
fn line_of_nearest(text: &str, path: &str) -> Option<usize> {
    let mut path = path;
    while !path.is_empty() {
        if let Some(line) = yaml::line_of(text, path) {
            return Some(line);
        }
        path = match path.rfind(['.', '[']) {
            Some(end) => path.get(..end).unwrap_or_default(),
            None => "",
        };
    }
    None
}

/// First pass: the validators' heads; other top-level keys are looked at in pass two.
#[derive(Deserialize, Default)]
#[serde(
    default,
    expecting = "a configuration mapping with validators and policy"
)]
struct Heads {
    validators: Option<Vec<ValidatorHead>>,
}

fn check_heads(heads: Vec<ValidatorHead>) -> Result<Vec<ValidatorType>, Vec<(String, Problem)>> {
    let mut problems = Vec::new();
    if heads.is_empty() {
        problems.push(("validators".to_owned(), Problem::EmptyList));
    }
    let mut kinds = Vec::with_capacity(heads.len());
    for (index, head) in heads.into_iter().enumerate() {
        let path = format!("validators[{index}]");
        if head.name.as_deref().unwrap_or_default().is_empty() {
            problems.push((path.clone(), Problem::MissingField("name")));
        }
        match head.kind.as_deref() {
            None | Some("") => problems.push((path, Problem::MissingField("type"))),
            Some(name) => match ValidatorType::parse(name) {
                Some(kind) => kinds.push(kind),
                None => problems.push((
                    format!("{path}.type"),
                    Problem::UnsupportedValidatorType(name.to_owned()),
                )),
            },
        }
    }
    if problems.is_empty() {
        Ok(kinds)
    } else {
        Err(problems)
    }
}

/// Second pass result, before value checks.
#[derive(Default)]
struct RawConfig {
    validators: Vec<RawValidator>,
    policy: Vec<RawRule>,
    alerting: Option<AlertingConfig>,
}

const TOP_LEVEL_KEYS: &[&str] = &["validators", "policy", "alerting"];

/// Decodes the whole document, each validator with the type found in the first pass.
struct ConfigSeed<'k> {
    kinds: &'k [ValidatorType],
}

impl<'de> DeserializeSeed<'de> for ConfigSeed<'_> {
    type Value = RawConfig;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawConfig, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ConfigSeed<'_> {
    type Value = RawConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a configuration with validators and policy")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawConfig, E> {
        Ok(RawConfig::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawConfig, A::Error> {
        let mut validators = None;
        let mut policy = None;
        let mut alerting = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "validators" if validators.is_none() => {
                    validators = Some(map.next_value_seed(ValidatorsSeed { kinds: self.kinds })?);
                }
                "policy" if policy.is_none() => {
                    policy = Some(
                        map.next_value::<Option<Vec<RawRule>>>()?
                            .unwrap_or_default(),
                    );
                }
                "alerting" if alerting.is_none() => {
                    alerting = Some(map.next_value::<Option<AlertingConfig>>()?);
                }
                "validators" | "policy" | "alerting" => {
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                other => return Err(de::Error::unknown_field(other, TOP_LEVEL_KEYS)),
            }
        }
        Ok(RawConfig {
            validators: validators.unwrap_or_default(),
            policy: policy.unwrap_or_default(),
            alerting: alerting.flatten(),
        })
    }
}

struct ValidatorsSeed<'k> {
    kinds: &'k [ValidatorType],
}

impl<'de> DeserializeSeed<'de> for ValidatorsSeed<'_> {
    type Value = Vec<RawValidator>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ValidatorsSeed<'_> {
    type Value = Vec<RawValidator>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of validators")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut validators = Vec::with_capacity(self.kinds.len());
        loop {
            let Some(&kind) = self.kinds.get(validators.len()) else {
                // Both passes read the same text, so the lists have the same length.
                return match seq.next_element::<IgnoredAny>()? {
                    None => Ok(validators),
                    Some(_) => Err(de::Error::custom("validator list changed between passes")),
                };
            };
            match seq.next_element_seed(OneValidator { kind })? {
                Some(validator) => validators.push(validator),
                None => return Ok(validators),
            }
        }
    }
}

struct OneValidator {
    kind: ValidatorType,
}

impl<'de> DeserializeSeed<'de> for OneValidator {
    type Value = RawValidator;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawValidator, D::Error> {
        RawValidator::deserialize_as(self.kind, deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::pem::tests::{certificate_pem, public_key_pem};

    /// A YAML block scalar of `pem`, indented for a key at `indent` spaces.
    fn block(pem: &str, indent: usize) -> String {
        let pad = " ".repeat(indent + 2);
        let lines: String = pem.lines().map(|line| format!("{pad}{line}\n")).collect();
        format!("|\n{lines}")
    }

    fn errors(text: &str) -> Vec<String> {
        match Config::from_yaml(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn assert_rejected(text: &str, expected: &str) {
        let found = errors(text);
        assert!(
            found.iter().any(|error| error.contains(expected)),
            "expected {expected:?} in {found:?} for\n{text}"
        );
    }

    const RULES: &str = "policy:\n  - pattern: \"*:*\"\n";

    fn with_validator(validator: &str) -> String {
        format!("validators:\n{validator}{RULES}")
    }

    #[test]
    fn a_complete_configuration_loads() {
        let cert = certificate_pem();
        let key = public_key_pem();
        let text = format!(
            "validators:
  - name: default
    type: static
    approve: yes
  - name: nv1
    type: notaryv1
    host: notary.example.org:4443
    cert: {cert_block}    auth:
      secretName: notary-creds
    trustRoots:
      - name: default
        key: {key_block}  - name: sig
    type: cosign
    host:
      rekor: rekor.example.org
      rekorPubkey: {key_block2}      fulcioCert: {cert_block2}      ctLogPubkey: {key_block2}    auth:
      useKeychain: true
    trustRoots:
      - name: kms
        key: pkcs11:token=ci
      - name: ci
        keyless:
          issuer: https://token.actions.githubusercontent.com
          subjectRegex: ^https://github.com/my-org/.*$
  - name: np
    type: notation
    trustRoots:
      - name: default
        cert: {cert_block2}        tsCert: {cert_block2}policy:
  - pattern: \"*:*\"
  - pattern: notary.example.org/*
    validator: nv1
    with:
      delegations: [releases]
      mode: insecureValidateOnly
  - pattern: \"ghcr.io/my-org/*:*\"
    validator: sig
    with:
      trustRoot: \"*\"
      threshold: 1
      required: [ci]
      verifySCT: false
  - pattern: \"ghcr.io/my-org/np-*\"
    validator: np
    with: {{verificationLevel: permissive, verifyTimestamp: afterCertExpiry}}
alerting:
  clusterIdentifier: test
",
            cert_block = block(&cert, 4),
            key_block = block(&key, 8),
            key_block2 = block(&key, 6),
            cert_block2 = block(&cert, 8),
        );
        let config = Config::from_yaml(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let types: Vec<&str> = config
            .validators()
            .iter()
            .map(|v| v.kind.type_name())
            .collect();
        assert_eq!(types, ["static", "notaryv1", "cosign", "notation"]);
        assert_eq!(
            config.validator("default").map(|v| &v.kind),
            Some(&ValidatorKind::Static { approve: true })
        );
        let Some(ValidatorKind::NotaryV1(notary)) = config.validator("nv1").map(|v| &v.kind) else {
            panic!("nv1 is not notaryv1");
        };
        assert_eq!(notary.host.to_string(), "https://notary.example.org:4443");
        assert_eq!(notary.auth, Some(Auth::Secret("notary-creds".into())));
        assert_eq!(notary.tls_roots.as_ref().map(Vec::len), Some(1));
        let Some(ValidatorKind::Cosign(cosign)) = config.validator("sig").map(|v| &v.kind) else {
            panic!("sig is not cosign");
        };
        assert_eq!(cosign.rekor.to_string(), "https://rekor.example.org");
        assert!(cosign.rekor_public_key.is_some() && cosign.ct_log_public_key.is_some());
        assert!(matches!(
            cosign.trust_roots.first().map(|r| &r.material),
            Some(TrustRootMaterial::Key(KeyRef::Other(key))) if key == "pkcs11:token=ci"
        ));
        assert_eq!(config.rules().len(), 4);
        assert_eq!(
            config.rules().get(2).map(|r| r.with.required.clone()),
            Some(vec!["ci".to_owned()])
        );
        assert_eq!(
            config
                .alerting()
                .and_then(|a| a.cluster_identifier.as_deref()),
            Some("test")
        );
    }

    #[test]
    fn defaults_of_signature_validators() {
        let text = with_validator(
            "  - name: default\n    type: notaryv1\n    trustRoots: [{name: default, key: 'pkcs11:token=x'}]\n  - name: c\n    type: cosign\n    trustRoots: [{name: default, key: 'pkcs11:token=x'}]\n",
        );
        let config = Config::from_yaml(&text).unwrap_or_else(|e| panic!("{e:?}"));
        let hosts: Vec<String> = config
            .validators()
            .iter()
            .map(|v| match &v.kind {
                ValidatorKind::NotaryV1(c) => c.host.to_string(),
                ValidatorKind::Cosign(c) => c.rekor.to_string(),
                other => other.type_name().to_owned(),
            })
            .collect();
        assert_eq!(hosts, [DEFAULT_NOTARY_HOST, DEFAULT_REKOR_HOST]);
    }

    #[test]
    fn judges_change_with_the_rule_or_its_validator_only() {
        let load = |approve: &str, with: &str| {
            Config::from_yaml(&format!(
                "validators:\n  - {{name: a, type: static, approve: {approve}}}\n  - {{name: b, type: static, approve: false}}\npolicy:\n  - {{pattern: \"x/*\", validator: a, with: {with}}}\n  - {{pattern: \"y/*\", validator: b}}\n"
            ))
            .expect("config loads")
        };
        let base = load("true", "{}");
        assert_eq!(base.judge(0), load("true", "{}").judge(0));
        assert_ne!(base.judge(0), base.judge(1));
        assert_ne!(base.judge(0), load("false", "{}").judge(0));
        assert_ne!(base.judge(0), load("true", "{trustRoot: k}").judge(0));
        // Rule 1 and validator b are unchanged by either edit.
        assert_eq!(base.judge(1), load("false", "{trustRoot: k}").judge(1));
    }

    #[test]
    fn static_approve_defaults_to_deny() {
        let config = Config::from_yaml(&with_validator("  - name: default\n    type: static\n"));
        assert_eq!(
            config.map(|c| c.validators().first().map(|v| v.kind.clone())),
            Ok(Some(ValidatorKind::Static { approve: false }))
        );
    }

    #[test]
    fn embedded_default_denies_by_default_and_loads_offline() {
        let parsed = Config::from_yaml(Config::embedded_default_text());
        assert!(parsed.is_ok(), "{parsed:?}");
        let config = Config::embedded_default();
        let verdict = |raw: &str| {
            let image = crate::image_ref::ImageRef::parse(raw).unwrap_or_else(|e| panic!("{e}"));
            config.select(&image).map(|s| s.validator.kind.clone()).ok()
        };
        assert_eq!(
            verdict("nginx"),
            Some(ValidatorKind::Static { approve: false })
        );
        assert_eq!(
            verdict("registry.k8s.io/pause:3.9"),
            Some(ValidatorKind::Static { approve: true })
        );
        assert_eq!(
            verdict("attacker/registry.k8s.io/pause:3.9"),
            Some(ValidatorKind::Static { approve: false })
        );
    }

    #[test]
    fn file_errors_name_the_file() {
        let missing = Path::new("/nonexistent/tastevin/config.yaml");
        let errors = Config::load(missing).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert!(errors.iter().all(|e| e
            .to_string()
            .starts_with("/nonexistent/tastevin/config.yaml: ")));
    }

    #[test]
    fn yaml_syntax_and_type_errors_carry_position() {
        assert_rejected("validators: [\n", "line");
        assert_rejected(
            &with_validator("  - name: a\n    type: static\n    approve: maybe\n"),
            "validators[0].approve: invalid value",
        );
        assert_rejected("validators: 3\n", "validators: invalid type");
        assert_rejected("- a\n- b\n", "invalid type: sequence");
        let duplicate = format!(
            "{}{RULES}",
            with_validator("  - name: a\n    type: static\n")
        );
        assert_rejected(&duplicate, "duplicate field `policy`");
    }

    #[test]
    fn unknown_keys_are_rejected_everywhere() {
        let cases = [
            (format!("{}extra: 1\n", with_validator("  - name: a\n    type: static\n")), "unknown field `extra`"),
            (with_validator("  - name: a\n    type: static\n    invalid: x\n"), "validators[0]: unknown field `invalid`"),
            (with_validator("  - name: a\n    type: notaryv1\n    isAcr: true\n    trustRoots: [{name: a, key: x}]\n"), "validators[0]: unknown field `isAcr`"),
            (with_validator("  - name: a\n    type: cosign\n    host: {rekor: x, fulcio: y}\n    trustRoots: [{name: a, key: x}]\n"), "validators[0].host: unknown field `fulcio`"),
            (with_validator("  - name: a\n    type: cosign\n    trustRoots: [{name: a, key: x, kms: y}]\n"), "validators[0].trustRoots[0]: unknown field `kms`"),
            (with_validator("  - name: a\n    type: cosign\n    auth: {secret: y}\n    trustRoots: [{name: a, key: x}]\n"), "validators[0].auth: unknown field `secret`"),
            (
                "validators: [{name: default, type: static}]\npolicy: [{pattern: x, with: {key: k}}]\n".to_owned(),
                "policy[0].with: unknown field `key`",
            ),
            (
                "validators: [{name: default, type: static}]\npolicy: [{pattern: x}]\nalerting: {admitRequest: {receiver: []}}\n".to_owned(),
                "alerting.admitRequest: unknown field `receiver`",
            ),
        ];
        for (text, expected) in cases {
            assert_rejected(&text, expected);
        }
    }

    #[test]
    fn lists_must_not_be_empty() {
        assert_rejected(
            "policy: [{pattern: x}]\n",
            "validators: must contain at least 1 item",
        );
        assert_rejected(
            "validators: []\npolicy: [{pattern: x}]\n",
            "validators: must contain at least 1 item",
        );
        assert_rejected(
            "validators: [{name: a, type: static}]\n",
            "policy: must contain at least 1 item",
        );
        assert_rejected("", "validators: must contain at least 1 item");
    }

    #[test]
    fn validator_heads_are_checked_with_lines() {
        let text = "validators:\n  - type: static\n  - name: b\n  - name: c\n    type: stati\n";
        assert_eq!(
            errors(text),
            [
                "validators[0]: name is a required field (line 2)",
                "validators[1]: type is a required field (line 3)",
                "validators[2].type: unsupported type \"stati\" for validator (expected one of static, notaryv1, cosign, notation) (line 5)",
            ]
        );
    }

    #[test]
    fn signature_validators_need_trust_roots() {
        for kind in ["notaryv1", "cosign", "notation"] {
            let text = with_validator(&format!("  - name: v\n    type: {kind}\n"));
            assert_rejected(
                &text,
                "validators[0].trustRoots: no trust roots provided for validator v",
            );
            let text = with_validator(&format!(
                "  - name: v\n    type: {kind}\n    trustRoots: []\n"
            ));
            assert_rejected(
                &text,
                "validators[0].trustRoots: no trust roots provided for validator v (line 4)",
            );
        }
    }

    #[test]
    fn bad_urls_are_rejected() {
        let notary = with_validator("  - name: v\n    type: notaryv1\n    host: \"https://no tary\"\n    trustRoots: [{name: a, key: x}]\n");
        assert_rejected(
            &notary,
            "validators[0].host: invalid URL \"https://no tary\"",
        );
        let rekor = with_validator("  - name: v\n    type: cosign\n    host: {rekor: \"ftp://rekor\"}\n    trustRoots: [{name: a, key: x}]\n");
        assert_rejected(
            &rekor,
            "validators[0].host.rekor: invalid URL \"ftp://rekor\"",
        );
    }

    #[test]
    fn bad_pem_is_rejected_where_connaisseur_checks_it() {
        let cosign_field = |field: &str, value: &str| {
            with_validator(&format!("  - name: v\n    type: cosign\n    host: {{{field}: {value}}}\n    trustRoots: [{{name: a, key: x}}]\n"))
        };
        assert_rejected(
            &cosign_field("fulcioCert", "junk"),
            "validators[0].host.fulcioCert: not a valid PEM certificate",
        );
        assert_rejected(
            &cosign_field("rekorPubkey", "junk"),
            "validators[0].host.rekorPubkey: not a valid PEM public key",
        );
        assert_rejected(
            &cosign_field("ctLogPubkey", "junk"),
            "validators[0].host.ctLogPubkey: not a valid PEM public key",
        );
        for kind in ["notaryv1", "cosign", "notation"] {
            let text = with_validator(&format!("  - name: v\n    type: {kind}\n    cert: junk\n    trustRoots: [{{name: a, key: x, cert: junk}}]\n"));
            assert_rejected(&text, "validators[0].cert: not a valid PEM certificate: no CERTIFICATE block found (line 4)");
        }
        let notation = with_validator("  - name: v\n    type: notation\n    trustRoots:\n      - name: a\n        cert: junk\n        tsCert: junk\n");
        assert_rejected(
            &notation,
            "validators[0].trustRoots[0].cert: not a valid PEM certificate",
        );
        assert_rejected(&notation, "validators[0].trustRoots[0].tsCert: not a valid PEM certificate: no items found (line 7)");
        let no_cert = with_validator(
            "  - name: v\n    type: notation\n    trustRoots: [{name: a, key: x}]\n",
        );
        assert_rejected(
            &no_cert,
            "validators[0].trustRoots[0].cert: cert is a required field",
        );
    }

    /// Well-framed PEM whose content does not parse, for every PEM field: each is refused
    /// at load with its path and line (spec item 13), and a good value loads.
    #[test]
    fn unparsable_pem_content_is_refused_in_every_field() {
        use crate::config::pem::tests::pem_block;
        let block = |label: &str| -> String {
            pem_block(label, b"garbage")
                .lines()
                .map(|line| format!("          {line}\n"))
                .collect()
        };
        let (bad_cert, bad_key) = (block("CERTIFICATE"), block("PUBLIC KEY"));
        let indent = |pem: &str| -> String {
            pem.lines()
                .map(|line| format!("          {line}\n"))
                .collect()
        };
        let (good_cert, good_key) = (indent(&certificate_pem()), indent(&public_key_pem()));
        // (validator type, YAML of the field at 6 spaces, the other fields, path, expected)
        let root_key = format!("    trustRoots:\n      - name: a\n        key: |\n{good_key}");
        let root_cert = format!("    trustRoots:\n      - name: a\n        cert: |\n{good_cert}");
        let cases = [
            (
                "notaryv1",
                "cert",
                &root_key,
                "validators[0].cert",
                "certificate",
            ),
            (
                "cosign",
                "cert",
                &root_key,
                "validators[0].cert",
                "certificate",
            ),
            (
                "notation",
                "cert",
                &root_cert,
                "validators[0].cert",
                "certificate",
            ),
        ];
        for (kind, field, roots, path, expected) in cases {
            let text = with_validator(&format!(
                "  - name: v\n    type: {kind}\n    {field}: |\n{bad_cert}{roots}"
            ));
            assert_rejected(
                &text,
                &format!("{path}: not a valid PEM {expected}: certificate 1 of the bundle is not an X.509 certificate"),
            );
            assert_rejected(&text, "(line 4)");
            let good = with_validator(&format!(
                "  - name: v\n    type: {kind}\n    {field}: |\n{good_cert}{roots}"
            ));
            assert!(Config::from_yaml(&good).is_ok(), "{good}");
        }
        for (field, bad, good, expected) in [
            ("fulcioCert", &bad_cert, &good_cert, "certificate"),
            ("rekorPubkey", &bad_key, &good_key, "public key"),
            ("ctLogPubkey", &bad_key, &good_key, "public key"),
        ] {
            let host = |value: &str| {
                with_validator(&format!(
                    "  - name: v\n    type: cosign\n    host:\n      {field}: |\n{value}{root_key}"
                ))
            };
            assert_rejected(
                &host(bad),
                &format!("validators[0].host.{field}: not a valid PEM {expected}"),
            );
            assert_rejected(&host(bad), "(line 5)");
            assert!(Config::from_yaml(&host(good)).is_ok(), "{}", host(good));
        }
        for kind in ["notaryv1", "cosign"] {
            let text = with_validator(&format!(
                "  - name: v\n    type: {kind}\n    trustRoots:\n      - name: a\n        key: |\n{bad_key}"
            ));
            assert_rejected(
                &text,
                "validators[0].trustRoots[0].key: not a valid PEM public key",
            );
            assert_rejected(&text, "(line 6)");
        }
        for field in ["cert", "tsCert"] {
            let other = if field == "cert" { "tsCert" } else { "cert" };
            let text = with_validator(&format!(
                "  - name: v\n    type: notation\n    trustRoots:\n      - name: a\n        {other}: |\n{good_cert}        {field}: |\n{bad_cert}"
            ));
            assert_rejected(
                &text,
                &format!("validators[0].trustRoots[0].{field}: not a valid PEM certificate: is not an X.509 certificate"),
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_decoding() {
        let text = format!("validators: {}\npolicy: []\n", "[".repeat(100_000));
        assert_eq!(
            errors(&text),
            ["the document nests collections deeper than 100 levels (line 1)"]
        );
    }

    #[test]
    fn trust_root_material_must_be_exactly_one() {
        let none = with_validator("  - name: v\n    type: cosign\n    trustRoots:\n      - name: a\n      - name: b\n        key: x\n        keyless: {issuer: i, subject: s}\n");
        let found = errors(&none);
        assert_eq!(
            found,
            [
                "validators[0].trustRoots[0]: exactly one of key, cert, keyless (line 5)",
                "validators[0].trustRoots[1]: exactly one of key, cert, keyless (line 6)",
            ]
        );
        let unnamed =
            with_validator("  - name: v\n    type: notaryv1\n    trustRoots: [{key: x}]\n");
        assert_rejected(
            &unnamed,
            "validators[0].trustRoots[0]: name is a required field",
        );
    }

    #[test]
    fn keyless_constraints() {
        let text = with_validator("  - name: v\n    type: cosign\n    trustRoots:\n      - name: a\n        keyless:\n          issuer: i\n          issuerRegex: r\n");
        assert_rejected(
            &text,
            "validators[0].trustRoots[0].keyless: exactly one of issuer, issuerRegex (line 7)",
        );
        assert_rejected(
            &text,
            "validators[0].trustRoots[0].keyless: exactly one of subject, subjectRegex",
        );
    }

    #[test]
    fn auth_needs_a_source() {
        let text = with_validator("  - name: v\n    type: cosign\n    auth: {useKeychain: false}\n    trustRoots: [{name: a, key: x}]\n");
        assert_rejected(
            &text,
            "validators[0].auth: neither secretName nor useKeychain defined (line 4)",
        );
        let helm = with_validator("  - name: v\n    type: notaryv1\n    auth: {username: u, password: p}\n    trustRoots: [{name: a, key: x}]\n");
        assert_rejected(
            &helm,
            "validators[0].auth: username/password are only understood by the Helm chart",
        );
    }

    #[test]
    fn rule_errors_carry_their_path() {
        let base = "validators: [{name: default, type: static}]\npolicy:\n  - pattern: ok\n";
        let cases = [
            ("  - validator: x\n", "policy[1]: pattern is a required field (line 4)"),
            ("  - pattern: \"[a\"\n", "policy[1].pattern: invalid glob pattern: '[' without a closing ']' (line 4)"),
            ("  - pattern: x\n    with: {required: [a], delegations: [b]}\n", "policy[1].with: required must not be set together with delegations (line 5)"),
            ("  - pattern: x\n    with: {threshold: -2}\n", "policy[1].with.threshold: threshold must be 0 or greater, got -2 (line 5)"),
            ("  - pattern: x\n    with: {mode: validate}\n", "policy[1].with.mode: \"validate\" must be one of [mutate insecureValidateOnly]"),
            ("  - pattern: x\n    with: {verificationLevel: lax}\n", "policy[1].with.verificationLevel: \"lax\" must be one of [strict permissive audit]"),
            ("  - pattern: x\n    with: {verifyTimestamp: never}\n", "policy[1].with.verifyTimestamp: \"never\" must be one of [always afterCertExpiry]"),
            ("  - pattern: x\n    with: {required: []}\n", "policy[1].with.required: must contain at least 1 item"),
            ("  - pattern: x\n    with: {delegations: [\"\"]}\n", "policy[1].with.delegations[0]: must be a non-empty string"),
            ("  - pattern: x\n    with: {threshold: two}\n", "policy[1].with.threshold: invalid type"),
        ];
        for (rule, expected) in cases {
            assert_rejected(&format!("{base}{rule}"), expected);
        }
    }

    #[test]
    fn missing_secrets_are_reported_with_the_validator_path() {
        let text = "validators:\n  - name: a\n    type: static\n  - name: b\n    type: cosign\n    auth: {secretName: nowhere}\n    trustRoots: [{name: default, key: 'pkcs11:token=x'}]\npolicy: [{pattern: x}]\n";
        let config = Config::from_yaml(text).unwrap_or_else(|e| panic!("{e:?}"));
        let errors = config
            .check_secrets(Path::new("/nonexistent/secrets"))
            .err()
            .unwrap_or_default();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            ["validators[1].auth.secretName: no authentication file for secret: neither /nonexistent/secrets/nowhere/secret.yaml nor /nonexistent/secrets/nowhere/.dockerconfigjson exists"]
        );
        assert_eq!(
            Config::embedded_default().check_secrets(Path::new("/nonexistent")),
            Ok(())
        );
    }

    #[test]
    fn unknown_validator_in_a_rule_is_a_request_time_error() {
        let text =
            "validators: [{name: a, type: static}]\npolicy: [{pattern: x, validator: nope}]\n";
        assert!(Config::from_yaml(text).is_ok());
    }

    #[test]
    fn oversized_documents_are_refused_before_decoding() {
        let text = format!("# {}\n", "x".repeat(MAX_CONFIG_BYTES));
        assert_rejected(&text, "more than the");
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
            ));
        }
        assert!(Config::from_yaml(&text).is_err());
    }
}
