//! The optional Redis backend shared by all replicas (Connaisseur §6.1): where it is, how to
//! reach it, and a small blocking client used only on worker threads. Redis is a cache and
//! nothing more: every failure degrades to the in-process cache, and a dead Redis is left
//! alone for [`BACK_OFF`] so that it does not add its timeout to every request.

pub mod conn;
pub mod resp;
pub mod verdicts;
pub mod versions;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;

use crate::cache::CachePolicy;
use crate::metrics::Metrics;
use conn::Connection;
use resp::Reply;
use verdicts::SharedVerdicts;
use versions::SharedVersions;

/// Everything kept in Redis: the verdicts and the Notary v1 rollback memory, over one client.
pub struct Shared {
    pub verdicts: SharedVerdicts,
    pub versions: SharedVersions,
}

impl Shared {
    pub fn new(client: Client, policy: CachePolicy, metrics: &'static Metrics) -> Shared {
        let client = Arc::new(client);
        Shared {
            verdicts: SharedVerdicts::new(Arc::clone(&client), policy, metrics),
            versions: SharedVersions::new(client, metrics),
        }
    }
}

/// Connaisseur's Redis port; `REDIS_HOST` may name another as `host:port`.
pub const DEFAULT_PORT: u16 = 6379;
/// Where Connaisseur's chart mounts the Redis certificate, trusted as CA.
pub const DEFAULT_CA_PATH: &str = "/app/redis-certs/tls.crt";
/// Time one Redis call may take by default (`REDIS_TIMEOUT_MS`).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// After a failed call, Redis is not asked again for this long.
pub const BACK_OFF: Duration = Duration::from_secs(2);
/// Idle connections kept.
const MAX_IDLE: usize = 8;

/// Where Redis is and who we are to it.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `REDIS_USER`: an ACL user; with none, `AUTH <password>` (the `default` user).
    pub user: Option<String>,
    pub password: Option<String>,
    /// `REDIS_PROTOCOL`: 2 (the default, what every Redis speaks) or 3 (`HELLO 3`).
    pub protocol: Protocol,
}

/// The RESP version spoken on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Resp2,
    /// Negotiated with `HELLO 3` (Redis 6 and later), which also authenticates.
    Resp3,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// The Redis settings from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    pub target: Target,
    /// `REDIS_TLS` (default true, as Connaisseur's chart always serves TLS).
    pub tls: bool,
    /// `REDIS_CA_PATH`, default [`DEFAULT_CA_PATH`].
    pub ca_path: PathBuf,
    /// `REDIS_TIMEOUT_MS`.
    pub call_timeout: Duration,
}

impl RedisSettings {
    /// `None` when `REDIS_HOST` is unset or empty (Redis off); notices say what was not
    /// understood.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> (Option<RedisSettings>, Vec<String>) {
        let mut notices = Vec::new();
        let Some(raw_host) = lookup("REDIS_HOST").filter(|h| !h.trim().is_empty()) else {
            return (None, notices);
        };
        let raw_host = raw_host.trim().to_owned();
        let (host, port) = match raw_host.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
                match port.parse::<u16>() {
                    Ok(port) if port > 0 => (host.trim_matches(['[', ']']).to_owned(), port),
                    _ => {
                        notices.push(format!(
                            "REDIS_HOST={raw_host:?} has no valid port, Redis is off"
                        ));
                        return (None, notices);
                    }
                }
            }
            _ => (raw_host.clone(), DEFAULT_PORT),
        };
        let tls = match lookup("REDIS_TLS").as_deref() {
            None => true,
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
            Some(other) => {
                notices.push(format!(
                    "REDIS_TLS={other:?} is not understood, using TLS (the default)"
                ));
                true
            }
        };
        let call_timeout = match lookup("REDIS_TIMEOUT_MS") {
            None => DEFAULT_CALL_TIMEOUT,
            Some(value) => match value.trim().parse::<u64>() {
                Ok(ms) if (1..=10_000).contains(&ms) => Duration::from_millis(ms),
                _ => {
                    notices.push(format!(
                        "REDIS_TIMEOUT_MS={value:?} is not a number of milliseconds from 1 to 10000, using 300"
                    ));
                    DEFAULT_CALL_TIMEOUT
                }
            },
        };
        let protocol = match lookup("REDIS_PROTOCOL").as_deref().map(str::trim) {
            None | Some("2") => Protocol::Resp2,
            Some("3") => Protocol::Resp3,
            Some(other) => {
                notices.push(format!(
                    "REDIS_PROTOCOL={other:?} is not 2 or 3, using 2 (the default)"
                ));
                Protocol::Resp2
            }
        };
        let settings = RedisSettings {
            target: Target {
                host,
                port,
                user: lookup("REDIS_USER").filter(|u| !u.is_empty()),
                password: lookup("REDIS_PASSWORD").filter(|p| !p.is_empty()),
                protocol,
            },
            tls,
            ca_path: lookup("REDIS_CA_PATH").map_or(PathBuf::from(DEFAULT_CA_PATH), PathBuf::from),
            call_timeout,
        };
        (Some(settings), notices)
    }
}

/// Why a Redis call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisError {
    /// The CA file for Redis TLS could not be used (fatal at startup, as Connaisseur).
    Ca(String),
    Connect(String),
    Tls(String),
    Auth(String),
    Timeout,
    Io(String),
    /// The answer was not RESP or not what the command returns.
    Protocol(&'static str),
    /// Redis answered `-ERR …`.
    Server(String),
    /// Redis failed recently; it is not asked until the back-off ends.
    BackingOff,
}

