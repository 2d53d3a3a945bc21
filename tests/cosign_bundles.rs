//! cosign 3 signatures end to end: Sigstore bundles (v0.3, DSSE over the `cosign sign`
//! in-toto statement) made by the test with its own key, Fulcio and Rekor (a Merkle tree, a
//! signed checkpoint, an inclusion promise), stored as referrers of the image on a real
//! `docker-registry` (Debian's distribution 2.8 has no referrers API: the referrers tag
//! schema), and the admission engine deciding through the real registry client.

mod support;

use tastevin::admission::Settings;
use tastevin::config::Config;

use support::cosign::{layer, payload, Signer};
use support::decision::{decide_on, engine, Decided};
use support::fulcio::Fulcio;
use support::registry::{Mode, PushedImage, Registry};
use support::sigstore::{
    bundle, dsse_entry, message_bundle, push_bundles, signature_of, statement, trusted_root,
    trusted_root_with_tsa, with_timestamp, BundleSigner, Logging, TestRekor, SIGN_PREDICATE,
};
use support::tsa::Tsa;

const REPOSITORY: &str = "team/app";
const GITHUB: &str = "https://github.com/login/oauth";

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

/// A cosign validator with key roots `keys`, a keyless root `alice` (GitHub identity
/// alice@…) when `fulcio` is given, `rekor` as its log, and one rule with `with`.
fn config(
    registry: &Registry,
    keys: &[(&str, &Signer)],
    fulcio: Option<&Fulcio>,
    rekor: &TestRekor,
    with: &str,
) -> String {
    let mut yaml = String::from("validators:\n  - name: signed\n    type: cosign\n");
    if let Some(pki) = &registry.pki {
        yaml += &format!("    cert: |\n{}", indent(&pki.ca_pem, 6));
    }
    yaml += &format!(
        "    host:\n      rekorPubkey: |\n{}",
        indent(&rekor.public_key_pem(), 8)
    );
    if let Some(fulcio) = fulcio {
        yaml += &format!(
            "      ctLogPubkey: |\n{}      fulcioCert: |\n{}",
            indent(&fulcio.ct_log.public_key_pem(), 8),
            // A v0.3 bundle holds the leaf only: the intermediate comes from the
            // configuration, as from a trusted root.
            indent(&fulcio.chain_pem(), 8),
        );
    }
    yaml += "    trustRoots:\n";
    for (name, signer) in keys {
        yaml += &format!(
            "      - name: {name}\n        key: |\n{}",
            indent(&signer.public_key_pem(), 10)
        );
    }
    if fulcio.is_some() {
        yaml += "      - name: alice\n        keyless:\n          issuer: https://github.com/login/oauth\n          subjectRegex: alice\n";
    }
    yaml += &format!("policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {with}\n");
    yaml
}

fn decide(config: &str, image: &str) -> Decided {
    let config = Config::from_yaml(config).unwrap_or_else(|e| panic!("config: {e:?}\n{config}"));
    let (admission, metrics) = engine(config, Settings::default());
    decide_on(&admission, metrics, image)
}

/// A fresh image at `tag` with `bundles` attached; its reference and what was pushed.
fn image_with(registry: &Registry, tag: &str, bundles: &[Vec<u8>]) -> (String, PushedImage) {
    let pushed = registry.push_image(REPOSITORY, tag, tag);
    if !bundles.is_empty() {
        push_bundles(registry, REPOSITORY, &pushed, bundles);
    }
    (format!("{}/{REPOSITORY}:{tag}", registry.host()), pushed)
}

/// The statement `cosign sign` makes for the image that `tag` will hold once pushed.
fn sign_statement(registry: &Registry, pushed: &PushedImage) -> Vec<u8> {
    statement(
        &format!("{}/{REPOSITORY}", registry.host()),
        &pushed.digest,
        SIGN_PREDICATE,
    )
}

fn assert_denied_with(decided: &Decided, reason: &str) {
    assert!(!decided.allowed(), "admitted: {}", decided.response);
    assert!(
        decided.message().contains(reason),
        "expected {reason:?} in: {}",
        decided.message()
    );
}

