//! cosign keyless verification end to end: a Fulcio-like CA, CT log and Rekor made by the
//! test, images and keyless signatures pushed to a real `docker-registry`, and the
//! admission engine deciding AdmissionReviews through the real registry client.

mod support;

use tastevin::admission::Settings;
use tastevin::config::Config;

use support::cosign::{layer, payload, Signer};
use support::decision::{decide_on, engine, Decided};
use support::fulcio::Fulcio;
use support::registry::{Mode, Registry};
use support::sigstore::trusted_root;

const GITHUB: &str = "https://github.com/login/oauth";

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

/// A cosign validator trusting `fulcio`, its CT log and `rekor`, with `roots` (YAML list
/// items, already indented) and one rule with `with`.
fn config(registry: &Registry, fulcio: &Fulcio, rekor: &Signer, roots: &str, with: &str) -> String {
    let mut yaml = String::from("validators:\n  - name: signed\n    type: cosign\n");
    if let Some(pki) = &registry.pki {
        yaml += &format!("    cert: |\n{}", indent(&pki.ca_pem, 6));
    }
    yaml += &format!(
        "    host:\n      rekorPubkey: |\n{}      ctLogPubkey: |\n{}      fulcioCert: |\n{}",
        indent(&rekor.public_key_pem(), 8),
        indent(&fulcio.ct_log.public_key_pem(), 8),
        indent(&fulcio.root_pem, 8),
    );
    yaml += &format!("    trustRoots:\n{roots}");
    yaml += &format!("policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {with}\n");
    yaml
}

const ALICE_ROOT: &str =
    "      - name: alice-keyless\n        keyless:\n          issuerRegex: github\n          subjectRegex: alice\n";
const BOB_ROOT: &str =
    "      - name: bob-keyless\n        keyless:\n          issuerRegex: google\n          subject: bob@gmail.com\n";

fn decide(config: &str, image: &str) -> Decided {
    let config = Config::from_yaml(config).unwrap_or_else(|e| panic!("config: {e:?}\n{config}"));
    let (admission, metrics) = engine(config, Settings::default());
    decide_on(&admission, metrics, image)
}

#[test]
fn keyless_signatures_are_admitted_and_pinned_for_the_expected_identity_only() {
    let registry = Registry::start(Mode::Tls);
    let (fulcio, rekor) = (Fulcio::new(), Signer::p256());
    let pushed = registry.push_image("team/app", "v1", "keyless");
    let image = format!("{}/team/app:v1", registry.host());
    let leaf = fulcio.issue("alice@example.org", GITHUB);
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[leaf.layer(&fulcio, &payload(&image, &pushed.digest), &rekor)],
    );
    let roots = format!("{ALICE_ROOT}{BOB_ROOT}");

    let admitted = decide(
        &config(
            &registry,
            &fulcio,
            &rekor,
            &roots,
            "{trustRoot: alice-keyless}",
        ),
        &image,
    );
    admitted.assert_pinned(&image, &pushed.digest);

    let denied = decide(
        &config(
            &registry,
            &fulcio,
            &rekor,
            &roots,
            "{trustRoot: bob-keyless}",
        ),
        &image,
    );
    denied.assert_denied(&format!(
        "error during cosign validation of image {image}: error validating image: [no matching signatures: signature 1: none of the expected identities matched what was in the certificate, got subjects [alice@example.org] with issuer {GITHUB}]"
    ));

    // A certificate from another CA with the same identity is not trusted.
    let impostor = Fulcio::new();
    let forged = registry.push_image("team/app", "forged", "forged");
    let forged_image = format!("{}/team/app:forged", registry.host());
    let forged_leaf = impostor.issue("alice@example.org", GITHUB);
    registry.push_signatures(
        "team/app",
        &forged.digest,
        &[forged_leaf.layer(&impostor, &payload(&forged_image, &forged.digest), &rekor)],
    );
    let refused = decide(
        &config(
            &registry,
            &fulcio,
            &rekor,
            &roots,
            "{trustRoot: alice-keyless}",
        ),
        &forged_image,
    );
    assert!(!refused.allowed(), "{}", refused.response);
    assert!(
        refused
            .message()
            .ends_with("signature 1: certificate is not valid for code signing under the Fulcio roots (host.fulcioCert or the trusted root) at Unix time 1700000000: not issued by a configured Fulcio root]"),
        "{}",
        refused.message()
    );
}

