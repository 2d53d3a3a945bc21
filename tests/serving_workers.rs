//! Requests whose validators may wait on the network are answered by a worker thread:
//! answers still come back in request order on a pipelined connection, and the event loop
//! keeps answering other connections meanwhile.

mod support;

use std::fs;

use support::requests::{admission_review, get, mutate};
use support::{Server, TempDir};

/// A policy whose only rule selects a signature validator, so every `/mutate` goes to a worker.
/// (The rule names a trust root the validator lacks, so Notation answers at once: no
/// network is involved.)
const SIGNATURE_POLICY: &str = r#"
validators:
  - name: signed
    type: notation
    trustRoots:
      - name: default
        cert: |
          -----BEGIN CERTIFICATE-----
          MIIBkjCCATmgAwIBAgIUN6Af3VI9flLiGBOQN8eefyQymUcwCgYIKoZIzj0EAwIw
          HzEdMBsGA1UEAwwUbm90YXRpb24uZXhhbXBsZS5vcmcwHhcNMjYxMTI1MTU1NTA1
          WhcNMzYxMTIyMTU1NTA1WjAfMR0wGwYDVQQDDBRub3RhdGlvbi5leGFtcGxlLm9y
          ZzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJuByRKvmiEyHNd/A3M/UFqJqALM
          tOmDDItNRv/p4QME32ALKg/3you138Iziiklkp457xTfSgjZP70/jPgq9wajUzBR
          MB0GA1UdDgQWBBSxiJ3AfGcdHh/6OCasFfIy/UtzwjAfBgNVHSMEGDAWgBSxiJ3A
          fGcdHh/6OCasFfIy/UtzwjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cA
          MEQCIFvw7OEouxH1JAtq22UROZvMxsS2KTFN+mZXPMqmDhtqAiA0UXYzeSAZZwyw
          ubM4ux2AHVWiWAaxv0S018OEXFbXqw==
          -----END CERTIFICATE-----
policy:
  - pattern: "*:*"
    validator: signed
    with:
      trustRoot: missing
"#;

fn server_with_signature_policy(dir: &TempDir) -> Server {
    let config = dir.path().join("config.yaml");
    fs::write(&config, SIGNATURE_POLICY).expect("write the config");
    Server::start(&["--config", &config.display().to_string()])
}

#[test]
fn deferred_answers_keep_pipelined_order() {
    let dir = TempDir::new();
    let server = server_with_signature_policy(&dir);
    let mut client = server.connect();
    let mut burst = mutate(&admission_review("first"));
    burst.extend(get("/health"));
    burst.extend(mutate(&admission_review("second")));
    client.send(&burst);

    let first = client.read_response();
    assert_eq!(first.status, 200);
    let review: serde_json::Value = serde_json::from_slice(&first.body).expect("JSON answer");
    assert_eq!(review["response"]["uid"], "first");
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(
        review["response"]["status"]["message"],
        "error during notation validation of image docker.io/library/nginx:1.27: \
         failed to set up trust policy: failed to get trust roots: unable to find trust root missing"
    );
    assert_eq!(
        client.read_response().status,
        200,
        "/health after the first"
    );
    let second = client.read_response();
    let review: serde_json::Value = serde_json::from_slice(&second.body).expect("JSON answer");
    assert_eq!(review["response"]["uid"], "second");
}

#[test]
fn deferred_answers_are_counted_like_inline_ones() {
    let dir = TempDir::new();
    let server = server_with_signature_policy(&dir);
    let before = server.scrape();
    let mut client = server.connect();
    for uid in ["a", "b", "c"] {
        client.send(&mutate(&admission_review(uid)));
        assert_eq!(client.read_response().status, 200);
    }
    let after = server.scrape();
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let denied = [("allowed", "False"), ("status_code", "403")];
    assert_eq!(delta("mutate_requests_total", &denied), 3.0);
    let route = [("method", "POST"), ("path", "/mutate"), ("status", "200")];
    assert_eq!(delta("http_request_duration_seconds_count", &route), 3.0);
}