#[test]
fn a_key_signed_bundle_found_by_the_referrers_tag_schema_admits_and_pins() {
    let registry = Registry::start(Mode::Tls);
    let (alice, mut rekor) = (Signer::p256(), TestRekor::new());
    let pushed = registry.push_image(REPOSITORY, "v1", "bundle");
    let image = format!("{}/{REPOSITORY}:v1", registry.host());
    let signed = bundle(
        &BundleSigner::Key(&alice),
        &sign_statement(&registry, &pushed),
        Some((&mut rekor, Logging::Honest)),
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[signed]);
    let policy = config(
        &registry,
        &[("alice", &alice)],
        None,
        &rekor,
        "{trustRoot: alice}",
    );
    decide(&policy, &image).assert_pinned(&image, &pushed.digest);

    // Without the log the same bundle verifies on its signature alone.
    let offline = config(
        &registry,
        &[("alice", &alice)],
        None,
        &rekor,
        "{trustRoot: alice, verifyInTransparencyLog: false}",
    );
    decide(&offline, &image).assert_pinned(&image, &pushed.digest);

    // Another key's root finds nothing of its own.
    let bob = Signer::p256();
    let by_bob = config(
        &registry,
        &[("bob", &bob)],
        None,
        &rekor,
        "{trustRoot: bob}",
    );
    let denied = decide(&by_bob, &image);
    assert_denied_with(&denied, "no matching signatures: bundle sha256:");
}

#[test]
fn a_keyless_bundle_is_checked_at_its_integrated_time_for_the_expected_identity() {
    let registry = Registry::start(Mode::Tls);
    let (fulcio, mut rekor) = (Fulcio::new(), TestRekor::new());
    let pushed = registry.push_image(REPOSITORY, "keyless", "keyless");
    let image = format!("{}/{REPOSITORY}:keyless", registry.host());
    let leaf = fulcio.issue("alice@example.org", GITHUB);
    let signer = BundleSigner::Keyless(&leaf);
    let signed = bundle(
        &signer,
        &sign_statement(&registry, &pushed),
        Some((&mut rekor, Logging::Honest)),
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[signed]);
    let policy = config(&registry, &[], Some(&fulcio), &rekor, "{trustRoot: alice}");
    decide(&policy, &image).assert_pinned(&image, &pushed.digest);

    // The certificate lived ten minutes in 2023: checked now, without the log, it expired.
    let offline = config(
        &registry,
        &[],
        Some(&fulcio),
        &rekor,
        "{trustRoot: alice, verifyInTransparencyLog: false}",
    );
    assert_denied_with(&decide(&offline, &image), "certificate is not valid");

    // Another identity.
    let mallory_leaf = fulcio.issue("mallory@example.org", GITHUB);
    let mallory = BundleSigner::Keyless(&mallory_leaf);
    let pushed_m = registry.push_image(REPOSITORY, "mallory", "mallory");
    let signed_m = bundle(
        &mallory,
        &sign_statement(&registry, &pushed_m),
        Some((&mut rekor, Logging::Honest)),
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed_m, &[signed_m]);
    let image_m = format!("{}/{REPOSITORY}:mallory", registry.host());
    assert_denied_with(
        &decide(&policy, &image_m),
        "none of the expected identities matched",
    );

    // Without an inclusion promise the integrated time is not signed: not relied on.
    let pushed_p = registry.push_image(REPOSITORY, "no-promise", "no-promise");
    let signed_p = bundle(
        &signer,
        &sign_statement(&registry, &pushed_p),
        Some((&mut rekor, Logging::NoPromise)),
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed_p, &[signed_p]);
    let image_p = format!("{}/{REPOSITORY}:no-promise", registry.host());
    assert_denied_with(&decide(&policy, &image_p), "has no inclusion promise");
}

