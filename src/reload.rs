//! Hot reload: a watcher thread that notices a new serving certificate, a new policy
//! configuration, new credentials for the configuration's `auth.secretName`s, or a new
//! alerting configuration or template, loads and checks them, and hands what loads to the event loop (a channel plus the loop's waker).
//!
//! Kubernetes updates mounted Secrets and ConfigMaps by writing a new directory and
//! swapping the `..data` symlink; `tls.crt` stays a symlink to `..data/tls.crt`. A change is
//! therefore seen in the metadata of the file the path resolves to (device, inode, size,
//! modification and change times), never of the symlink itself. Nothing is watched with
//! inotify: a poll every few seconds is cheap and sees swaps inotify would miss.
//!
//! What does not load is refused, logged and counted
//! (`tastevin_config_reloads_total{result="error"}`), and the version in force stays; it is
//! tried again when the files change again. Loads are counted `result="success"`.

use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::alerts::{self, Alerter, SetupError};
use crate::config::{Auth, Config, ConfigError, ValidatorKind, SECRET_FILES};
use crate::tls::{self, TlsError};
use crate::{log_error, log_info, metrics};

/// Files of the alerting templates directory looked at for changes, at most.
const MAX_TEMPLATE_FILES: usize = 256;

/// How often the files are checked unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// What to watch. `None` leaves that part alone (e.g. a self-signed certificate, plain
/// HTTP, or the embedded default configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchPaths {
    /// The serving certificate chain and its key (PEM), reloaded together.
    pub tls: Option<TlsPaths>,
    /// The policy configuration file.
    pub config: Option<PathBuf>,
    /// Where `auth.secretName` secrets are mounted (normally `/app/secrets`). When given,
    /// a new configuration must find every secret it names there (as `check-config
    /// --secrets` checks), and a change of a named secret's credential file reloads the
    /// configuration.
    pub secrets: Option<PathBuf>,
    /// The alerting configuration file; its `templates/` directory is watched with it.
    pub alerts: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A newly loaded and checked version, for the event loop to put in force.
pub enum Reloaded {
    /// For new connections; connections already open keep the one they started with.
    Tls(Arc<rustls::ServerConfig>),
    /// For the next request.
    Config(Arc<Config>),
    /// For the next request; `None` when the new file names no receiver.
    Alerts(Option<Arc<Alerter>>),
}

impl fmt::Debug for Reloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reloaded::Tls(_) => f.write_str("Reloaded::Tls"),
            Reloaded::Config(config) => f.debug_tuple("Reloaded::Config").field(config).finish(),
            Reloaded::Alerts(alerter) => f.debug_tuple("Reloaded::Alerts").field(alerter).finish(),
        }
    }
}

/// Why a changed file was not put in force.
#[derive(Debug)]
pub enum ReloadError {
    Tls(TlsError),
    Config {
        path: PathBuf,
        /// The secrets directory the configuration was checked against, if any.
        secrets: Option<PathBuf>,
        errors: Vec<ConfigError>,
    },
    Alerts {
        path: PathBuf,
        error: SetupError,
    },
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Tls(e) => write!(
                f,
                "new serving certificate refused, the previous one stays in force: {e}"
            ),
            ReloadError::Config {
                path,
                secrets,
                errors,
            } => {
                write!(
                    f,
                    "new configuration {} refused, the previous one stays in force: ",
                    path.display()
                )?;
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(
                    f,
                    " (run 'tastevin check-config --config {}",
                    path.display()
                )?;
                if let Some(dir) = secrets {
                    write!(f, " --secrets {}", dir.display())?;
                }
                f.write_str("' for details)")
            }
            ReloadError::Alerts { path, error } => write!(
                f,
                "new alerting configuration {} refused, the previous one stays in force: {error} (run 'tastevin check-config --alerts {}' for details)",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReloadError {}

/// What a path resolves to now: enough to see any replacement or rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileState {
    Missing(io::ErrorKind),
    Present {
        dev: u64,
        ino: u64,
        size: u64,
        modified: (i64, i64),
        changed: (i64, i64),
    },
}

impl FileState {
    fn of(path: &Path) -> FileState {
        // metadata() follows symlinks: the file behind `..data`, not the link.
        match std::fs::metadata(path) {
            Ok(m) => FileState::Present {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                modified: (m.mtime(), m.mtime_nsec()),
                changed: (m.ctime(), m.ctime_nsec()),
            },
            Err(e) => FileState::Missing(e.kind()),
        }
    }
}

/// Checks the watched files on demand; [`spawn`] calls it on a timer.
pub struct Watcher {
    paths: WatchPaths,
    tls_seen: Vec<FileState>,
    config_seen: Vec<FileState>,
    /// The credential files of the secrets the configuration in force names.
    secret_files: Vec<PathBuf>,
    alerts_seen: Vec<(PathBuf, FileState)>,
}

impl Watcher {
    /// Starts from the files as they are now, which `in_force` was loaded from.
    pub fn new(paths: WatchPaths, in_force: &Config) -> Watcher {
        let secret_files = secret_files(in_force, paths.secrets.as_deref());
        let mut watcher = Watcher {
            paths,
            tls_seen: Vec::new(),
            config_seen: Vec::new(),
            secret_files,
            alerts_seen: Vec::new(),
        };
        watcher.tls_seen = watcher.tls_state();
        watcher.config_seen = watcher.config_state();
        watcher.alerts_seen = watcher.alerts_state();
        watcher
    }

