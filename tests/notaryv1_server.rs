//! Notary v1 end to end against a real `notary-server`, with trust data signed by the real
//! `notary` client: a signed tag is pinned to its digest, an unknown tag, a tag whose digest
//! differs from the one given and a wrong pinned key are refused with Connaisseur's messages,
//! an unknown repository is reported, `trustRoot: "*"` needs every pinned key, and a server
//! behind the harness's token server is read with the credentials of `auth.secretName`, and
//! the served `/metrics` counts the validations under `type="notaryv1"`. A hostile
//! stand-in in front of the real server's trust data then serves tampered, swapped and
//! rolled-back documents, a 2 GB body, a hanging connection, a 500 and a refusing token
//! server, and the admission engine must deny each with its exact message.

mod support;

use std::fs;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tastevin::admission::{Admission, Settings};
use tastevin::config::{Config, ValidatorKind};
use tastevin::image_ref::ImageRef;
use tastevin::metrics::Metrics;
use tastevin::validators::notaryv1::keys::key_id;
use tastevin::validators::{validate, Clients, Outcome, Rejection};

use support::decision::{self, decide_on, pod_review, Decided};
use support::metrics::promtool_check;
use support::notary::{NotaryServer, Signer};
use support::notary_proxy::{Answer, NotaryProxy};
use support::registry::{PASSWORD, USER};
use support::requests::mutate;
use support::{Server, TempDir};

const GUN: &str = "registry.test/app";
const DELEGATED: &str = "registry.test/delegated";
const OTHER_HEX: &str = "0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff0";
const HEX: &str = "a220cff1b3a4c1aa4ba4b6e4d4a7d2bfae9a4d8e4f1c2b3a4d5e6f708192a3b4";

fn notary_config(server: &NotaryServer, key_pem: &str) -> Config {
    notary_config_with(server, key_pem, "{}")
}

fn notary_config_with(server: &NotaryServer, key_pem: &str, with: &str) -> Config {
    config_for(
        &server.url(),
        &server.pki.ca_pem,
        &[("default", key_pem)],
        with,
        None,
    )
}

/// One notaryv1 validator `nv1` at `url` trusting `ca_pem`, with the trust roots `roots`
/// (name, PEM) and credentials from secret `auth_secret` if given; one rule for every image,
/// with `with`.
fn config_for(
    url: &str,
    ca_pem: &str,
    roots: &[(&str, &str)],
    with: &str,
    auth_secret: Option<&str>,
) -> Config {
    let text = config_text(url, ca_pem, roots, with, auth_secret);
    Config::from_yaml(&text).unwrap_or_else(|e| panic!("{text}\n{e:?}"))
}

/// The YAML of [`config_for`].
fn config_text(
    url: &str,
    ca_pem: &str,
    roots: &[(&str, &str)],
    with: &str,
    auth_secret: Option<&str>,
) -> String {
    let indent = |text: &str, by: usize| -> String {
        text.lines()
            .map(|line| format!("{}{line}\n", " ".repeat(by)))
            .collect()
    };
    let auth = auth_secret
        .map(|secret| format!("  auth: {{secretName: {secret}}}\n"))
        .unwrap_or_default();
    format!(
        "validators:\n- name: nv1\n  type: notaryv1\n{auth}  host: {}\n  cert: |\n{}  trustRoots:\n{}policy:\n- pattern: \"*:*\"\n  validator: nv1\n  with: {with}\n",
        url,
        indent(ca_pem, 4),
        roots
            .iter()
            .map(|(name, pem)| format!("  - name: {name}\n    key: |\n{}", indent(pem, 6)))
            .collect::<String>()
    )
}

fn check(config: &Config, image: &str) -> Outcome {
    check_with(config, image, &Clients::new(std::env::temp_dir()))
}

