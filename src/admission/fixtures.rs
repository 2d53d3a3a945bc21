//! Test fixtures: a small policy and AdmissionReview builders (written for tastevin, modelled
//! on the cases Connaisseur's own test data covers).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Admission, Settings};
use crate::config::Config;
use crate::metrics::Metrics;

pub const DIGEST: &str = "sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff";

/// Static allow/deny validators, a Notation validator whose rule names a missing trust root
/// (so it fails at once, without network) and rules for each.
pub const POLICY: &str = r#"
validators:
  - name: default
    type: static
    approve: true
  - name: allow
    type: static
    approve: true
  - name: deny
    type: static
    approve: false
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
    validator: deny
  - pattern: "docker.io/library/*"
  - pattern: "my.reg/allow-me"
    validator: allow
  - pattern: "my.reg/deny-me"
    validator: deny
  - pattern: "signed.reg/*"
    validator: signed
    with:
      trustRoot: missing
  - pattern: "ghost.reg/*"
    validator: ghost
"#;

/// A policy without a catch-all rule.
pub const NARROW_POLICY: &str = r#"
validators:
  - name: default
    type: static
    approve: true
policy:
  - pattern: "my.reg/*"
"#;

pub fn config(yaml: &str) -> Arc<Config> {
    match Config::from_yaml(yaml) {
        Ok(config) => Arc::new(config),
        Err(errors) => panic!("fixture config does not load: {errors:?}"),
    }
}

/// An engine with its own metrics registry, so tests can assert exact counts.
pub fn admission(yaml: &str, settings: Settings) -> (Admission, &'static Metrics) {
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    (Admission::quiet(config(yaml), settings, metrics), metrics)
}

/// A pod spec with these container images.
pub fn pod_spec(containers: &[&str], init: &[&str], ephemeral: &[&str]) -> Value {
    let list = |images: &[&str]| -> Vec<Value> {
        images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect()
    };
    json!({
        "containers": list(containers),
        "initContainers": list(init),
        "ephemeralContainers": list(ephemeral),
    })
}

/// A workload object of `kind` whose pod spec is `spec`.
pub fn object(kind: &str, spec: Value) -> Value {
    let metadata = json!({"name": "w", "namespace": "default"});
    match kind {
        "Pod" => json!({"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": spec}),
        "CronJob" => json!({"kind": kind, "metadata": metadata,
            "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
        _ => json!({"kind": kind, "metadata": metadata, "spec": {"template": {"spec": spec}}}),
    }
}

/// An AdmissionReview v1 around `object` (and `old_object` for UPDATE).
pub fn review(kind: &str, operation: &str, object: Value, old_object: Option<Value>) -> Vec<u8> {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "uid-1",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "operation": operation,
            "namespace": "default",
            "object": object,
            "oldObject": old_object,
        }
    });
    review.to_string().into_bytes()
}

/// A CREATE review of a Pod with these container images.
pub fn pod_review(containers: &[&str]) -> Vec<u8> {
    review(
        "Pod",
        "CREATE",
        object("Pod", pod_spec(containers, &[], &[])),
        None,
    )
}

/// The `response` object of an answer body.
pub fn response(body: &[u8]) -> Value {
    let answer: Value = serde_json::from_slice(body).expect("the answer is JSON");
    answer["response"].clone()
}

/// The value of one rendered metric line, e.g.
/// `connaisseur_validations_total{type="static",validator_name="deny",result="error"}`.
pub fn metric(metrics: &Metrics, series: &str) -> u64 {
    let mut text = String::new();
    metrics.render(&mut text);
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| value.trim().parse().expect("integer counter"))
}
