//! Admission: from the bytes of an AdmissionReview to the bytes of its answer.
//!
//! [`Admission::handle`] is everything `/mutate` does after the route has checked the method
//! and content type: decode ([`review`], [`workload`]), decide ([`engine`]), alert on the
//! decision ([`crate::alerts`]), adjust for pods-only and detection mode and serialise
//! ([`response`]), count ([`record`]).

pub mod engine;
#[cfg(test)]
mod fixtures;
pub mod record;
pub mod response;
pub mod review;
pub mod settings;
pub mod workload;

use std::sync::Arc;
use std::time::Instant;

use crate::alerts::{Alert, Alerter};
use crate::cache::VerdictCache;
use crate::config::{Config, ValidatorKind};
use crate::kube::owners::Owners;
use crate::metrics::{self, Metrics};
use crate::redis::Shared;
use crate::validators::in_flight::InFlight;
use crate::validators::Clients;
use crate::{log_error, log_warn};
use engine::{Engine, Evaluation};
use response::{AdmissionResponse, Decision};
use review::ReviewError;
pub use settings::Settings;

/// The admission webhook's decision maker; built once at startup, shared by all requests.
pub struct Admission {
    config: Arc<Config>,
    settings: Settings,
    metrics: &'static Metrics,
    log: bool,
    /// Some validator or alert receiver may wait on the network: requests must not be
    /// decided on the event loop.
    outbound: bool,
    /// Where decisions are notified; `None` when alerting is off.
    alerts: Option<Arc<Alerter>>,
    cache: VerdictCache,
    clients: Clients,
    in_flight: InFlight<engine::Decided>,
    /// Owner lookups for child approval, kept across reloads (one API client per process).
    owners: Option<Arc<Owners>>,
    /// What replicas share through Redis, kept across reloads (verdict keys carry the policy
    /// fingerprint).
    shared: Option<Arc<Shared>>,
}

/// Distinct images of one request validated at once when validators wait on the network.
const PARALLEL_VALIDATIONS: usize = 8;

/// An HTTP answer for `/mutate`. `json == false` means a `text/plain` body in Go `http.Error`
/// style (message + "\n").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub json: bool,
    pub body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, message: &str) -> Reply {
        Reply {
            status,
            json: false,
            body: format!("{message}\n").into_bytes(),
        }
    }
}

/// A reviewed request: the answer and how it was reached (for `tastevin review --explain`).
#[derive(Debug)]
pub struct Reviewed {
    pub response: AdmissionResponse,
    /// The AdmissionReview answer, ready to send.
    pub json: Vec<u8>,
    pub evaluation: Evaluation,
}

/// Why a review could not be answered with an AdmissionReview.
#[derive(Debug)]
pub enum ReviewFailure {
    /// The body is not a usable AdmissionReview (HTTP 400).
    Request(ReviewError),
    /// The answer could not be serialised (HTTP 500).
    Serialise(serde_json::Error),
}

impl std::fmt::Display for ReviewFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReviewFailure::Request(err) => write!(f, "{err}"),
            ReviewFailure::Serialise(err) => write!(f, "error marshalling response: {err}"),
        }
    }
}

impl std::error::Error for ReviewFailure {}

impl Admission {
    /// The webhook's engine: records into the process-wide metrics, logs its decisions, and
    /// logs once what operators should know about the settings.
    pub fn new(config: Arc<Config>, settings: Settings) -> Admission {
        let admission = Admission::build(config, settings, metrics::global(), true);
        for notice in admission.startup_notices() {
            log_warn!("{notice}");
        }
        admission
    }

    /// An engine that records into `metrics` and writes no log lines: for `tastevin review`,
    /// whose standard output is the answer, and for tests, which assert exact counts.
    pub fn quiet(config: Arc<Config>, settings: Settings, metrics: &'static Metrics) -> Admission {
        Admission::build(config, settings, metrics, false)
    }

    /// The same engine with a reloaded configuration: same settings and metrics, a fresh
    /// verdict cache (cached verdicts were reached under the previous policy) and fresh
    /// registry clients (credentials may have changed with it).
    pub fn with_config(&self, config: Arc<Config>) -> Admission {
        Admission::build(config, self.settings.clone(), self.metrics, self.log)
            .with_alerts(self.alerts.clone())
            .with_owners(self.owners.clone())
            .with_shared_cache(self.shared.clone())
    }