fn check_with(config: &Config, image: &str, clients: &Clients) -> Outcome {
    let validator = config.validator("nv1").expect("validator");
    assert!(matches!(validator.kind, ValidatorKind::NotaryV1(_)));
    let rule = config.rules().first().expect("rule");
    let image = ImageRef::parse(image).expect("image");
    validate(
        validator,
        rule,
        &image,
        Instant::now() + Duration::from_secs(20),
        clients,
    )
}

#[test]
fn real_notary_server() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    let pinned = server.root_key_pem(GUN);
    let config = notary_config(&server, &pinned);

    assert_eq!(
        check(&config, &format!("{GUN}:v1")),
        Outcome::Verified {
            digest: Some(format!("sha256:{HEX}"))
        }
    );
    assert_eq!(
        check(&config, &format!("{GUN}@sha256:{HEX}")),
        Outcome::Verified {
            digest: Some(format!("sha256:{HEX}"))
        }
    );
    assert_eq!(
        check(&config, &format!("{GUN}:v2")),
        Outcome::Rejected(Rejection::Failed(
            "validated targets don't contain reference: no tag 'v2' found in targets".to_owned()
        ))
    );
    assert_eq!(
        check(&config, "registry.test/unknown:v1"),
        Outcome::Rejected(Rejection::Failed(
            "error downloading trust data: error acquiring trust data root: error acquiring trust data root: 404 Not Found"
                .to_owned()
        ))
    );

    let other = NotaryServer::start();
    other.sign(GUN, "v1", 423, HEX);
    let wrong = notary_config(&server, &other.root_key_pem(GUN));
    let outcome = check(&wrong, &format!("{GUN}:v1"));
    assert!(
        matches!(&outcome, Outcome::Rejected(Rejection::Failed(m))
            if m.starts_with("error validating trust data: error validating root: error validating root signature with key ")
                && m.ends_with(": signature was invalid")),
        "{outcome:?}"
    );
}

fn verified(hex: &str) -> Outcome {
    Outcome::Verified {
        digest: Some(sha256(hex)),
    }
}

fn failed(message: &str) -> Outcome {
    Outcome::Rejected(Rejection::Failed(message.to_owned()))
}

#[test]
fn a_tag_with_a_digest_must_resolve_to_that_digest() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    let config = notary_config(&server, &server.root_key_pem(GUN));

    assert_eq!(
        check(&config, &format!("{GUN}:v1@sha256:{HEX}")),
        verified(HEX)
    );
    assert_eq!(
        check(&config, &format!("{GUN}:v1@sha256:{OTHER_HEX}")),
        failed(&format!(
            "digest sha256:{HEX} resolved for tag v1 doesn't match given digest sha256:{OTHER_HEX}"
        ))
    );
}

#[test]
fn with_trust_root_star_every_pinned_key_must_have_signed_root() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    let right = server.root_key_pem(GUN);
    let wrong = Signer::generate("stranger").public_key_pem();
    let config = |roots: &[(&str, &str)], with: &str| {
        config_for(&server.url(), &server.pki.ca_pem, roots, with, None)
    };
    let image = format!("{GUN}:v1");
    let all = "{trustRoot: \"*\"}";

    assert_eq!(
        check(&config(&[("a", &right), ("b", &right)], all), &image),
        verified(HEX)
    );
    // Connaisseur's "*" for Notary v1 is a logical AND over the pinned keys.
    assert_eq!(
        check(&config(&[("a", &right), ("b", &wrong)], all), &image),
        failed(&format!(
            "error validating trust data: error validating root: error validating root signature with key {}: signature was invalid",
            pinned_key_id(&wrong)
        ))
    );
    assert_eq!(
        check(
            &config(&[("a", &right), ("b", &wrong)], "{trustRoot: a}"),
            &image
        ),
        verified(HEX)
    );
    assert_eq!(
        check(&config(&[("a", &right), ("b", &wrong)], "{trustRoot: b}"), &image),
        failed(&format!(
            "error validating trust data: error validating root: error validating root signature with key {}: signature was invalid",
            pinned_key_id(&wrong)
        ))
    );
}

