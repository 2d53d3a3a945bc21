//! One admission decision as the cluster sees it: a Pod's AdmissionReview handed to the
//! in-process admission engine, and the AdmissionReview `response` read back together with
//! the engine's metrics. Shared by the end-to-end tests of each validator.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tastevin::admission::{Admission, Settings};
use tastevin::config::Config;
use tastevin::metrics::Metrics;

/// An engine for `config` with its own metrics, which live as long as the test process.
pub fn engine(config: Config, settings: Settings) -> (Admission, &'static Metrics) {
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    (
        Admission::quiet(Arc::new(config), settings, metrics),
        metrics,
    )
}

/// The AdmissionReview for creating a Pod whose single container runs `image`.
pub fn pod_review(image: &str) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "e2e",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "default",
            "operation": "CREATE",
            "object": {"metadata": {"name": "app"},
                       "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
    .to_string()
    .into_bytes()
}

/// The engine's answer to a Pod running one image.
pub struct Decided {
    pub response: Value,
    pub metrics: &'static Metrics,
}

impl Decided {
    pub fn allowed(&self) -> bool {
        self.response["allowed"] == true
    }

    pub fn message(&self) -> &str {
        self.response["status"]["message"].as_str().unwrap_or("")
    }

    /// The decoded JSON patch, if the response carries one.
    pub fn patch(&self) -> Option<Value> {
        let encoded = self.response["patch"].as_str()?;
        let bytes = STANDARD.decode(encoded).expect("patch is base64");
        Some(serde_json::from_slice(&bytes).expect("patch is JSON"))
    }

    /// The value of one exposition line starting with `series` (0 when absent).
    pub fn metric(&self, series: &str) -> u64 {
        let mut text = String::new();
        self.metrics.render(&mut text);
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }

    /// Asserts the image was admitted and pinned to `digest`.
    pub fn assert_pinned(&self, image: &str, digest: &str) {
        assert!(self.allowed(), "{}", self.response);
        assert_eq!(
            self.patch(),
            Some(pinned(image, digest)),
            "{}",
            self.response
        );
    }

    /// Asserts the image was denied with exactly `message` and nothing was patched.
    pub fn assert_denied(&self, message: &str) {
        assert!(!self.allowed(), "{}", self.response);
        assert_eq!(self.message(), message, "{}", self.response);
        assert!(self.patch().is_none(), "{}", self.response);
    }
}

/// Hands a Pod running `image` to `admission`; the HTTP-level answer must be a 200.
pub fn decide_on(admission: &Admission, metrics: &'static Metrics, image: &str) -> Decided {
    let reply = admission.handle(&pod_review(image));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let review: Value = serde_json::from_slice(&reply.body).expect("AdmissionReview JSON");
    Decided {
        response: review["response"].clone(),
        metrics,
    }
}

/// The patch that pins the first container's `image` to `digest`.
pub fn pinned(image: &str, digest: &str) -> Value {
    json!([{"op": "replace", "path": "/spec/containers/0/image", "value": format!("{image}@{digest}")}])
}