    /// The same engine with a reloaded alerting configuration (`None`: alerting off). Built
    /// like a reload of the policy, so its verdict cache starts empty too: simpler than
    /// sharing one between engines, and alerting changes are rare.
    pub fn with_alerter(&self, alerts: Option<Arc<Alerter>>) -> Admission {
        Admission::build(
            Arc::clone(&self.config),
            self.settings.clone(),
            self.metrics,
            self.log,
        )
        .with_alerts(alerts)
        .with_owners(self.owners.clone())
    }

    /// The same engine looking up owners at the Kubernetes API for child approval (none:
    /// outside a cluster, every image is validated).
    pub fn with_owners(mut self, owners: Option<Arc<Owners>>) -> Admission {
        self.owners = owners;
        self
    }

    /// The same engine sharing verdicts with other replicas through Redis (none: Redis off).
    pub fn with_shared_cache(mut self, shared: Option<Arc<Shared>>) -> Admission {
        self.clients = self.clients.with_shared(shared.clone());
        self.shared = shared;
        self
    }

    /// The same engine notifying `alerts` of every decision (none: alerting off).
    pub fn with_alerts(mut self, alerts: Option<Arc<Alerter>>) -> Admission {
        self.outbound = needs_outbound(&self.config) || alerts.is_some();
        self.alerts = alerts;
        self
    }

    fn build(
        config: Arc<Config>,
        settings: Settings,
        metrics: &'static Metrics,
        log: bool,
    ) -> Admission {
        Admission {
            outbound: needs_outbound(&config),
            cache: VerdictCache::new(settings.cache),
            clients: Clients::new(settings.secrets_dir.clone()),
            in_flight: InFlight::new(),
            shared: None,
            alerts: None,
            owners: None,
            config,
            settings,
            metrics,
            log,
        }
    }