#[test]
fn a_notary_server_behind_token_auth_is_read_with_the_configured_credentials() {
    let server = NotaryServer::start_with_token_auth();
    server.sign(GUN, "v1", 423, HEX);
    let pinned = server.root_key_pem(GUN);
    let secrets = TempDir::new();
    for (secret, password) in [("notary-creds", PASSWORD), ("wrong-creds", "not-it")] {
        let dir = secrets.path().join(secret);
        fs::create_dir_all(&dir).expect("secret directory");
        fs::write(
            dir.join("secret.yaml"),
            format!("username: {USER}\npassword: {password}\n"),
        )
        .expect("write the secret");
    }
    let config = |secret: Option<&str>| {
        config_for(
            &server.url(),
            &server.pki.ca_pem,
            &[("default", &pinned)],
            "{}",
            secret,
        )
    };
    // Clients are per engine, as on a reload: each configuration gets its own.
    let check = |secret: Option<&str>| {
        let clients = Clients::new(secrets.path().to_path_buf());
        check_with(&config(secret), &format!("{GUN}:v1"), &clients)
    };
    let tokens = server.token_server.as_ref().expect("a token server");
    let issued_before = tokens.issued.load(Ordering::SeqCst);

    assert_eq!(check(Some("notary-creds")), verified(HEX));
    assert!(tokens.issued.load(Ordering::SeqCst) > issued_before);

    // Anonymous callers get a token without grants, which the server refuses.
    assert_eq!(
        check(None),
        failed("error downloading trust data: error acquiring trust data root: error acquiring trust data root: 401 Unauthorized")
    );
    assert_eq!(
        check(Some("wrong-creds")),
        failed("error creating notary client: error getting a token: token server answered 401 Unauthorized; check the credentials in auth.secretName")
    );
}

#[test]
fn real_notary_server_with_delegations() {
    let server = NotaryServer::start();
    let (alice, bob, carol) = (
        Signer::generate("alice"),
        Signer::generate("bob"),
        Signer::generate("carol"),
    );
    server.client(&["init", DELEGATED]);
    server.delegate(DELEGATED, "targets/releases", &alice);
    server.delegate(DELEGATED, "targets/alice", &alice);
    server.delegate(DELEGATED, "targets/bob", &bob);
    // carol is a signer who never signed.
    server.delegate(DELEGATED, "targets/carol", &carol);
    server.sign_in(
        DELEGATED,
        &["targets/releases", "targets/alice"],
        "v1",
        423,
        HEX,
    );
    server.sign_in(DELEGATED, &["targets/bob"], "v1", 500, OTHER_HEX);
    server.client(&["publish", DELEGATED]);
    let pinned = server.root_key_pem(DELEGATED);
    let image = format!("{DELEGATED}:v1");
    let pinned_to = |digest: &str| Outcome::Verified {
        digest: Some(format!("sha256:{digest}")),
    };

    // No rule delegations: targets/releases decides.
    assert_eq!(
        check(&notary_config(&server, &pinned), &image),
        pinned_to(HEX)
    );
    let with = |delegations: &str| notary_config_with(&server, &pinned, delegations);
    assert_eq!(
        check(&with("{delegations: [alice]}"), &image),
        pinned_to(HEX)
    );
    assert_eq!(
        check(&with("{delegations: [targets/bob]}"), &image),
        pinned_to(OTHER_HEX)
    );
    assert_eq!(
        check(&with("{delegations: [alice, bob]}"), &image),
        Outcome::Rejected(Rejection::Failed(
            "validator nv1 found 2 digests for image v1, expected 1".to_owned()
        ))
    );
    // carol never signed: her file is absent and not in the snapshot, so Connaisseur falls
    // back to targets, which holds no tag of this repository.
    assert_eq!(
        check(&with("{delegations: [alice, carol]}"), &image),
        Outcome::Rejected(Rejection::Failed(
            "validated targets don't contain reference: no tag 'v1' found in targets".to_owned()
        ))
    );
}

const ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

