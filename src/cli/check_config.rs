//! `tastevin check-config`: load a configuration (and, with `--alerts`, an alerting
//! configuration), report every problem with its YAML path and line, and exit 0 when it is
//! valid, 1 when it is not. Secrets named by `auth.secretName` are looked for where the
//! webhook looks for them unless `--no-secrets` says the machine has none (CI).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::alerts::AlertsConfig;
use crate::config::{Config, ConfigError, Problem, ValidatorKind, SECRETS_DIR};

const HELP: &str = "\
Usage: tastevin check-config [--config FILE] [--secrets DIR | --no-secrets] [--alerts FILE]

Load a Connaisseur-format configuration (validators, policy) the way the webhook
does at startup, and report every problem with its YAML path and line.

Options:
  -c, --config FILE  configuration to check (default: /app/config/config.yaml;
                     when that file does not exist, the built-in default
                     configuration is checked, as the webhook would use it)
  -s, --secrets DIR  check that every auth.secretName has a credential file
                     (secret.yaml or .dockerconfigjson) under DIR/<name>/
                     [default: $TASTEVIN_SECRETS_DIR, else /app/secrets, where
                     the webhook reads them]
      --no-secrets   do not check auth.secretName secrets (e.g. in CI, where
                     the secrets are not mounted)
  -a, --alerts FILE  also check an alerting configuration (Connaisseur's
                     /app/alerts/config.yaml) and the templates it names in
                     templates/ beside it
  -h, --help         show this help and exit

Exit status: 0 if the configuration is valid, 1 if it is not, 2 on a usage error.
";

/// What a valid configuration contains, for the success message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub static_validators: usize,
    pub notaryv1_validators: usize,
    pub cosign_validators: usize,
    pub notation_validators: usize,
    pub rules: usize,
}

impl Summary {
    fn of(config: &Config) -> Summary {
        let count = |wanted: fn(&ValidatorKind) -> bool| {
            config
                .validators()
                .iter()
                .filter(|validator| wanted(&validator.kind))
                .count()
        };
        Summary {
            static_validators: count(|kind| matches!(kind, ValidatorKind::Static { .. })),
            notaryv1_validators: count(|kind| matches!(kind, ValidatorKind::NotaryV1(_))),
            cosign_validators: count(|kind| matches!(kind, ValidatorKind::Cosign(_))),
            notation_validators: count(|kind| matches!(kind, ValidatorKind::Notation(_))),
            rules: config.rules().len(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let validators = self.static_validators
            + self.notaryv1_validators
            + self.cosign_validators
            + self.notation_validators;
        write!(f, "{validators} validator{}", plural(validators))?;
        let kinds = [
            (self.static_validators, "static"),
            (self.notaryv1_validators, "notaryv1"),
            (self.cosign_validators, "cosign"),
            (self.notation_validators, "notation"),
        ];
        let present: Vec<String> = kinds
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, kind)| format!("{count} {kind}"))
            .collect();
        if !present.is_empty() {
            write!(f, " ({})", present.join(", "))?;
        }
        write!(f, ", {} rule{}", self.rules, plural(self.rules))
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// Checks a configuration document.
pub fn check(text: &str) -> Result<Summary, Vec<ConfigError>> {
    Config::from_yaml(text).map(|config| Summary::of(&config))
}

/// Where `auth.secretName` secrets are looked for.
#[derive(Debug, PartialEq, Eq)]
enum Secrets {
    /// Where the webhook looks: `$TASTEVIN_SECRETS_DIR`, else [`SECRETS_DIR`].
    Default,
    Dir(PathBuf),
    /// `--no-secrets`: not checked.
    Off,
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Help,
    Check {
        config: Option<PathBuf>,
        secrets: Secrets,
        alerts: Option<PathBuf>,
    },
}

fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut config = None;
    let mut secrets = None;
    let mut no_secrets = false;
    let mut alerts = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (option, value) = match arg.as_str() {
            "-h" | "--help" => return Ok(Request::Help),
            "--no-secrets" => {
                no_secrets = true;
                continue;
            }
            "-c" | "--config" | "-s" | "--secrets" | "-a" | "--alerts" => {
                let value = rest
                    .next()
                    .ok_or_else(|| format!("option '{arg}' requires an argument"))?;
                (arg.trim_start_matches('-'), value.as_str())
            }
            other => match other.split_once('=') {
                Some(("--config", value)) => ("config", value),
                Some(("--secrets", value)) => ("secrets", value),
                Some(("--alerts", value)) => ("alerts", value),
                _ if other.starts_with('-') => {
                    return Err(format!("unrecognized option '{other}'"))
                }
                _ => return Err(format!("unexpected argument '{other}'")),
            },
        };
        let (slot, name) = match option {
            "c" | "config" => (&mut config, "--config"),
            "a" | "alerts" => (&mut alerts, "--alerts"),
            _ => (&mut secrets, "--secrets"),
        };
        if slot.replace(PathBuf::from(value)).is_some() {
            return Err(format!("option '{name}' given more than once"));
        }
    }
    let secrets = match (secrets, no_secrets) {
        (Some(_), true) => {
            return Err("options '--secrets' and '--no-secrets' exclude each other".to_owned())
        }
        (Some(dir), false) => Secrets::Dir(dir),
        (None, true) => Secrets::Off,
        (None, false) => Secrets::Default,
    };
    Ok(Request::Check {
        config,
        secrets,
        alerts,
    })
}

