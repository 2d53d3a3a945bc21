//! Admission settings from the environment, read once at startup.
//!
//! Names, defaults and boolean syntax follow Connaisseur (Go `strconv.ParseBool`):
//! `DETECTION_MODE` (false), `RESOURCE_VALIDATION_MODE` (`all`/`podsOnly`, case-insensitive,
//! anything else is `all`), `AUTOMATIC_UNCHANGED_APPROVAL` (false), `AUTOMATIC_CHILD_APPROVAL`
//! (true). `REQUEST_DEADLINE_SECONDS` (tastevin's own, default 29) bounds all validations of one
//! request; keep it below the webhook's `timeoutSeconds`.

use std::path::PathBuf;
use std::time::Duration;

use crate::cache::CachePolicy;
use crate::config::SECRETS_DIR;
use crate::log_warn;

/// Which requests may be denied or mutated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceValidationMode {
    /// Every workload kind is validated and mutated.
    All,
    /// Only Pods are denied or mutated; other kinds are admitted with warnings.
    PodsOnly,
}

/// The per-request behaviour switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub detection_mode: bool,
    pub resource_validation_mode: ResourceValidationMode,
    pub automatic_unchanged_approval: bool,
    pub automatic_child_approval: bool,
    pub request_deadline: Duration,
    /// `CACHE_EXPIRY_SECONDS` and `CACHE_ERRORS`.
    pub cache: CachePolicy,
    /// Where `auth.secretName` secrets are mounted: `TASTEVIN_SECRETS_DIR`, else
    /// `/app/secrets` (the `--secrets-dir` flag overrides both).
    pub secrets_dir: PathBuf,
}

/// Connaisseur's deadline: one second below the webhook's 30 s `timeoutSeconds`.
pub const DEFAULT_REQUEST_DEADLINE: Duration = Duration::from_secs(29);

/// The longest deadline accepted; the API server never waits longer than 30 s anyway.
pub const MAX_REQUEST_DEADLINE: Duration = Duration::from_secs(30);

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            detection_mode: false,
            resource_validation_mode: ResourceValidationMode::All,
            automatic_unchanged_approval: false,
            automatic_child_approval: true,
            request_deadline: DEFAULT_REQUEST_DEADLINE,
            cache: CachePolicy::default(),
            secrets_dir: PathBuf::from(SECRETS_DIR),
        }
    }
}

/// Something about the settings an operator should read in the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsNotice {
    /// An environment variable held a value that is not understood; the default is used.
    Unparseable {
        variable: &'static str,
        value: String,
        default: String,
    },
    /// A cache variable was not understood (the text says which and what is used).
    Cache(String),
}

