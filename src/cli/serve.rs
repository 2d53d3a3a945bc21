//! `tastevin serve`: load the configuration and the serving certificate, then run the
//! event loop until SIGTERM or SIGINT has drained it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{ArgError, Args};
use crate::admission::{Admission, Settings as AdmissionSettings};
use crate::alerts::{self, Alerter, SetupError};
use crate::config::Config;
use crate::http::request::Limits;
use crate::kube::client::{KubeClient, KubeEnv};
use crate::kube::owners::Owners;
use crate::reload::{self, TlsPaths, WatchPaths, Watcher};
use crate::routes::Router;
use crate::server::conn::Timeouts;
use crate::server::{self, Settings};
use crate::{log_error, log_info, log_warn, tls};

const HELP: &str = "\
Usage: tastevin serve [OPTIONS]

Runs the admission webhook: POST /mutate (AdmissionReview), GET /metrics (Prometheus),
GET /health and GET /ready. Stops on SIGTERM or SIGINT after finishing requests in flight.

Options:
      --listen ADDR             address to listen on [default: 0.0.0.0:5000]
      --cert FILE               PEM certificate chain [default: /app/certs/tls.crt]
      --key FILE                PEM private key [default: /app/certs/tls.key]
                                (without either file a self-signed certificate is generated
                                and its SHA-256 fingerprint logged)
      --plain-http              serve plain HTTP instead of TLS; for local experiments ONLY,
                                the Kubernetes API server requires TLS
      --config FILE             policy configuration [default: /app/config/config.yaml,
                                else the embedded default]
      --alerts-config FILE      alerting configuration, Connaisseur format; templates are
                                read from templates/<name>.json beside it
                                [default: /app/alerts/config.yaml; alerting is off when
                                that file does not exist]
      --max-connections N       open client connections at most [default: 2048, or fewer
                                when the open-files limit is lower]
      --max-header-bytes N      request head size limit, answered 431 [default: 16384]
      --max-body-bytes N        request body size limit, answered 413 [default: 8388608]
      --read-timeout SECS       time to receive a whole request, answered 408 [default: 30]
      --idle-timeout SECS       keep-alive connection idle time before closing [default: 120]
      --handshake-timeout SECS  TLS handshake time limit [default: 10]
      --write-timeout SECS      time a client may take to read an answer [default: 30]
      --grace-period SECS       time for requests in flight after SIGTERM [default: 25]
      --reload-interval SECS    how often the certificate, key, configuration and secrets
                                are checked for changes, which take effect without a
                                restart (0 turns reloading off) [default: 2]
      --secrets-dir DIR         where auth.secretName secrets are mounted
                                [default: $TASTEVIN_SECRETS_DIR, else /app/secrets]
      --workers N               threads for outbound work (registries) [default: 32]
  -h, --help                    print this help

Environment: DETECTION_MODE, RESOURCE_VALIDATION_MODE, AUTOMATIC_UNCHANGED_APPROVAL,
AUTOMATIC_CHILD_APPROVAL, LOG_LEVEL, LOG_FORMAT, as in Connaisseur; POD_NAME is sent
in alerts as connaisseur_pod_id. HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or lower case) apply
to every outbound connection as in Go programs; an unusable proxy URL stops startup.
";

const VALUED: &[&str] = &[
    "--listen",
    "--cert",
    "--key",
    "--config",
    "--alerts-config",
    "--max-connections",
    "--max-header-bytes",
    "--max-body-bytes",
    "--read-timeout",
    "--idle-timeout",
    "--handshake-timeout",
    "--write-timeout",
    "--grace-period",
    "--workers",
    "--secrets-dir",
    "--reload-interval",
];
const SWITCHES: &[&str] = &["--plain-http", "-h", "--help"];

