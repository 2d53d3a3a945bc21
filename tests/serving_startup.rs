//! Startup refusals: a configuration the webhook cannot enforce stops it before it listens,
//! with a message that names the problem (Connaisseur crash-loops the same way).

mod support;

use std::fs;

use support::{serve_until_exit, TempDir};

const COSIGN_WITH_SECRET: &str = r#"
validators:
  - name: private
    type: cosign
    auth:
      secretName: registry-creds
    trustRoots:
      - name: default
        key: |
          -----BEGIN PUBLIC KEY-----
          MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvtc/qpHtx7iUUj+rRHR99a8mnGni
          qiGkmUb9YpWWTS4YwlvwdmMDiGzcsHiDOYz6f88u2hCRF5GUCvyiZAKrsA==
          -----END PUBLIC KEY-----
policy:
  - pattern: "*:*"
    validator: private
"#;

fn serve(dir: &TempDir, extra: &[&str]) -> (Option<i32>, String) {
    let config = dir.path().join("config.yaml");
    fs::write(&config, COSIGN_WITH_SECRET).expect("write the config");
    let config = config.display().to_string();
    let flags: Vec<&str> = ["--config", config.as_str()]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    serve_until_exit(&flags)
}

#[test]
fn a_missing_secret_stops_startup() {
    let dir = TempDir::new();
    let secrets = dir.path().join("secrets");
    fs::create_dir_all(&secrets).expect("secrets dir");
    let (code, log) = serve(&dir, &["--secrets-dir", &secrets.display().to_string()]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("registry-creds"), "{log}");
}

/// A cosign validator whose `host.fulcioCert` is well-framed PEM around bytes that are no
/// certificate: refused before listening, the message naming the field and its line.
#[test]
fn unparsable_pem_stops_startup() {
    let dir = TempDir::new();
    let config = dir.path().join("config.yaml");
    let text = "validators:\n  - name: default\n    type: cosign\n    host:\n      fulcioCert: |\n        -----BEGIN CERTIFICATE-----\n        Z2FyYmFnZQ==\n        -----END CERTIFICATE-----\n    trustRoots:\n      - name: default\n        keyless: {issuer: i, subject: s}\npolicy:\n  - pattern: \"*:*\"\n";
    fs::write(&config, text).expect("write the config");
    let (code, log) = serve_until_exit(&["--config", &config.display().to_string()]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("validators[0].host.fulcioCert: not a valid PEM certificate")
            && log.contains("(line 5)"),
        "{log}"
    );
}

#[test]
fn an_unknown_option_is_a_usage_error() {
    let dir = TempDir::new();
    let (code, log) = serve(&dir, &["--no-such-flag"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("unknown option '--no-such-flag'"), "{log}");
}
