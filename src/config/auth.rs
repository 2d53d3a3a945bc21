//! The `auth` object of a validator: where registry / Notary credentials come from.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::Problem;
use super::yaml::Yaml11Bool;

/// Credential source of a validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `/app/secrets/<name>/secret.yaml`, else `/app/secrets/<name>/.dockerconfigjson`.
    Secret(String),
    /// The ambient cloud / Kubernetes keychain (honoured by cosign only).
    Keychain,
}

/// Where Kubernetes secrets named by `auth.secretName` are mounted.
pub const SECRETS_DIR: &str = "/app/secrets";
/// Credential files looked for in a secret's directory, in order.
pub const SECRET_FILES: [&str; 2] = ["secret.yaml", ".dockerconfigjson"];

impl Auth {
    /// For a secret: the first credential file that exists under `secrets_dir`, or the
    /// directory that lacks one. Reading the file is the registry client's business.
    pub fn secret_file(&self, secrets_dir: &Path) -> Option<Result<PathBuf, PathBuf>> {
        let Auth::Secret(name) = self else {
            return None;
        };
        let dir = secrets_dir.join(name);
        Some(
            SECRET_FILES
                .iter()
                .map(|file| dir.join(file))
                .find(|path| path.is_file())
                .ok_or(dir),
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAuth {
    secret_name: Option<String>,
    use_keychain: Option<Yaml11Bool>,
    // Only meaningful in Helm values (the chart rewrites them into a secret); accepted
    // here so the error can say so instead of "unknown field".
    username: Option<String>,
    password: Option<String>,
    registry: Option<String>,
}

impl RawAuth {
    pub(super) fn check(self) -> Result<Auth, (&'static str, Problem)> {
        match (self.secret_name, self.use_keychain) {
            (Some(name), _) if !name.is_empty() => {
                if name.contains('/') || name == "." || name == ".." {
                    Err(("secretName", Problem::BadSecretName(name)))
                } else {
                    Ok(Auth::Secret(name))
                }
            }
            (_, Some(Yaml11Bool(true))) => Ok(Auth::Keychain),
            _ if self.username.is_some() || self.password.is_some() || self.registry.is_some() => {
                Err(("", Problem::AuthPlainCredentials))
            }
            _ => Err(("", Problem::AuthWithoutSource)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Auth, (&'static str, Problem)> {
        match serde_norway::from_str::<RawAuth>(text) {
            Ok(raw) => raw.check(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn secret_name_wins_over_keychain() {
        assert_eq!(
            check("secretName: regcred\nuseKeychain: true"),
            Ok(Auth::Secret("regcred".into()))
        );
        assert_eq!(check("useKeychain: yes"), Ok(Auth::Keychain));
    }

    #[test]
    fn missing_or_helm_only_sources_are_refused() {
        assert_eq!(
            check("useKeychain: false"),
            Err(("", Problem::AuthWithoutSource))
        );
        assert_eq!(check("{}"), Err(("", Problem::AuthWithoutSource)));
        assert_eq!(
            check("username: u\npassword: p"),
            Err(("", Problem::AuthPlainCredentials))
        );
        assert!(matches!(
            check("secretName: ../etc"),
            Err(("secretName", Problem::BadSecretName(_)))
        ));
    }

    #[test]
    fn secret_files_are_looked_up_in_order() {
        let base = std::env::temp_dir().join(format!("tastevin-auth-{}", std::process::id()));
        let dir = base.join("creds");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("{e}");
        }
        let secret = Auth::Secret("creds".into());
        assert_eq!(secret.secret_file(&base), Some(Err(dir.clone())));
        let docker = dir.join(".dockerconfigjson");
        let yaml = dir.join("secret.yaml");
        for path in [&docker, &yaml] {
            if let Err(e) = std::fs::write(path, "{}") {
                panic!("{e}");
            }
        }
        assert_eq!(secret.secret_file(&base), Some(Ok(yaml.clone())));
        let _ = std::fs::remove_file(&yaml);
        assert_eq!(secret.secret_file(&base), Some(Ok(docker)));
        assert_eq!(Auth::Keychain.secret_file(&base), None);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_norway::from_str::<RawAuth>("token: x").is_err());
    }
}
