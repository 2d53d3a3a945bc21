//! Several real tastevin processes sharing one real `redis-server`, in front of a real
//! `notary-server`: a verdict reached by one replica is used by another without a single
//! outbound request; a different policy never reuses it; a burst across replicas makes one
//! validation; a Redis killed mid-run leaves every decision correct; and the Notary v1
//! rollback memory survives a restart through Redis.

mod support;

use std::fs;
use std::sync::Arc;
use std::thread;

use support::decision::pod_review;
use support::notary::NotaryServer;
use support::notary_proxy::{Answer, NotaryProxy};
use support::redis::RedisServer;
use support::requests::mutate;
use support::{Mode, Server, TempDir};

const GUN: &str = "registry.test/app";
const HEX: &str = "a220cff1b3a4c1aa4ba4b6e4d4a7d2bfae9a4d8e4f1c2b3a4d5e6f708192a3b4";
const OTHER_HEX: &str = "0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff0";
const ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

/// A policy of one notaryv1 validator at `url` pinned to `key_pem`; `with` varies the rule.
fn config(dir: &TempDir, name: &str, url: &str, ca_pem: &str, key_pem: &str, with: &str) -> String {
    let indent =
        |text: &str| -> String { text.lines().map(|line| format!("      {line}\n")).collect() };
    let text = format!(
        "validators:\n- name: nv1\n  type: notaryv1\n  host: {url}\n  cert: |\n{}  trustRoots:\n  - name: default\n    key: |\n{}policy:\n- pattern: \"*:*\"\n  validator: nv1\n  with: {with}\n",
        indent(ca_pem),
        indent(key_pem),
    );
    let path = dir.path().join(name);
    fs::write(&path, text).expect("write the config");
    path.display().to_string()
}

fn redis_env(redis: &RedisServer) -> Vec<(String, String)> {
    vec![
        ("REDIS_HOST".into(), format!("127.0.0.1:{}", redis.port)),
        ("REDIS_TLS".into(), "false".into()),
    ]
}

fn replica(config: &str, env: &[(String, String)]) -> Server {
    Server::start_with_env(Mode::Tls, &["--config", config], env)
}

/// (allowed, message) of one Pod with `image`.
fn admit(server: &Server, image: &str) -> (bool, String) {
    let mut client = server.connect();
    client.send(&mutate(&pod_review(image)));
    let response = client.read_response();
    assert_eq!(response.status, 200, "{}", response.text());
    let review: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON answer");
    let allowed = review["response"]["allowed"]
        .as_bool()
        .expect("response.allowed");
    let message = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (allowed, message)
}

fn outbound(server: &Server, notary: &str) -> f64 {
    let scrape = server.scrape();
    scrape
        .all("tastevin_registry_requests_total")
        .iter()
        .filter(|sample| {
            sample
                .labels
                .iter()
                .any(|(k, v)| k == "registry" && v == notary)
        })
        .map(|sample| sample.value)
        .sum()
}

fn metric(server: &Server, name: &str, labels: &[(&str, &str)]) -> f64 {
    server.scrape().find(name, labels).unwrap_or(0.0)
}

#[test]
fn replicas_share_verdicts_per_policy_and_survive_a_dead_redis() {
    let notary = NotaryServer::start();
    notary.sign(GUN, "v1", 423, HEX);
    let pinned = notary.root_key_pem(GUN);
    let host = format!("127.0.0.1:{}", notary.port);
    let mut redis = RedisServer::plain();
    let dir = TempDir::new();
    let policy = config(
        &dir,
        "a.yaml",
        &notary.url(),
        &notary.pki.ca_pem,
        &pinned,
        "{}",
    );
    let env = redis_env(&redis);
    let first = replica(&policy, &env);
    let second = replica(&policy, &env);
    let image = format!("{GUN}:v1");

    let (allowed, message) = admit(&first, &image);
    assert!(allowed, "{message}");
    assert!(outbound(&first, &host) >= 4.0);
    let (allowed, message) = admit(&second, &image);
    assert!(allowed, "{message}");
    assert_eq!(
        outbound(&second, &host),
        0.0,
        "the second replica asked Notary"
    );
    assert_eq!(
        metric(
            &second,
            "tastevin_cache_lookups_total",
            &[("tier", "redis"), ("result", "hit")]
        ),
        1.0
    );

    // Another policy (here: a pinned digest-only mode) has another fingerprint: no reuse.
    let other = config(
        &dir,
        "b.yaml",
        &notary.url(),
        &notary.pki.ca_pem,
        &pinned,
        "{mode: insecureValidateOnly}",
    );
    let third = replica(&other, &env);
    let (allowed, message) = admit(&third, &image);
    assert!(allowed, "{message}");
    assert!(
        outbound(&third, &host) >= 4.0,
        "a verdict of another policy was reused"
    );

    // Redis dies: decisions stay right, from the registry or the local cache.
    redis.kill();
    let unsigned = format!("{GUN}:unsigned");
    let (allowed, message) = admit(&second, &unsigned);
    assert!(!allowed);
    assert!(
        message.contains("error during notaryv1 validation"),
        "{message}"
    );
    let (allowed, message) = admit(&second, &image);
    assert!(allowed, "{message}");
    let (allowed, message) = admit(&third, &format!("{GUN}:v1"));
    assert!(allowed, "{message}");
    let errors: f64 = second
        .scrape()
        .all("tastevin_redis_errors_total")
        .iter()
        .map(|sample| sample.value)
        .sum();
    assert!(errors >= 1.0, "the dead Redis was not counted");
}

