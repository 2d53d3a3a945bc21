//! cosign verification end to end: images and signatures pushed to a real `docker-registry`
//! (Debian's distribution), configurations in Connaisseur's format, and the admission engine
//! deciding AdmissionReviews through the real registry client. Every case asserts the exact
//! verdict, message and patch.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tastevin::admission::{Admission, Settings};
use tastevin::config::Config;
use tastevin::metrics::Metrics;

use support::cosign::{layer, payload, Signer};
use support::decision::{decide_on, engine, pinned, Decided};
use support::registry::{Mode, Registry};

/// A cosign validator for the registry's CA with the given roots, and one rule with `with`.
fn config(
    registry: &Registry,
    roots: &[(&str, &Signer)],
    with: &str,
    rekor: Option<&Signer>,
) -> String {
    let indent = |text: &str, by: usize| -> String {
        text.lines()
            .map(|l| format!("{}{l}\n", " ".repeat(by)))
            .collect()
    };
    let mut yaml = String::from("validators:\n  - name: signed\n    type: cosign\n");
    if let Some(pki) = &registry.pki {
        yaml += &format!("    cert: |\n{}", indent(&pki.ca_pem, 6));
    }
    if let Some(rekor) = rekor {
        yaml += &format!(
            "    host:\n      rekorPubkey: |\n{}",
            indent(&rekor.public_key_pem(), 8)
        );
    }
    yaml += "    trustRoots:\n";
    for (name, signer) in roots {
        yaml += &format!(
            "      - name: {name}\n        key: |\n{}",
            indent(&signer.public_key_pem(), 10)
        );
    }
    yaml += &format!("policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {with}\n");
    yaml
}

fn decide_with(config: &str, image: &str, settings: Settings) -> Decided {
    let config = Config::from_yaml(config).unwrap_or_else(|e| panic!("config: {e:?}\n{config}"));
    let (admission, metrics) = engine(config, settings);
    decide_on(&admission, metrics, image)
}

fn decide(config: &str, image: &str) -> Decided {
    decide_with(config, image, Settings::default())
}

const NO_TLOG: &str = "{verifyInTransparencyLog: false}";

#[test]
fn signed_images_are_admitted_and_pinned_to_the_signed_digest() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::p256();
    let pushed = registry.push_image("team/app", "v1", "signed");
    let image = format!("{}/team/app:v1", registry.host());
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[layer(&alice, &payload(&image, &pushed.digest), None)],
    );

    let decided = decide(
        &config(&registry, &[("default", &alice)], NO_TLOG, None),
        &image,
    );
    assert!(decided.allowed(), "{}", decided.response);
    assert_eq!(decided.patch(), Some(pinned(&image, &pushed.digest)));

    // By digest, and by tag plus the same digest: admitted, nothing to pin.
    for reference in [
        format!("{}/team/app@{}", registry.host(), pushed.digest),
        format!("{image}@{}", pushed.digest),
    ] {
        let decided = decide(
            &config(&registry, &[("default", &alice)], NO_TLOG, None),
            &reference,
        );
        assert!(decided.allowed(), "{reference}: {}", decided.response);
        assert_eq!(decided.patch(), None, "{reference}");
    }
}

#[test]
fn ed25519_rsa_and_p521_keys_verify_too() {
    let registry = Registry::start(Mode::Tls);
    for (tag, key) in [
        ("ed25519", Signer::ed25519()),
        ("rsa", Signer::rsa()),
        ("p521", Signer::p521()),
    ] {
        let pushed = registry.push_image("team/app", tag, tag);
        let image = format!("{}/team/app:{tag}", registry.host());
        registry.push_signatures(
            "team/app",
            &pushed.digest,
            &[layer(&key, &payload(&image, &pushed.digest), None)],
        );
        let decided = decide(
            &config(&registry, &[("default", &key)], NO_TLOG, None),
            &image,
        );
        assert!(decided.allowed(), "{tag}: {}", decided.response);
        assert_eq!(
            decided.patch(),
            Some(pinned(&image, &pushed.digest)),
            "{tag}"
        );
    }
}

