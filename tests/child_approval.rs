//! Automatic child approval end to end: the real `tastevin serve` binary, pointed at a
//! Kubernetes API stand-in (`support::kube_api`, HTTPS with a test CA, bearer tokens, the
//! real REST paths and objects) by `KUBERNETES_SERVICE_HOST`/`_PORT` and
//! `KUBE_API_TOKEN_PATH`/`KUBE_API_CA_PATH`, and at a real `docker-registry` holding a
//! cosign-signed image. A child whose owner carries its image verbatim is admitted without a
//! registry call; any failure to read the owner leaves the image to its validator.

mod support;

use std::fs;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use support::cosign::{layer, payload, Signer};
use support::kube_api::{Behaviour, KubeApi};
use support::registry::{free_addr, Mode as RegistryMode, Registry};
use support::requests::mutate;
use support::{Mode, Server, TempDir};

const SKIP_REASON: &str = "automatic approval of child image reference";
const NAMESPACE: &str = "team";

/// A registry with `team/app:v1` signed by a key and `team/app:unsigned` not signed.
struct World {
    registry: Registry,
    signer: Signer,
    /// `<registry>/team/app:v1@sha256:…`: how the admitted parent carries the signed image.
    signed_pinned: String,
    signed_tag: String,
    /// `<registry>/team/app:unsigned@sha256:…`.
    unsigned_pinned: String,
    dir: TempDir,
}

impl World {
    fn new() -> World {
        let registry = Registry::start(RegistryMode::Tls);
        let signer = Signer::p256();
        let host = registry.host();
        let signed = registry.push_image("team/app", "v1", "signed");
        let signed_tag = format!("{host}/team/app:v1");
        registry.push_signatures(
            "team/app",
            &signed.digest,
            &[layer(&signer, &payload(&signed_tag, &signed.digest), None)],
        );
        let unsigned = registry.push_image("team/app", "unsigned", "unsigned");
        World {
            signed_pinned: format!("{signed_tag}@{}", signed.digest),
            unsigned_pinned: format!("{host}/team/app:unsigned@{}", unsigned.digest),
            signed_tag,
            registry,
            signer,
            dir: TempDir::new(),
        }
    }

    /// A config file: every image must be signed by the world's key.
    fn config_path(&self) -> String {
        let indent = |text: &str, by: usize| -> String {
            text.lines()
                .map(|l| format!("{}{l}\n", " ".repeat(by)))
                .collect()
        };
        let pki = self.registry.pki.as_ref().expect("TLS registry");
        let yaml = format!(
            "validators:\n  - name: signed\n    type: cosign\n    cert: |\n{}    trustRoots:\n      - name: default\n        key: |\n{}policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {{verifyInTransparencyLog: false}}\n",
            indent(&pki.ca_pem, 6),
            indent(&self.signer.public_key_pem(), 10)
        );
        let path = self.dir.path().join("config.yaml");
        fs::write(&path, yaml).expect("write the configuration");
        path.display().to_string()
    }

    /// tastevin with this configuration, the cache off (every decision is fresh) and `env`.
    fn serve(&self, env: &[(String, String)]) -> Server {
        let mut env = env.to_vec();
        env.push(("CACHE_EXPIRY_SECONDS".into(), "0".into()));
        Server::start_with_env(Mode::Tls, &["--config", &self.config_path()], &env)
    }
}

fn with(env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// A workload object of `kind` in the test namespace running `images`.
fn object(api_version: &str, kind: &str, name: &str, uid: &str, images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let pod_spec = json!({"containers": containers});
    let spec = match kind {
        "Pod" => pod_spec,
        "CronJob" => {
            json!({"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": pod_spec}}}})
        }
        _ => json!({"template": {"spec": pod_spec}}),
    };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": uid},
        "spec": spec,
    })
}

/// `object` as a child of `owner` (apiVersion, kind, name, uid).
fn owned_by(mut object: Value, owner: (&str, &str, &str, &str)) -> Value {
    object["metadata"]["ownerReferences"] = json!([{
        "apiVersion": owner.0, "kind": owner.1, "name": owner.2, "uid": owner.3,
        "controller": true, "blockOwnerDeletion": true
    }]);
    object
}

