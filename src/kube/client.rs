//! An in-cluster Kubernetes API client on the outbound stack ([`HttpsClient`]): the API
//! server from `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, the service account's
//! bearer token and CA from `/var/run/secrets/kubernetes.io/serviceaccount/` (or
//! `KUBE_API_TOKEN_PATH`/`KUBE_API_CA_PATH`, Connaisseur's names).
//!
//! The token is re-read whenever its file changes, since the kubelet rotates projected
//! tokens (about hourly) by swapping the mounted directory. Every call is bounded: bodies by
//! [`MAX_BODY`], time by [`CALL_TIMEOUT`] within the caller's deadline.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::metrics;
use crate::net::https_client::{self, HttpError, HttpsClient, Method, Request, Url};

/// The service account's token, mounted in every pod.
pub const DEFAULT_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The cluster CA, mounted beside the token.
pub const DEFAULT_CA_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// Largest API answer accepted: one workload object (a large Deployment is some 10 KiB).
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest one API call may take: a hanging API server must leave time to validate.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest token file read (service account tokens are about 1 KiB).
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Where the API server and the credentials are, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeEnv {
    pub host: String,
    pub port: u16,
    pub token_path: PathBuf,
    pub ca_path: PathBuf,
}

impl KubeEnv {
    /// `None` outside a cluster (`KUBERNETES_SERVICE_HOST` unset or empty).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<KubeEnv>, KubeError> {
        let Some(host) = lookup("KUBERNETES_SERVICE_HOST").filter(|h| !h.trim().is_empty()) else {
            return Ok(None);
        };
        let port = match lookup("KUBERNETES_SERVICE_PORT") {
            None => 443,
            Some(port) => port.trim().parse().map_err(|_| {
                KubeError::Setup(format!(
                    "KUBERNETES_SERVICE_PORT={port:?} is not a port number"
                ))
            })?,
        };
        let path = |variable: &str, default: &str| {
            lookup(variable)
                .filter(|p| !p.is_empty())
                .map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Ok(Some(KubeEnv {
            host: host
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            token_path: path("KUBE_API_TOKEN_PATH", DEFAULT_TOKEN_PATH),
            ca_path: path("KUBE_API_CA_PATH", DEFAULT_CA_PATH),
        }))
    }

    pub fn from_env() -> Result<Option<KubeEnv>, KubeError> {
        KubeEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// `https://host:port`, IPv6 in brackets.
    pub fn base_url(&self) -> String {
        if self.host.contains(':') {
            format!("https://[{}]:{}", self.host, self.port)
        } else {
            format!("https://{}:{}", self.host, self.port)
        }
    }
}

/// Why an API call (or setting up the client) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeError {
    /// The environment or the CA file is unusable.
    Setup(String),
    /// The token file cannot be read.
    Token { path: PathBuf, reason: String },
    /// The API server could not be reached or answered unusably.
    Http(HttpError),
    /// The object does not exist.
    NotFound,
    /// Any other HTTP status (401/403: the RBAC of `deploy/` is missing).
    Status { status: u16, message: String },
    /// The answer is not the JSON object asked for.
    Json(String),
}

impl fmt::Display for KubeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KubeError::Setup(reason) => f.write_str(reason),
            KubeError::Token { path, reason } => write!(
                f,
                "cannot read the service account token {}: {reason}",
                path.display()
            ),
            KubeError::Http(HttpError::Timeout { host }) => write!(
                f,
                "the Kubernetes API {host} did not answer within {} s",
                CALL_TIMEOUT.as_secs()
            ),
            KubeError::Http(err) => write!(f, "Kubernetes API: {err}"),
            KubeError::NotFound => f.write_str("not found"),
            KubeError::Status { status: status @ (401 | 403), message } => write!(
                f,
                "the Kubernetes API refused the request ({status}: {message}); check the ServiceAccount's ClusterRole in deploy/rbac.yaml"
            ),
            KubeError::Status { status, message } => {
                write!(f, "the Kubernetes API answered {status}: {message}")
            }
            KubeError::Json(reason) => write!(f, "unusable answer of the Kubernetes API: {reason}"),
        }
    }
}

impl std::error::Error for KubeError {}

/// The token as last read, and the file's identity then.
struct Token {
    value: String,
    stamp: Option<(SystemTime, u64)>,
}

/// The in-cluster client.
pub struct KubeClient {
    env: KubeEnv,
    http: HttpsClient,
    token: Mutex<Option<Token>>,
}

