//! The `auth` object of a validator: where registry / Notary credentials come from.

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
    fn unknown_keys_are_refused() {
        assert!(serde_norway::from_str::<RawAuth>("token: x").is_err());
    }
}