#[test]
fn forged_or_misattached_bundles_are_denied_with_their_reason() {
    let registry = Registry::start(Mode::Tls);
    let (alice, mut rekor) = (Signer::p256(), TestRekor::new());
    let alice_signer = BundleSigner::Key(&alice);
    let policy = |rekor: &TestRekor| {
        config(
            &registry,
            &[("alice", &alice)],
            None,
            rekor,
            "{trustRoot: alice}",
        )
    };

    // A bundle made for another image, attached to this one.
    let other = registry.push_image(REPOSITORY, "other", "other");
    let for_other = bundle(
        &alice_signer,
        &sign_statement(&registry, &other),
        Some((&mut rekor, Logging::Honest)),
        None,
    );
    let (image, _) = image_with(&registry, "misattached", &[for_other]);
    assert_denied_with(
        &decide(&policy(&rekor), &image),
        "in-toto statement has no subject with the image's digest",
    );

    // The statement changed after signing.
    let pushed = registry.push_image(REPOSITORY, "tampered", "tampered");
    let honest = sign_statement(&registry, &pushed);
    let signed = bundle(
        &alice_signer,
        &honest,
        Some((&mut rekor, Logging::Honest)),
        None,
    );
    let mut tampered: serde_json::Value = serde_json::from_slice(&signed).expect("bundle");
    let mut statement_value: serde_json::Value = serde_json::from_slice(&honest).expect("stmt");
    statement_value["subject"][0]["name"] = "evil.test/app".into();
    let forged = base64_of(statement_value.to_string().as_bytes());
    tampered["dsseEnvelope"]["payload"] = forged.into();
    push_bundles(
        &registry,
        REPOSITORY,
        &pushed,
        &[tampered.to_string().into_bytes()],
    );
    let image = format!("{}/{REPOSITORY}:tampered", registry.host());
    assert_denied_with(
        &decide(&policy(&rekor), &image),
        "DSSE envelope signature: invalid signature",
    );

    // The log entry records another signature (of the same key over other bytes).
    let pushed = registry.push_image(REPOSITORY, "other-entry", "other-entry");
    let elsewhere = dsse_entry(
        b"{}",
        b"other payload",
        &alice.sign(b"x"),
        &alice.public_key_pem(),
    );
    let signed = bundle(
        &alice_signer,
        &sign_statement(&registry, &pushed),
        Some((&mut rekor, Logging::Honest)),
        Some(elsewhere),
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[signed]);
    let image = format!("{}/{REPOSITORY}:other-entry", registry.host());
    assert_denied_with(
        &decide(&policy(&rekor), &image),
        "transparency log entry records another payload hash",
    );

    // The inclusion proof does not reach the signed checkpoint.
    let pushed = registry.push_image(REPOSITORY, "short-proof", "short-proof");
    let signed = bundle(
        &alice_signer,
        &sign_statement(&registry, &pushed),
        Some((&mut rekor, Logging::CheckpointOfAnotherTree)),
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[signed]);
    let image = format!("{}/{REPOSITORY}:short-proof", registry.host());
    assert_denied_with(
        &decide(&policy(&rekor), &image),
        "other than the signed checkpoint's",
    );

    // Logged in another log than the configured one.
    let mut elsewhere_log = TestRekor::new();
    let pushed = registry.push_image(REPOSITORY, "other-log", "other-log");
    let signed = bundle(
        &alice_signer,
        &sign_statement(&registry, &pushed),
        Some((&mut elsewhere_log, Logging::Honest)),
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[signed]);
    let image = format!("{}/{REPOSITORY}:other-log", registry.host());
    assert_denied_with(
        &decide(&policy(&rekor), &image),
        "which is not the configured Rekor key's log",
    );

    // An attestation (provenance) by the same key is not an image signature.
    let pushed = registry.push_image(REPOSITORY, "attested", "attested");
    let provenance = statement(
        &format!("{}/{REPOSITORY}", registry.host()),
        &pushed.digest,
        "https://slsa.dev/provenance/v1",
    );
    let attestation = bundle(
        &alice_signer,
        &provenance,
        Some((&mut rekor, Logging::Honest)),
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[attestation]);
    let image = format!("{}/{REPOSITORY}:attested", registry.host());
    assert_denied_with(
        &decide(&policy(&rekor), &image),
        "is an attestation, not an image signature",
    );

    // Garbage where a bundle should be.
    let (image, _) = image_with(&registry, "garbage", &[b"{\"mediaType\": 1}".to_vec()]);
    assert_denied_with(
        &decide(&policy(&rekor), &image),
        "malformed Sigstore bundle",
    );
}