/// The real server's current trust data for `gun`, by role.
fn captured(server: &NotaryServer, gun: &str) -> Vec<(&'static str, Vec<u8>)> {
    ROLES
        .iter()
        .map(|role| (*role, server.trust_data(gun, role)))
        .collect()
}

/// A stand-in with the real server's certificate that answers `/v2/` and serves `data`.
fn proxy_serving(server: &NotaryServer, gun: &str, data: &[(&str, Vec<u8>)]) -> NotaryProxy {
    let proxy = NotaryProxy::start(Arc::clone(&server.pki.server_config));
    proxy.set("/v2/", Answer::json(b"{}"));
    serve(&proxy, gun, data);
    proxy
}

fn serve(proxy: &NotaryProxy, gun: &str, data: &[(&str, Vec<u8>)]) {
    for (role, body) in data {
        proxy.set_role(gun, role, Answer::json(body));
    }
}

/// An admission engine whose only validator reads from `proxy`, pinned to `key_pem`.
fn engine(
    server: &NotaryServer,
    proxy: &NotaryProxy,
    key_pem: &str,
    request_deadline: Duration,
) -> (Admission, &'static Metrics) {
    let config = config_for(
        &proxy.url(),
        &server.pki.ca_pem,
        &[("default", key_pem)],
        "{}",
        None,
    );
    let settings = Settings {
        request_deadline,
        ..Settings::default()
    };
    decision::engine(config, settings)
}

