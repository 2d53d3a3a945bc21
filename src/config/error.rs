//! Configuration errors. Every error names the place in the YAML document it is about
//! (e.g. `validators[2].trustRoots[0]`) and, when known, the line, so that a cluster
//! operator can fix the file without guessing.

use std::fmt;
use std::path::PathBuf;

/// One reason why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    Read { file: PathBuf, reason: String },
    /// The YAML decoder refused the document: syntax, a wrong type, an unknown or duplicate
    /// key. `message` comes from the decoder and already carries the path and position.
    Yaml {
        message: String,
        line: Option<usize>,
    },
    /// The document is well-formed but a value is not acceptable.
    Invalid {
        path: String,
        problem: Problem,
        line: Option<usize>,
    },
}

impl ConfigError {
    /// The 1-based line of the document the error is about, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Read { .. } => None,
            Self::Yaml { line, .. } | Self::Invalid { line, .. } => *line,
        }
    }

    /// The YAML path the error is about (`""` for the whole document or a file error).
    pub fn path(&self) -> &str {
        match self {
            Self::Invalid { path, .. } => path,
            Self::Read { .. } | Self::Yaml { .. } => "",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { file, reason } => write!(f, "{}: {reason}", file.display()),
            Self::Yaml { message, .. } => f.write_str(message),
            Self::Invalid {
                path,
                problem,
                line,
            } => {
                if path.is_empty() {
                    write!(f, "{problem}")?;
                } else {
                    write!(f, "{path}: {problem}")?;
                }
                match line {
                    Some(line) => write!(f, " (line {line})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong with a well-formed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A list that must not be empty is empty or absent (`validators`, `policy`, …).
    EmptyList,
    /// A list entry that must be a non-empty string is empty.
    EmptyItem,
    /// A required field is absent or empty.
    MissingField(&'static str),
    UnsupportedValidatorType(String),
    NoTrustRoots {
        validator: String,
    },
    /// notaryv1 / cosign trust roots need exactly one kind of key material.
    TrustRootMaterial,
    TimestampCertWithoutCert,
    /// keyless `issuer`/`issuerRegex` or `subject`/`subjectRegex` not exactly one.
    KeylessConstraint {
        literal: &'static str,
        regex: &'static str,
    },
    BadPem {
        expected: &'static str,
        reason: String,
    },
    BadUrl {
        url: String,
        reason: String,
    },
    AuthWithoutSource,
    AuthPlainCredentials,
    BadSecretName(String),
    /// Neither `secret.yaml` nor `.dockerconfigjson` in the secret's directory.
    SecretMissing(PathBuf),
    BadPattern(String),
    RequiredWithDelegations,
    NegativeThreshold(i64),
    /// A feature tastevin does not offer yet; the text says which and what to do instead.
    NotSupportedYet(String),
    /// `host.trustedRoot` names a file that cannot be read or is no Sigstore trusted root.
    TrustedRoot {
        path: String,
        reason: String,
    },
    InvalidChoice {
        value: String,
        allowed: &'static [&'static str],
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyList => f.write_str("must contain at least 1 item"),
            Self::EmptyItem => f.write_str("must be a non-empty string"),
            Self::MissingField(field) => write!(f, "{field} is a required field"),
            Self::UnsupportedValidatorType(kind) => write!(
                f,
                "unsupported type {kind:?} for validator (expected one of static, notaryv1, cosign, notation)"
            ),
            Self::NoTrustRoots { validator } => {
                write!(f, "no trust roots provided for validator {validator}")
            }
            Self::TrustRootMaterial => f.write_str("exactly one of key, cert, keyless"),
            Self::TimestampCertWithoutCert => f.write_str("tsCert is only allowed next to cert"),
            Self::KeylessConstraint { literal, regex } => {
                write!(f, "exactly one of {literal}, {regex}")
            }
            Self::BadPem { expected, reason } => {
                write!(f, "not a valid PEM {expected}: {reason}")
            }
            Self::BadUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            Self::AuthWithoutSource => f.write_str("neither secretName nor useKeychain defined"),
            Self::AuthPlainCredentials => f.write_str(
                "username/password are only understood by the Helm chart; put them in a secret and reference it with secretName",
            ),
            Self::BadSecretName(name) => write!(
                f,
                "secret name {name:?} must be a single path component (no '/', not '.' or '..')"
            ),
            Self::SecretMissing(dir) => write!(
                f,
                "no authentication file for secret: neither {}/secret.yaml nor {}/.dockerconfigjson exists",
                dir.display(),
                dir.display()
            ),
            Self::BadPattern(reason) => write!(f, "invalid glob pattern: {reason}"),
            Self::RequiredWithDelegations => {
                f.write_str("required must not be set together with delegations")
            }
            Self::NotSupportedYet(what) => f.write_str(what),
            Self::TrustedRoot { path, reason } => write!(f, "cannot use {path}: {reason}"),
            Self::NegativeThreshold(value) => {
                write!(f, "threshold must be 0 or greater, got {value}")
            }
            Self::InvalidChoice { value, allowed } => {
                write!(f, "{value:?} must be one of [{}]", allowed.join(" "))
            }
        }
    }
}