#[test]
fn cosign_2_and_cosign_3_signatures_count_towards_one_threshold() {
    let registry = Registry::start(Mode::Tls);
    let (alice, bob, rekor) = (Signer::p256(), Signer::p256(), TestRekor::new());
    let pushed = registry.push_image(REPOSITORY, "both", "both");
    let image = format!("{}/{REPOSITORY}:both", registry.host());
    // alice signed with cosign 2 (.sig tag, no Rekor bundle), bob with cosign 3 (a bundle).
    registry.push_signatures(
        REPOSITORY,
        &pushed.digest,
        &[layer(&alice, &payload(&image, &pushed.digest), None)],
    );
    let by_bob = bundle(
        &BundleSigner::Key(&bob),
        &sign_statement(&registry, &pushed),
        None,
        None,
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[by_bob]);
    let roots = [("alice", &alice), ("bob", &bob)];
    let both = config(
        &registry,
        &roots,
        None,
        &rekor,
        "{trustRoot: \"*\", threshold: 2, verifyInTransparencyLog: false}",
    );
    decide(&both, &image).assert_pinned(&image, &pushed.digest);
    let required = config(
        &registry,
        &roots,
        None,
        &rekor,
        "{trustRoot: \"*\", required: [bob], verifyInTransparencyLog: false}",
    );
    decide(&required, &image).assert_pinned(&image, &pushed.digest);
    // With the log on, bob's unlogged bundle does not count.
    let logged = config(
        &registry,
        &roots,
        None,
        &rekor,
        "{trustRoot: \"*\", required: [bob]}",
    );
    assert_denied_with(
        &decide(&logged, &image),
        "missing required signatures from [bob]",
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `sigstore` verifier from PyPI that scripts/test installs (pinned), to check that the
/// bundles made here are what an independent implementation accepts.
fn independent_verifier() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/sigstore-verify/bin/sigstore");
    assert!(
        path.exists(),
        "{} is missing: scripts/test installs the independent verifier (pip install sigstore)",
        path.display()
    );
    path
}

/// A Sigstore client trust configuration naming the test's Fulcio, CT log and Rekor.
fn trust_config(fulcio: &Fulcio, rekor: &TestRekor) -> serde_json::Value {
    let since = serde_json::json!({"start": "2020-01-01T00:00:00Z"});
    let service = |url: &str| serde_json::json!({"url": url, "majorApiVersion": 1, "validFor": since, "operator": "tastevin.test"});
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": trusted_root(fulcio, &rekor.key),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service("https://fulcio.tastevin.test")],
            "oidcUrls": [],
            "rekorTlogUrls": [service("https://rekor.tastevin.test")],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    })
}

/// Runs the independent verifier on `bundle` for `digest` and the identity alice@….
fn independently_verified(
    dir: &support::TempDir,
    config: &serde_json::Value,
    bundle: &[u8],
    digest: &str,
) -> Result<(), String> {
    let config_path = dir.path().join("trust_config.json");
    let bundle_path = dir.path().join("bundle.sigstore.json");
    std::fs::write(&config_path, config.to_string()).expect("write trust config");
    std::fs::write(&bundle_path, bundle).expect("write bundle");
    let output = std::process::Command::new(independent_verifier())
        .arg("--trust-config")
        .arg(&config_path)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&bundle_path)
        .args([
            "--cert-identity",
            "alice@example.org",
            "--cert-oidc-issuer",
            GITHUB,
            digest,
        ])
        .output()
        .expect("run the sigstore verifier");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
fn an_independent_verifier_agrees_on_the_bundles_made_here() {
    let registry = Registry::start(Mode::Tls);
    let (fulcio, mut rekor) = (Fulcio::new(), TestRekor::new());
    let pushed = registry.push_image(REPOSITORY, "cross", "cross");
    let image = format!("{}/{REPOSITORY}:cross", registry.host());
    let leaf = fulcio.issue("alice@example.org", GITHUB);
    let signer = BundleSigner::Keyless(&leaf);
    let signed = bundle(
        &signer,
        &sign_statement(&registry, &pushed),
        Some((&mut rekor, Logging::Honest)),
        None,
    );
    push_bundles(
        &registry,
        REPOSITORY,
        &pushed,
        std::slice::from_ref(&signed),
    );
    let policy = config(&registry, &[], Some(&fulcio), &rekor, "{trustRoot: alice}");
    decide(&policy, &image).assert_pinned(&image, &pushed.digest);

    let dir = support::TempDir::new();
    let trust = trust_config(&fulcio, &rekor);
    independently_verified(&dir, &trust, &signed, &pushed.digest)
        .unwrap_or_else(|e| panic!("sigstore (PyPI) refused the bundle tastevin admits: {e}"));
    // Both refuse it for another digest.
    let other = registry.push_image(REPOSITORY, "cross-other", "cross-other");
    assert!(independently_verified(&dir, &trust, &signed, &other.digest).is_err());
}

/// The real bundle scripts/test fetches: the `sigstore` crate's test data, a cosign 3
/// signature of a kubewarden image made in GitHub Actions on 2026-04-09 against the
/// public-good instance.
const REAL_DIGEST: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const REAL_IDENTITY: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

fn real_bundle() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/sigstore-fixtures/bundle_v03.json");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: scripts/test fetches it (the sigstore crate's test data)",
            path.display()
        )
    })
}