fn decide((admission, metrics): &(Admission, &'static Metrics), image: &str) -> Decided {
    decide_on(admission, metrics, image)
}

fn sha256(hex: &str) -> String {
    format!("sha256:{hex}")
}

/// `body` with its signed `expires` moved into the past: the signature no longer covers it.
fn expired(body: &[u8]) -> Vec<u8> {
    let mut document: Value = serde_json::from_slice(body).expect("trust data JSON");
    document["signed"]["expires"] = json!("2001-01-01T00:00:00Z");
    serde_json::to_vec(&document).expect("serialise")
}

fn with_role(
    data: &[(&'static str, Vec<u8>)],
    role: &str,
    body: Vec<u8>,
) -> Vec<(&'static str, Vec<u8>)> {
    data.iter()
        .map(|(name, old)| {
            (
                *name,
                if *name == role {
                    body.clone()
                } else {
                    old.clone()
                },
            )
        })
        .collect()
}

/// The ID Connaisseur reports for the pinned root key (an ECDSA key, as the notary client
/// makes them): Notary's ID of its SPKI.
fn pinned_key_id(pem: &str) -> String {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    key_id("ecdsa", &STANDARD.decode(body).expect("PEM body"))
}

fn version_of(body: &[u8]) -> u64 {
    let document: Value = serde_json::from_slice(body).expect("trust data JSON");
    document["signed"]["version"].as_u64().expect("a version")
}

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn tampered_and_swapped_trust_data_is_refused() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    server.sign(DELEGATED, "v1", 423, HEX);
    let pinned = server.root_key_pem(GUN);
    let real = captured(&server, GUN);
    let image = format!("{GUN}:v1");
    let denied = |data: &[(&str, Vec<u8>)]| {
        let proxy = proxy_serving(&server, GUN, data);
        decide(&engine(&server, &proxy, &pinned, DEADLINE), &image)
    };

    // The stand-in serving the real data unchanged admits: what follows is the tampering.
    denied(&real).assert_pinned(&image, &sha256(HEX));

    // The notary client cannot sign with a past expiry, so an expired document can only be
    // a modified one, and the broken signature is what refuses it.
    let base = |role: &str| {
        format!("error during notaryv1 validation of image {image}: error validating trust data: error validating base trust data: error validating {role} signatures")
    };
    for role in ROLES {
        let tampered = with_role(&real, role, expired(&real_body(&real, role)));
        let expected = if role == "root" {
            format!("error during notaryv1 validation of image {image}: error validating trust data: error validating root: error validating root signature with key {}: signature was invalid", pinned_key_id(&pinned))
        } else {
            base(role)
        };
        denied(&tampered).assert_denied(&expected);
    }

    // Targets naming another digest for the tag.
    let mut targets: Value = serde_json::from_slice(&real_body(&real, "targets")).expect("JSON");
    targets["signed"]["targets"]["v1"]["hashes"]["sha256"] = json!(STANDARD.encode([7u8; 32]));
    let tampered = with_role(
        &real,
        "targets",
        serde_json::to_vec(&targets).expect("JSON"),
    );
    denied(&tampered).assert_denied(&base("targets"));

    // Another repository's snapshot, validly signed by that repository's key.
    let swapped = with_role(&real, "snapshot", server.trust_data(DELEGATED, "snapshot"));
    denied(&swapped).assert_denied(&base("snapshot"));
}

fn real_body(data: &[(&str, Vec<u8>)], role: &str) -> Vec<u8> {
    data.iter()
        .find(|(name, _)| *name == role)
        .map(|(_, body)| body.clone())
        .expect("role captured")
}

#[test]
fn a_rolled_back_repository_is_refused_after_the_newer_one_was_seen() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    let older = captured(&server, GUN);
    server.client(&["addhash", GUN, "v2", "500", "--sha256", OTHER_HEX]);
    server.client(&["publish", GUN]);
    let newer = captured(&server, GUN);
    let pinned = server.root_key_pem(GUN);
    let proxy = proxy_serving(&server, GUN, &newer);
    let admission = engine(&server, &proxy, &pinned, DEADLINE);

    let image = format!("{GUN}:v2");
    decide(&admission, &image).assert_pinned(&image, &sha256(OTHER_HEX));

    // The older documents are validly signed: only the memory of the newer ones refuses them.
    serve(&proxy, GUN, &older);
    let image = format!("{GUN}:v1");
    let (old, new) = (
        version_of(&real_body(&older, "targets")),
        version_of(&real_body(&newer, "targets")),
    );
    assert!(old < new, "{old} < {new}");
    // The same older data from a server never seen before is admitted: what refuses it below
    // is the memory of versions, nothing wrong with the documents themselves.
    let fresh = proxy_serving(&server, GUN, &older);
    decide(&engine(&server, &fresh, &pinned, DEADLINE), &image).assert_pinned(&image, &sha256(HEX));
    decide(&admission, &image).assert_denied(&format!("error during notaryv1 validation of image {image}: error validating trust data: targets trust data has version {old}, older than version {new} seen before (possible rollback attack)"));
}

#[test]
fn a_body_announced_as_two_gigabytes_is_refused_at_once() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    let pinned = server.root_key_pem(GUN);
    let proxy = proxy_serving(&server, GUN, &captured(&server, GUN));
    proxy.set_role(
        GUN,
        "targets",
        Answer::Announce {
            announced: 2 << 30,
            sent: b"{\"signed\":".to_vec(),
        },
    );
    let image = format!("{GUN}:v1");
    let started = Instant::now();
    let response = decide(&engine(&server, &proxy, &pinned, DEADLINE), &image);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    response.assert_denied(&format!("error during notaryv1 validation of image {image}: error downloading trust data: error acquiring trust data targets: unusable answer from 127.0.0.1:{}: response body exceeds the limit of 8388608 bytes", proxy.port));
}

#[test]
fn a_hanging_notary_server_is_denied_at_the_deadline() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    let pinned = server.root_key_pem(GUN);
    let proxy = proxy_serving(&server, GUN, &captured(&server, GUN));
    proxy.set_role(GUN, "snapshot", Answer::Hang);
    let image = format!("{GUN}:v1");
    let started = Instant::now();
    let response = decide(
        &engine(&server, &proxy, &pinned, Duration::from_secs(2)),
        &image,
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    response
        .assert_denied("validation of admission request e2e timed out after validating 0/1 images");
}