    fn tls_state(&self) -> Vec<FileState> {
        self.paths.tls.as_ref().map_or_else(Vec::new, |t| {
            vec![FileState::of(&t.cert), FileState::of(&t.key)]
        })
    }

    fn config_state(&self) -> Vec<FileState> {
        self.paths
            .config
            .iter()
            .chain(&self.secret_files)
            .map(|p| FileState::of(p))
            .collect()
    }

    /// The alerting file and every file of its templates directory (a template may be
    /// added, changed or removed; at most [`MAX_TEMPLATE_FILES`] are looked at).
    fn alerts_state(&self) -> Vec<(PathBuf, FileState)> {
        let Some(path) = &self.paths.alerts else {
            return Vec::new();
        };
        let mut templates: Vec<PathBuf> = std::fs::read_dir(alerts::templates_dir(path))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .take(MAX_TEMPLATE_FILES)
                    .collect()
            })
            .unwrap_or_default();
        templates.sort();
        std::iter::once(path.clone())
            .chain(templates)
            .map(|file| {
                let state = FileState::of(&file);
                (file, state)
            })
            .collect()
    }

    /// Loads whatever changed since the last check. Each outcome is logged and counted;
    /// the loaded versions are returned for the event loop, the refusals for the caller
    /// to inspect.
    pub fn check(&mut self) -> Vec<Result<Reloaded, ReloadError>> {
        let mut outcomes = Vec::new();
        if let Some(paths) = self.paths.tls.clone() {
            let now = self.tls_state();
            if now != self.tls_seen {
                self.tls_seen = now;
                outcomes.push(
                    tls::load_server_config(&paths.cert, &paths.key)
                        .map(Reloaded::Tls)
                        .map_err(ReloadError::Tls),
                );
            }
        }
        if let Some(path) = self.paths.config.clone() {
            let now = self.config_state();
            if now != self.config_seen {
                self.config_seen = now;
                let loaded = self.load_config(&path);
                if let Ok(Reloaded::Config(config)) = &loaded {
                    self.secret_files = secret_files(config, self.paths.secrets.as_deref());
                    self.config_seen = self.config_state();
                }
                outcomes.push(loaded);
            }
        }
        if let Some(path) = self.paths.alerts.clone() {
            let now = self.alerts_state();
            if now != self.alerts_seen {
                self.alerts_seen = now;
                outcomes.push(
                    Alerter::from_file(&path)
                        .map(|alerter| Reloaded::Alerts(alerter.map(Arc::new)))
                        .map_err(|error| ReloadError::Alerts { path, error }),
                );
            }
        }
        for outcome in &outcomes {
            match outcome {
                Ok(Reloaded::Tls(_)) => log_info!(
                    "new serving certificate loaded from {}; new connections use it",
                    self.paths
                        .tls
                        .as_ref()
                        .map_or_else(String::new, |t| t.cert.display().to_string())
                ),
                Ok(Reloaded::Config(_)) => log_info!(
                    "new configuration loaded from {}; the next request uses it",
                    self.paths
                        .config
                        .as_ref()
                        .map_or_else(String::new, |p| p.display().to_string())
                ),
                Ok(Reloaded::Alerts(alerter)) => log_info!(
                    "new alerting configuration loaded from {}: {}; the next request uses it",
                    self.paths
                        .alerts
                        .as_ref()
                        .map_or_else(String::new, |p| p.display().to_string()),
                    alerter.as_ref().map_or_else(
                        || "no receivers, alerting is off".to_owned(),
                        |a| format!(
                            "{} receiver(s)",
                            a.config().admit.len() + a.config().reject.len()
                        )
                    )
                ),
                Err(e) => log_error!("{e}"),
            }
            metrics::global().config_reload(outcome.is_ok());
        }
        outcomes
    }

    fn load_config(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        let refused = |errors| ReloadError::Config {
            path: path.to_path_buf(),
            secrets: self.paths.secrets.clone(),
            errors,
        };
        let config = Config::load(path).map_err(refused)?;
        if let Some(dir) = &self.paths.secrets {
            config.check_secrets(dir).map_err(refused)?;
        }
        Ok(Reloaded::Config(Arc::new(config)))
    }
}

