//! The shared verdict tier against a real `redis-server`: verdicts written by one replica's
//! client are read by another's, keyed by the policy fingerprint, over plain TCP and over
//! TLS with a password; garbage under a key is ignored and counted; a dead Redis costs a
//! bounded time and then nothing (back-off).

mod support;

use std::time::{Duration, Instant};

use support::redis::RedisServer;
use tastevin::cache::{CachePolicy, Verdict};
use tastevin::metrics::Metrics;
use tastevin::redis::resp::Reply;
use tastevin::redis::verdicts::{self, SharedVerdicts};
use tastevin::redis::versions::SharedVersions;
use tastevin::redis::{Client, RedisSettings};

const IMAGE: &str = "127.0.0.1:5000/team/app:1";

fn settings(server: &RedisServer, password: Option<&str>) -> RedisSettings {
    settings_speaking(server, password, "2")
}

/// The settings for `server` with `REDIS_PROTOCOL=protocol`.
fn settings_speaking(
    server: &RedisServer,
    password: Option<&str>,
    protocol: &str,
) -> RedisSettings {
    let port = server.port.to_string();
    let ca = server
        .ca_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let tls = if server.ca_path.is_some() {
        "true"
    } else {
        "false"
    };
    let (settings, notices) = RedisSettings::from_lookup(|name| match name {
        "REDIS_HOST" => Some(format!("127.0.0.1:{port}")),
        "REDIS_TLS" => Some(tls.to_owned()),
        "REDIS_CA_PATH" => Some(ca.clone()),
        "REDIS_PASSWORD" => password.map(str::to_owned),
        "REDIS_PROTOCOL" => Some(protocol.to_owned()),
        _ => None,
    });
    assert!(notices.is_empty(), "{notices:?}");
    settings.expect("Redis is on")
}

fn metrics() -> &'static Metrics {
    Box::leak(Box::new(Metrics::new()))
}

fn replica(settings: RedisSettings, metrics: &'static Metrics) -> SharedVerdicts {
    let client = Client::new(settings, metrics).expect("client");
    SharedVerdicts::new(std::sync::Arc::new(client), CachePolicy::default(), metrics)
}

fn counted(metrics: &Metrics, sample: &str) -> u64 {
    let mut text = String::new();
    metrics.render(&mut text);
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0)
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn digest() -> String {
    format!("sha256:{}", "7f".repeat(32))
}

#[test]
fn replicas_share_verdicts_per_policy_over_plain_tcp() {
    let server = RedisServer::plain();
    let metrics = metrics();
    let one = replica(settings(&server, None), metrics);
    let two = replica(settings(&server, None), metrics);
    assert_eq!(two.get(IMAGE, 7, deadline()), None);
    let trusted = Verdict::Trusted(Some(digest()));
    one.put(IMAGE, 7, &trusted, deadline());
    assert_eq!(two.get(IMAGE, 7, deadline()), Some(trusted));
    // Another rule or validator (another fingerprint) never reuses the verdict.
    assert_eq!(two.get(IMAGE, 8, deadline()), None);
    let rejected = Verdict::Rejected("error during cosign validation of image x: no".into());
    one.put("other:1", 7, &rejected, deadline());
    assert_eq!(two.get("other:1", 7, deadline()), Some(rejected));
    assert_eq!(
        counted(
            metrics,
            "tastevin_cache_lookups_total{tier=\"redis\",result=\"hit\"}"
        ),
        2
    );
    assert_eq!(
        counted(
            metrics,
            "tastevin_cache_lookups_total{tier=\"redis\",result=\"miss\"}"
        ),
        2
    );
}

#[test]
fn tls_with_password_and_wrong_password() {
    let server = RedisServer::tls("s3cret");
    let metrics = metrics();
    let one = replica(settings(&server, Some("s3cret")), metrics);
    let two = replica(settings(&server, Some("s3cret")), metrics);
    one.put(IMAGE, 1, &Verdict::Trusted(None), deadline());
    assert_eq!(two.get(IMAGE, 1, deadline()), Some(Verdict::Trusted(None)));
    let intruder_metrics = self::metrics();
    let intruder = replica(settings(&server, Some("wrong")), intruder_metrics);
    assert_eq!(intruder.get(IMAGE, 1, deadline()), None);
    assert_eq!(
        counted(
            intruder_metrics,
            "tastevin_redis_errors_total{kind=\"auth\"}"
        ),
        1
    );
}

