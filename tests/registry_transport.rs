//! How tastevin reaches a registry is the configuration's choice, never a guess: plain HTTP
//! only to the hosts a validator lists in `plainHttpRegistries`, and a self-signed registry
//! only when its certificate is the validator's `cert`. Real `docker-registry` servers, the
//! real admission engine, a cosign-signed image on each.

mod support;

use tastevin::admission::Settings;
use tastevin::config::Config;

use support::cosign::{layer, payload, Signer};
use support::decision::{decide_on, engine, pinned, Decided};
use support::registry::{Mode, Registry};

/// A registry with `team/app:v1` signed by `signer`; the image reference and its digest.
fn signed_image(registry: &Registry, signer: &Signer) -> (String, String) {
    let pushed = registry.push_image("team/app", "v1", "transport");
    let image = format!("{}/team/app:v1", registry.host());
    registry.push_signatures(
        "team/app",
        &pushed.digest,
        &[layer(signer, &payload(&image, &pushed.digest), None)],
    );
    (image, pushed.digest)
}

/// One cosign validator for `*` with `extra` validator lines (already indented).
fn config(signer: &Signer, extra: &str) -> String {
    let key: String = signer
        .public_key_pem()
        .lines()
        .map(|line| format!("          {line}\n"))
        .collect();
    format!(
        "validators:\n  - name: signed\n    type: cosign\n{extra}    trustRoots:\n      - name: default\n        key: |\n{key}policy:\n  - pattern: \"*\"\n    validator: signed\n    with: {{verifyInTransparencyLog: false}}\n"
    )
}

fn decide(config: &str, image: &str) -> Decided {
    let config = Config::from_yaml(config).unwrap_or_else(|e| panic!("config: {e:?}\n{config}"));
    let (admission, metrics) = engine(config, Settings::default());
    decide_on(&admission, metrics, image)
}

#[test]
fn plain_http_only_to_the_registries_the_validator_lists() {
    let registry = Registry::start(Mode::Plain);
    let signer = Signer::p256();
    let (image, digest) = signed_image(&registry, &signer);
    let port = registry.addr.port();

    for listed in [format!("127.0.0.1:{port}"), "127.0.0.1".to_string()] {
        let decided = decide(
            &config(
                &signer,
                &format!("    plainHttpRegistries: [\"{listed}\"]\n"),
            ),
            &image,
        );
        assert!(decided.allowed(), "{listed}: {}", decided.response);
        assert_eq!(decided.patch(), Some(pinned(&image, &digest)), "{listed}");
    }

    // Not listed, or listed with another port: HTTPS, which a plain registry cannot speak.
    for extra in [
        String::new(),
        "    plainHttpRegistries: [\"127.0.0.1:1\"]\n".to_string(),
        "    plainHttpRegistries: [\"registry.internal\"]\n".to_string(),
    ] {
        let decided = decide(&config(&signer, &extra), &image);
        assert!(!decided.allowed(), "{extra}: {}", decided.response);
        assert!(
            decided.message().contains(&format!(
                "TLS with 127.0.0.1:{port} failed: the server does not speak TLS"
            )),
            "{extra}: {}",
            decided.message()
        );
    }
}

#[test]
fn a_bad_plain_http_entry_is_a_configuration_error() {
    let signer = Signer::p256();
    for entry in [
        "http://registry.internal",
        "registry.internal/v2",
        "",
        "host:99999",
    ] {
        let yaml = config(
            &signer,
            &format!("    plainHttpRegistries: [\"{entry}\"]\n"),
        );
        let errors = Config::from_yaml(&yaml).expect_err(entry);
        let error: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let error = error.join("\n");
        assert!(error.contains("plainHttpRegistries[0]"), "{entry}: {error}");
    }
}

#[test]
fn a_self_signed_registry_is_trusted_only_as_the_validators_cert() {
    let registry = Registry::start(Mode::SelfSigned);
    let signer = Signer::p256();
    let (image, digest) = signed_image(&registry, &signer);
    let cert: String = registry
        .pki
        .as_ref()
        .expect("a TLS registry")
        .ca_pem
        .lines()
        .map(|line| format!("      {line}\n"))
        .collect();

    let decided = decide(&config(&signer, &format!("    cert: |\n{cert}")), &image);
    assert!(decided.allowed(), "{}", decided.response);
    assert_eq!(decided.patch(), Some(pinned(&image, &digest)));

    let decided = decide(&config(&signer, ""), &image);
    assert!(!decided.allowed(), "{}", decided.response);
    assert!(
        decided.message().contains("certificate"),
        "{}",
        decided.message()
    );
}
