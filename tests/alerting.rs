//! Alerting end to end (§6.2, parity items 9 and 79–84): decisions of the admission engine
//! notify a real HTTP receiver; fail-on-error receivers are awaited and deny when they fail
//! or hang, the others never delay the answer. One test drives the real binary.

mod support;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::decision::{decide_on, engine, Decided};
use support::receiver::{Answer, Receiver};
use support::{requests, serve_until_exit, Server, TempDir};
use tastevin::admission::{Admission, Settings};
use tastevin::alerts::{Alerter, AlertsConfig};
use tastevin::config::Config;
use tastevin::metrics::Metrics;

/// Everything is admitted, except `my.reg/deny-me` images.
const POLICY: &str = r#"
validators:
  - name: allow
    type: static
    approve: true
  - name: deny
    type: static
    approve: false
policy:
  - pattern: "*:*"
    validator: allow
  - pattern: "my.reg/deny-me:*"
    validator: deny
"#;

/// The template of Connaisseur's own send test.
const MESSAGE_TEMPLATE: &str =
    "{\n    \"message\": \"{{ alert_message }}\",\n    \"cluster\": \"{{ cluster }}\"\n}";

/// Every variable a template can use.
const FACTS_TEMPLATE: &str = r#"{"message": "{{ alert_message }}", "images": "{{ images }}",
 "request": "{{ request_id }}", "namespace": "{{ namespace }}", "pod": "{{ connaisseur_pod_id }}",
 "priority": "P{{ priority }}", "result": "{{ result }}", "created": "{{ timestamp }}",
 "tags": []}"#;

const ALLOWED_IMAGE: &str = "my.reg/app:1";
const DENIED_IMAGE: &str = "my.reg/deny-me:1";
const ADMITTED_BODY: &str = r#"{"cluster":"test","message":"CONNAISSEUR admitted a request"}"#;

/// An alerting directory (`config.yaml` and `templates/`) written for one test.
struct AlertsDir {
    dir: TempDir,
}

