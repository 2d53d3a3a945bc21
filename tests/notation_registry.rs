//! Notation verification end to end: images and Notary Project signatures (JWS envelopes
//! signed here with rcgen certificates and aws-lc-rs) pushed to a real `docker-registry`
//! (Debian's distribution 2.8, which has no referrers API, so signatures are found through
//! the referrers tag schema: an OCI index at tag `sha256-<hex>`), configurations in
//! Connaisseur's format, and the admission engine deciding AdmissionReviews.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tastevin::admission::Settings;
use tastevin::config::Config;
use tastevin::registry::manifest::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

use support::decision::{decide_on, engine, Decided};
use support::notation::{cose_bytes, signature_bytes, with_timestamp, Signer};
use support::registry::{Mode, PushedImage, Registry};
use support::tsa::Tsa;

const SIGNATURE_TYPE: &str = "application/vnd.cncf.notary.signature";
const REPOSITORY: &str = "team/app";

/// The descriptor a signature of `pushed` names.
fn target_of(pushed: &PushedImage) -> Value {
    json!({"mediaType": DOCKER_MANIFEST, "digest": pushed.digest, "size": pushed.manifest.len()})
}

/// Stores a signature of `pushed` the way `notation sign` does on a registry without the
/// referrers API: the signature manifest (one envelope layer, `subject` = the image) and
/// the OCI index at tag `sha256-<hex>` listing it.
fn push_signature(registry: &Registry, pushed: &PushedImage, envelope: &[u8], envelope_type: &str) {
    let config = registry.push_blob(REPOSITORY, b"{}");
    let layer = registry.push_blob(REPOSITORY, envelope);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": SIGNATURE_TYPE, "digest": config, "size": 2},
        "layers": [{"mediaType": envelope_type, "digest": layer, "size": envelope.len()}],
        "subject": {"mediaType": DOCKER_MANIFEST, "digest": pushed.digest, "size": pushed.manifest.len()},
    })
    .to_string()
    .into_bytes();
    let digest = tastevin::registry::manifest::sha256_digest(&manifest);
    registry.push_manifest(REPOSITORY, &digest, OCI_MANIFEST, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
                       "artifactType": SIGNATURE_TYPE}],
    })
    .to_string()
    .into_bytes();
    let tag = pushed.digest.replacen(':', "-", 1);
    registry.push_manifest(REPOSITORY, &tag, OCI_INDEX, &index);
}

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

/// A Notation validator for the registry's CA with trust roots `roots`, and one rule.
fn config(registry: &Registry, roots: &[(&str, &Signer)], with: &str) -> String {
    let mut yaml = String::from("validators:\n  - name: signed\n    type: notation\n");
    if let Some(pki) = &registry.pki {
        yaml += &format!("    cert: |\n{}", indent(&pki.ca_pem, 6));
    }
    yaml += "    trustRoots:\n";
    for (name, signer) in roots {
        yaml += &format!(
            "      - name: {name}\n        cert: |\n{}",
            indent(&signer.root_pem, 10)
        );
    }
    yaml += &format!("policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {with}\n");
    yaml
}

fn decide(config: &str, image: &str) -> Decided {
    let config = Config::from_yaml(config).unwrap_or_else(|e| panic!("config: {e:?}\n{config}"));
    let (admission, metrics) = engine(config, Settings::default());
    decide_on(&admission, metrics, image)
}

/// A registry with `team/app:<tag>` signed by `signer` (the envelope passed through `edit`).
fn signed_image(
    registry: &Registry,
    tag: &str,
    signer: &Signer,
    edit: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> (String, PushedImage) {
    let pushed = registry.push_image(REPOSITORY, tag, tag);
    let envelope = edit(signer.envelope(&target_of(&pushed)));
    push_signature(registry, &pushed, &envelope, "application/jose+json");
    (format!("{}/{REPOSITORY}:{tag}", registry.host()), pushed)
}

#[test]
fn signed_images_are_admitted_and_pinned() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::with_ca();
    let (image, pushed) = signed_image(&registry, "v1", &alice, |e| e);
    let decided = decide(&config(&registry, &[("default", &alice)], "{}"), &image);
    decided.assert_pinned(&image, &pushed.digest);

    // By digest: admitted, nothing to pin.
    let by_digest = format!("{}/{REPOSITORY}@{}", registry.host(), pushed.digest);
    let decided = decide(&config(&registry, &[("default", &alice)], "{}"), &by_digest);
    assert!(decided.allowed(), "{}", decided.response);
    assert_eq!(decided.patch(), None);

    // "*" selects every root, among which the right one.
    let bob = Signer::with_ca();
    let roots = [("bob", &bob), ("alice", &alice)];
    let decided = decide(&config(&registry, &roots, "{trustRoot: \"*\"}"), &image);
    decided.assert_pinned(&image, &pushed.digest);
}

