//! Expired Notary v1 roles, end to end: trust data from a real `notary-server`, re-signed
//! with the `notary` client's own keys (and a harness timestamp key) after one role's
//! `expires` was moved into the past, served through a stand-in with the server's
//! certificate, and decided by the in-process admission engine. The same data re-signed
//! without the change is admitted, so each refusal can only be the expiry.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tastevin::admission::{Admission, Settings};
use tastevin::config::Config;
use tastevin::metrics::Metrics;

use support::decision::{self, decide_on, Decided};
use support::notary::{NotaryServer, Signer};
use support::notary_proxy::{Answer, NotaryProxy};
use support::tuf_resign::Resigner;

const GUN: &str = "registry.test/app";
const DELEGATED: &str = "registry.test/delegated";
const HEX: &str = "a220cff1b3a4c1aa4ba4b6e4d4a7d2bfae9a4d8e4f1c2b3a4d5e6f708192a3b4";
const RELEASES: &str = "targets/releases";
const DEADLINE: Duration = Duration::from_secs(20);

/// A real server with `v1` of `gun` signed in targets, and a re-signer for its trust data.
fn signed_repository(gun: &str) -> (NotaryServer, Resigner) {
    let server = NotaryServer::start();
    server.sign(gun, "v1", 423, HEX);
    let resigner = Resigner::new(&server.trust_dir(), &captured(&server, gun, &[]), &[]);
    (server, resigner)
}

/// A real server with `v1` of `gun` signed only in the `targets/releases` delegation, and a
/// re-signer for its trust data, delegation included.
fn delegated_repository(gun: &str) -> (NotaryServer, Resigner) {
    let server = NotaryServer::start();
    let alice = Signer::generate("alice");
    server.client(&["init", gun]);
    server.delegate(gun, RELEASES, &alice);
    server.sign_in(gun, &[RELEASES], "v1", 423, HEX);
    server.client(&["publish", gun]);
    let data = captured(&server, gun, &[RELEASES]);
    let resigner = Resigner::new(&server.trust_dir(), &data, &[&alice.key_pem]);
    (server, resigner)
}

/// The real server's current trust data for `gun`: the base roles and `delegations`.
fn captured<'a>(
    server: &NotaryServer,
    gun: &str,
    delegations: &[&'a str],
) -> Vec<(&'a str, Vec<u8>)> {
    ["root", "targets", "snapshot", "timestamp"]
        .iter()
        .chain(delegations)
        .map(|role| (*role, server.trust_data(gun, role)))
        .collect()
}

/// The decision on `v1` of `gun` when a stand-in with the real server's certificate serves
/// `data`, with the validator pinned to the repository's real root key.
fn decide(server: &NotaryServer, gun: &str, data: &[(String, Vec<u8>)]) -> Decided {
    let proxy = NotaryProxy::start(Arc::clone(&server.pki.server_config));
    proxy.set("/v2/", Answer::json(b"{}"));
    for (role, body) in data {
        proxy.set_role(gun, role, Answer::json(body));
    }
    let (admission, metrics) = engine(&proxy, server, gun);
    decide_on(&admission, metrics, &format!("{gun}:v1"))
}

fn engine(proxy: &NotaryProxy, server: &NotaryServer, gun: &str) -> (Admission, &'static Metrics) {
    let indent = |text: &str, by: usize| -> String {
        text.lines()
            .map(|line| format!("{}{line}\n", " ".repeat(by)))
            .collect()
    };
    let text = format!(
        "validators:\n- name: nv1\n  type: notaryv1\n  host: {}\n  cert: |\n{}  trustRoots:\n  - name: default\n    key: |\n{}policy:\n- pattern: \"*:*\"\n  validator: nv1\n",
        proxy.url(),
        indent(&server.pki.ca_pem, 4),
        indent(&server.root_key_pem(gun), 6)
    );
    let config = Config::from_yaml(&text).unwrap_or_else(|e| panic!("{text}\n{e:?}"));
    let settings = Settings {
        request_deadline: DEADLINE,
        ..Settings::default()
    };
    decision::engine(config, settings)
}

fn refusal(gun: &str, detail: &str) -> String {
    format!("error during notaryv1 validation of image {gun}:v1: {detail}")
}

fn assert_admitted(decided: &Decided, gun: &str) {
    decided.assert_pinned(&format!("{gun}:v1"), &format!("sha256:{HEX}"));
}

#[test]
fn resigned_trust_data_with_the_harness_timestamp_key_is_admitted() {
    let (server, resigner) = signed_repository(GUN);
    let resigned = resigner.resigned();
    let captured = captured(&server, GUN, &[]);
    // Every document was signed again: none is served as the server signed it.
    for (role, body) in &captured {
        let served = resigned.iter().find(|(name, _)| name == role);
        assert!(served.is_some_and(|(_, served)| served != body), "{role}");
    }
    assert_admitted(&decide(&server, GUN, &resigned), GUN);
}

/// Asserts the re-signed data is admitted and the same data with `role` expired is refused
/// with exactly `detail`: the expiry is then all that refuses it.
fn assert_refused_only_when_expired(
    (server, resigner): &(NotaryServer, Resigner),
    gun: &str,
    role: &str,
    detail: &str,
) {
    assert_admitted(&decide(server, gun, &resigner.resigned()), gun);
    decide(server, gun, &resigner.expired(role)).assert_denied(&refusal(gun, detail));
}

#[test]
fn an_expired_root_is_refused() {
    assert_refused_only_when_expired(
        &signed_repository(GUN),
        GUN,
        "root",
        "error validating trust data: error validating root: root trust data expired",
    );
}

#[test]
fn an_expired_targets_snapshot_or_timestamp_is_refused() {
    let repository = signed_repository(GUN);
    for role in ["targets", "snapshot", "timestamp"] {
        assert_refused_only_when_expired(
            &repository,
            GUN,
            role,
            &format!(
                "error validating trust data: error validating base trust data: {role} trust data expired"
            ),
        );
    }
}

#[test]
fn an_expired_delegation_is_refused() {
    // Only the delegation signs v1: admitting the re-signed data proves the re-signed
    // delegation counts. Connaisseur gives one message for any delegation that does not
    // verify, so that proof is what ties the refusal to the expiry.
    assert_refused_only_when_expired(
        &delegated_repository(DELEGATED),
        DELEGATED,
        RELEASES,
        "error during download and validation of delegations for targets: [\"targets/releases\"]",
    );
}