/// The AdmissionReview `response` for creating `object`.
fn admit(server: &Server, object: &Value) -> Value {
    let kind = object["kind"].as_str().expect("kind");
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "child-approval",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "object": object,
        }
    });
    let mut client = server.connect();
    // A hanging API server costs its call timeout (5 s) before the validation runs.
    client.set_read_timeout(Duration::from_secs(60));
    client.send(&mutate(review.to_string().as_bytes()));
    let answer = client.read_response();
    assert_eq!(answer.status, 200, "{}\n{}", answer.text(), server.log());
    let review: Value = serde_json::from_slice(&answer.body).expect("JSON answer");
    review["response"].clone()
}

fn patch(response: &Value) -> Option<Value> {
    let encoded = response["patch"].as_str()?;
    Some(serde_json::from_slice(&STANDARD.decode(encoded).expect("base64")).expect("JSON"))
}

/// Registry requests tastevin made (all statuses).
fn registry_calls(server: &Server, world: &World) -> f64 {
    let host = world.registry.host();
    server
        .scrape()
        .all("tastevin_registry_requests_total")
        .iter()
        .filter(|s| s.labels.iter().any(|(k, v)| k == "registry" && *v == host))
        .map(|s| s.value)
        .sum()
}

fn skipped(server: &Server) -> f64 {
    server
        .scrape()
        .all("connaisseur_validations_skipped_total")
        .iter()
        .filter(|s| {
            s.labels
                .iter()
                .any(|(k, v)| k == "reason" && v == SKIP_REASON)
        })
        .map(|s| s.value)
        .sum()
}