#[test]
fn resp3_over_tls_with_a_password_shares_verdicts_and_versions() {
    let server = RedisServer::tls("s3cret");
    let metrics = metrics();
    let one = replica(settings_speaking(&server, Some("s3cret"), "3"), metrics);
    let two = replica(settings_speaking(&server, Some("s3cret"), "3"), metrics);
    assert_eq!(two.get(IMAGE, 1, deadline()), None);
    let trusted = Verdict::Trusted(Some(digest()));
    one.put(IMAGE, 1, &trusted, deadline());
    assert_eq!(two.get(IMAGE, 1, deadline()), Some(trusted));
    // The rollback memory reads RESP3's [role, score] pairs, and RESP2 replicas agree.
    let client = |protocol| {
        let settings = settings_speaking(&server, Some("s3cret"), protocol);
        std::sync::Arc::new(Client::new(settings, metrics).expect("client"))
    };
    // HELLO 3 was spoken: a score comes back as its own RESP3 type inside a pair.
    let raw = client("3")
        .call("test", &[b"ZADD", b"probe", b"7", b"m"], deadline())
        .and_then(|_| {
            client("3").call(
                "test",
                &[b"ZRANGE", b"probe", b"0", b"-1", b"WITHSCORES"],
                deadline(),
            )
        });
    assert_eq!(
        raw,
        Ok(Reply::Array(Some(vec![Reply::Array(Some(vec![
            Reply::Bulk(Some(b"m".to_vec())),
            Reply::Bulk(Some(b"7".to_vec())),
        ]))])))
    );
    let resp3 = SharedVersions::new(client("3"), metrics);
    let resp2 = SharedVersions::new(client("2"), metrics);
    let versions = vec![("root".to_owned(), 3), ("targets".to_owned(), 12)];
    resp3.record("registry.test/app", &versions, deadline());
    let mut seen = resp3.highest("registry.test/app", deadline());
    seen.sort();
    assert_eq!(seen, versions);
    let mut seen = resp2.highest("registry.test/app", deadline());
    seen.sort();
    assert_eq!(seen, versions);
    assert_eq!(
        counted(metrics, "tastevin_redis_errors_total{kind=\"invalid\"}"),
        0
    );
    // A wrong password is refused by HELLO as by AUTH.
    let intruder_metrics = self::metrics();
    let intruder = replica(
        settings_speaking(&server, Some("wrong"), "3"),
        intruder_metrics,
    );
    assert_eq!(intruder.get(IMAGE, 1, deadline()), None);
    assert_eq!(
        counted(
            intruder_metrics,
            "tastevin_redis_errors_total{kind=\"auth\"}"
        ),
        1
    );
}

#[test]
fn garbage_and_wrong_types_are_ignored_and_counted() {
    let server = RedisServer::plain();
    let metrics = metrics();
    let tastevin = replica(settings(&server, None), metrics);
    let raw = Client::new(settings(&server, None), self::metrics()).expect("client");
    let key = verdicts::key(IMAGE, 3);
    for value in [
        &b"{\"digest\":\"sha256:aa\",\"error\":\"\"}"[..],
        b"v1:T:sha256:short",
        b"\xff\xfe",
    ] {
        let set = raw.call("set", &[b"SET", key.as_bytes(), value], deadline());
        assert_eq!(set, Ok(Reply::Simple("OK".into())));
        assert_eq!(tastevin.get(IMAGE, 3, deadline()), None);
    }
    raw.call("del", &[b"DEL", key.as_bytes()], deadline())
        .expect("DEL");
    raw.call("rpush", &[b"RPUSH", key.as_bytes(), b"v1:T:"], deadline())
        .expect("RPUSH");
    // GET on a list is a server error (WRONGTYPE): also no verdict.
    assert_eq!(tastevin.get(IMAGE, 3, deadline()), None);
    assert_eq!(
        counted(
            metrics,
            "tastevin_cache_lookups_total{tier=\"redis\",result=\"invalid\"}"
        ),
        3
    );
    assert_eq!(
        counted(metrics, "tastevin_redis_errors_total{kind=\"server\"}"),
        1
    );
}

#[test]
fn a_dead_redis_costs_bounded_time_then_backs_off() {
    let mut server = RedisServer::plain();
    let metrics = metrics();
    let tastevin = replica(settings(&server, None), metrics);
    tastevin.put(IMAGE, 1, &Verdict::Trusted(None), deadline());
    assert!(tastevin.get(IMAGE, 1, deadline()).is_some());
    server.kill();
    let started = Instant::now();
    assert_eq!(tastevin.get(IMAGE, 1, deadline()), None);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(tastevin.get(IMAGE, 1, deadline()), None);
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(
        counted(metrics, "tastevin_redis_errors_total{kind=\"backing_off\"}") >= 1
            || counted(metrics, "tastevin_redis_errors_total{kind=\"io\"}") >= 1
    );
    assert!(
        counted(
            metrics,
            "tastevin_cache_lookups_total{tier=\"redis\",result=\"error\"}"
        ) == 2
    );
}