/// A keyless root for `subject` from GitHub Actions, with no `host.*`: the embedded
/// public-good trusted root.
fn public_good_verifier(subject: &str) -> tastevin::validators::cosign::CosignVerifier {
    use tastevin::config::ValidatorKind;
    let yaml = format!(
        "validators:\n  - name: sig\n    type: cosign\n    trustRoots:\n      - name: ci\n        keyless:\n          issuer: https://token.actions.githubusercontent.com\n          subject: {subject}\npolicy:\n  - pattern: \"*\"\n    validator: sig\n    with: {{trustRoot: ci}}\n"
    );
    let config = Config::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let rule = config.rules().first().expect("a rule");
    match config.validator("sig").map(|v| &v.kind) {
        Some(ValidatorKind::Cosign(cosign)) => {
            tastevin::validators::cosign::CosignVerifier::from_config("sig", cosign, &rule.with)
                .unwrap_or_else(|e| panic!("{e}"))
        }
        other => panic!("not a cosign validator: {other:?}"),
    }
}

#[test]
fn a_real_public_good_bundle_verifies_offline_against_the_embedded_trusted_root() {
    use tastevin::validators::cosign::StoredBundle;
    let stored = |bytes: Vec<u8>| StoredBundle {
        manifest_digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
            .to_owned(),
        bytes,
    };
    let real = real_bundle();
    let verifier = public_good_verifier(REAL_IDENTITY);
    let verified = verifier
        .verify(&[], &[stored(real.clone())], REAL_DIGEST)
        .unwrap_or_else(|e| panic!("the real bundle does not verify: {e}"));
    assert_eq!(verified.digest, REAL_DIGEST);

    // Not for another image.
    let other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let refused = verifier
        .verify(&[], &[stored(real.clone())], other)
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("no subject with the image's digest"),
        "{refused}"
    );
    // Not for another identity.
    let elsewhere = public_good_verifier(
        "https://github.com/evil/evil/.github/workflows/x.yml@refs/heads/main",
    );
    let refused = elsewhere
        .verify(&[], &[stored(real.clone())], REAL_DIGEST)
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("none of the expected identities matched"),
        "{refused}"
    );
    // Not with a flipped bit in the log's inclusion proof.
    let mut bundle: serde_json::Value = serde_json::from_slice(&real).expect("bundle JSON");
    let entry = &mut bundle["verificationMaterial"]["tlogEntries"][0];
    let hashes = entry["inclusionProof"]["hashes"]
        .as_array_mut()
        .expect("hashes");
    let first = hashes[0].as_str().expect("hash").to_owned();
    let mut decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, first).expect("base64");
    decoded[0] ^= 1;
    hashes[0] = base64_of(&decoded).into();
    let refused = verifier
        .verify(&[], &[stored(bundle.to_string().into_bytes())], REAL_DIGEST)
        .unwrap_err();
    assert!(refused.to_string().contains("inclusion"), "{refused}");
}

/// A cosign validator whose whole Sigstore trust is the trusted root at `root_file`, with the
/// keyless root `alice`.
fn config_with_trusted_root(registry: &Registry, root_file: &std::path::Path) -> String {
    let mut yaml = String::from("validators:\n  - name: signed\n    type: cosign\n");
    if let Some(pki) = &registry.pki {
        yaml += &format!("    cert: |\n{}", indent(&pki.ca_pem, 6));
    }
    yaml += &format!("    host:\n      trustedRoot: {}\n", root_file.display());
    yaml += "    trustRoots:\n      - name: alice\n        keyless:\n          issuer: https://github.com/login/oauth\n          subjectRegex: alice\n";
    yaml += "policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {trustRoot: alice}\n";
    yaml
}

/// A fresh image at `tag` with one keyless bundle by `leaf`, logged without an inclusion
/// promise, stamped by `tsa` over its signature (or over `stamp_over`); its reference.
fn stamped_image(
    registry: &Registry,
    rekor: &mut TestRekor,
    tsa: &Tsa,
    leaf: &support::fulcio::Leaf,
    tag: &str,
    stamp_over: Option<&[u8]>,
) -> (String, PushedImage) {
    let pushed = registry.push_image(REPOSITORY, tag, tag);
    let unstamped = bundle(
        &BundleSigner::Keyless(leaf),
        &sign_statement(registry, &pushed),
        Some((rekor, Logging::NoPromise)),
        None,
    );
    let stamped_bytes = stamp_over.map_or_else(|| signature_of(&unstamped), <[u8]>::to_vec);
    let stamped = with_timestamp(&unstamped, &tsa.response(&stamped_bytes));
    push_bundles(registry, REPOSITORY, &pushed, &[stamped]);
    (format!("{}/{REPOSITORY}:{tag}", registry.host()), pushed)
}

