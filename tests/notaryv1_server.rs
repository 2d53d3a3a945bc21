//! Notary v1 end to end against a real `notary-server`, with trust data signed by the real
//! `notary` client: a signed tag is pinned to its digest, an unknown tag and a wrong pinned
//! key are refused with Connaisseur's messages, an unknown repository is reported.

mod support;

use std::time::{Duration, Instant};

use tastevin::config::{Config, ValidatorKind};
use tastevin::image_ref::ImageRef;
use tastevin::validators::{validate, Clients, Outcome, Rejection};

use support::notary::{NotaryServer, Signer};

const GUN: &str = "registry.test/app";
const DELEGATED: &str = "registry.test/delegated";
const OTHER_HEX: &str = "0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff0";
const HEX: &str = "a220cff1b3a4c1aa4ba4b6e4d4a7d2bfae9a4d8e4f1c2b3a4d5e6f708192a3b4";

fn notary_config(server: &NotaryServer, key_pem: &str) -> Config {
    notary_config_with(server, key_pem, "{}")
}

fn notary_config_with(server: &NotaryServer, key_pem: &str, with: &str) -> Config {
    let indent = |text: &str, by: usize| -> String {
        text.lines()
            .map(|line| format!("{}{line}\n", " ".repeat(by)))
            .collect()
    };
    let text = format!(
        "validators:\n- name: nv1\n  type: notaryv1\n  host: {}\n  cert: |\n{}  trustRoots:\n  - name: default\n    key: |\n{}policy:\n- pattern: \"*:*\"\n  validator: nv1\n  with: {with}\n",
        server.url(),
        indent(&server.pki.ca_pem, 4),
        indent(key_pem, 6)
    );
    Config::from_yaml(&text).unwrap_or_else(|e| panic!("{text}\n{e:?}"))
}

fn check(config: &Config, image: &str) -> Outcome {
    let validator = config.validator("nv1").expect("validator");
    assert!(matches!(validator.kind, ValidatorKind::NotaryV1(_)));
    let rule = config.rules().first().expect("rule");
    let image = ImageRef::parse(image).expect("image");
    let clients = Clients::new(std::env::temp_dir());
    validate(
        validator,
        rule,
        &image,
        Instant::now() + Duration::from_secs(20),
        &clients,
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