/// Runs `check-config` with the arguments that follow it; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let default_secrets = std::env::var_os("TASTEVIN_SECRETS_DIR")
        .map_or_else(|| PathBuf::from(SECRETS_DIR), PathBuf::from);
    run_with(
        args,
        Path::new(Config::DEFAULT_PATH),
        &default_secrets,
        &mut stdout.lock(),
        &mut stderr.lock(),
    )
}

fn run_with(
    args: &[String],
    default_path: &Path,
    default_secrets: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    // Write errors on stdout/stderr (e.g. a closed pipe) cannot be reported anywhere.
    let request = match parse_args(args) {
        Ok(request) => request,
        Err(message) => {
            let _ = writeln!(err, "tastevin check-config: {message}");
            let _ = writeln!(
                err,
                "Try 'tastevin check-config --help' for more information."
            );
            return 2;
        }
    };
    let (config, secrets, alerts) = match request {
        Request::Help => {
            let _ = out.write_all(HELP.as_bytes());
            return 0;
        }
        Request::Check {
            config,
            secrets,
            alerts,
        } => (config, secrets, alerts),
    };
    let (path, loaded) = match config {
        Some(path) => {
            let result = Config::load(&path);
            (path.display().to_string(), result)
        }
        None if default_path.exists() => (
            default_path.display().to_string(),
            Config::load(default_path),
        ),
        None => {
            let _ = writeln!(
                out,
                "{} does not exist; checking the built-in default configuration",
                default_path.display()
            );
            let result = Config::from_yaml(Config::embedded_default_text());
            ("built-in default".to_owned(), result)
        }
    };
    let secrets_dir = match &secrets {
        Secrets::Default => Some(default_secrets),
        Secrets::Dir(dir) => Some(dir.as_path()),
        Secrets::Off => None,
    };
    let result = loaded.and_then(|config| match secrets_dir {
        Some(dir) => config.check_secrets(dir).map(|()| config),
        None => Ok(config),
    });
    let policy_code = match result {
        Ok(config) => {
            let _ = writeln!(out, "{path}: OK, {}", Summary::of(&config));
            0
        }
        Err(errors) => {
            for error in &errors {
                match error {
                    ConfigError::Read { .. } => {
                        let _ = writeln!(err, "{error}");
                    }
                    _ => {
                        let _ = writeln!(err, "{path}: {error}");
                    }
                }
            }
            let count = errors.len();
            let _ = writeln!(err, "{path}: {count} error{}", plural(count));
            let secret_missing = errors.iter().any(|error| {
                matches!(
                    error,
                    ConfigError::Invalid {
                        problem: Problem::SecretMissing(_),
                        ..
                    }
                )
            });
            if secret_missing && secrets == Secrets::Default {
                let _ = writeln!(
                    err,
                    "(secrets were looked for under {}, where the webhook reads them; use --secrets DIR to name another directory, or --no-secrets where none are mounted)",
                    default_secrets.display()
                );
            }
            1
        }
    };
    let alerts_code = alerts.map_or(0, |alerts| check_alerts(&alerts, out, err));
    policy_code.max(alerts_code)
}