#[test]
fn a_self_signed_signing_certificate_as_trust_root_works() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::self_signed();
    let (image, pushed) = signed_image(&registry, "self", &alice, |e| e);
    let decided = decide(&config(&registry, &[("default", &alice)], "{}"), &image);
    decided.assert_pinned(&image, &pushed.digest);
}

#[test]
fn unsigned_images_are_denied() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::with_ca();
    let pushed = registry.push_image(REPOSITORY, "unsigned", "unsigned");
    let image = format!("{}/{REPOSITORY}:unsigned", registry.host());
    let decided = decide(&config(&registry, &[("default", &alice)], "{}"), &image);
    decided.assert_denied(&format!(
        "error during notation validation of image {image}: failed to verify image: no signature is associated with \"{}/{REPOSITORY}@{}\", make sure the artifact was signed successfully",
        registry.host(),
        pushed.digest
    ));

    let missing = format!("{}/{REPOSITORY}:missing", registry.host());
    let decided = decide(&config(&registry, &[("default", &alice)], "{}"), &missing);
    decided.assert_denied(&format!(
        "error during notation validation of image {missing}: failed to resolve image tag: image {missing} does not exist: manifest missing not found in the registry"
    ));
}

#[test]
fn a_wrong_trust_root_is_denied_except_under_audit() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::with_ca();
    let mallory = Signer::with_ca();
    let (image, pushed) = signed_image(&registry, "v1", &mallory, |e| e);
    let roots = [("default", &alice)];
    let prefix = format!(
        "error during notation validation of image {image}: failed to verify image: failed to verify signature of \"{}/{REPOSITORY}@{}\": ",
        registry.host(),
        pushed.digest
    );
    for with in ["{}", "{verificationLevel: permissive}"] {
        let decided = decide(&config(&registry, &roots, with), &image);
        assert!(!decided.allowed(), "{with}: {}", decided.response);
        assert!(
            decided.message().starts_with(&prefix)
                && decided.message().contains("authenticity validation failed"),
            "{with}: {}",
            decided.message()
        );
    }
    let decided = decide(
        &config(&registry, &roots, "{verificationLevel: audit}"),
        &image,
    );
    decided.assert_pinned(&image, &pushed.digest);

    // A rule naming a root the validator lacks.
    let decided = decide(&config(&registry, &roots, "{trustRoot: nope}"), &image);
    decided.assert_denied(&format!(
        "error during notation validation of image {image}: failed to set up trust policy: failed to get trust roots: unable to find trust root nope"
    ));
}

#[test]
fn a_tampered_payload_is_denied_even_under_audit() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::with_ca();
    let other = registry.push_image(REPOSITORY, "other", "other");
    // The signature's payload is swapped for one naming the image itself after signing.
    let (image, _) = signed_image(&registry, "v1", &alice, |envelope| {
        let mut parsed: Value = serde_json::from_slice(&envelope).expect("envelope JSON");
        let forged = json!({"targetArtifact": target_of(&other)});
        parsed["payload"] = json!(URL_SAFE_NO_PAD.encode(forged.to_string()));
        parsed.to_string().into_bytes()
    });
    for with in ["{}", "{verificationLevel: audit}"] {
        let decided = decide(&config(&registry, &[("default", &alice)], with), &image);
        assert!(!decided.allowed(), "{with}: {}", decided.response);
        assert!(
            decided.message().contains("integrity validation failed")
                && decided.message().contains("does not verify"),
            "{with}: {}",
            decided.message()
        );
    }
}

#[test]
fn a_signature_of_another_image_is_denied() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::with_ca();
    let other = registry.push_image(REPOSITORY, "other", "other");
    let pushed = registry.push_image(REPOSITORY, "v1", "v1");
    // Properly signed, but for the other image, and stored as the v1 image's signature.
    push_signature(
        &registry,
        &pushed,
        &alice.envelope(&target_of(&other)),
        "application/jose+json",
    );
    let image = format!("{}/{REPOSITORY}:v1", registry.host());
    let decided = decide(
        &config(
            &registry,
            &[("default", &alice)],
            "{verificationLevel: audit}",
        ),
        &image,
    );
    assert!(!decided.allowed(), "{}", decided.response);
    assert!(
        decided
            .message()
            .contains(&format!("the signature is for {}", other.digest)),
        "{}",
        decided.message()
    );
}