#[test]
fn unsigned_wrong_key_and_foreign_digest_are_denied() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::p256();
    let mallory = Signer::p256();
    let host = registry.host();

    registry.push_image("team/app", "unsigned", "unsigned");
    let raw = format!("{host}/team/app:unsigned");
    let decided = decide(
        &config(&registry, &[("default", &alice)], NO_TLOG, None),
        &raw,
    );
    assert!(!decided.allowed());
    assert_eq!(
        decided.message(),
        format!("error during cosign validation of image {raw}: error validating image: [no signatures found]")
    );

    let wrong = registry.push_image("team/app", "wrongkey", "wrongkey");
    let raw = format!("{host}/team/app:wrongkey");
    registry.push_signatures(
        "team/app",
        &wrong.digest,
        &[layer(&mallory, &payload(&raw, &wrong.digest), None)],
    );
    let decided = decide(
        &config(&registry, &[("default", &alice)], NO_TLOG, None),
        &raw,
    );
    assert!(!decided.allowed());
    assert_eq!(
        decided.message(),
        format!("error during cosign validation of image {raw}: error validating image: [no matching signatures: signature 1: invalid signature]")
    );

    // A valid signature for another image's digest, stored under this image (quirk 13 fixed).
    let victim = registry.push_image("team/app", "victim", "victim");
    let other = registry.push_image("team/app", "other", "other");
    let raw = format!("{host}/team/app:victim");
    registry.push_signatures(
        "team/app",
        &victim.digest,
        &[layer(&alice, &payload(&raw, &other.digest), None)],
    );
    let decided = decide(
        &config(&registry, &[("default", &alice)], NO_TLOG, None),
        &raw,
    );
    assert!(!decided.allowed(), "{}", decided.response);
    assert_eq!(
        decided.message(),
        format!(
            "error during cosign validation of image {raw}: error validating image: [no matching signatures: signature 1: payload signs digest {}, not the image's digest {}]",
            other.digest, victim.digest
        )
    );

    // A signature over different bytes than the payload stored.
    let tampered = registry.push_image("team/app", "tampered", "tampered");
    let raw = format!("{host}/team/app:tampered");
    let mut blob = layer(&alice, &payload(&raw, &tampered.digest), None);
    blob.payload = payload(&format!("{raw}-evil"), &tampered.digest);
    registry.push_signatures("team/app", &tampered.digest, &[blob]);
    let decided = decide(
        &config(&registry, &[("default", &alice)], NO_TLOG, None),
        &raw,
    );
    assert!(!decided.allowed(), "{}", decided.response);
    assert_eq!(
        decided.message(),
        format!("error during cosign validation of image {raw}: error validating image: [no matching signatures: signature 1: invalid signature]")
    );
}

#[test]
fn thresholds_and_required_roots_count_distinct_roots() {
    let registry = Registry::start(Mode::Tls);
    let (alice, bob, carol) = (Signer::p256(), Signer::p256(), Signer::ed25519());
    let pushed = registry.push_image("team/app", "v1", "two of three");
    let image = format!("{}/team/app:v1", registry.host());
    let signed = payload(&image, &pushed.digest);
    // alice twice: one root's two signatures must count once (quirk 12 fixed).
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[
            layer(&alice, &signed, None),
            layer(&alice, &signed, None),
            layer(&bob, &signed, None),
        ],
    );
    let roots = [("alice", &alice), ("bob", &bob), ("carol", &carol)];
    let with = |extra: &str| format!("{{verifyInTransparencyLog: false, trustRoot: \"*\"{extra}}}");

    let met = decide(
        &config(&registry, &roots, &with(", threshold: 2"), None),
        &image,
    );
    assert!(met.allowed(), "{}", met.response);
    assert_eq!(met.patch(), Some(pinned(&image, &pushed.digest)));

    let missed = decide(
        &config(&registry, &roots, &with(", threshold: 3"), None),
        &image,
    );
    assert_eq!(
        missed.message(),
        format!("error during cosign validation of image {image}: validation threshold not reached (2/3)")
    );

    let all = decide(&config(&registry, &roots, &with(""), None), &image);
    assert_eq!(
        all.message(),
        format!("error during cosign validation of image {image}: validation threshold not reached (2/3)")
    );

    let required = decide(
        &config(&registry, &roots, &with(", required: [alice, carol]"), None),
        &image,
    );
    assert_eq!(
        required.message(),
        format!("error during cosign validation of image {image}: missing required signatures from [carol]")
    );
    let required_met = decide(
        &config(&registry, &roots, &with(", required: [alice, bob]"), None),
        &image,
    );
    assert!(required_met.allowed(), "{}", required_met.response);
}

