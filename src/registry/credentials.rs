//! Registry credentials from a validator's `auth.secretName` (Connaisseur §1.5): the
//! mounted secret's `secret.yaml` (`username`, `password`, optional `registry`) or
//! `.dockerconfigjson` (`auths`), keys normalised the way Connaisseur does, and lookup by the
//! longest key that is a prefix of the target on a registry/path boundary (quirk 24 fixed:
//! `registry.io` no longer matches `registry.iox/...`).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::auth::BasicAuth;

/// Where Connaisseur's chart mounts `auth.secretName` secrets.
pub const DEFAULT_SECRETS_DIR: &str = "/app/secrets";
/// The file names looked for in a secret's directory, in order.
pub const SECRET_YAML: &str = "secret.yaml";
pub const DOCKER_CONFIG_JSON: &str = ".dockerconfigjson";
/// Largest credentials file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why credentials could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    /// The secret name is not a single path component.
    InvalidSecretName(String),
    /// Neither `secret.yaml` nor `.dockerconfigjson` exists for the secret.
    NoFile { secret: String, dir: PathBuf },
    /// The file could not be read, is too large, or leaves the secret's directory.
    Read { path: PathBuf, reason: String },
    /// The file's content is not the expected format.
    Parse { path: PathBuf, reason: String },
    /// A registry key is not `registry[/repository]`.
    InvalidKey { key: String, reason: String },
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::InvalidSecretName(name) => write!(
                f,
                "invalid auth.secretName {name:?}: it must be the name of a Kubernetes secret"
            ),
            CredentialsError::NoFile { secret, dir } => write!(
                f,
                "no authentication file for secret {secret}: neither {SECRET_YAML} nor {DOCKER_CONFIG_JSON} in {}",
                dir.display()
            ),
            CredentialsError::Read { path, reason } => write!(
                f,
                "error reading authentication file {}: {reason}",
                path.display()
            ),
            CredentialsError::Parse { path, reason } => write!(
                f,
                "error reading authentication file {}: {reason}",
                path.display()
            ),
            CredentialsError::InvalidKey { key, reason } => {
                write!(f, "invalid registry {key:?} in credentials: {reason}")
            }
        }
    }
}

impl std::error::Error for CredentialsError {}

/// A set of credentials, each for a registry or a registry path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Normalised key (`registry[/path]`), or `None` for a `secret.yaml` without `registry`.
    entries: Vec<(Option<String>, BasicAuth)>,
}

#[derive(Deserialize)]
struct SecretYaml {
    username: String,
    password: String,
    registry: Option<String>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    /// Loads the secret `name` from `base_dir/<name>/`.
    pub fn load(base_dir: &Path, name: &str) -> Result<Credentials, CredentialsError> {
        let single_component =
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
        if !single_component {
            return Err(CredentialsError::InvalidSecretName(name.to_string()));
        }
        let dir = base_dir.join(name);
        let yaml = dir.join(SECRET_YAML);
        let json = dir.join(DOCKER_CONFIG_JSON);
        if yaml.exists() {
            let text = read_inside(&dir, &yaml)?;
            Credentials::from_secret_yaml(&text)
                .map_err(|reason| CredentialsError::Parse { path: yaml, reason })
        } else if json.exists() {
            let text = read_inside(&dir, &json)?;
            Credentials::from_docker_config(&text).map_err(|e| match e {
                CredentialsError::Parse { reason, .. } => {
                    CredentialsError::Parse { path: json, reason }
                }
                other => other,
            })
        } else {
            Err(CredentialsError::NoFile {
                secret: name.to_string(),
                dir,
            })
        }
    }

