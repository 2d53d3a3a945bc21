//! Policy rules (`policy[]`): a pattern, the validator to use and its `with` options.

use serde::Deserialize;

use super::error::Problem;
use super::glob::Glob;
use super::validator::{join, DEFAULT_VALIDATOR};
use super::yaml::Yaml11Bool;

/// One policy rule, its pattern compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The pattern as written (specificity is computed on it, §2.3).
    pub pattern: String,
    /// The validator name as written; `None` means `default`.
    pub validator: Option<String>,
    pub with: RuleOptions,
    glob: Glob,
}

impl Rule {
    /// The validator this rule uses: its `validator`, else `default`.
    pub fn validator_name(&self) -> &str {
        self.validator.as_deref().unwrap_or(DEFAULT_VALIDATOR)
    }

    /// `*:*` with the default validator: the rule of the deny-all fallback configuration.
    pub(super) fn everything() -> Rule {
        Rule {
            pattern: "*:*".to_owned(),
            validator: None,
            with: RuleOptions::default(),
            glob: Glob::everything(),
        }
    }

    /// Whether the normalised image name matches the pattern (with Connaisseur's implicit
    /// `*` at both ends).
    pub fn matches(&self, normalised_image: &str) -> bool {
        self.glob.is_match(normalised_image)
    }
}

/// Whether the verified digest is written back into the admitted object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Mutate,
    InsecureValidateOnly,
}

/// Notation trust policy level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerificationLevel {
    #[default]
    Strict,
    Permissive,
    Audit,
}

/// Notation timestamp policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerifyTimestamp {
    #[default]
    Always,
    AfterCertExpiry,
}

/// The `with` options of a rule; options that do not concern the chosen validator are
/// ignored, as in Connaisseur.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOptions {
    /// Trust root name; `None` means `default`, `"*"` all roots.
    pub trust_root: Option<String>,
    /// cosign: require Rekor inclusion.
    pub verify_in_transparency_log: bool,
    /// cosign: require signed certificate timestamps on keyless certificates.
    pub verify_sct: bool,
    /// cosign: minimum number of valid signatures; `None` when absent or 0.
    pub threshold: Option<u64>,
    /// cosign: trust roots that must have signed.
    pub required: Vec<String>,
    /// notaryv1: delegation roles that must all have signed.
    pub delegations: Vec<String>,
    pub mode: Mode,
    pub verification_level: VerificationLevel,
    pub verify_timestamp: VerifyTimestamp,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            trust_root: None,
            verify_in_transparency_log: true,
            verify_sct: true,
            threshold: None,
            required: Vec::new(),
            delegations: Vec::new(),
            mode: Mode::default(),
            verification_level: VerificationLevel::default(),
            verify_timestamp: VerifyTimestamp::default(),
        }
    }
}