pub fn run(raw: &[String]) -> i32 {
    let args = match Args::parse(raw, VALUED, SWITCHES) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    if args.switch("-h") || args.switch("--help") {
        print!("{HELP}");
        return 0;
    }
    if let Some(extra) = args.positional.first() {
        return usage_error(&ArgError::Unknown(extra.clone()));
    }
    let settings = match settings(&args) {
        Ok(s) => s,
        Err(e) => return usage_error(&e),
    };
    // Read once; an unusable proxy setting stops startup rather than every validation.
    match crate::net::proxy::global() {
        Ok(proxies) => {
            if let Some(line) = proxies.describe() {
                log_info!("{line}");
            }
        }
        Err(e) => {
            log_error!("{e}");
            return 1;
        }
    }
    let config_path = args
        .value("--config")
        .map_or_else(|| PathBuf::from(Config::DEFAULT_PATH), PathBuf::from);
    let config = match load_config(args.value("--config")) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (alerts, alerts_path) = match load_alerts(args.value("--alerts-config")) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let reload_interval = match secs_flag(&args, "--reload-interval", reload::DEFAULT_INTERVAL) {
        Ok(i) => i,
        Err(e) => return usage_error(&e),
    };
    let (tls, tls_paths) = if args.switch("--plain-http") {
        log_warn!("--plain-http: serving without TLS, for local experiments only");
        (None, None)
    } else {
        match serving_tls(args.value("--cert"), args.value("--key")) {
            Ok((t, paths)) => (Some(t), paths),
            Err(e) => {
                log_error!("{e}");
                return 1;
            }
        }
    };
    let mut admission_settings = AdmissionSettings::from_env();
    if let Some(dir) = args.value("--secrets-dir") {
        admission_settings.secrets_dir = dir.into();
    }
    // As Connaisseur: a credential named by the configuration but not mounted is fatal.
    if let Err(errors) = config.check_secrets(&admission_settings.secrets_dir) {
        for e in errors {
            log_error!("{e}");
        }
        return 1;
    }
    let reload = (!reload_interval.is_zero()).then(|| {
        let paths = WatchPaths {
            tls: tls_paths,
            config: Some(config_path),
            secrets: Some(admission_settings.secrets_dir.clone()),
            alerts: alerts_path,
        };
        (Watcher::new(paths, &config), reload_interval)
    });
    let owners = admission_settings
        .effective_child_approval()
        .then(kube_owners)
        .flatten();
    let shared = match shared_cache(&admission_settings) {
        Ok(shared) => shared,
        Err(code) => return code,
    };
    let admission = Arc::new(
        Admission::new(Arc::new(config), admission_settings)
            .with_alerts(alerts)
            .with_owners(owners)
            .with_shared_cache(shared),
    );
    let settings = Settings {
        tls,
        reload,
        ..settings
    };
    match server::serve(settings, Router::new(admission)) {
        Ok(()) => 0,
        Err(e) => {
            log_error!("server stopped: {e}");
            1
        }
    }
}

/// The Kubernetes API client of child approval, or `None` (said once, here) when there is
/// none: then no image is approved by its parent and every image is validated.
fn kube_owners() -> Option<Arc<Owners>> {
    let env = match KubeEnv::from_env() {
        Ok(Some(env)) => env,
        Ok(None) => {
            log_info!(
                "not running in a Kubernetes cluster (KUBERNETES_SERVICE_HOST is not set): \
                 automatic child approval finds no parents and every image is validated"
            );
            return None;
        }
        Err(e) => {
            log_warn!("cannot use the Kubernetes API for automatic child approval: {e}; every image is validated");
            return None;
        }
    };
    match KubeClient::new(env) {
        Ok(client) => {
            log_info!(
                "automatic child approval looks up owners at the Kubernetes API {}",
                client.env().base_url()
            );
            Some(Arc::new(Owners::new(client)))
        }
        Err(e) => {
            log_warn!("cannot use the Kubernetes API for automatic child approval: {e}; every image is validated");
            None
        }
    }
}

fn usage_error(e: &ArgError) -> i32 {
    eprintln!("tastevin serve: {e}\nRun 'tastevin serve --help' for the options.");
    2
}

fn secs_flag(args: &Args, flag: &str, default: Duration) -> Result<Duration, ArgError> {
    args.parsed(flag, default.as_secs())
        .map(Duration::from_secs)
}

fn settings(args: &Args) -> Result<Settings, ArgError> {
    let listen: SocketAddr = args.parsed("--listen", SocketAddr::from(([0, 0, 0, 0], 5000)))?;
    let secs = |flag: &str, default: u64| secs_flag(args, flag, Duration::from_secs(default));
    let read = secs("--read-timeout", 30)?;
    Ok(Settings {
        listen,
        tls: None,
        limits: Limits {
            max_head_bytes: args.parsed("--max-header-bytes", 16 * 1024)?,
            max_body_bytes: args.parsed("--max-body-bytes", 8 * 1024 * 1024)?,
            ..Limits::default()
        },
        max_connections: args.parsed("--max-connections", default_max_connections())?,
        timeouts: Timeouts {
            handshake: secs("--handshake-timeout", 10)?,
            read,
            idle: secs("--idle-timeout", 120)?,
            write: secs("--write-timeout", 30)?,
            // A request with a worker is bounded by the admission deadline; this only
            // catches a worker that never answers.
            wait: read.max(Duration::from_secs(60)),
        },
        grace: secs("--grace-period", 25)?,
        workers: args.parsed("--workers", 32usize)?.max(1),
        reload: None,
    })
}