impl fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeClient")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl KubeClient {
    /// Reads the CA now (a missing or broken CA is a setup error); the token is read at the
    /// first call, so a token mounted a moment after startup is still found.
    pub fn new(env: KubeEnv) -> Result<KubeClient, KubeError> {
        let ca = fs::read(&env.ca_path).map_err(|e| {
            KubeError::Setup(format!(
                "cannot read the cluster CA {}: {e}",
                env.ca_path.display()
            ))
        })?;
        let certs = CertificateDer::pem_slice_iter(&ca)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                KubeError::Setup(format!(
                    "the cluster CA {} is not PEM: {e}",
                    env.ca_path.display()
                ))
            })?;
        let tls = https_client::tls_config(Some(&certs))
            .map_err(|e| KubeError::Setup(format!("cluster CA {}: {e}", env.ca_path.display())))?;
        Ok(KubeClient {
            env,
            http: HttpsClient::new(tls, false),
            token: Mutex::new(None),
        })
    }

    pub fn env(&self) -> &KubeEnv {
        &self.env
    }

    /// GETs `path` (e.g. `/apis/apps/v1/namespaces/team/replicasets/web-5d4f`) and returns
    /// the JSON body; `resource` labels the metrics. Gives up at `deadline` or after
    /// [`CALL_TIMEOUT`], whichever comes first.
    pub fn get(&self, resource: &str, path: &str, deadline: Instant) -> Result<Vec<u8>, KubeError> {
        let started = Instant::now();
        let result = self.get_uncounted(path, deadline.min(started + CALL_TIMEOUT));
        let status = match &result {
            Ok(_) => Some(200),
            Err(KubeError::NotFound) => Some(404),
            Err(KubeError::Status { status, .. }) => Some(*status),
            Err(_) => None,
        };
        metrics::global().kube_api_request(resource, status, started.elapsed().as_secs_f64());
        result
    }

    fn get_uncounted(&self, path: &str, deadline: Instant) -> Result<Vec<u8>, KubeError> {
        let token = self.token()?;
        let url = Url::parse(&format!("{}{path}", self.env.base_url())).map_err(KubeError::Http)?;
        let request = Request {
            method: Method::Get,
            url,
            headers: vec![
                ("Authorization".to_owned(), format!("Bearer {token}")),
                ("Accept".to_owned(), "application/json".to_owned()),
            ],
            max_body: MAX_BODY,
            deadline,
        };
        let response = self.http.send(&request).map_err(KubeError::Http)?;
        match response.status {
            200 => Ok(response.body),
            404 => Err(KubeError::NotFound),
            status => Err(KubeError::Status {
                status,
                message: status_message(&response.body),
            }),
        }
    }

    /// The current token: re-read when the file's modification time or size changed.
    fn token(&self) -> Result<String, KubeError> {
        let path = &self.env.token_path;
        let unreadable = |reason: String| KubeError::Token {
            path: path.clone(),
            reason,
        };
        let stamp = fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut cached = self
            .token
            .lock()
            .map_err(|_| unreadable("lock poisoned".into()))?;
        if let Some(token) = cached.as_ref() {
            if stamp.is_some() && token.stamp == stamp {
                return Ok(token.value.clone());
            }
        }
        let value = read_token(path).map_err(unreadable)?;
        *cached = Some(Token {
            value: value.clone(),
            stamp,
        });
        Ok(value)
    }
}

fn read_token(path: &Path) -> Result<String, String> {
    let size = fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_TOKEN_BYTES {
        return Err(format!("{size} bytes, more than a token"));
    }
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let token = text.trim();
    // The token goes into a header: it must be one clean line.
    if token.is_empty() || token.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err("the file is empty or not a token".to_owned());
    }
    Ok(token.to_owned())
}

/// The `message` of a Kubernetes `Status` answer, else a short excerpt of the body.
fn status_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Status>(body) {
        Ok(status) if !status.message.is_empty() => status.message,
        _ => String::from_utf8_lossy(body.get(..200).unwrap_or(body)).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<KubeEnv>, KubeError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KubeEnv::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn outside_a_cluster_there_is_no_api() {
        assert_eq!(env(&[]), Ok(None));
        assert_eq!(env(&[("KUBERNETES_SERVICE_HOST", "")]), Ok(None));
    }

    #[test]
    fn service_variables_and_path_overrides() {
        let found = env(&[
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("KUBERNETES_SERVICE_PORT", "6443"),
            ("KUBE_API_TOKEN_PATH", "/tmp/token"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(found.base_url(), "https://10.96.0.1:6443");
        assert_eq!(found.token_path, PathBuf::from("/tmp/token"));
        assert_eq!(found.ca_path, PathBuf::from(DEFAULT_CA_PATH));
        let v6 = env(&[("KUBERNETES_SERVICE_HOST", "fd00::1")])
            .unwrap()
            .unwrap();
        assert_eq!(v6.base_url(), "https://[fd00::1]:443");
        assert!(env(&[
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("KUBERNETES_SERVICE_PORT", "https")
        ])
        .is_err());
    }

    #[test]
    fn a_missing_ca_is_named() {
        let err = KubeClient::new(KubeEnv {
            host: "127.0.0.1".into(),
            port: 1,
            token_path: "/nonexistent/token".into(),
            ca_path: "/nonexistent/ca.crt".into(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.crt"), "{err}");
    }

    #[test]
    fn status_messages_come_from_the_status_object() {
        let body = br#"{"kind":"Status","message":"replicasets.apps \"x\" is forbidden"}"#;
        assert_eq!(status_message(body), "replicasets.apps \"x\" is forbidden");
        assert_eq!(status_message(b"oops"), "oops");
    }
}