#[test]
fn a_burst_across_replicas_validates_once() {
    let notary = NotaryServer::start();
    notary.sign(GUN, "v1", 423, HEX);
    let pinned = notary.root_key_pem(GUN);
    let host = format!("127.0.0.1:{}", notary.port);
    let redis = RedisServer::plain();
    let dir = TempDir::new();
    let policy = config(
        &dir,
        "a.yaml",
        &notary.url(),
        &notary.pki.ca_pem,
        &pinned,
        "{}",
    );
    let env = redis_env(&redis);
    let replicas: Vec<Server> = (0..3).map(|_| replica(&policy, &env)).collect();
    let image = format!("{GUN}:v1");
    let results: Vec<(bool, String)> = thread::scope(|scope| {
        let handles: Vec<_> = replicas
            .iter()
            .flat_map(|server| (0..4).map(move |_| server))
            .map(|server| scope.spawn(|| admit(server, &image)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request"))
            .collect()
    });
    for (allowed, message) in &results {
        assert!(allowed, "{message}");
    }
    let single_flight = |outcome: &str| -> f64 {
        replicas
            .iter()
            .map(|s| {
                metric(
                    s,
                    "tastevin_redis_single_flight_total",
                    &[("outcome", outcome)],
                )
            })
            .sum()
    };
    let (led, joined, alone) = (
        single_flight("led"),
        single_flight("joined"),
        single_flight("alone"),
    );
    assert_eq!(led, 1.0, "joined {joined}, alone {alone}");
    assert_eq!(alone, 0.0);
    let asking: usize = replicas.iter().filter(|s| outbound(s, &host) > 0.0).count();
    assert_eq!(asking, 1, "more than one replica asked Notary");
    // The requests that met on one replica shared one look into Redis.
    for server in &replicas {
        let gets = metric(
            server,
            "tastevin_redis_request_duration_seconds_count",
            &[("command", "get")],
        );
        assert!(
            gets <= 1.0,
            "{gets} Redis lookups on one replica for one image"
        );
    }
}

fn captured(server: &NotaryServer) -> Vec<(&'static str, Vec<u8>)> {
    ROLES
        .iter()
        .map(|role| (*role, server.trust_data(GUN, role)))
        .collect()
}

fn serve(proxy: &NotaryProxy, data: &[(&str, Vec<u8>)]) {
    proxy.set("/v2/", Answer::json(b"{}"));
    for (role, body) in data {
        proxy.set_role(GUN, role, Answer::json(body));
    }
}

#[test]
fn the_rollback_memory_survives_a_restart_through_redis() {
    let notary = NotaryServer::start();
    notary.sign(GUN, "v1", 423, HEX);
    let older = captured(&notary);
    notary.client(&["addhash", GUN, "v2", "500", "--sha256", OTHER_HEX]);
    notary.client(&["publish", GUN]);
    let newer = captured(&notary);
    let pinned = notary.root_key_pem(GUN);
    let proxy = NotaryProxy::start(Arc::clone(&notary.pki.server_config));
    serve(&proxy, &newer);
    let redis = RedisServer::plain();
    let dir = TempDir::new();
    let policy = config(
        &dir,
        "a.yaml",
        &proxy.url(),
        &notary.pki.ca_pem,
        &pinned,
        "{}",
    );
    let env = redis_env(&redis);

    let first = replica(&policy, &env);
    let (allowed, message) = admit(&first, &format!("{GUN}:v2"));
    assert!(allowed, "{message}");
    drop(first);

    // Validly signed older trust data: only a memory of the newer one refuses it.
    serve(&proxy, &older);
    let image = format!("{GUN}:v1");
    let forgetful = replica(&policy, &[]);
    let (allowed, message) = admit(&forgetful, &image);
    assert!(
        allowed,
        "without Redis a new process has no memory: {message}"
    );
    drop(forgetful);

    let restarted = replica(&policy, &env);
    let (allowed, message) = admit(&restarted, &image);
    assert!(!allowed);
    assert!(
        message.contains("older than version") && message.contains("possible rollback attack"),
        "{message}"
    );
}