#[test]
fn an_rfc3161_timestamp_from_a_trusted_tsa_signs_when_a_keyless_bundle_was_made() {
    let registry = Registry::start(Mode::Tls);
    let (fulcio, mut rekor, tsa) = (Fulcio::new(), TestRekor::new(), Tsa::new("ec"));
    // A certificate valid now, a log entry without an inclusion promise (as Rekor v2
    // writes them): only the TSA's stamp says when the certificate was used.
    let leaf = fulcio.issue_now("alice@example.org", GITHUB);
    let (image, pushed) = stamped_image(&registry, &mut rekor, &tsa, &leaf, "stamped", None);
    let dir = support::TempDir::new();
    let with_tsa = dir.path().join("with-tsa.json");
    let root = trusted_root_with_tsa(
        &fulcio,
        &rekor.key,
        Some((&tsa.signer_pem(), &tsa.root_pem)),
    );
    std::fs::write(&with_tsa, root.to_string()).expect("write trusted root");
    let trusting_the_tsa = config_with_trusted_root(&registry, &with_tsa);
    decide(&trusting_the_tsa, &image).assert_pinned(&image, &pushed.digest);

    // The same bundle when the trusted root has no such TSA: the stamp is refused.
    let without_tsa = dir.path().join("without-tsa.json");
    std::fs::write(&without_tsa, trusted_root(&fulcio, &rekor.key).to_string())
        .expect("write trusted root");
    assert_denied_with(
        &decide(&config_with_trusted_root(&registry, &without_tsa), &image),
        "RFC 3161 timestamp: ",
    );

    // A stamp over other bytes than the signature.
    let (image, _) = stamped_image(
        &registry,
        &mut rekor,
        &tsa,
        &leaf,
        "stamped-other",
        Some(b"other bytes"),
    );
    assert_denied_with(
        &decide(&trusting_the_tsa, &image),
        "the timestamp token is for other data",
    );

    // A certificate that had expired when the TSA stamped it.
    let old_leaf = fulcio.issue("alice@example.org", GITHUB);
    let (image, _) = stamped_image(&registry, &mut rekor, &tsa, &old_leaf, "stamped-late", None);
    assert_denied_with(&decide(&trusting_the_tsa, &image), "certificate expired");
}

#[test]
fn a_message_signature_over_the_image_manifest_counts_when_logged_and_for_this_digest() {
    let registry = Registry::start(Mode::Tls);
    let (alice, mut rekor) = (Signer::p256(), TestRekor::new());
    let policy = config(
        &registry,
        &[("alice", &alice)],
        None,
        &rekor,
        "{trustRoot: alice}",
    );
    let pushed = registry.push_image(REPOSITORY, "message", "message");
    let image = format!("{}/{REPOSITORY}:message", registry.host());
    let signed = message_bundle(
        &BundleSigner::Key(&alice),
        &pushed.manifest,
        Some((&mut rekor, Logging::Honest)),
    );
    push_bundles(&registry, REPOSITORY, &pushed, &[signed]);
    decide(&policy, &image).assert_pinned(&image, &pushed.digest);

    // Signed for another image's manifest.
    let other = registry.push_image(REPOSITORY, "message-other", "message-other");
    let for_other = message_bundle(
        &BundleSigner::Key(&alice),
        &other.manifest,
        Some((&mut rekor, Logging::Honest)),
    );
    let (image, _) = image_with(&registry, "message-misattached", &[for_other]);
    assert_denied_with(
        &decide(&policy, &image),
        &format!(
            "the message signature signs {}, not the image's digest",
            other.digest
        ),
    );

    // Not logged while the log is required.
    let unlogged = registry.push_image(REPOSITORY, "message-unlogged", "message-unlogged");
    let signed = message_bundle(&BundleSigner::Key(&alice), &unlogged.manifest, None);
    push_bundles(&registry, REPOSITORY, &unlogged, &[signed]);
    let image = format!("{}/{REPOSITORY}:message-unlogged", registry.host());
    assert_denied_with(
        &decide(&policy, &image),
        "bundle has no transparency log entry",
    );
}
