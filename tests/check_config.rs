//! `tastevin check-config` as CI runs it: a PEM field that does not parse is reported with
//! its path and line (exit 1), and a missing `auth.secretName` secret is reported under the
//! directory the webhook reads secrets from unless `--no-secrets` is given.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::TempDir;

/// Runs `tastevin check-config` with `args` and `TASTEVIN_SECRETS_DIR=secrets`: exit code,
/// stdout and stderr.
fn check_config(args: &[&str], secrets: &Path) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tastevin"))
        .arg("check-config")
        .args(args)
        .env("TASTEVIN_SECRETS_DIR", secrets)
        .output()
        .expect("run tastevin");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const BAD_NOTATION_CERT: &str = "validators:
  - name: default
    type: notation
    trustRoots:
      - name: default
        cert: |
          -----BEGIN CERTIFICATE-----
          Z2FyYmFnZQ==
          -----END CERTIFICATE-----
policy:
  - pattern: \"*:*\"
";

const WITH_SECRET: &str = "validators:
  - name: default
    type: cosign
    auth: {secretName: registry-creds}
    trustRoots: [{name: default, keyless: {issuer: i, subject: s}}]
policy:
  - pattern: \"*:*\"
";

#[test]
fn unparsable_pem_is_an_error_with_path_and_line() {
    let dir = TempDir::new();
    let config = dir.path().join("config.yaml");
    fs::write(&config, BAD_NOTATION_CERT).expect("write the config");
    let config = config.display().to_string();
    let (code, out, err) = check_config(&["--config", &config, "--no-secrets"], dir.path());
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains(&format!("{config}: validators[0].trustRoots[0].cert: not a valid PEM certificate: is not an X.509 certificate"))
            && err.contains("(line 6)"),
        "{err}"
    );
}

#[test]
fn missing_secrets_are_reported_under_the_default_directory_unless_turned_off() {
    let dir = TempDir::new();
    let config = dir.path().join("config.yaml");
    fs::write(&config, WITH_SECRET).expect("write the config");
    let config = config.display().to_string();
    let secrets = dir.path().join("secrets");
    let (code, out, err) = check_config(&["--config", &config], &secrets);
    assert_eq!(code, Some(1), "{out}{err}");
    let expected = format!(
        "validators[0].auth.secretName: no authentication file for secret: neither {}/registry-creds/secret.yaml",
        secrets.display()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("--no-secrets"), "{err}");

    let (code, out, err) = check_config(&["--config", &config, "--no-secrets"], &secrets);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(": OK, 1 validator (1 cosign), 1 rule"),
        "{out}"
    );

    fs::create_dir_all(secrets.join("registry-creds")).expect("secret dir");
    fs::write(
        secrets.join("registry-creds/.dockerconfigjson"),
        "{\"auths\": {}}",
    )
    .expect("write the secret");
    let (code, out, err) = check_config(&["--config", &config], &secrets);
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn help_names_the_secrets_switch() {
    let dir = TempDir::new();
    let (code, out, _) = check_config(&["--help"], dir.path());
    assert_eq!(code, Some(0));
    assert!(out.contains("--no-secrets"), "{out}");
}