/// Every credential file a secret named by `config` may be read from.
fn secret_files(config: &Config, secrets_dir: Option<&Path>) -> Vec<PathBuf> {
    let Some(dir) = secrets_dir else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = config
        .validators()
        .iter()
        .filter_map(|validator| match &validator.kind {
            ValidatorKind::Static { .. } => None,
            ValidatorKind::NotaryV1(c) => c.auth.as_ref(),
            ValidatorKind::Cosign(c) => c.auth.as_ref(),
            ValidatorKind::Notation(c) => c.auth.as_ref(),
        })
        .filter_map(|auth| match auth {
            Auth::Secret(name) => Some(name),
            _ => None,
        })
        .flat_map(|name| {
            SECRET_FILES
                .iter()
                .map(move |file| dir.join(name).join(file))
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Starts the watcher thread: every `interval` it checks the files, sends what loaded and
/// calls `wake` so the event loop picks it up. The thread ends when the receiver is gone.
pub fn spawn(
    watcher: Watcher,
    interval: Duration,
    sender: Sender<Reloaded>,
    wake: impl Fn() + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    let mut watcher = watcher;
    thread::Builder::new()
        .name("reload".to_string())
        .spawn(move || loop {
            thread::sleep(interval);
            let loaded: Vec<Reloaded> = watcher.check().into_iter().flatten().collect();
            if loaded.is_empty() {
                continue;
            }
            for reloaded in loaded {
                if sender.send(reloaded).is_err() {
                    return;
                }
            }
            wake();
        })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    const ALLOW: &str =
        "validators:\n  - name: default\n    type: static\n    approve: true\npolicy:\n  - pattern: \"*:*\"\n";
    const DENY: &str =
        "validators:\n  - name: default\n    type: static\n    approve: false\npolicy:\n  - pattern: \"*:*\"\n";
    const BROKEN: &str = "validators:\n  - name: default\n    type: static\n    approve: true\n    notAKey: 1\npolicy:\n  - pattern: \"*:*\"\n";

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("tastevin-reload-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes `files` the way the kubelet updates a volume: a new `..<version>`
    /// directory, an atomic swap of `..data`, `name -> ..data/name` links, the old
    /// directory removed.
    fn kubelet_update(dir: &Path, version: &str, files: &[(&str, &str)]) {
        let versioned = dir.join(format!("..{version}"));
        fs::create_dir_all(&versioned).unwrap();
        for (name, text) in files {
            fs::write(versioned.join(name), text).unwrap();
        }
        let data = dir.join("..data");
        let previous = fs::read_link(&data).ok();
        let tmp = dir.join("..data_tmp");
        symlink(format!("..{version}"), &tmp).unwrap();
        fs::rename(&tmp, &data).unwrap();
        if let Some(previous) = previous {
            fs::remove_dir_all(dir.join(previous)).unwrap();
        }
        for (name, _) in files {
            let link = dir.join(name);
            if link.symlink_metadata().is_err() {
                symlink(Path::new("..data").join(name), &link).unwrap();
            }
        }
    }

    fn approves(config: &Config) -> bool {
        matches!(
            config.validators().first().map(|v| &v.kind),
            Some(ValidatorKind::Static { approve: true })
        )
    }

    fn config_watcher(dir: &Path) -> Watcher {
        kubelet_update(dir, "v1", &[("config.yaml", DENY)]);
        let paths = WatchPaths {
            config: Some(dir.join("config.yaml")),
            ..WatchPaths::default()
        };
        Watcher::new(paths, &Config::load(&dir.join("config.yaml")).unwrap())
    }

    fn reload_count(result: &str) -> f64 {
        let mut text = String::new();
        metrics::global().render(&mut text);
        let prefix = format!("tastevin_config_reloads_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0.0, |v| v.parse().unwrap())
    }

    #[test]
    fn unchanged_files_load_nothing() {
        let dir = Scratch::new("unchanged");
        let mut watcher = config_watcher(&dir.0);
        assert!(watcher.check().is_empty());
        assert!(watcher.check().is_empty());
    }

    #[test]
    fn config_swapped_through_data_symlink_is_loaded() {
        let dir = Scratch::new("config-swap");
        let mut watcher = config_watcher(&dir.0);
        kubelet_update(&dir.0, "v2", &[("config.yaml", ALLOW)]);
        match watcher.check().as_slice() {
            [Ok(Reloaded::Config(config))] => assert!(approves(config)),
            other => panic!("expected one new configuration, got {other:?}"),
        }
        assert!(watcher.check().is_empty(), "loaded once per change");
    }

    #[test]
    fn broken_config_is_refused_counted_and_retried_on_the_next_change() {
        let dir = Scratch::new("config-broken");
        let mut watcher = config_watcher(&dir.0);
        let errors_before = reload_count("error");
        kubelet_update(&dir.0, "v2", &[("config.yaml", BROKEN)]);
        match watcher.check().as_slice() {
            [Err(e @ ReloadError::Config { .. })] => {
                let text = e.to_string();
                assert!(text.contains("notAKey"), "{text}");
                assert!(text.contains("previous one stays in force"), "{text}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(reload_count("error") > errors_before);
        assert!(watcher.check().is_empty(), "a refusal is not repeated");
        kubelet_update(&dir.0, "v3", &[("config.yaml", ALLOW)]);
        assert!(matches!(
            watcher.check().as_slice(),
            [Ok(Reloaded::Config(_))]
        ));
    }

    /// An alerting file with one admit receiver using template `t` at `url`.
    fn alerting(url: &str) -> String {
        format!("admitRequest:\n  receivers:\n    - template: t\n      receiverUrl: {url}\n")
    }

    fn receivers(reloaded: &[Result<Reloaded, ReloadError>]) -> Option<Vec<String>> {
        match reloaded {
            [Ok(Reloaded::Alerts(Some(alerter)))] => Some(
                alerter
                    .config()
                    .admit
                    .iter()
                    .map(|r| r.url.to_string())
                    .collect(),
            ),
            _ => None,
        }
    }

    #[test]
    fn alerting_and_its_templates_are_reloaded_and_a_broken_one_refused() {
        let dir = Scratch::new("alerts");
        let templates = dir.0.join("templates");
        fs::create_dir_all(&templates).unwrap();
        fs::write(templates.join("t.json"), r#"{"m": "{{ alert_message }}"}"#).unwrap();
        kubelet_update(
            &dir.0,
            "v1",
            &[("config.yaml", &alerting("https://a.example/"))],
        );
        let paths = WatchPaths {
            alerts: Some(dir.0.join("config.yaml")),
            ..WatchPaths::default()
        };
        let mut watcher = Watcher::new(paths, &Config::embedded_default());
        assert!(watcher.check().is_empty(), "nothing changed");

        kubelet_update(
            &dir.0,
            "v2",
            &[("config.yaml", &alerting("https://b.example/"))],
        );
        assert_eq!(
            receivers(&watcher.check()),
            Some(vec!["https://b.example/".to_owned()])
        );

        // A template that no longer parses refuses the reload; the previous alerter stays.
        fs::write(
            templates.join("t.json"),
            r#"{"m": "{{ no_such_variable }}"}"#,
        )
        .unwrap();
        match watcher.check().as_slice() {
            [Err(e @ ReloadError::Alerts { .. })] => {
                let text = e.to_string();
                assert!(text.contains("no_such_variable"), "{text}");
                assert!(text.contains("check-config --alerts"), "{text}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(watcher.check().is_empty(), "a refusal is not repeated");

        // Fixing the template reloads; an empty file turns alerting off.
        fs::write(templates.join("t.json"), r#"{"m": "{{ cluster }}"}"#).unwrap();
        assert!(receivers(&watcher.check()).is_some());
        kubelet_update(&dir.0, "v3", &[("config.yaml", "{}")]);
        assert!(matches!(
            watcher.check().as_slice(),
            [Ok(Reloaded::Alerts(None))]
        ));
    }

    #[test]
    fn vanished_config_is_refused() {
        let dir = Scratch::new("config-gone");
        let mut watcher = config_watcher(&dir.0);
        fs::remove_file(dir.0.join("..data")).unwrap();
        assert!(matches!(
            watcher.check().as_slice(),
            [Err(ReloadError::Config { .. })]
        ));
    }

    fn write_cert(dir: &Path, version: &str) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = certified.cert.pem();
        let key = certified.signing_key.serialize_pem();
        kubelet_update(dir, version, &[("tls.crt", &cert), ("tls.key", &key)]);
    }

    #[test]
    fn certificate_swap_is_loaded_and_a_mismatched_pair_is_refused() {
        let dir = Scratch::new("tls");
        write_cert(&dir.0, "v1");
        let paths = WatchPaths {
            tls: Some(TlsPaths {
                cert: dir.0.join("tls.crt"),
                key: dir.0.join("tls.key"),
            }),
            ..WatchPaths::default()
        };
        let mut watcher = Watcher::new(paths, &Config::embedded_default());
        assert!(watcher.check().is_empty());
        write_cert(&dir.0, "v2");
        assert!(matches!(watcher.check().as_slice(), [Ok(Reloaded::Tls(_))]));

        // A certificate with another certificate's key.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = fs::read_to_string(dir.0.join("tls.crt")).unwrap();
        kubelet_update(
            &dir.0,
            "v3",
            &[
                ("tls.crt", &cert),
                ("tls.key", &other.signing_key.serialize_pem()),
            ],
        );
        match watcher.check().as_slice() {
            [Err(ReloadError::Tls(e))] => assert!(e.to_string().contains("do not fit"), "{e}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn secret_change_reloads_the_config_that_names_it() {
        let dir = Scratch::new("secrets");
        let config_dir = dir.0.join("config");
        let secrets = dir.0.join("secrets");
        fs::create_dir_all(&config_dir).unwrap();
        fs::create_dir_all(secrets.join("regcred")).unwrap();
        let public_key = rcgen::KeyPair::generate().unwrap().public_key_pem();
        let indented: String = public_key
            .lines()
            .map(|l| format!("          {l}\n"))
            .collect();
        let named = format!(
            "validators:\n  - name: default\n    type: notaryv1\n    auth:\n      secretName: regcred\n    trustRoots:\n      - name: default\n        key: |\n{indented}policy:\n  - pattern: \"*:*\"\n"
        );
        let named = named.as_str();
        if let Err(errors) = Config::from_yaml(named) {
            panic!("test configuration does not load: {errors:?}");
        }
        kubelet_update(&config_dir, "v1", &[("config.yaml", named)]);
        kubelet_update(
            &secrets.join("regcred"),
            "v1",
            &[("secret.yaml", "username: a\npassword: b\n")],
        );
        let paths = WatchPaths {
            config: Some(config_dir.join("config.yaml")),
            secrets: Some(secrets.clone()),
            ..WatchPaths::default()
        };
        let in_force = Config::load(&config_dir.join("config.yaml")).unwrap();
        let mut watcher = Watcher::new(paths, &in_force);
        assert!(watcher.check().is_empty());
        kubelet_update(
            &secrets.join("regcred"),
            "v2",
            &[("secret.yaml", "username: a\npassword: c\n")],
        );
        assert!(matches!(
            watcher.check().as_slice(),
            [Ok(Reloaded::Config(_))]
        ));
        // The secret disappears: the configuration that names it is refused.
        fs::remove_file(secrets.join("regcred/..data")).unwrap();
        match watcher.check().as_slice() {
            [Err(e)] => {
                let text = e.to_string();
                assert!(text.contains("regcred"), "{text}");
                assert!(text.contains("--secrets"), "{text}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn thread_sends_new_versions_wakes_the_loop_and_ends_without_a_receiver() {
        let dir = Scratch::new("thread");
        let watcher = config_watcher(&dir.0);
        let (sender, receiver) = mpsc::channel();
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        let handle = spawn(watcher, Duration::from_millis(20), sender, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        kubelet_update(&dir.0, "v2", &[("config.yaml", ALLOW)]);
        match receiver.recv_timeout(Duration::from_secs(10)) {
            Ok(Reloaded::Config(config)) => assert!(approves(&config)),
            other => panic!("expected a new configuration, got {other:?}"),
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while wakes.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(wakes.load(Ordering::SeqCst) >= 1);

        // The loop is gone: the next version finds no receiver and the thread ends.
        drop(receiver);
        kubelet_update(&dir.0, "v3", &[("config.yaml", DENY)]);
        handle.join().unwrap();
    }
}