/// Checks an alerting configuration as `serve --alerts-config` loads it; returns the exit code.
fn check_alerts(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match AlertsConfig::load(path) {
        Ok(alerts) => {
            let receivers = alerts.admit.len() + alerts.reject.len();
            let _ = writeln!(
                out,
                "{}: OK, {receivers} receiver{}",
                path.display(),
                plural(receivers)
            );
            0
        }
        Err(errors) => {
            for error in &errors {
                let _ = writeln!(err, "{error}");
            }
            let count = errors.len();
            let _ = writeln!(err, "{}: {count} error{}", path.display(), plural(count));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    /// Runs with captured output; returns (exit code, stdout, stderr).
    fn run_captured(list: &[&str], default_path: &Path) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(
            &args(list),
            default_path,
            Path::new("/nonexistent/secrets"),
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir()
            .join(format!("tastevin-check-config-{}", std::process::id()))
            .join(name);
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                panic!("{}: {e}", dir.display());
            }
        }
        if let Err(e) = std::fs::write(&path, text) {
            panic!("{}: {e}", path.display());
        }
        path
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&args(&[])),
            Ok(Request::Check {
                config: None,
                secrets: Secrets::Default,
                alerts: None
            })
        );
        assert_eq!(
            parse_args(&args(&["--secrets=/s", "-c", "x"])),
            Ok(Request::Check {
                config: Some("x".into()),
                secrets: Secrets::Dir("/s".into()),
                alerts: None
            })
        );
        assert!(parse_args(&args(&["-s", "a", "--secrets", "b"])).is_err());
        assert_eq!(
            parse_args(&args(&["--no-secrets"])),
            Ok(Request::Check {
                config: None,
                secrets: Secrets::Off,
                alerts: None
            })
        );
        assert!(parse_args(&args(&["--no-secrets", "-s", "a"])).is_err());
        assert_eq!(
            parse_args(&args(&["-a", "alerts.yaml"])),
            Ok(Request::Check {
                config: None,
                secrets: Secrets::Default,
                alerts: Some("alerts.yaml".into())
            })
        );
        assert!(parse_args(&args(&["--alerts=a", "-a", "b"])).is_err());
        assert_eq!(parse_args(&args(&["--help"])), Ok(Request::Help));
        assert_eq!(
            parse_args(&args(&["-c", "a.yaml"])),
            Ok(Request::Check {
                config: Some("a.yaml".into()),
                secrets: Secrets::Default,
                alerts: None
            })
        );
        assert_eq!(
            parse_args(&args(&["--config=b.yaml"])),
            Ok(Request::Check {
                config: Some("b.yaml".into()),
                secrets: Secrets::Default,
                alerts: None
            })
        );
        assert!(parse_args(&args(&["--config"])).is_err());
        assert!(parse_args(&args(&["--verbose"])).is_err());
        assert!(parse_args(&args(&["-c", "a", "-c", "b"])).is_err());
        assert!(parse_args(&args(&["file.yaml"])).is_err());
    }

    #[test]
    fn help_and_usage_errors() {
        let nowhere = Path::new("/nonexistent/config.yaml");
        let (code, out, _) = run_captured(&["-h"], nowhere);
        assert_eq!(code, 0);
        assert!(out.starts_with("Usage: tastevin check-config"));
        let (code, _, err) = run_captured(&["--bogus"], nowhere);
        assert_eq!(code, 2);
        assert!(err.contains("unrecognized option '--bogus'"));
    }

    #[test]
    fn summary_counts_validators_by_type() {
        let summary = check("validators: [{name: a, type: static}, {name: b, type: static}]\npolicy: [{pattern: x}]\n");
        assert_eq!(
            summary.map(|s| s.to_string()).ok().as_deref(),
            Some("2 validators (2 static), 1 rule")
        );
    }

    #[test]
    fn valid_file_exits_zero() {
        let path = temp_file(
            "valid.yaml",
            "validators: [{name: default, type: static}]\npolicy: [{pattern: x}]\n",
        );
        let path_text = path.display().to_string();
        let (code, out, err) = run_captured(&["--config", &path_text], Path::new("/nonexistent"));
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(
            out,
            format!("{path_text}: OK, 1 validator (1 static), 1 rule\n")
        );
    }

    #[test]
    fn invalid_file_lists_every_error_and_exits_one() {
        let path = temp_file(
            "invalid.yaml",
            "validators:\n  - name: a\n    type: cosign\npolicy:\n  - pattern: \"[x\"\n",
        );
        let path_text = path.display().to_string();
        let (code, out, err) = run_captured(&["-c", &path_text], Path::new("/nonexistent"));
        assert_eq!((code, out.as_str()), (1, ""));
        let expected = format!(
            "{p}: validators[0].trustRoots: no trust roots provided for validator a (line 2)\n\
             {p}: policy[0].pattern: invalid glob pattern: '[' without a closing ']' (line 5)\n\
             {p}: 2 errors\n",
            p = path_text
        );
        assert_eq!(err, expected);
    }

    #[test]
    fn secrets_are_checked_where_the_webhook_reads_them_unless_turned_off() {
        let path = temp_file(
            "with-secret.yaml",
            "validators:\n  - name: default\n    type: notaryv1\n    auth: {secretName: creds}\n    trustRoots: [{name: default, key: x}]\npolicy: [{pattern: x}]\n",
        );
        let path_text = path.display().to_string();
        let nowhere = Path::new("/nonexistent");
        // The default directory (here /nonexistent/secrets) is checked without --secrets.
        let (code, _, err) = run_captured(&["-c", &path_text], nowhere);
        assert_eq!(code, 1);
        assert!(
            err.contains("validators[0].auth.secretName: no authentication file for secret: neither /nonexistent/secrets/creds/secret.yaml"),
            "{err}"
        );
        assert!(err.contains("--no-secrets where none are mounted"), "{err}");
        let (code, out, err) = run_captured(&["-c", &path_text, "--no-secrets"], nowhere);
        assert_eq!((code, err.as_str()), (0, ""), "{out}");
        let (code, _, err) =
            run_captured(&["-c", &path_text, "-s", "/nonexistent/elsewhere"], nowhere);
        assert_eq!(code, 1);
        assert!(
            err.contains("neither /nonexistent/elsewhere/creds/secret.yaml"),
            "{err}"
        );
        assert!(!err.contains("--no-secrets"), "{err}");
        let secrets = temp_file("secrets/creds/secret.yaml", "");
        let dir = secrets
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.display().to_string());
        let dir = dir.unwrap_or_default();
        let (code, _, err) = run_captured(&["-c", &path_text, "--secrets", &dir], nowhere);
        assert_eq!((code, err.as_str()), (0, ""));
    }

    #[test]
    fn alerting_configurations_are_checked_when_asked() {
        let policy = temp_file(
            "policy-for-alerts.yaml",
            "validators: [{name: default, type: static}]\npolicy: [{pattern: x}]\n",
        );
        let alerts = temp_file(
            "alerts.yaml",
            "admitRequest:\n  receivers:\n    - template: nowhere\n      receiverUrl: https://x\n",
        );
        let empty = temp_file("no-alerts.yaml", "{}\n");
        let (policy, alerts, empty) = (
            policy.display().to_string(),
            alerts.display().to_string(),
            empty.display().to_string(),
        );
        let nowhere = Path::new("/nonexistent");
        let (code, out, err) = run_captured(&["-c", &policy, "-a", &empty], nowhere);
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(
            out.ends_with(&format!("{empty}: OK, 0 receivers\n")),
            "{out}"
        );
        let (code, out, err) = run_captured(&["-c", &policy, "--alerts", &alerts], nowhere);
        assert_eq!(code, 1);
        assert!(out.contains(&format!("{policy}: OK")), "{out}");
        assert!(
            err.contains("admitRequest.receivers[0].template: unable to get template file"),
            "{err}"
        );
        assert!(err.ends_with(&format!("{alerts}: 1 error\n")), "{err}");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let (code, _, err) =
            run_captured(&["-c", "/nonexistent/x.yaml"], Path::new("/nonexistent"));
        assert_eq!(code, 1);
        assert!(err.starts_with("/nonexistent/x.yaml: "), "{err}");
    }

    #[test]
    fn absent_default_path_falls_back_to_the_built_in_configuration() {
        let (code, out, _) = run_captured(&[], Path::new("/nonexistent/config.yaml"));
        assert_eq!(code, 0);
        assert!(
            out.contains("checking the built-in default configuration"),
            "{out}"
        );
        assert!(
            out.contains("built-in default: OK, 2 validators (2 static), 2 rules"),
            "{out}"
        );
    }

    #[test]
    fn present_default_path_is_checked() {
        let path = temp_file("default.yaml", "validators: []\n");
        let (code, _, err) = run_captured(&[], &path);
        assert_eq!(code, 1);
        assert!(
            err.contains("validators: must contain at least 1 item"),
            "{err}"
        );
    }
}