/// 2048, or fewer when the open-files limit would not allow that many sockets.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid struct passed by pointer.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    // Keep descriptors for the listener, the poller, config files and outbound sockets.
    soft.saturating_sub(64).clamp(16, 2048)
}

fn load_config(path: Option<&str>) -> Result<Config, i32> {
    let path = match path {
        Some(p) => PathBuf::from(p),
        None => {
            let default = Path::new(Config::DEFAULT_PATH);
            if !default.exists() {
                log_info!(
                    "no {} found: using the embedded default configuration (deny by default)",
                    Config::DEFAULT_PATH
                );
                return Ok(Config::embedded_default());
            }
            default.to_path_buf()
        }
    };
    match Config::load(&path) {
        Ok(c) => {
            log_info!("configuration loaded from {}", path.display());
            Ok(c)
        }
        Err(errors) => {
            for e in errors {
                log_error!("{}: {e}", path.display());
            }
            Err(1)
        }
    }
}

/// The alerter of the alerting configuration at `path` (else the default path), or `None`
/// when it has no receivers or the default file does not exist; and the file, when there is
/// one to watch for changes. Like Connaisseur, a file that does not load stops the start.
fn load_alerts(path: Option<&str>) -> Result<(Option<Arc<Alerter>>, Option<PathBuf>), i32> {
    let path = match path {
        Some(p) => PathBuf::from(p),
        None => {
            let default = Path::new(alerts::DEFAULT_PATH);
            if !default.exists() {
                log_info!("no {}: alerting is off", alerts::DEFAULT_PATH);
                return Ok((None, None));
            }
            default.to_path_buf()
        }
    };
    match Alerter::from_file(&path) {
        Ok(Some(alerter)) => {
            let receivers = alerter.config().admit.len() + alerter.config().reject.len();
            log_info!(
                "alerting configuration loaded from {}: {receivers} receiver(s)",
                path.display()
            );
            Ok((Some(Arc::new(alerter)), Some(path)))
        }
        Ok(None) => {
            log_info!(
                "alerting configuration {} has no receivers: alerting is off",
                path.display()
            );
            Ok((None, Some(path)))
        }
        Err(SetupError::Config(errors)) => {
            for e in errors {
                log_error!("{e}");
            }
            Err(1)
        }
        Err(e) => {
            log_error!("{e}");
            Err(1)
        }
    }
}

/// The serving configuration, and the files it came from (none when self-signed).
fn serving_tls(
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<(Arc<rustls::ServerConfig>, Option<TlsPaths>), tls::TlsError> {
    let cert_path = Path::new(cert.unwrap_or(tls::DEFAULT_CERT_PATH));
    let key_path = Path::new(key.unwrap_or(tls::DEFAULT_KEY_PATH));
    if cert.is_some() || key.is_some() || (cert_path.exists() && key_path.exists()) {
        let config = tls::load_server_config(cert_path, key_path)?;
        log_info!("serving certificate loaded from {}", cert_path.display());
        let paths = TlsPaths {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        };
        return Ok((config, Some(paths)));
    }
    let generated = tls::self_signed()?;
    log_warn!(
        "no certificate at {}: generated a self-signed one, SHA-256 fingerprint {}",
        tls::DEFAULT_CERT_PATH,
        generated.fingerprint
    );
    Ok((generated.config, None))
}

/// The Redis tier when `REDIS_HOST` is set and the cache is on. An unusable Redis CA file is
/// fatal, as in Connaisseur; an unreachable Redis is not (requests then use the local cache).
fn shared_cache(settings: &AdmissionSettings) -> Result<Option<Arc<crate::redis::Shared>>, i32> {
    let (redis, notices) =
        crate::redis::RedisSettings::from_lookup(|name| std::env::var(name).ok());
    for notice in notices {
        log_warn!("{notice}");
    }
    let Some(redis) = redis.filter(|_| settings.cache.ttl.is_some()) else {
        return Ok(None);
    };
    let metrics = crate::metrics::global();
    match crate::redis::Client::new(redis, metrics) {
        Ok(client) => {
            let target = &client.settings().target;
            crate::log_info!(
                "sharing verdicts through Redis at {}:{}",
                target.host,
                target.port
            );
            Ok(Some(Arc::new(crate::redis::Shared::new(
                client,
                settings.cache,
                metrics,
            ))))
        }
        Err(e) => {
            log_error!("{e}");
            Err(1)
        }
    }
}