#[test]
fn cose_envelopes_are_verified_and_pinned() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::with_ca();
    let pushed = registry.push_image(REPOSITORY, "cose", "cose");
    let envelope = cose_bytes(alice.cose_sign1(&target_of(&pushed)), None);
    push_signature(&registry, &pushed, &envelope, "application/cose");
    let image = format!("{}/{REPOSITORY}:cose", registry.host());
    let yaml = config(&registry, &[("default", &alice)], "{}");
    decide(&yaml, &image).assert_pinned(&image, &pushed.digest);

    // Signed by a key the trust root does not know: denied.
    let mallory = Signer::with_ca();
    let decided = decide(&config(&registry, &[("default", &mallory)], "{}"), &image);
    assert!(!decided.allowed(), "{}", decided.response);

    // Countersigned by the configured TSA, under a tsa: store.
    let tsa = Tsa::new("rsa:2048");
    let stamped = registry.push_image(REPOSITORY, "cose-ts", "cose-ts");
    let sign1 = alice.cose_sign1(&target_of(&stamped));
    let token = tsa.stamp(&sign1.signature, "sha256");
    push_signature(
        &registry,
        &stamped,
        &cose_bytes(sign1, Some(&token)),
        "application/cose",
    );
    let image = format!("{}/{REPOSITORY}:cose-ts", registry.host());
    decide(&with_ts_cert(&yaml, &tsa), &image).assert_pinned(&image, &stamped.digest);

    // Not CBOR at all: a clear denial.
    let broken = registry.push_image(REPOSITORY, "broken", "broken");
    push_signature(&registry, &broken, b"\xd2\x84", "application/cose");
    let image = format!("{}/{REPOSITORY}:broken", registry.host());
    let decided = decide(&yaml, &image);
    assert!(!decided.allowed(), "{}", decided.response);
    assert!(
        decided
            .message()
            .contains("malformed signature envelope: not a tagged COSE_Sign1"),
        "{}",
        decided.message()
    );
}

/// `yaml` with `tsa`'s root as the `tsCert` of every trust root.
fn with_ts_cert(yaml: &str, tsa: &Tsa) -> String {
    yaml.replace(
        "        cert: |\n",
        &format!(
            "        tsCert: |\n{}        cert: |\n",
            indent(&tsa.root_pem, 10)
        ),
    )
}

#[test]
fn a_timestamp_is_required_with_a_tsa_root_and_a_valid_one_is_admitted() {
    let registry = Registry::start(Mode::Tls);
    let alice = Signer::with_ca();
    let tsa = Tsa::new("ec");
    let (image, pushed) = signed_image(&registry, "v1", &alice, |e| e);
    let yaml = with_ts_cert(&config(&registry, &[("default", &alice)], "{}"), &tsa);
    let decided = decide(&yaml, &image);
    assert!(!decided.allowed(), "{}", decided.response);
    assert!(
        decided
            .message()
            .contains("no timestamp countersignature was found"),
        "{}",
        decided.message()
    );
    let permissive = yaml.replace("with: {}", "with: {verificationLevel: permissive}");
    decide(&permissive, &image).assert_pinned(&image, &pushed.digest);

    // Countersigned by the configured TSA: admitted under strict and pinned.
    let stamped = registry.push_image(REPOSITORY, "v2", "v2");
    let envelope = alice.envelope_value(&target_of(&stamped));
    let token = tsa.stamp(&signature_bytes(&envelope), "sha256");
    push_signature(
        &registry,
        &stamped,
        &with_timestamp(envelope, &token),
        "application/jose+json",
    );
    let image = format!("{}/{REPOSITORY}:v2", registry.host());
    decide(&yaml, &image).assert_pinned(&image, &stamped.digest);

    // Countersigned by another TSA: denied, naming the timestamp authority.
    let other = Tsa::new("rsa:2048");
    let forged = registry.push_image(REPOSITORY, "v3", "v3");
    let envelope = alice.envelope_value(&target_of(&forged));
    let token = other.stamp(&signature_bytes(&envelope), "sha256");
    push_signature(
        &registry,
        &forged,
        &with_timestamp(envelope, &token),
        "application/jose+json",
    );
    let image = format!("{}/{REPOSITORY}:v3", registry.host());
    let decided = decide(&yaml, &image);
    assert!(!decided.allowed(), "{}", decided.response);
    assert!(
        decided
            .message()
            .contains("the timestamp authority is not trusted"),
        "{}",
        decided.message()
    );
}