#[test]
fn a_server_error_and_a_refusing_token_server_are_denied() {
    let server = NotaryServer::start();
    server.sign(GUN, "v1", 423, HEX);
    let pinned = server.root_key_pem(GUN);
    let image = format!("{GUN}:v1");

    let proxy = proxy_serving(&server, GUN, &captured(&server, GUN));
    proxy.set_role(GUN, "timestamp", Answer::status(500));
    decide(&engine(&server, &proxy, &pinned, DEADLINE), &image).assert_denied(&format!("error during notaryv1 validation of image {image}: error downloading trust data: error acquiring trust data timestamp: error acquiring trust data timestamp: 500 Internal Server Error"));

    let proxy = proxy_serving(&server, GUN, &captured(&server, GUN));
    proxy.set("/v2/", Answer::Challenge);
    proxy.set("/token", Answer::status(401));
    decide(&engine(&server, &proxy, &pinned, DEADLINE), &image).assert_denied(&format!("error during notaryv1 validation of image {image}: error creating notary client: error getting a token: token server answered 401 Unauthorized; configure auth.secretName on the validator"));
}

#[test]
fn the_served_metrics_count_notaryv1_validations() {
    let notary = NotaryServer::start();
    notary.sign(GUN, "v1", 423, HEX);
    let pinned = notary.root_key_pem(GUN);
    let dir = TempDir::new();
    let config = dir.path().join("config.yaml");
    fs::write(
        &config,
        config_text(
            &notary.url(),
            &notary.pki.ca_pem,
            &[("default", &pinned)],
            "{}",
            None,
        ),
    )
    .expect("write the config");
    let webhook = Server::start(&["--config", &config.display().to_string()]);

    let mut client = webhook.connect();
    for image in ["v1", "v2", "v1"].map(|tag| format!("{GUN}:{tag}")) {
        client.send(&mutate(&pod_review(&image)));
        assert_eq!(client.read_response().status, 200);
    }
    let scrape = webhook.scrape();
    let validator = [("type", "notaryv1"), ("validator_name", "nv1")];
    let with = |extra: (&'static str, &'static str)| {
        let mut labels = validator.to_vec();
        labels.push(extra);
        labels
    };

    assert_eq!(scrape.value("connaisseur_requests_total", &[]), 3.0);
    assert_eq!(
        scrape.value("connaisseur_requests_admitted_total", &[]),
        2.0
    );
    assert_eq!(
        scrape.value("connaisseur_requests_denied_total", &[("timeout", "false")]),
        1.0
    );
    // The second v1 is a cache hit: a skip, counted as a success too.
    assert_eq!(
        scrape.value(
            "connaisseur_validations_total",
            &with(("result", "success"))
        ),
        2.0
    );
    assert_eq!(
        scrape.value("connaisseur_validations_total", &with(("result", "error"))),
        1.0
    );
    assert_eq!(
        scrape.value("connaisseur_validations_successful_total", &validator),
        2.0
    );
    assert_eq!(
        scrape.value("connaisseur_validations_failed_total", &validator),
        1.0
    );
    assert_eq!(
        scrape.value(
            "connaisseur_validations_skipped_total",
            &with(("reason", "cache hit"))
        ),
        1.0
    );
    assert_eq!(
        scrape.value(
            "tastevin_validation_duration_seconds_count",
            &with(("result", "success"))
        ),
        2.0
    );
    assert_eq!(
        scrape.value(
            "tastevin_validation_duration_seconds_count",
            &with(("result", "error"))
        ),
        1.0
    );
    let host = format!("127.0.0.1:{}", notary.port);
    // root, targets, snapshot and timestamp for each of the two validations.
    assert!(
        scrape.value(
            "tastevin_registry_requests_total",
            &[("registry", &host), ("status", "200")]
        ) >= 8.0,
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value(
            "mutate_requests_total",
            &[("allowed", "True"), ("status_code", "202")]
        ),
        2.0
    );
    let (ok, report) = promtool_check(&scrape.text);
    assert!(ok, "{report}");
}