    /// Parses a `secret.yaml`.
    pub fn from_secret_yaml(text: &str) -> Result<Credentials, String> {
        crate::yaml_depth::check(text).map_err(|e| e.to_string())?;
        let secret: SecretYaml = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let key = match secret.registry.as_deref() {
            Some(registry) if !registry.is_empty() => {
                Some(normalise_key(registry).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        Ok(Credentials {
            entries: vec![(
                key,
                BasicAuth {
                    username: secret.username,
                    password: secret.password,
                },
            )],
        })
    }

    /// Parses a Docker `config.json` (`.dockerconfigjson`). Entries without a user name and
    /// password (identity tokens, credential helpers) are skipped.
    pub fn from_docker_config(text: &str) -> Result<Credentials, CredentialsError> {
        let parse_error = |reason: String| CredentialsError::Parse {
            path: PathBuf::from(DOCKER_CONFIG_JSON),
            reason,
        };
        let config: DockerConfig =
            serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let mut entries = Vec::new();
        for (raw_key, entry) in config.auths {
            let key = normalise_key(&raw_key)?;
            let auth = match (entry.username, entry.password, entry.auth) {
                (Some(username), Some(password), _) => BasicAuth { username, password },
                (_, _, Some(encoded)) if !encoded.is_empty() => decode_auth(&encoded)
                    .map_err(|reason| parse_error(format!("auths[{raw_key:?}].auth: {reason}")))?,
                _ => continue,
            };
            entries.push((Some(key), auth));
        }
        Ok(Credentials { entries })
    }

    /// Gives entries without a registry (a `secret.yaml` without `registry`) the key `host`,
    /// as the notaryv1 validator does with its Notary host.
    pub fn with_unkeyed_entries_for(mut self, host: &str) -> Credentials {
        for (key, _) in &mut self.entries {
            if key.is_none() {
                *key = Some(host.to_string());
            }
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credentials for `target` (`registry/repository`, or a host): those of the
    /// longest key equal to it or a prefix of it followed by `/`.
    pub fn lookup(&self, target: &str) -> Option<&BasicAuth> {
        self.entries
            .iter()
            .filter_map(|(key, auth)| key.as_deref().map(|key| (key, auth)))
            .filter(|(key, _)| {
                target
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|(key, _)| key.len())
            .map(|(_, auth)| auth)
    }
}

fn decode_auth(encoded: &str) -> Result<BasicAuth, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| "expected base64 of user:password".to_string())?;
    Ok(BasicAuth {
        username: username.to_string(),
        password: password.to_string(),
    })
}

/// Reads `file` after checking that it (through any symlinks) stays inside `dir`.
fn read_inside(dir: &Path, file: &Path) -> Result<String, CredentialsError> {
    let read_error = |reason: String| CredentialsError::Read {
        path: file.to_path_buf(),
        reason,
    };
    let real_dir = dir.canonicalize().map_err(|e| read_error(e.to_string()))?;
    let real_file = file.canonicalize().map_err(|e| read_error(e.to_string()))?;
    if !real_file.starts_with(&real_dir) {
        return Err(read_error(
            "it links outside the secret's directory".to_string(),
        ));
    }
    let mut text = String::new();
    File::open(&real_file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| read_error(e.to_string()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(read_error(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    Ok(text)
}

/// Normalises a credentials key: scheme and Docker Hub's `/v1/` stripped, trailing `/`
/// dropped, `registry[/repository]` checked.
pub fn normalise_key(raw: &str) -> Result<String, CredentialsError> {
    let invalid = |reason: &str| CredentialsError::InvalidKey {
        key: raw.chars().take(256).collect(),
        reason: reason.to_string(),
    };
    let mut key = raw.trim();
    for scheme in ["https://", "http://"] {
        if key
            .get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        {
            key = key.get(scheme.len()..).unwrap_or_default();
        }
    }
    for hub in ["index.docker.io/v1", "docker.io/v1"] {
        if key.strip_suffix('/').unwrap_or(key) == hub {
            key = hub.strip_suffix("/v1").unwrap_or(hub);
        }
    }
    let key = key.strip_suffix('/').unwrap_or(key);
    let (registry, repository) = match key.split_once('/') {
        Some((registry, repository)) => (registry, Some(repository)),
        None => (key, None),
    };
    let registry_ok = !registry.is_empty()
        && registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !registry_ok {
        return Err(invalid("unable to parse registry"));
    }
    if let Some(repository) = repository {
        let repository_ok = !repository.is_empty()
            && !repository.split('/').any(str::is_empty)
            && repository.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'_' | b'-' | b'/')
            });
        if !repository_ok {
            return Err(invalid("unable to parse repository"));
        }
    }
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn auth(user: &str) -> BasicAuth {
        BasicAuth {
            username: user.to_string(),
            password: format!("{user}-pw"),
        }
    }

    #[test]
    fn keys_are_normalised_like_connaisseur() {
        assert_eq!(normalise_key("registry.io/").unwrap(), "registry.io");
        assert_eq!(
            normalise_key("https://registry.io/repo").unwrap(),
            "registry.io/repo"
        );
        assert_eq!(
            normalise_key("http://index.docker.io/v1/").unwrap(),
            "index.docker.io"
        );
        assert_eq!(normalise_key("docker.io/v1/").unwrap(), "docker.io");
        assert_eq!(normalise_key("localhost:5000").unwrap(), "localhost:5000");
        assert!(normalise_key("").is_err());
        assert!(normalise_key("reg istry").is_err());
        assert!(normalise_key("registry.io/Repo").is_err());
        assert!(normalise_key("registry.io//x").is_err());
    }

    #[test]
    fn longest_prefix_on_a_path_boundary() {
        let creds = Credentials {
            entries: vec![
                (Some("index.docker.io".to_string()), auth("hub")),
                (Some("registry.io".to_string()), auth("reg")),
                (Some("registry.io/path".to_string()), auth("path")),
            ],
        };
        let user = |t: &str| creds.lookup(t).map(|a| a.username.clone());
        assert_eq!(user("registry.io/image").as_deref(), Some("reg"));
        assert_eq!(
            user("index.docker.io/library/redis").as_deref(),
            Some("hub")
        );
        assert_eq!(user("registry.io/path/image").as_deref(), Some("path"));
        assert_eq!(user("registry.io/pathology/image").as_deref(), Some("reg"));
        assert_eq!(user("registry.io").as_deref(), Some("reg"));
        // Quirk 24 fixed: no match across a registry name boundary.
        assert_eq!(user("registry.iox/image"), None);
        assert_eq!(user("k8s.io/coredns"), None);
    }

    #[test]
    fn secret_yaml_with_and_without_registry() {
        let c =
            Credentials::from_secret_yaml("username: u\npassword: p\nregistry: https://r.io/\n")
                .unwrap();
        assert_eq!(c.lookup("r.io/x").unwrap().username, "u");
        let c = Credentials::from_secret_yaml("username: u\npassword: p\n").unwrap();
        assert_eq!(c.lookup("r.io/x"), None);
        let c = c.with_unkeyed_entries_for("notary.io");
        assert_eq!(c.lookup("notary.io").unwrap().password, "p");
        assert!(Credentials::from_secret_yaml("username: [1]\npassword: p\n").is_err());
    }

    #[test]
    fn docker_config_auth_and_explicit_fields() {
        let c = Credentials::from_docker_config(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"r.io/team":{"username":"a","password":"b:c"},"x.io":{"identitytoken":"t"}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.lookup("index.docker.io/library/redis").unwrap(),
            &BasicAuth {
                username: "u".to_string(),
                password: "p".to_string()
            }
        );
        assert_eq!(c.lookup("r.io/team/app").unwrap().password, "b:c");
        assert_eq!(c.lookup("x.io/a"), None);
        assert!(Credentials::from_docker_config(r#"{"auths":{"r.io":{"auth":"!!"}}}"#).is_err());
    }

    #[test]
    fn files_are_read_from_the_secret_directory_only() {
        let base = std::env::temp_dir().join(format!("tastevin-creds-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("yaml")).unwrap();
        fs::create_dir_all(base.join("json")).unwrap();
        fs::create_dir_all(base.join("escape")).unwrap();
        fs::write(
            base.join("yaml/secret.yaml"),
            "username: u\npassword: p\nregistry: r.io\n",
        )
        .unwrap();
        fs::write(
            base.join("json/.dockerconfigjson"),
            r#"{"auths":{"j.io":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        fs::write(base.join("outside.yaml"), "username: u\npassword: p\n").unwrap();
        std::os::unix::fs::symlink(base.join("outside.yaml"), base.join("escape/secret.yaml"))
            .unwrap();

        assert!(Credentials::load(&base, "yaml")
            .unwrap()
            .lookup("r.io/a")
            .is_some());
        assert!(Credentials::load(&base, "json")
            .unwrap()
            .lookup("j.io/a")
            .is_some());
        let e = Credentials::load(&base, "missing").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no authentication file for secret missing"),
            "{e}"
        );
        let e = Credentials::load(&base, "escape").unwrap_err();
        assert!(
            e.to_string().contains("outside the secret's directory"),
            "{e}"
        );
        for bad in ["..", "a/b", ""] {
            assert!(matches!(
                Credentials::load(&base, bad),
                Err(CredentialsError::InvalidSecretName(_))
            ));
        }
        fs::remove_dir_all(&base).unwrap();
    }
}