    /// True when deciding a request may wait on registries or Notary servers, so the server
    /// must hand it to a worker thread instead of answering on its event loop.
    pub fn needs_worker(&self) -> bool {
        self.outbound
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What operators should read once at startup about how requests will be decided.
    pub fn startup_notices(&self) -> Vec<String> {
        let mut notices = Vec::new();
        // Whether the Kubernetes API is there is told by `serve`, which sets up its client.
        if self.settings.automatic_child_approval && !self.settings.effective_child_approval() {
            notices.push(
                "insecure configuration detected: automatic child approval enabled, while \
                 only pod admissions are rejected. Pretending automatic child approval was \
                 disabled"
                    .to_owned(),
            );
        }
        notices
    }

    /// Answers one `/mutate` body: 400 for undecodable reviews, else 200 and an AdmissionReview.
    pub fn handle(&self, body: &[u8]) -> Reply {
        match self.review(body) {
            Ok(reviewed) => Reply {
                status: 200,
                json: true,
                body: reviewed.json,
            },
            Err(failure @ ReviewFailure::Request(_)) => Reply::text(400, &failure.to_string()),
            Err(failure @ ReviewFailure::Serialise(_)) => Reply::text(500, &failure.to_string()),
        }
    }

    /// Decides one AdmissionReview body and records its metrics.
    pub fn review(&self, body: &[u8]) -> Result<Reviewed, ReviewFailure> {
        let deadline = Instant::now() + self.settings.request_deadline;
        let review = review::decode(body).map_err(ReviewFailure::Request)?;
        let engine = Engine {
            config: &self.config,
            settings: &self.settings,
            log: self.log,
            cache: &self.cache,
            clients: &self.clients,
            in_flight: &self.in_flight,
            shared: self.shared.as_deref().map(|shared| &shared.verdicts),
            parallelism: if self.outbound {
                PARALLEL_VALIDATIONS
            } else {
                1
            },
            owners: self.owners.as_deref(),
        };
        let evaluation = engine.evaluate(&review.request, deadline);
        if let (true, Decision::Deny(message)) = (self.log, &evaluation.decision) {
            let name = evaluation.workload.as_ref().map_or("", |w| w.name.as_str());
            log_error!(
                "error validating {} {name}: {message}",
                review.request.kind.kind
            );
        }
        for outcome in &evaluation.outcomes {
            record::image(self.metrics, outcome);
        }
        if self.outbound {
            self.metrics.set_cache_entries(self.cache.len() as u64);
        }
        // §4.6 step 1: alerts describe the raw decision, before pods-only and detection mode.
        let alert_failure = self.alerts.as_deref().and_then(|alerter| {
            let alert = Alert::of(&evaluation, &review.request.uid, &review.request.namespace);
            alerter.notify(&alert, deadline).err()
        });
        let request_is_pod = review.request.kind.kind == "Pod";
        let mut response =
            AdmissionResponse::from_decision(review.request.uid, evaluation.decision.clone());
        if let Some(failure) = alert_failure {
            if self.log {
                log_error!("denying request {}: {failure}", response.uid);
            }
            deny_keeping_patch(&mut response, failure.denial_message());
        }
        let response = response.apply_modes(&self.settings, request_is_pod);
        record::answer(self.metrics, response.allowed, Instant::now() >= deadline);
        let json = response
            .to_review_json(&review.kind, &review.api_version)
            .map_err(ReviewFailure::Serialise)?;
        Ok(Reviewed {
            response,
            json,
            evaluation,
        })
    }
}

/// Denies `response` as Connaisseur does when a fail-on-error alert failed: a patch of the
/// admitted decision stays in place (it matters if detection mode re-admits the request).
/// A request that was already denied keeps its reason, followed by the alert failure
/// (Connaisseur replaces the reason, which leaves the user guessing why it was denied).
fn deny_keeping_patch(response: &mut AdmissionResponse, message: String) {
    let message = match (&response.status, response.allowed) {
        (Some(status), false) => format!("{};{message}", status.message),
        _ => message,
    };
    response.allowed = false;
    response.status =
        AdmissionResponse::from_decision(String::new(), Decision::Deny(message)).status;
}

/// Whether any configured validator checks signatures (and so fetches data).
fn needs_outbound(config: &Config) -> bool {
    config
        .validators()
        .iter()
        .any(|validator| !matches!(validator.kind, ValidatorKind::Static { .. }))
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::settings::ResourceValidationMode;
    use super::*;
    use serde_json::{json, Value};
    use std::time::Duration;

    fn decide(yaml: &str, settings: Settings, body: &[u8]) -> (Value, &'static Metrics) {
        let (admission, metrics) = admission(yaml, settings);
        let reply = admission.handle(body);
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(reply.json);
        (response(&reply.body), metrics)
    }

    fn decide_default(body: &[u8]) -> Value {
        decide(POLICY, Settings::default(), body).0
    }

    fn denial(response: &Value) -> &str {
        assert_eq!(response["allowed"], false, "{response}");
        assert_eq!(response["status"]["code"], 403);
        response["status"]["message"].as_str().unwrap_or_default()
    }

    fn plain_error(body: &[u8]) -> (u16, String) {
        let (admission, metrics) = admission(POLICY, Settings::default());
        let reply = admission.handle(body);
        assert!(!reply.json);
        assert_eq!(
            metric(
                metrics,
                "mutate_requests_total{allowed=\"False\",status_code=\"403\"}"
            ),
            0
        );
        (
            reply.status,
            String::from_utf8_lossy(&reply.body).into_owned(),
        )
    }

    #[test]
    fn admission_is_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Admission>();
    }

    #[test]
    fn item_6_http_level_errors() {
        assert_eq!(
            plain_error(b"null"),
            (400, "received empty admission request\n".to_owned())
        );
        assert_eq!(
            plain_error(b"{}"),
            (400, "received empty admission request\n".to_owned())
        );
        let (status, text) = plain_error(b"");
        assert_eq!(status, 400);
        assert!(
            text.starts_with("received invalid json: ") && text.ends_with('\n'),
            "{text}"
        );
    }