#[test]
fn the_transparency_log_bundle_is_required_by_default() {
    let registry = Registry::start(Mode::Tls);
    let (alice, rekor) = (Signer::p256(), Signer::p256());
    let logged = registry.push_image("team/app", "logged", "logged");
    let unlogged = registry.push_image("team/app", "unlogged", "unlogged");
    let host = registry.host();
    let logged_raw = format!("{host}/team/app:logged");
    let unlogged_raw = format!("{host}/team/app:unlogged");
    registry.push_signatures(
        "team/app",
        &logged.digest,
        &[layer(
            &alice,
            &payload(&logged_raw, &logged.digest),
            Some(&rekor),
        )],
    );
    registry.push_signatures(
        "team/app",
        &unlogged.digest,
        &[layer(
            &alice,
            &payload(&unlogged_raw, &unlogged.digest),
            None,
        )],
    );
    let with_log = config(&registry, &[("default", &alice)], "{}", Some(&rekor));

    let decided = decide(&with_log, &logged_raw);
    assert!(decided.allowed(), "{}", decided.response);
    assert_eq!(decided.patch(), Some(pinned(&logged_raw, &logged.digest)));

    let decided = decide(&with_log, &unlogged_raw);
    assert!(!decided.allowed());
    assert!(
        decided.message().starts_with(&format!(
            "error during cosign validation of image {unlogged_raw}: error validating image: ["
        )),
        "{}",
        decided.message()
    );

    // A bundle timestamped by another log does not count either.
    let other_log = config(
        &registry,
        &[("default", &alice)],
        "{}",
        Some(&Signer::p256()),
    );
    assert!(!decide(&other_log, &logged_raw).allowed());

    // With the log switched off, the unlogged signature counts.
    let without = config(&registry, &[("default", &alice)], NO_TLOG, Some(&rekor));
    assert!(decide(&without, &unlogged_raw).allowed());
}

#[test]
fn unreachable_and_missing_images_are_denied_and_not_cached() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::p256();
    let cfg = config(&registry, &[("default", &alice)], NO_TLOG, None);
    let config = Arc::new(Config::from_yaml(&cfg).expect("config"));
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    let admission = Admission::quiet(Arc::clone(&config), Settings::default(), metrics);

    let missing = format!("{}/team/nothing:v1", registry.host());
    let decided = decide_on(&admission, metrics, &missing);
    assert!(!decided.allowed());
    assert!(decided.message().starts_with(&format!(
        "error during cosign validation of image {missing}: "
    )));

    // Nothing listens on this port: a transport error, never cached.
    let closed = support::registry::free_addr();
    let raw = format!("{closed}/team/app:v1");
    let first = decide_on(&admission, metrics, &raw);
    assert!(!first.allowed());
    let second = decide_on(&admission, metrics, &raw);
    assert!(!second.allowed());
    let hits = r#"connaisseur_validations_skipped_total{type="cosign",validator_name="signed",reason="cache hit"}"#;
    assert_eq!(
        second.metric(hits),
        0,
        "a transport error must not be cached"
    );
}