impl AlertsDir {
    fn new(config: &str) -> AlertsDir {
        let dir = TempDir::new();
        let templates = dir.path().join("templates");
        fs::create_dir_all(&templates).expect("templates directory");
        for (name, text) in [
            ("message", MESSAGE_TEMPLATE),
            ("facts", FACTS_TEMPLATE),
            ("nothing", "{}"),
        ] {
            fs::write(templates.join(format!("{name}.json")), text).expect("write a template");
        }
        fs::write(dir.path().join("config.yaml"), config).expect("write the alerting config");
        AlertsDir { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn load(&self) -> AlertsConfig {
        AlertsConfig::load(&self.config_path()).expect("the alerting configuration loads")
    }
}

/// One receiver entry of an alerting configuration.
fn receiver(template: &str, url: &str, fail_on_error: bool) -> String {
    format!(
        "    - template: {template}\n      receiverUrl: {url}\n      failIfAlertSendingFails: {fail_on_error}\n"
    )
}

fn alerting(admit: &[String], reject: &[String]) -> String {
    let list = |receivers: &[String]| {
        if receivers.is_empty() {
            "  receivers: []\n".to_owned()
        } else {
            format!("  receivers:\n{}", receivers.concat())
        }
    };
    format!(
        "clusterIdentifier: test\nadmitRequest:\n{}rejectRequest:\n{}",
        list(admit),
        list(reject)
    )
}

fn admission_with(alerts: &AlertsDir, settings: Settings) -> (Admission, &'static Metrics) {
    let config = Config::from_yaml(POLICY).expect("the policy loads");
    let (admission, metrics) = engine(config, settings);
    let alerter = Alerter::new(alerts.load(), "tastevin-0".to_owned()).expect("alerter");
    (admission.with_alerts(Some(Arc::new(alerter))), metrics)
}

fn decide(admission: &(Admission, &'static Metrics), image: &str) -> (Decided, Duration) {
    let started = Instant::now();
    let decided = decide_on(&admission.0, admission.1, image);
    (decided, started.elapsed())
}

const SETTLE: Duration = Duration::from_millis(300);
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn an_admitted_request_posts_the_exact_payload_to_the_admit_receivers() {
    let admit = Receiver::start(Answer::Status(200, "ok"));
    let reject = Receiver::start(Answer::Status(200, "ok"));
    let mut with_header = receiver("message", &admit.url("/hooks/admit"), false);
    with_header.push_str("      customHeaders: [\"x-api-KEY:  secret:1 \"]\n");
    let alerts = AlertsDir::new(&alerting(
        &[with_header],
        &[receiver("message", &reject.url("/"), false)],
    ));
    let admission = admission_with(&alerts, Settings::default());

    let (decided, _) = decide(&admission, ALLOWED_IMAGE);
    assert!(decided.allowed(), "{}", decided.response);
    let received = admit.wait_for(1, WAIT);
    std::thread::sleep(SETTLE);
    assert_eq!(admit.requests().len(), 1, "{received:?}");
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/admit");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-api-key"), Some("secret:1"));
    assert!(request.headers.iter().any(|(name, _)| name == "X-Api-Key"));
    assert_eq!(request.body, ADMITTED_BODY);
    assert!(reject.requests().is_empty());
}

#[test]
fn a_denied_request_posts_every_variable_to_the_reject_receivers() {
    let admit = Receiver::start(Answer::Status(200, "ok"));
    let reject = Receiver::start(Answer::Status(204, ""));
    let mut facts = receiver("facts", &reject.url("/reject"), true);
    facts.push_str("      priority: 4\n      payloadFields:\n        tags: [\"<deployed>\"]\n");
    let alerts = AlertsDir::new(&alerting(
        &[receiver("message", &admit.url("/"), false)],
        &[facts],
    ));
    let admission = admission_with(&alerts, Settings::default());

    let (decided, _) = decide(&admission, DENIED_IMAGE);
    assert!(!decided.allowed());
    // The fail-on-error receiver was awaited: its request is there when the answer is.
    let received = reject.requests();
    assert_eq!(received.len(), 1);
    let body = received[0].json();
    let created = body["created"].as_str().unwrap_or_default().to_owned();
    assert!(created.ends_with(" +0000 UTC"), "{created}");
    assert_eq!(
        body,
        json!({
            "message": format!("CONNAISSEUR rejected a request: {}", decided.message()),
            "images": DENIED_IMAGE,
            "request": "e2e",
            "namespace": "default",
            "pod": "tastevin-0",
            "priority": "P4",
            "result": "error",
            "created": created,
            "tags": ["<deployed>"],
        })
    );
    assert!(
        received[0].body.starts_with(r#"{"created":"#),
        "keys are sorted: {}",
        received[0].body
    );
    assert!(
        received[0]
            .body
            .contains(r#""tags":["\u003cdeployed\u003e"]"#),
        "{}",
        received[0].body
    );
    std::thread::sleep(SETTLE);
    assert!(admit.requests().is_empty());
}

#[test]
fn a_failing_fail_on_error_receiver_denies_and_is_named() {
    let fine = Receiver::start(Answer::Status(200, "ok"));
    let broken = Receiver::start(Answer::Status(500, "upstream broken"));
    let alerts = AlertsDir::new(&alerting(
        &[
            receiver("message", &fine.url("/"), true),
            receiver("message", &broken.url("/"), true),
        ],
        &[],
    ));
    let expected = " error sending notifications: failed sending a notification for receiver \
                    message-1 with FailOnError set: failed to send notification for receiver \
                    message-1: upstream broken";

    let admission = admission_with(&alerts, Settings::default());
    let (decided, _) = decide(&admission, ALLOWED_IMAGE);
    assert!(!decided.allowed(), "{}", decided.response);
    assert_eq!(decided.message(), expected);
    // The answer came at the first failure; the other receiver may still be receiving.
    assert_eq!(fine.wait_for(1, WAIT).len(), 1);
    assert_eq!(broken.requests().len(), 1);
    assert_eq!(broken.requests()[0].body, ADMITTED_BODY);

    // Connaisseur's quirk 1, kept: detection mode re-admits, with the failure as warning.
    let detection = Settings {
        detection_mode: true,
        ..Settings::default()
    };
    let admission = admission_with(&alerts, detection);
    let (decided, _) = decide(&admission, ALLOWED_IMAGE);
    assert!(decided.allowed(), "{}", decided.response);
    assert_eq!(
        decided.response["warnings"],
        json!(["detection mode active", expected])
    );
}

#[test]
fn detection_mode_still_sends_reject_alerts() {
    let reject = Receiver::start(Answer::Status(200, "ok"));
    let alerts = AlertsDir::new(&alerting(
        &[],
        &[receiver("message", &reject.url("/"), true)],
    ));
    let detection = Settings {
        detection_mode: true,
        ..Settings::default()
    };
    let admission = admission_with(&alerts, detection);
    let (decided, _) = decide(&admission, DENIED_IMAGE);
    assert!(decided.allowed());
    let received = reject.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].json()["message"],
        format!("CONNAISSEUR rejected a request: {}", decided.message())
    );
}

#[test]
fn a_hanging_background_receiver_does_not_delay_answers() {
    let hanging = Receiver::start(Answer::Hang);
    let alerts = AlertsDir::new(&alerting(
        &[receiver("message", &hanging.url("/"), false)],
        &[],
    ));
    let admission = admission_with(&alerts, Settings::default());
    for _ in 0..5 {
        let (decided, took) = decide(&admission, ALLOWED_IMAGE);
        assert!(decided.allowed(), "{}", decided.response);
        // A delivery that waited for the receiver would take its 10 s time limit.
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    let received = hanging.wait_for(2, WAIT);
    assert!(received.len() >= 2, "{received:?}");
    assert_eq!(received[0].body, ADMITTED_BODY);
}

#[test]
fn a_hanging_fail_on_error_receiver_denies_at_the_deadline() {
    let hanging = Receiver::start(Answer::Hang);
    let alerts = AlertsDir::new(&alerting(
        &[receiver("message", &hanging.url("/"), true)],
        &[],
    ));
    let settings = Settings {
        request_deadline: Duration::from_secs(1),
        ..Settings::default()
    };
    let admission = admission_with(&alerts, settings);
    let (decided, took) = decide(&admission, ALLOWED_IMAGE);
    assert!(!decided.allowed(), "{}", decided.response);
    assert_eq!(
        decided.message(),
        " error sending notifications: timeout during handling of receiver 1/1 of admit alerts"
    );
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        decided.metric(r#"connaisseur_requests_denied_total{timeout="true"}"#),
        1
    );
}

#[test]
fn a_template_rendering_to_nothing_sends_nothing() {
    let silent = Receiver::start(Answer::Status(500, "must not be called"));
    let alerts = AlertsDir::new(&alerting(
        &[receiver("nothing", &silent.url("/"), true)],
        &[],
    ));
    let admission = admission_with(&alerts, Settings::default());
    let (decided, _) = decide(&admission, ALLOWED_IMAGE);
    assert!(decided.allowed(), "{}", decided.response);
    std::thread::sleep(SETTLE);
    assert!(silent.requests().is_empty());
}

#[test]
fn the_binary_alerts_on_each_decision() {
    let admit = Receiver::start(Answer::Status(200, "ok"));
    let reject = Receiver::start(Answer::Status(500, "down"));
    let alerts = AlertsDir::new(&alerting(
        &[receiver("message", &admit.url("/admit"), false)],
        &[receiver("message", &reject.url("/reject"), true)],
    ));
    let policy = alerts.dir.path().join("policy.yaml");
    fs::write(&policy, POLICY).expect("write the policy");
    let server = Server::start(&[
        "--config",
        policy.to_str().expect("utf-8 path"),
        "--alerts-config",
        alerts.config_path().to_str().expect("utf-8 path"),
    ]);

    let mut client = server.connect();
    client.send(&requests::mutate(&requests::admission_review("bin-1")));
    let answer = client.read_response();
    assert_eq!(
        requests::review_verdict(&answer.body),
        ("bin-1".to_owned(), true)
    );
    let received = admit.wait_for(1, WAIT);
    assert_eq!(received.len(), 1, "{}", server.log());
    assert_eq!(received[0].body, ADMITTED_BODY);

    let mut denied = requests::admission_review("bin-2");
    let image = "docker.io/library/nginx:1.27";
    let text = String::from_utf8(denied)
        .expect("utf-8 review")
        .replace(image, DENIED_IMAGE);
    denied = text.into_bytes();
    client.send(&requests::mutate(&denied));
    let answer = client.read_response();
    let review: Value = serde_json::from_slice(&answer.body).expect("AdmissionReview");
    assert_eq!(review["response"]["allowed"], false, "{review}");
    assert_eq!(
        review["response"]["status"]["message"],
        "static deny for image my.reg/deny-me:1 using rule my.reg/deny-me:*; error sending \
         notifications: failed sending a notification for receiver message-0 with FailOnError \
         set: failed to send notification for receiver message-0: down"
    );
    assert_eq!(reject.requests().len(), 1);
    assert_eq!(admit.requests().len(), 1);
}

#[test]
fn the_binary_reloads_a_changed_alerting_configuration() {
    let first = Receiver::start(Answer::Status(200, "ok"));
    let second = Receiver::start(Answer::Status(200, "ok"));
    let alerts = AlertsDir::new(&alerting(
        &[receiver("message", &first.url("/"), false)],
        &[],
    ));
    let policy = alerts.dir.path().join("policy.yaml");
    fs::write(&policy, POLICY).expect("write the policy");
    let server = Server::start(&[
        "--config",
        policy.to_str().expect("utf-8 path"),
        "--alerts-config",
        alerts.config_path().to_str().expect("utf-8 path"),
        "--reload-interval",
        "1",
    ]);
    let admit = |uid: &str| {
        let mut client = server.connect();
        client.send(&requests::mutate(&requests::admission_review(uid)));
        let answer = client.read_response();
        assert_eq!(
            requests::review_verdict(&answer.body),
            (uid.to_owned(), true)
        );
    };
    admit("before");
    assert_eq!(first.wait_for(1, WAIT).len(), 1, "{}", server.log());

    fs::write(
        alerts.config_path(),
        alerting(&[receiver("message", &second.url("/"), false)], &[]),
    )
    .expect("rewrite the alerting config");
    assert!(
        server.eventually(WAIT, || server
            .log()
            .contains("new alerting configuration loaded")),
        "{}",
        server.log()
    );
    admit("after");
    let received = second.wait_for(1, WAIT);
    assert_eq!(received.len(), 1, "{}", server.log());
    assert_eq!(received[0].body, ADMITTED_BODY);
    std::thread::sleep(SETTLE);
    assert_eq!(
        first.requests().len(),
        1,
        "the old receiver is no longer used"
    );
}

#[test]
fn an_alerting_configuration_that_does_not_load_stops_the_start() {
    let alerts = AlertsDir::new(&alerting(
        &[receiver("absent", "https://hooks.example/x", false)],
        &[],
    ));
    let path = alerts.config_path();
    let (code, log) = serve_until_exit(&["--alerts-config", path.to_str().expect("utf-8 path")]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("admitRequest.receivers[0].template: unable to get template file"),
        "{log}"
    );
    assert!(log.contains("absent.json"), "{log}");

    let missing = alerts.dir.path().join("nowhere.yaml");
    let (code, log) = serve_until_exit(&["--alerts-config", missing.to_str().expect("utf-8 path")]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("nowhere.yaml: cannot read"), "{log}");
}

#[test]
fn a_request_that_timed_out_still_alerts_its_fail_on_error_receivers() {
    let reject = Receiver::start(Answer::Status(200, "ok"));
    let alerts = AlertsDir::new(&alerting(
        &[],
        &[receiver("message", &reject.url("/"), true)],
    ));
    // No time at all: the deadline has passed before the first image is looked at.
    let settings = Settings {
        request_deadline: Duration::ZERO,
        ..Settings::default()
    };
    let admission = admission_with(&alerts, settings);
    let (decided, took) = decide(&admission, ALLOWED_IMAGE);
    assert!(!decided.allowed(), "{}", decided.response);
    assert_eq!(
        decided.message(),
        "validation of admission request e2e timed out after validating 0/1 images; error sending notifications: timeout during handling of receiver 1/1 of reject alerts"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    let received = reject.wait_for(1, WAIT);
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].json()["message"],
        "CONNAISSEUR validation timed out for admission request e2e"
    );
}