impl RuleOptions {
    /// The trust root references to resolve: `[trustRoot]` or none.
    pub fn trust_root_references(&self) -> &[String] {
        self.trust_root.as_slice()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pattern: Option<String>,
    validator: Option<String>,
    with: Option<RawOptions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawOptions {
    trust_root: Option<String>,
    verify_in_transparency_log: Option<Yaml11Bool>,
    #[serde(rename = "verifySCT")]
    verify_sct: Option<Yaml11Bool>,
    threshold: Option<i64>,
    required: Option<Vec<String>>,
    delegations: Option<Vec<String>>,
    mode: Option<String>,
    verification_level: Option<String>,
    verify_timestamp: Option<String>,
}

const MODES: &[&str] = &["mutate", "insecureValidateOnly"];
const VERIFICATION_LEVELS: &[&str] = &["strict", "permissive", "audit"];
const VERIFY_TIMESTAMPS: &[&str] = &["always", "afterCertExpiry"];

/// Problems of one rule, each at a path relative to the rule (`""` = the rule).
pub(super) type RuleProblems = Vec<(String, Problem)>;

impl RawRule {
    pub(super) fn check(self) -> Result<Rule, RuleProblems> {
        let mut problems = Vec::new();
        let pattern = self.pattern.unwrap_or_default();
        let glob = if pattern.is_empty() {
            problems.push((String::new(), Problem::MissingField("pattern")));
            None
        } else {
            Glob::compile_policy_pattern(&pattern)
                .map_err(|e| {
                    problems.push(("pattern".to_owned(), Problem::BadPattern(e.to_string())))
                })
                .ok()
        };
        let with = match self.with {
            Some(raw) => raw.check(&mut problems),
            None => RuleOptions::default(),
        };
        match glob {
            Some(glob) if problems.is_empty() => Ok(Rule {
                pattern,
                validator: self.validator.filter(|name| !name.is_empty()),
                with,
                glob,
            }),
            _ => Err(problems),
        }
    }
}

impl RawOptions {
    fn check(self, problems: &mut RuleProblems) -> RuleOptions {
        let defaults = RuleOptions::default();
        if self.required.is_some() && self.delegations.is_some() {
            problems.push(("with".to_owned(), Problem::RequiredWithDelegations));
        }
        let threshold = match self.threshold {
            Some(value) if value < 0 => {
                problems.push((
                    "with.threshold".to_owned(),
                    Problem::NegativeThreshold(value),
                ));
                None
            }
            Some(0) | None => None,
            Some(value) => u64::try_from(value).ok(),
        };
        RuleOptions {
            trust_root: self.trust_root.filter(|name| !name.is_empty()),
            verify_in_transparency_log: self
                .verify_in_transparency_log
                .map_or(defaults.verify_in_transparency_log, |flag| flag.0),
            verify_sct: self.verify_sct.map_or(defaults.verify_sct, |flag| flag.0),
            threshold,
            required: names(self.required, "required", problems),
            delegations: names(self.delegations, "delegations", problems),
            mode: choice(self.mode, "mode", MODES, problems).map_or(defaults.mode, |index| {
                if index == 0 {
                    Mode::Mutate
                } else {
                    Mode::InsecureValidateOnly
                }
            }),
            verification_level: choice(
                self.verification_level,
                "verificationLevel",
                VERIFICATION_LEVELS,
                problems,
            )
            .map_or(defaults.verification_level, |index| match index {
                0 => VerificationLevel::Strict,
                1 => VerificationLevel::Permissive,
                _ => VerificationLevel::Audit,
            }),
            verify_timestamp: choice(
                self.verify_timestamp,
                "verifyTimestamp",
                VERIFY_TIMESTAMPS,
                problems,
            )
            .map_or(defaults.verify_timestamp, |index| {
                if index == 0 {
                    VerifyTimestamp::Always
                } else {
                    VerifyTimestamp::AfterCertExpiry
                }
            }),
        }
    }
}

/// A list of names that, when present, must have at least one item, none empty.
fn names(list: Option<Vec<String>>, field: &str, problems: &mut RuleProblems) -> Vec<String> {
    let Some(list) = list else {
        return Vec::new();
    };
    let path = join("with", field);
    if list.is_empty() {
        problems.push((path.clone(), Problem::EmptyList));
    }
    for (index, name) in list.iter().enumerate() {
        if name.is_empty() {
            problems.push((format!("{path}[{index}]"), Problem::EmptyItem));
        }
    }
    list
}

/// The index of `value` in `allowed`; an absent or empty value means the default.
fn choice(
    value: Option<String>,
    field: &str,
    allowed: &'static [&'static str],
    problems: &mut RuleProblems,
) -> Option<usize> {
    let value = value.filter(|value| !value.is_empty())?;
    let found = allowed.iter().position(|candidate| *candidate == value);
    if found.is_none() {
        problems.push((
            join("with", field),
            Problem::InvalidChoice { value, allowed },
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Rule, RuleProblems> {
        match serde_norway::from_str::<RawRule>(text) {
            Ok(raw) => raw.check(),
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn defaults() {
        let rule = check("pattern: '*:*'");
        let rule = rule.as_ref().ok();
        assert_eq!(rule.map(|r| r.validator_name()), Some("default"));
        assert_eq!(rule.map(|r| &r.with), Some(&RuleOptions::default()));
        assert_eq!(rule.map(|r| r.with.trust_root_references().len()), Some(0));
    }

    #[test]
    fn every_option_is_read() {
        let rule = check(
            "pattern: x\nvalidator: v\nwith:\n  trustRoot: '*'\n  verifyInTransparencyLog: false\n  verifySCT: no\n  threshold: 2\n  required: [a, b]\n  mode: insecureValidateOnly\n  verificationLevel: audit\n  verifyTimestamp: afterCertExpiry\n",
        );
        let expected = RuleOptions {
            trust_root: Some("*".into()),
            verify_in_transparency_log: false,
            verify_sct: false,
            threshold: Some(2),
            required: vec!["a".into(), "b".into()],
            delegations: Vec::new(),
            mode: Mode::InsecureValidateOnly,
            verification_level: VerificationLevel::Audit,
            verify_timestamp: VerifyTimestamp::AfterCertExpiry,
        };
        assert_eq!(rule.as_ref().map(|r| &r.with), Ok(&expected));
        assert_eq!(
            rule.as_ref().map(|r| r.with.trust_root_references()),
            Ok(&["*".to_owned()][..])
        );
        let delegations = check("pattern: x\nwith: {delegations: [releases]}");
        assert_eq!(
            delegations.map(|r| r.with.delegations),
            Ok(vec!["releases".to_owned()])
        );
    }

    #[test]
    fn invalid_options_are_all_reported() {
        let problems = check(
            "pattern: x\nwith:\n  required: []\n  delegations: ['']\n  threshold: -1\n  mode: Mutate\n  verificationLevel: lax\n  verifyTimestamp: never\n",
        );
        let paths: Vec<String> = problems
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            paths,
            [
                "with",
                "with.threshold",
                "with.required",
                "with.delegations[0]",
                "with.mode",
                "with.verificationLevel",
                "with.verifyTimestamp"
            ]
        );
    }

    #[test]
    fn missing_and_malformed_patterns() {
        assert_eq!(
            check("validator: x").err(),
            Some(vec![(String::new(), Problem::MissingField("pattern"))])
        );
        assert!(matches!(
            check("pattern: 'reg.io/[abc'").err().as_deref(),
            Some([(path, Problem::BadPattern(_))]) if path == "pattern"
        ));
    }

    #[test]
    fn old_and_unknown_option_names_are_refused() {
        assert!(serde_norway::from_str::<RawRule>("pattern: x\nwith: {key: k}").is_err());
        assert!(serde_norway::from_str::<RawRule>("pattern: x\nwith: {trust_root: k}").is_err());
    }
}