#[test]
fn verdicts_are_cached_until_the_policy_changes() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::p256();
    let pushed = registry.push_image("team/app", "v1", "cached");
    let image = format!("{}/team/app:v1", registry.host());
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[layer(&alice, &payload(&image, &pushed.digest), None)],
    );
    let config = Arc::new(
        Config::from_yaml(&config(&registry, &[("default", &alice)], NO_TLOG, None))
            .expect("config"),
    );
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    let admission = Admission::quiet(config, Settings::default(), metrics);

    let first = decide_on(&admission, metrics, &image);
    assert!(first.allowed());
    // The registry goes away: the verdict comes from the cache, patch and all.
    drop(registry);
    let second = decide_on(&admission, metrics, &image);
    assert!(second.allowed(), "{}", second.response);
    assert_eq!(second.patch(), first.patch());
    let hits = r#"connaisseur_validations_skipped_total{type="cosign",validator_name="signed",reason="cache hit"}"#;
    assert_eq!(second.metric(hits), 1);
    assert_eq!(second.metric("tastevin_cache_entries"), 1);
}

#[test]
fn a_changed_policy_does_not_reuse_a_cached_verdict() {
    let registry = Registry::start(Mode::Tls);
    let (alice, bob) = (Signer::p256(), Signer::p256());
    let pushed = registry.push_image("team/app", "v1", "policy change");
    let image = format!("{}/team/app:v1", registry.host());
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[layer(&alice, &payload(&image, &pushed.digest), None)],
    );
    let old = Config::from_yaml(&config(&registry, &[("default", &alice)], NO_TLOG, None))
        .expect("config");
    let new =
        Config::from_yaml(&config(&registry, &[("default", &bob)], NO_TLOG, None)).expect("config");
    // One cache shared across policies would be the bug; the key includes the judging config.
    let settings = Settings {
        request_deadline: Duration::from_secs(20),
        ..Settings::default()
    };
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    let admission = Admission::quiet(Arc::new(old), settings.clone(), metrics);
    assert!(decide_on(&admission, metrics, &image).allowed());
    let admission = Admission::quiet(Arc::new(new), settings, metrics);
    assert!(!decide_on(&admission, metrics, &image).allowed());
}

#[test]
fn a_hanging_registry_denies_at_the_deadline_as_a_timeout_and_is_not_cached() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().take(2) {
            open.push(stream);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    let alice = Signer::p256();
    let registry = Registry::start(Mode::Tls);
    let cfg = config(&registry, &[("default", &alice)], NO_TLOG, None);
    let settings = Settings {
        request_deadline: Duration::from_secs(1),
        ..Settings::default()
    };
    let raw = format!("{addr}/team/app:v1");
    let started = std::time::Instant::now();
    let decided = decide_with(&cfg, &raw, settings);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!decided.allowed());
    assert_eq!(
        decided.message(),
        "validation of admission request e2e timed out after validating 0/1 images"
    );
    assert_eq!(
        decided.metric(r#"connaisseur_requests_denied_total{timeout="true"}"#),
        1
    );
    assert_eq!(
        decided.metric(
            r#"connaisseur_validations_timeouted_total{type="cosign",validator_name="signed"}"#
        ),
        1
    );
    assert_eq!(decided.metric("tastevin_cache_entries"), 0);
    drop(held);
}

#[test]
fn a_signed_index_admits_and_pins_the_index_digest() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::p256();
    let amd64 = registry.push_image("team/app", "amd64", "amd64");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "size": amd64.manifest.len(),
            "digest": amd64.digest,
            "platform": {"architecture": "amd64", "os": "linux"}
        }]
    }))
    .expect("index JSON");
    let index_digest = registry.push_manifest(
        "team/app",
        "multi",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    let image = format!("{}/team/app:multi", registry.host());
    registry.push_signatures(
        "team/app",
        &index_digest,
        &[layer(&alice, &payload(&image, &index_digest), None)],
    );
    let decided = decide(
        &config(&registry, &[("default", &alice)], NO_TLOG, None),
        &image,
    );
    assert!(decided.allowed(), "{}", decided.response);
    assert_eq!(decided.patch(), Some(pinned(&image, &index_digest)));
}