    #[test]
    fn item_7_answers_echo_api_version_kind_and_uid() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"abc","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{"image":"nginx"}]}}}}"#;
        let (admission, _) = admission(POLICY, Settings::default());
        let reply = admission.handle(body);
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","response":{"uid":"abc","allowed":true}}"#
        );
    }

    #[test]
    fn item_20_unparsable_images_are_denied() {
        let response = decide_default(&pod_review(&["Invalid,Image"]));
        assert_eq!(denial(&response), "invalid image reference");
    }

    #[test]
    fn item_23_no_matching_rule() {
        let (response, metrics) =
            decide(NARROW_POLICY, Settings::default(), &pod_review(&["nginx"]));
        assert_eq!(denial(&response), "no matching rule");
        let series =
            r#"connaisseur_validations_total{type="unknown",validator_name="",result="error"}"#;
        assert_eq!(metric(metrics, series), 1);
    }

    #[test]
    fn item_24_unknown_validator() {
        let response = decide_default(&pod_review(&["ghost.reg/app:1"]));
        assert_eq!(denial(&response), r#"validator "ghost" not found"#);
    }

    #[test]
    fn item_26_every_workload_kind_is_validated_with_its_paths() {
        for kind in [
            "Pod",
            "Deployment",
            "ReplicaSet",
            "DaemonSet",
            "StatefulSet",
            "ReplicationController",
            "Job",
            "CronJob",
        ] {
            let spec = pod_spec(&["my.reg/allow-me:1"], &["my.reg/deny-me:2"], &[]);
            let response = decide_default(&review(kind, "CREATE", object(kind, spec), None));
            assert_eq!(
                denial(&response),
                "static deny for image my.reg/deny-me:2 using rule my.reg/deny-me",
                "{kind}"
            );
        }
    }

    #[test]
    fn item_27_ephemeral_containers_of_pods_are_validated() {
        let spec = pod_spec(&["nginx"], &[], &["my.reg/deny-me:debug"]);
        let response = decide_default(&review("Pod", "CREATE", object("Pod", spec), None));
        assert!(denial(&response).starts_with("static deny for image my.reg/deny-me:debug"));
    }

    #[test]
    fn item_28_other_kinds_are_denied() {
        let body = review("Role", "CREATE", json!({"rules": []}), None);
        let response = decide_default(&body);
        assert_eq!(
            denial(&response),
            r#"error decoding new workload object: unknown workload kind "Role""#
        );
        let broken = decide_default(br#"{"request":{"operation":"CREATE"}}"#);
        assert_eq!(
            denial(&broken),
            r#"error decoding new workload object: unknown workload kind """#
        );
    }

    #[test]
    fn item_29_objects_without_containers_are_denied() {
        let body = review("Pod", "CREATE", json!({"msg": "Expecting a Pod?"}), None);
        assert_eq!(
            denial(&decide_default(&body)),
            "error decoding new workload object: no containers found in workload object"
        );
    }

    #[test]
    fn item_30_update_decodes_the_old_object_first() {
        let broken = decide_default(br#"{"request":{"operation":"UPDATE"}}"#);
        assert_eq!(
            denial(&broken),
            r#"error decoding old workload object: unknown workload kind """#
        );
        let old = json!({"spec": "not a pod spec"});
        let body = review(
            "Pod",
            "UPDATE",
            object("Pod", pod_spec(&["nginx"], &[], &[])),
            Some(old),
        );
        assert!(denial(&decide_default(&body))
            .starts_with("error decoding old workload object: invalid type"));
    }

    fn deleted(mut object: Value) -> Value {
        object["metadata"]["deletionTimestamp"] = json!("2024-05-01T10:00:00Z");
        object
    }

    #[test]
    fn item_31_update_of_an_object_marked_for_deletion_is_admitted_unvalidated() {
        let denied_image = object("Deployment", pod_spec(&["my.reg/deny-me:1"], &[], &[]));
        let body = review(
            "Deployment",
            "UPDATE",
            deleted(denied_image.clone()),
            Some(deleted(denied_image.clone())),
        );
        let (response, metrics) = decide(POLICY, Settings::default(), &body);
        assert_eq!(response, json!({"uid": "uid-1", "allowed": true}));
        assert_eq!(metric(metrics, "connaisseur_requests_admitted_total"), 1);
        assert_eq!(
            metric(
                metrics,
                r#"connaisseur_validations_total{type="static",validator_name="deny",result="error"}"#
            ),
            0
        );

        // A CREATE carrying a deletion timestamp, or an UPDATE that adds one, is validated.
        let create = review("Deployment", "CREATE", deleted(denied_image.clone()), None);
        assert_eq!(
            denial(&decide_default(&create)),
            "static deny for image my.reg/deny-me:1 using rule my.reg/deny-me"
        );
        let marking = review(
            "Deployment",
            "UPDATE",
            deleted(denied_image.clone()),
            Some(denied_image),
        );
        assert!(denial(&decide_default(&marking)).starts_with("static deny"));
    }

    #[test]
    fn item_32_identical_image_strings_are_validated_once() {
        let spec = pod_spec(
            &["nginx:1", "my.reg/allow-me:1", "nginx:1"],
            &["nginx:1"],
            &[],
        );
        let body = review("Deployment", "CREATE", object("Deployment", spec), None);
        let (response, metrics) = decide(POLICY, Settings::default(), &body);
        assert_eq!(response["allowed"], true);
        let default =
            r#"connaisseur_validations_successful_total{type="static",validator_name="default"}"#;
        assert_eq!(metric(metrics, default), 1);
        // Two spellings of the same image are two validations.
        let spellings = pod_review(&["nginx", "docker.io/library/nginx:latest"]);
        let (_, metrics) = decide(POLICY, Settings::default(), &spellings);
        assert_eq!(metric(metrics, default), 2);
    }

    #[test]
    fn item_33_static_allow_admits_unpatched_and_deny_denies() {
        let allowed = decide_default(&pod_review(&[
            &format!("my.reg/allow-me@{DIGEST}"),
            "test-image",
        ]));
        assert_eq!(allowed, json!({"uid": "uid-1", "allowed": true}));
        let denied = decide_default(&pod_review(&[&format!("my.reg/deny-me@{DIGEST}")]));
        assert_eq!(
            denial(&denied),
            format!("static deny for image my.reg/deny-me@{DIGEST} using rule my.reg/deny-me")
        );
    }

    fn with_unchanged_approval() -> Settings {
        Settings {
            automatic_unchanged_approval: true,
            ..Settings::default()
        }
    }

    #[test]
    fn item_34_static_deny_is_never_skipped() {
        let image = "my.reg/deny-me:1";
        let spec = pod_spec(&[image], &[], &[]);
        let body = review(
            "ReplicaSet",
            "UPDATE",
            object("ReplicaSet", spec.clone()),
            Some(object("ReplicaSet", spec)),
        );
        let (response, metrics) = decide(POLICY, with_unchanged_approval(), &body);
        assert!(denial(&response).starts_with("static deny"));
        let skipped = r#"connaisseur_validations_skipped_total{type="static",validator_name="deny",reason="unchanged image reference"}"#;
        assert_eq!(metric(metrics, skipped), 0);
    }

    #[test]
    fn item_35_unchanged_images_are_approved_without_patch() {
        let image = "signed.reg/app:1";
        let old = object("ReplicaSet", pod_spec(&["other:1"], &[image], &[]));
        let new = object("ReplicaSet", pod_spec(&[image], &[], &[]));
        let body = review("ReplicaSet", "UPDATE", new.clone(), Some(old));
        let (response, metrics) = decide(POLICY, with_unchanged_approval(), &body);
        assert_eq!(response, json!({"uid": "uid-1", "allowed": true}));
        let skipped = r#"connaisseur_validations_skipped_total{type="notation",validator_name="signed",reason="unchanged image reference"}"#;
        assert_eq!(metric(metrics, skipped), 1);

        // Off by default, and only the old object's images count.
        let (response, _) = decide(POLICY, Settings::default(), &body);
        assert!(denial(&response).starts_with("error during notation validation"));
        let changed = review(
            "ReplicaSet",
            "UPDATE",
            new,
            Some(object(
                "ReplicaSet",
                pod_spec(&["signed.reg/app:0"], &[], &[]),
            )),
        );
        let (response, _) = decide(POLICY, with_unchanged_approval(), &changed);
        assert!(denial(&response).starts_with("error during notation validation"));
    }

    #[test]
    fn item_36_child_approval_finds_no_parents_without_an_api_client() {
        let mut pod = object("Pod", pod_spec(&["signed.reg/app:1"], &[], &[]));
        pod["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u"}]);
        let response = decide_default(&review("Pod", "CREATE", pod, None));
        assert!(denial(&response).starts_with("error during notation validation"));
        let (admission, _) = admission(POLICY, Settings::default());
        assert!(admission.startup_notices().is_empty());
    }

    #[test]
    fn item_38_child_approval_is_disabled_under_pods_only() {
        let settings = Settings {
            resource_validation_mode: ResourceValidationMode::PodsOnly,
            ..Settings::default()
        };
        let (admission, _) = admission(POLICY, settings);
        assert_eq!(
            admission.startup_notices(),
            vec!["insecure configuration detected: automatic child approval enabled, while only pod admissions are rejected. Pretending automatic child approval was disabled"]
        );
    }

    #[test]
    fn item_40_validator_failures_name_type_and_image() {
        let (response, metrics) = decide(
            POLICY,
            Settings::default(),
            &pod_review(&["signed.reg/app:1"]),
        );
        assert_eq!(
            denial(&response),
            "error during notation validation of image signed.reg/app:1: failed to set up trust policy: failed to get trust roots: unable to find trust root missing"
        );
        let failed =
            r#"connaisseur_validations_failed_total{type="notation",validator_name="signed"}"#;
        assert_eq!(metric(metrics, failed), 1);
    }

    #[test]
    fn item_47_first_failing_image_denies_without_partial_patch() {
        let body = pod_review(&["nginx", "my.reg/deny-me:1", "signed.reg/app:1"]);
        let response = decide_default(&body);
        assert_eq!(
            denial(&response),
            "static deny for image my.reg/deny-me:1 using rule my.reg/deny-me"
        );
        assert!(response.get("patch").is_none());
        assert!(response.get("patchType").is_none());
    }

    #[test]
    fn item_48_deadline_denies_with_progress_and_counts_timeouts() {
        let settings = Settings {
            request_deadline: Duration::ZERO,
            ..Settings::default()
        };
        let (response, metrics) = decide(
            POLICY,
            settings,
            &pod_review(&["nginx", "my.reg/allow-me:1", "nginx"]),
        );
        assert_eq!(
            denial(&response),
            "validation of admission request uid-1 timed out after validating 0/2 images"
        );
        assert_eq!(
            metric(
                metrics,
                r#"connaisseur_requests_denied_total{timeout="true"}"#
            ),
            1
        );
        let timeouted =
            r#"connaisseur_validations_timeouted_total{type="static",validator_name="default"}"#;
        assert_eq!(metric(metrics, timeouted), 1);
        let total =
            r#"connaisseur_validations_total{type="static",validator_name="allow",result="error"}"#;
        assert_eq!(metric(metrics, total), 1);
    }

    #[test]
    fn item_49_denials_carry_message_code_and_allowed_false() {
        let response = decide_default(&pod_review(&["my.reg/deny-me:1"]));
        assert_eq!(
            response,
            json!({"uid": "uid-1", "allowed": false, "status": {"metadata": {}, "message": "static deny for image my.reg/deny-me:1 using rule my.reg/deny-me", "code": 403}})
        );
    }

    #[test]
    fn item_50_pods_only_admits_non_pods_with_warnings() {
        let settings = Settings {
            resource_validation_mode: ResourceValidationMode::PodsOnly,
            ..Settings::default()
        };
        let job = review(
            "Job",
            "CREATE",
            object("Job", pod_spec(&["my.reg/deny-me:1"], &[], &[])),
            None,
        );
        let (response, metrics) = decide(POLICY, settings.clone(), &job);
        assert_eq!(response["allowed"], true);
        assert_eq!(
            response["warnings"],
            json!([
                "pod-only validation active",
                "static deny for image my.reg/deny-me:1 using rule my.reg/deny-me"
            ])
        );
        assert_eq!(metric(metrics, "connaisseur_requests_admitted_total"), 1);
        assert_eq!(
            metric(
                metrics,
                r#"mutate_requests_total{allowed="True",status_code="202"}"#
            ),
            1
        );
        let (pod, _) = decide(POLICY, settings, &pod_review(&["my.reg/deny-me:1"]));
        assert_eq!(pod["allowed"], false);
    }

    #[test]
    fn alerting_moves_decisions_off_the_event_loop() {
        let (admission, _) = admission(NARROW_POLICY, Settings::default());
        assert!(!admission.needs_worker(), "static validators only");
        let alerting = crate::alerts::AlertsConfig {
            cluster: "c".to_owned(),
            admit: Vec::new(),
            reject: Vec::new(),
        };
        let alerter = Alerter::new(alerting, String::new()).unwrap();
        let admission = admission.with_alerts(Some(Arc::new(alerter)));
        assert!(admission.needs_worker());
        let reloaded = admission.with_config(config(NARROW_POLICY));
        assert!(reloaded.needs_worker(), "a reload keeps alerting");
    }

    #[test]
    fn a_failed_alert_denies_but_keeps_the_patch_for_detection_mode() {
        let op = response::PatchOp::replace_image("/spec", "containers", 0, "pinned".to_owned());
        let mut response =
            AdmissionResponse::from_decision("u".to_owned(), Decision::Allow(vec![op]));
        deny_keeping_patch(&mut response, " error sending notifications: x".to_owned());
        assert!(!response.allowed);
        assert!(response.patch.is_some());
        assert_eq!(
            response.status.as_ref().map(|s| s.message.as_str()),
            Some(" error sending notifications: x")
        );
        let detection = Settings {
            detection_mode: true,
            ..Settings::default()
        };
        let readmitted = response.apply_modes(&detection, true);
        assert!(readmitted.allowed);
        assert!(readmitted.patch.is_some());
        assert_eq!(
            readmitted.warnings,
            vec![
                response::DETECTION_WARNING.to_owned(),
                " error sending notifications: x".to_owned()
            ]
        );
    }

    #[test]
    fn a_failed_alert_keeps_the_reason_of_a_denial() {
        let mut response =
            AdmissionResponse::from_decision("u".to_owned(), Decision::Deny("no".to_owned()));
        deny_keeping_patch(&mut response, " error sending notifications: x".to_owned());
        assert!(!response.allowed);
        assert_eq!(
            response.status.as_ref().map(|s| s.message.as_str()),
            Some("no; error sending notifications: x")
        );
    }

    #[test]
    fn item_51_detection_mode_admits_denials_with_warnings() {
        let settings = Settings {
            detection_mode: true,
            ..Settings::default()
        };
        let (response, metrics) = decide(POLICY, settings, &pod_review(&["my.reg/deny-me:1"]));
        assert_eq!(response["allowed"], true);
        assert_eq!(response["warnings"][0], "detection mode active");
        assert_eq!(response["status"]["message"], response["warnings"][1]);
        assert_eq!(
            metric(
                metrics,
                r#"connaisseur_requests_denied_total{timeout="false"}"#
            ),
            0
        );
        assert_eq!(metric(metrics, "connaisseur_requests_admitted_total"), 1);
    }

    #[test]
    fn item_52_pods_only_comes_before_detection_mode() {
        let settings = Settings {
            detection_mode: true,
            resource_validation_mode: ResourceValidationMode::PodsOnly,
            ..Settings::default()
        };
        let job = review(
            "Job",
            "CREATE",
            object("Job", pod_spec(&["my.reg/deny-me:1"], &[], &[])),
            None,
        );
        let (response, _) = decide(POLICY, settings, &job);
        assert_eq!(response["warnings"][0], "pod-only validation active");
        assert_eq!(response["warnings"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn answers_are_counted_as_admitted_or_denied() {
        let (admission, metrics) = admission(POLICY, Settings::default());
        admission.handle(&pod_review(&["nginx"]));
        admission.handle(&pod_review(&["my.reg/deny-me:1"]));
        admission.handle(&pod_review(&["my.reg/deny-me:1"]));
        assert_eq!(metric(metrics, "connaisseur_requests_admitted_total"), 1);
        assert_eq!(
            metric(
                metrics,
                r#"connaisseur_requests_denied_total{timeout="false"}"#
            ),
            2
        );
        assert_eq!(
            metric(
                metrics,
                r#"mutate_requests_total{allowed="True",status_code="202"}"#
            ),
            1
        );
        assert_eq!(
            metric(
                metrics,
                r#"mutate_requests_total{allowed="False",status_code="403"}"#
            ),
            2
        );
    }

    /// §6.4's validation-metrics expectations, as far as they need no signature validator
    /// or cache: static `default` success 1, `allow` success 2 (two tags), `deny` error 1, a
    /// duplicated image counted once, an unchanged image skipped and counted as a success.
    #[test]
    fn validation_metrics_follow_connaisseur_unit_test() {
        let (admission, metrics) = admission(POLICY, with_unchanged_approval());
        let spec = pod_spec(
            &[
                "nginx",
                "my.reg/allow-me:v1",
                "my.reg/allow-me:v2",
                "my.reg/deny-me:1",
                "signed.reg/app:1",
            ],
            &["my.reg/allow-me:v1", "signed.reg/app:2"],
            &[],
        );
        let old = pod_spec(&["signed.reg/app:1"], &[], &[]);
        let body = review(
            "Pod",
            "UPDATE",
            object("Pod", spec),
            Some(object("Pod", old)),
        );
        admission.handle(&body);
        let success = |t: &str, v: &str| {
            metric(
                metrics,
                &format!(
                    r#"connaisseur_validations_successful_total{{type="{t}",validator_name="{v}"}}"#
                ),
            )
        };
        let failed = |t: &str, v: &str| {
            metric(
                metrics,
                &format!(
                    r#"connaisseur_validations_failed_total{{type="{t}",validator_name="{v}"}}"#
                ),
            )
        };
        assert_eq!(success("static", "default"), 1);
        assert_eq!(success("static", "allow"), 2);
        assert_eq!(failed("static", "deny"), 1);
        assert_eq!(success("notation", "signed"), 1);
        assert_eq!(failed("notation", "signed"), 1);
        assert_eq!(
            metric(
                metrics,
                r#"connaisseur_validations_skipped_total{type="notation",validator_name="signed",reason="unchanged image reference"}"#
            ),
            1
        );
        assert_eq!(
            metric(
                metrics,
                r#"connaisseur_validations_total{type="notation",validator_name="signed",result="success"}"#
            ),
            1
        );
    }

    #[test]
    fn hostile_reviews_get_400_or_denial() {
        let (admission, _) = admission(POLICY, Settings::default());
        let deep = format!(r#"{{"request":{}}}"#, "[".repeat(100_000));
        let huge = format!(
            r#"{{"request":{{"uid":"u","kind":{{"kind":"Pod"}},"object":{{"spec":{{"containers":[{{"image":"{}"}}]}}}}}}}}"#,
            "a".repeat(4 << 20)
        );
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (deep.into_bytes(), 400),
            (b"{\"request\":{\"uid\":\"\xff\"}}".to_vec(), 400),
            (br#"{"request":{"uid":"a","uid":"b"}}"#.to_vec(), 400),
            (br#"{"request":{"kind":{"kind":7}}}"#.to_vec(), 400),
            (huge.into_bytes(), 200),
            (br#"{"request":{"kind":{"kind":"Pod"},"object":{"spec":{"containers":[{"image":"x","image":"y"}]}}}}"#.to_vec(), 200),
            (br#"{"request":{"kind":{"kind":"Pod"},"object":{"spec":{"containers":"nginx"}}}}"#.to_vec(), 200),
        ];
        for (body, status) in cases {
            let reply = admission.handle(&body);
            assert_eq!(
                reply.status,
                status,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            if status == 200 {
                assert_eq!(response(&reply.body)["allowed"], false);
            }
        }
    }

    #[test]
    fn ten_thousand_containers_are_answered() {
        let images: Vec<String> = (0..10_000)
            .map(|i| format!("my.reg/allow-me:{i}"))
            .collect();
        let images: Vec<&str> = images.iter().map(String::as_str).collect();
        let (response, metrics) = decide(POLICY, Settings::default(), &pod_review(&images));
        assert_eq!(response["allowed"], true);
        let allow =
            r#"connaisseur_validations_successful_total{type="static",validator_name="allow"}"#;
        assert_eq!(metric(metrics, allow), 10_000);
    }

    /// The walkthrough in `examples/README.md` promises these answers.
    #[test]
    fn examples_decide_as_documented() {
        let config = include_str!("../../examples/config.yaml");
        let (allowed, _) = decide(
            config,
            Settings::default(),
            include_bytes!("../../examples/allowed.json"),
        );
        assert_eq!(
            allowed,
            json!({"uid": "7f0c3a52-0000-4000-8000-000000000001", "allowed": true})
        );

        let (denied, _) = decide(
            config,
            Settings::default(),
            include_bytes!("../../examples/denied.json"),
        );
        assert_eq!(
            denial(&denied),
            "static deny for image untrusted.example.com/tools/miner:latest using rule untrusted.example.com/*"
        );

        let detection = include_bytes!("../../examples/detection-mode.json");
        let (without, _) = decide(config, Settings::default(), detection);
        let message = "static deny for image docker.io/library/alpine:3.20 using rule *:*";
        assert_eq!(denial(&without), message);
        let settings = Settings {
            detection_mode: true,
            ..Settings::default()
        };
        let (with, _) = decide(config, settings, detection);
        assert_eq!(with["allowed"], true);
        assert_eq!(with["warnings"], json!(["detection mode active", message]));
    }
}