fn denial(response: &Value) -> String {
    assert_eq!(response["allowed"], false, "{response}");
    response["status"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn children_of_admitted_parents_are_approved_without_a_registry_call() {
    let world = World::new();
    let api = KubeApi::start(Behaviour::Serve);
    let server = world.serve(&api.env());
    assert!(
        server.log().contains(
            "automatic child approval looks up owners at the Kubernetes API https://127.0.0.1:"
        ),
        "{}",
        server.log()
    );
    assert!(
        !server.log().contains("finds no parents"),
        "{}",
        server.log()
    );

    // Deployment → ReplicaSet → Pod, each parent carrying the image pinned at its admission.
    let pinned = world.signed_pinned.as_str();
    api.put(object("apps/v1", "Deployment", "web", "uid-dep", &[pinned]));
    api.put(object(
        "apps/v1",
        "ReplicaSet",
        "web-5d4f",
        "uid-rs",
        &[pinned],
    ));
    let replica_set = owned_by(
        object("apps/v1", "ReplicaSet", "web-5d4f", "uid-rs", &[pinned]),
        ("apps/v1", "Deployment", "web", "uid-dep"),
    );
    let pod = owned_by(
        object("v1", "Pod", "web-5d4f-x", "uid-pod", &[pinned]),
        ("apps/v1", "ReplicaSet", "web-5d4f", "uid-rs"),
    );
    for child in [&replica_set, &pod] {
        let response = admit(&server, child);
        assert_eq!(response["allowed"], true, "{response}\n{}", server.log());
        assert_eq!(patch(&response), None, "approved children are not patched");
    }
    assert_eq!(registry_calls(&server, &world), 0.0, "{}", server.log());
    assert_eq!(skipped(&server), 2.0);
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.contains(&"/apis/apps/v1/namespaces/team/deployments/web".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/apis/apps/v1/namespaces/team/replicasets/web-5d4f".to_owned()),
        "{paths:?}"
    );
    assert!(api
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer token-1")));
    let scrape = server.scrape();
    assert!(
        scrape.value(
            "tastevin_kube_api_requests_total",
            &[("resource", "replicasets"), ("status", "200")]
        ) >= 1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.value(
            "tastevin_kube_api_request_duration_seconds_count",
            &[("resource", "deployments")]
        ) >= 1.0
    );

    // CronJob → Job, and a bare Pod owner (core group): the batch/v1 and v1 paths.
    api.put(object(
        "batch/v1",
        "CronJob",
        "nightly",
        "uid-cron",
        &[pinned],
    ));
    let job = owned_by(
        object("batch/v1", "Job", "nightly-1", "uid-job", &[pinned]),
        ("batch/v1", "CronJob", "nightly", "uid-cron"),
    );
    assert_eq!(admit(&server, &job)["allowed"], true);
    assert!(api
        .requests()
        .iter()
        .any(|r| r.path == "/apis/batch/v1/namespaces/team/cronjobs/nightly"));
    assert_eq!(registry_calls(&server, &world), 0.0);
    assert_eq!(skipped(&server), 3.0);
}

#[test]
fn images_of_one_child_share_one_owner_lookup() {
    let world = World::new();
    let api = KubeApi::start(Behaviour::Serve);
    let server = world.serve(&api.env());
    // Eight distinct image strings: validated concurrently, all owned by the same
    // ReplicaSet. Approval never asks the registry, so they need not exist there.
    let host = world.registry.host();
    let digest = world
        .signed_pinned
        .rsplit('@')
        .next()
        .expect("digest")
        .to_owned();
    let images: Vec<String> = (0..8)
        .map(|i| format!("{host}/team/app{i}@{digest}"))
        .collect();
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    api.put(object("apps/v1", "ReplicaSet", "rs", "uid-rs", &images));
    let pod = owned_by(
        object("v1", "Pod", "p", "uid-p", &images),
        ("apps/v1", "ReplicaSet", "rs", "uid-rs"),
    );
    assert_eq!(admit(&server, &pod)["allowed"], true);
    assert_eq!(skipped(&server), 8.0);
    assert_eq!(api.requests().len(), 1, "{:?}", api.requests());
    assert_eq!(registry_calls(&server, &world), 0.0);
}

#[test]
fn a_parent_with_another_image_approves_nothing() {
    let world = World::new();
    let api = KubeApi::start(Behaviour::Serve);
    let server = world.serve(&api.env());
    api.put(object(
        "apps/v1",
        "ReplicaSet",
        "rs",
        "uid-rs",
        &[&world.signed_pinned],
    ));

    // The child runs an image its parent does not: validated, and the unsigned one denied.
    let unsigned = owned_by(
        object("v1", "Pod", "p", "uid-p", &[&world.unsigned_pinned]),
        ("apps/v1", "ReplicaSet", "rs", "uid-rs"),
    );
    let message = denial(&admit(&server, &unsigned));
    assert!(
        message.starts_with("error during cosign validation of image"),
        "{message}"
    );

    // The tag instead of the pinned string the parent carries: validated and pinned.
    let by_tag = owned_by(
        object("v1", "Pod", "p", "uid-p", &[&world.signed_tag]),
        ("apps/v1", "ReplicaSet", "rs", "uid-rs"),
    );
    let response = admit(&server, &by_tag);
    assert_eq!(response["allowed"], true, "{response}");
    assert!(patch(&response).is_some(), "{response}");
    assert!(registry_calls(&server, &world) > 0.0);
    assert_eq!(skipped(&server), 0.0);
}

#[test]
fn missing_owners_and_foreign_uids_approve_nothing() {
    let world = World::new();
    let api = KubeApi::start(Behaviour::Serve);
    let server = world.serve(&api.env());
    api.put(object(
        "apps/v1",
        "ReplicaSet",
        "mismatcher",
        "uid-real",
        &[&world.unsigned_pinned],
    ));
    for owner in [
        ("apps/v1", "ReplicaSet", "unknown-parent", "uid-x"),
        ("apps/v1", "ReplicaSet", "mismatcher", "uid-other"),
        // Not a workload kind: not looked up at all.
        ("v1", "ConfigMap", "mismatcher", "uid-real"),
    ] {
        let pod = owned_by(
            object("v1", "Pod", "p", "uid-p", &[&world.unsigned_pinned]),
            owner,
        );
        let message = denial(&admit(&server, &pod));
        assert!(
            message.starts_with("error during cosign validation"),
            "{owner:?}: {message}"
        );
    }
    assert_eq!(skipped(&server), 0.0);
    let scrape = server.scrape();
    assert_eq!(
        scrape.value(
            "tastevin_kube_api_requests_total",
            &[("resource", "replicasets"), ("status", "404")]
        ),
        1.0,
        "{}",
        scrape.text
    );
    assert!(!api.requests().iter().any(|r| r.path.contains("configmaps")));
    assert!(
        server.log().contains("non matching UIDs"),
        "{}",
        server.log()
    );
}

#[test]
fn an_unreachable_or_hanging_api_never_admits_unverified() {
    let world = World::new();
    let down = vec![
        ("KUBERNETES_SERVICE_HOST".to_owned(), "127.0.0.1".to_owned()),
        (
            "KUBERNETES_SERVICE_PORT".to_owned(),
            free_addr().port().to_string(),
        ),
    ];
    let hanging = KubeApi::start(Behaviour::Hang);
    // The down API needs a CA and token too, else the client is never set up.
    let down = with(
        &down,
        &[
            ("KUBE_API_CA_PATH", &hanging.ca_path.display().to_string()),
            (
                "KUBE_API_TOKEN_PATH",
                &hanging.token_path.display().to_string(),
            ),
        ],
    );
    for env in [down, hanging.env()] {
        let server = world.serve(&env);
        let unsigned = owned_by(
            object("v1", "Pod", "p", "uid-p", &[&world.unsigned_pinned]),
            ("apps/v1", "ReplicaSet", "rs", "uid-rs"),
        );
        let message = denial(&admit(&server, &unsigned));
        assert!(
            message.starts_with("error during cosign validation"),
            "{message}"
        );
        // The signed image is still validated and admitted in time.
        let signed = owned_by(
            object("v1", "Pod", "p", "uid-p", &[&world.signed_tag]),
            ("apps/v1", "ReplicaSet", "rs2", "uid-rs2"),
        );
        let response = admit(&server, &signed);
        assert_eq!(response["allowed"], true, "{response}\n{}", server.log());
        let scrape = server.scrape();
        assert!(
            scrape.value(
                "tastevin_kube_api_requests_total",
                &[("resource", "replicasets"), ("status", "error")]
            ) >= 2.0,
            "{}",
            scrape.text
        );
        assert_eq!(skipped(&server), 0.0);
    }
    assert!(!hanging.requests().is_empty(), "the hanging API was asked");
}

#[test]
fn a_rotated_token_is_used() {
    let world = World::new();
    let api = KubeApi::start(Behaviour::Serve);
    let server = world.serve(&api.env());
    api.put(object(
        "apps/v1",
        "ReplicaSet",
        "a",
        "uid-a",
        &[&world.signed_pinned],
    ));
    api.put(object(
        "apps/v1",
        "ReplicaSet",
        "b",
        "uid-b",
        &[&world.signed_pinned],
    ));
    let child = |owner: (&str, &str, &str, &str)| {
        owned_by(
            object("v1", "Pod", "p", "uid-p", &[&world.signed_pinned]),
            owner,
        )
    };
    assert_eq!(
        admit(&server, &child(("apps/v1", "ReplicaSet", "a", "uid-a")))["allowed"],
        true
    );
    api.rotate_token("rotated-token-number-2");
    assert_eq!(
        admit(&server, &child(("apps/v1", "ReplicaSet", "b", "uid-b")))["allowed"],
        true
    );
    let seen = api.requests();
    let last = seen.last().expect("requests");
    assert_eq!(last.path, "/apis/apps/v1/namespaces/team/replicasets/b");
    assert_eq!(
        last.authorization.as_deref(),
        Some("Bearer rotated-token-number-2")
    );
    assert_eq!(skipped(&server), 2.0);
    assert_eq!(registry_calls(&server, &world), 0.0);
}

#[test]
fn detection_mode_and_pods_only() {
    let world = World::new();
    let api = KubeApi::start(Behaviour::Serve);
    api.put(object(
        "apps/v1",
        "ReplicaSet",
        "rs",
        "uid-rs",
        &[&world.unsigned_pinned],
    ));
    let child = owned_by(
        object("v1", "Pod", "p", "uid-p", &[&world.unsigned_pinned]),
        ("apps/v1", "ReplicaSet", "rs", "uid-rs"),
    );

    // Detection mode: approval applies as usual, no warning.
    let server = world.serve(&with(&api.env(), &[("DETECTION_MODE", "true")]));
    let response = admit(&server, &child);
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("warnings").is_none(), "{response}");
    assert_eq!(skipped(&server), 1.0);
    drop(server);

    // podsOnly turns child approval off: the API is not asked and the Pod is validated.
    let before = api.requests().len();
    let server = world.serve(&with(
        &api.env(),
        &[("RESOURCE_VALIDATION_MODE", "podsOnly")],
    ));
    assert!(server
        .log()
        .contains("Pretending automatic child approval was disabled"));
    let message = denial(&admit(&server, &child));
    assert!(
        message.starts_with("error during cosign validation"),
        "{message}"
    );
    assert_eq!(api.requests().len(), before);
    assert_eq!(skipped(&server), 0.0);
}

#[test]
fn outside_a_cluster_it_says_so_once_and_validates() {
    let world = World::new();
    let server = world.serve(&[]);
    let log = server.log();
    assert_eq!(
        log.matches("not running in a Kubernetes cluster").count(),
        1,
        "{log}"
    );
    let child = owned_by(
        object("v1", "Pod", "p", "uid-p", &[&world.unsigned_pinned]),
        ("apps/v1", "ReplicaSet", "rs", "uid-rs"),
    );
    assert!(denial(&admit(&server, &child)).starts_with("error during cosign validation"));
}