impl std::fmt::Display for SettingsNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsNotice::Unparseable {
                variable,
                value,
                default,
            } => write!(f, "{variable}={value:?} is not understood, using {default}"),
            SettingsNotice::Cache(text) => f.write_str(text),
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment, logging values it does not understand.
    pub fn from_env() -> Settings {
        let (settings, notices) = Settings::from_lookup(|name| std::env::var(name).ok());
        for notice in notices {
            log_warn!("{notice}");
        }
        settings
    }

    /// Reads the settings through `lookup` (the environment in production, a map in tests) and
    /// returns what was not understood alongside.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (Settings, Vec<SettingsNotice>) {
        let defaults = Settings::default();
        let mut notices = Vec::new();
        let mut flag = |variable: &'static str, default: bool| match lookup(variable) {
            None => default,
            Some(value) => parse_go_bool(&value).unwrap_or_else(|| {
                notices.push(SettingsNotice::Unparseable {
                    variable,
                    value,
                    default: default.to_string(),
                });
                default
            }),
        };
        let detection_mode = flag("DETECTION_MODE", defaults.detection_mode);
        let automatic_unchanged_approval = flag(
            "AUTOMATIC_UNCHANGED_APPROVAL",
            defaults.automatic_unchanged_approval,
        );
        let automatic_child_approval = flag(
            "AUTOMATIC_CHILD_APPROVAL",
            defaults.automatic_child_approval,
        );
        let resource_validation_mode = match lookup("RESOURCE_VALIDATION_MODE") {
            Some(value) if value.eq_ignore_ascii_case("podsOnly") => {
                ResourceValidationMode::PodsOnly
            }
            _ => ResourceValidationMode::All,
        };
        let request_deadline = match lookup("REQUEST_DEADLINE_SECONDS") {
            None => defaults.request_deadline,
            Some(value) => parse_deadline(&value).unwrap_or_else(|| {
                notices.push(SettingsNotice::Unparseable {
                    variable: "REQUEST_DEADLINE_SECONDS",
                    value,
                    default: format!("{} seconds", DEFAULT_REQUEST_DEADLINE.as_secs()),
                });
                defaults.request_deadline
            }),
        };
        let (cache, cache_notices) = CachePolicy::from_lookup(&lookup);
        notices.extend(cache_notices.into_iter().map(SettingsNotice::Cache));
        let settings = Settings {
            detection_mode,
            resource_validation_mode,
            automatic_unchanged_approval,
            automatic_child_approval,
            request_deadline,
            cache,
            secrets_dir: lookup("TASTEVIN_SECRETS_DIR").map_or(defaults.secrets_dir, PathBuf::from),
        };
        (settings, notices)
    }

    /// Child approval as it actually applies: Connaisseur turns it off under `podsOnly`,
    /// because approving Pods by their (unvalidated) parents would then admit anything.
    pub fn effective_child_approval(&self) -> bool {
        self.automatic_child_approval
            && self.resource_validation_mode == ResourceValidationMode::All
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A positive number of seconds (fractions allowed) up to [`MAX_REQUEST_DEADLINE`].
fn parse_deadline(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    if seconds > 0.0 && seconds <= MAX_REQUEST_DEADLINE.as_secs_f64() {
        Some(Duration::from_secs_f64(seconds))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> (Settings, Vec<SettingsNotice>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn item_18_defaults() {
        let (settings, notices) = read(&[]);
        assert_eq!(settings, Settings::default());
        assert!(!settings.detection_mode);
        assert!(!settings.automatic_unchanged_approval);
        assert!(settings.automatic_child_approval);
        assert_eq!(
            settings.resource_validation_mode,
            ResourceValidationMode::All
        );
        assert_eq!(settings.request_deadline, Duration::from_secs(29));
        assert!(notices.is_empty());
    }

    #[test]
    fn go_booleans_and_case_insensitive_mode() {
        let (settings, notices) = read(&[
            ("DETECTION_MODE", "T"),
            ("AUTOMATIC_UNCHANGED_APPROVAL", "1"),
            ("AUTOMATIC_CHILD_APPROVAL", "False"),
            ("RESOURCE_VALIDATION_MODE", "PODSONLY"),
            ("REQUEST_DEADLINE_SECONDS", "2.5"),
        ]);
        assert!(settings.detection_mode);
        assert!(settings.automatic_unchanged_approval);
        assert!(!settings.automatic_child_approval);
        assert_eq!(
            settings.resource_validation_mode,
            ResourceValidationMode::PodsOnly
        );
        assert_eq!(settings.request_deadline, Duration::from_millis(2500));
        assert!(notices.is_empty());
    }

    #[test]
    fn unparseable_values_fall_back_to_defaults_with_a_notice() {
        let (settings, notices) = read(&[
            ("DETECTION_MODE", "yes"),
            ("AUTOMATIC_CHILD_APPROVAL", "nope"),
            ("RESOURCE_VALIDATION_MODE", "pods"),
            ("REQUEST_DEADLINE_SECONDS", "600"),
        ]);
        assert!(!settings.detection_mode);
        assert!(settings.automatic_child_approval);
        assert_eq!(
            settings.resource_validation_mode,
            ResourceValidationMode::All
        );
        assert_eq!(settings.request_deadline, DEFAULT_REQUEST_DEADLINE);
        assert_eq!(notices.len(), 3);
        assert_eq!(
            notices[0].to_string(),
            r#"DETECTION_MODE="yes" is not understood, using false"#
        );
    }

    #[test]
    fn item_38_child_approval_is_off_under_pods_only() {
        let (settings, _) = read(&[("RESOURCE_VALIDATION_MODE", "podsOnly")]);
        assert!(settings.automatic_child_approval);
        assert!(!settings.effective_child_approval());
        assert!(Settings::default().effective_child_approval());
    }
}