impl RedisError {
    /// The `kind` label of `tastevin_redis_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            RedisError::Ca(_) => "ca",
            RedisError::Connect(_) => "connect",
            RedisError::Tls(_) => "tls",
            RedisError::Auth(_) => "auth",
            RedisError::Timeout => "timeout",
            RedisError::Io(_) => "io",
            RedisError::Protocol(_) => "protocol",
            RedisError::Server(_) => "server",
            RedisError::BackingOff => "backing_off",
        }
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Ca(reason) => write!(f, "cannot use the Redis CA certificate: {reason}"),
            RedisError::Connect(reason) => write!(f, "cannot connect to Redis: {reason}"),
            RedisError::Tls(reason) => write!(f, "TLS with Redis failed: {reason}"),
            RedisError::Auth(reason) => write!(
                f,
                "Redis refused the credentials (check REDIS_PASSWORD and REDIS_USER): {reason}"
            ),
            RedisError::Timeout => f.write_str("Redis did not answer in time (REDIS_TIMEOUT_MS)"),
            RedisError::Io(reason) => write!(f, "Redis connection failed: {reason}"),
            RedisError::Protocol(what) => write!(f, "Redis answered something invalid: {what}"),
            RedisError::Server(message) => write!(f, "Redis answered an error: {message}"),
            RedisError::BackingOff => {
                f.write_str("Redis failed recently and is not asked for a moment")
            }
        }
    }
}

impl std::error::Error for RedisError {}

/// The client: settings, TLS configuration, idle connections and the back-off.
pub struct Client {
    settings: RedisSettings,
    tls: Option<Arc<ClientConfig>>,
    idle: Mutex<Vec<Connection>>,
    down_until: Mutex<Option<Instant>>,
    metrics: &'static Metrics,
}

impl Client {
    /// Reads the CA when TLS is on; an unusable CA is an error (Connaisseur exits on it).
    pub fn new(settings: RedisSettings, metrics: &'static Metrics) -> Result<Client, RedisError> {
        let tls = if settings.tls {
            let path = &settings.ca_path;
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| RedisError::Ca(format!("{}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(RedisError::Ca(format!(
                    "{} holds no certificate",
                    path.display()
                )));
            }
            let mut roots = RootCertStore::empty();
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| RedisError::Ca(format!("{}: {e}", path.display())))?;
            }
            let config = ClientConfig::builder_with_provider(crate::tls::provider())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|e| RedisError::Tls(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        } else {
            None
        };
        Ok(Client {
            settings,
            tls,
            idle: Mutex::new(Vec::new()),
            down_until: Mutex::new(None),
            metrics,
        })
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// Runs one command within the call timeout and `deadline`. `command` names it in the
    /// latency histogram. Failures start the back-off and are counted.
    pub fn call(
        &self,
        command: &'static str,
        args: &[&[u8]],
        deadline: Instant,
    ) -> Result<Reply, RedisError> {
        let started = Instant::now();
        if self
            .down_until
            .lock()
            .ok()
            .and_then(|until| *until)
            .is_some_and(|until| started < until)
        {
            return Err(RedisError::BackingOff);
        }
        let call_deadline = deadline.min(started + self.settings.call_timeout);
        if call_deadline <= started {
            // The request's time is up; Redis is not at fault, so no back-off.
            return Err(RedisError::Timeout);
        }
        let result = self.call_once(args, call_deadline);
        self.metrics
            .redis_request(command, started.elapsed().as_secs_f64());
        match result {
            Ok(Reply::Error(message)) => {
                let error = RedisError::Server(message);
                self.metrics.redis_error(error.kind());
                Err(error)
            }
            Ok(reply) => Ok(reply),
            Err(error) => {
                self.metrics.redis_error(error.kind());
                if let Ok(mut until) = self.down_until.lock() {
                    *until = Some(Instant::now() + BACK_OFF);
                }
                Err(error)
            }
        }
    }

    fn call_once(&self, args: &[&[u8]], deadline: Instant) -> Result<Reply, RedisError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut connection = match pooled {
            Some(connection) => connection,
            None => Connection::open(&self.settings.target, self.tls.as_ref(), deadline)?,
        };
        // A failed connection is dropped; only one that answered goes back to the pool.
        let reply = connection.call(args, deadline)?;
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> (Option<RedisSettings>, Vec<String>) {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RedisSettings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn off_without_host_connaisseur_defaults_with_one() {
        assert_eq!(read(&[]).0, None);
        let (settings, notices) = read(&[("REDIS_HOST", "redis-svc"), ("REDIS_PASSWORD", "pw")]);
        let settings = settings.unwrap();
        assert!(notices.is_empty());
        assert_eq!(settings.target.host, "redis-svc");
        assert_eq!(settings.target.port, 6379);
        assert_eq!(settings.target.password.as_deref(), Some("pw"));
        assert!(settings.tls);
        assert_eq!(settings.ca_path, PathBuf::from(DEFAULT_CA_PATH));
        assert!(!format!("{settings:?}").contains("pw\""));
    }

    #[test]
    fn host_port_and_tastevin_options() {
        let (settings, notices) = read(&[
            ("REDIS_HOST", "127.0.0.1:7000"),
            ("REDIS_TLS", "false"),
            ("REDIS_USER", "tastevin"),
            ("REDIS_TIMEOUT_MS", "50"),
        ]);
        let settings = settings.unwrap();
        assert!(notices.is_empty());
        assert_eq!(
            (settings.target.host.as_str(), settings.target.port),
            ("127.0.0.1", 7000)
        );
        assert!(!settings.tls);
        assert_eq!(settings.target.user.as_deref(), Some("tastevin"));
        assert_eq!(settings.call_timeout, Duration::from_millis(50));
        let (off, notices) = read(&[("REDIS_HOST", "redis:http")]);
        assert_eq!(off, None);
        assert_eq!(notices.len(), 1);
    }
}