#[test]
fn key_and_keyless_roots_together_under_all_roots() {
    let registry = Registry::start(Mode::Tls);
    let (fulcio, rekor, carol) = (Fulcio::new(), Signer::p256(), Signer::p256());
    let roots = format!(
        "{ALICE_ROOT}      - name: carol\n        key: |\n{}",
        indent(&carol.public_key_pem(), 10)
    );
    let all = config(&registry, &fulcio, &rekor, &roots, "{trustRoot: \"*\"}");

    let both = registry.push_image("team/app", "both", "both");
    let both_image = format!("{}/team/app:both", registry.host());
    let signed = payload(&both_image, &both.digest);
    registry.push_signatures(
        "team/app",
        &both.digest,
        &[
            layer(&carol, &signed, Some(&rekor)),
            fulcio
                .issue("alice@example.org", GITHUB)
                .layer(&fulcio, &signed, &rekor),
        ],
    );
    decide(&all, &both_image).assert_pinned(&both_image, &both.digest);

    let key_only = registry.push_image("team/app", "key-only", "key-only");
    let key_only_image = format!("{}/team/app:key-only", registry.host());
    registry.push_signatures(
        "team/app",
        &key_only.digest,
        &[layer(
            &carol,
            &payload(&key_only_image, &key_only.digest),
            Some(&rekor),
        )],
    );
    decide(&all, &key_only_image).assert_denied(&format!(
        "error during cosign validation of image {key_only_image}: validation threshold not reached (1/2)"
    ));
}

#[test]
fn keyless_roots_without_host_values_trust_the_public_good_or_the_given_trusted_root() {
    let registry = Registry::start(Mode::Tls);
    let (fulcio, rekor) = (Fulcio::new(), Signer::p256());
    let pushed = registry.push_image("team/app", "v1", "nohost");
    let image = format!("{}/team/app:v1", registry.host());
    let leaf = fulcio.issue("alice@example.org", GITHUB);
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[leaf.layer(&fulcio, &payload(&image, &pushed.digest), &rekor)],
    );
    let dir = support::TempDir::new();
    let root_file = dir.path().join("trusted_root.json");
    std::fs::write(&root_file, trusted_root(&fulcio, &rekor).to_string()).expect("write root");
    let config = |host: &str| {
        let mut yaml = String::from("validators:\n  - name: signed\n    type: cosign\n");
        if let Some(pki) = &registry.pki {
            yaml += &format!("    cert: |\n{}", indent(&pki.ca_pem, 6));
        }
        yaml += &format!("{host}    trustRoots:\n{ALICE_ROOT}");
        yaml += "policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {trustRoot: alice-keyless}\n";
        yaml
    };
    // The embedded public-good root: neither this Rekor nor this Fulcio is in it.
    decide(&config(""), &image).assert_denied(&format!(
        "error during cosign validation of image {image}: error validating image: [no matching signatures: signature 1: Rekor bundle is from log {}, which is not the configured Rekor key's log]",
        rekor.log_id()
    ));
    // A private instance's trusted root, from a file: its Fulcio, CT log and Rekor.
    let private = config(&format!(
        "    host:\n      trustedRoot: {}\n",
        root_file.display()
    ));
    decide(&private, &image).assert_pinned(&image, &pushed.digest);
    // A file that is no trusted root is a configuration error.
    std::fs::write(&root_file, "{}").expect("write root");
    let refused = Config::from_yaml(&private).expect_err("a broken trusted root");
    assert!(
        format!("{refused:?}").contains("host.trustedRoot"),
        "{refused:?}"
    );
}
