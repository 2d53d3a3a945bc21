//! `tastevin review`: runs the admission engine on an AdmissionReview, or on a bare workload
//! manifest (JSON or YAML) wrapped in a CREATE AdmissionReview, and prints the answer the
//! webhook would send. `--explain` shows, per image, how the decision was reached.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{ArgError, Args};
use crate::admission::engine::ImageOutcome;
use crate::admission::{Admission, Reviewed, Settings};
use crate::config::Config;
use crate::image_ref::ImageRef;
use crate::metrics::Metrics;
use crate::policy;
use crate::yaml_depth;

const USAGE: &str = "\
Usage: tastevin review [OPTIONS] [FILE|-]

Runs the admission engine on FILE (standard input when FILE is '-' or absent) and prints
the AdmissionReview answer that POST /mutate would send.

FILE is an AdmissionReview (JSON), or a single Pod, Deployment, ReplicaSet, DaemonSet,
StatefulSet, ReplicationController, Job or CronJob manifest (JSON or YAML), which is
wrapped in a CREATE AdmissionReview for namespace metadata.namespace (or 'default').

Options:
      --config FILE  policy configuration [default: /app/config/config.yaml, or the
                     embedded deny-by-default configuration when that file is absent]
      --explain      before the answer, print for every image its normalised reference,
                     the rule that matched and why it beat the others, the validator and
                     the verdict
      --secrets-dir DIR
                     where auth.secretName secrets are read from, DIR/<name>/secret.yaml
                     or DIR/<name>/.dockerconfigjson [default: $TASTEVIN_SECRETS_DIR, else
                     /app/secrets]
  -h, --help         print this help

The environment variables DETECTION_MODE, RESOURCE_VALIDATION_MODE,
AUTOMATIC_UNCHANGED_APPROVAL, AUTOMATIC_CHILD_APPROVAL, REQUEST_DEADLINE_SECONDS and the
proxy variables HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply as they do for 'tastevin serve'.

Exit status: 0 if the request is admitted, 1 if it is denied, 2 on usage, configuration
or input errors.
";

/// Largest input read, the same bound as the webhook's request body limit.
const MAX_INPUT_BYTES: usize = 8 << 20;

/// uid of the AdmissionReview built around a bare manifest.
const WRAPPED_UID: &str = "tastevin-review";

/// Runs `tastevin review` with the arguments after the command name.
pub fn run(args: &[String]) -> i32 {
    let args = match Args::parse(
        args,
        &["--config", "--secrets-dir"],
        &["--explain", "-h", "--help"],
    ) {
        Ok(args) => args,
        Err(err) => return usage_error(&err),
    };
    if args.switch("-h") || args.switch("--help") {
        print!("{USAGE}");
        return 0;
    }
    if args.positional.len() > 1 {
        return usage_error(&ArgError::Unknown(
            args.positional.get(1).cloned().unwrap_or_default(),
        ));
    }
    let config = match load_config(args.value("--config")) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("tastevin review: {message}");
            return 2;
        }
    };
    if let Err(e) = crate::net::proxy::global() {
        eprintln!("tastevin review: {e}");
        return 2;
    }
    let input = match read_input(args.positional.first().map(String::as_str)) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("tastevin review: {message}");
            return 2;
        }
    };
    let body = match review_body(&input) {
        Ok(body) => body,
        Err(message) => {
            eprintln!("tastevin review: {message}");
            return 2;
        }
    };
    // The CLI's decisions are not the server's: count them in a registry of their own.
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    let mut settings = Settings::from_env();
    if let Some(dir) = args.value("--secrets-dir") {
        settings.secrets_dir = dir.into();
    }
    let admission = Admission::quiet(Arc::new(config), settings, metrics);
    match admission.review(&body) {
        Ok(reviewed) => {
            if args.switch("--explain") {
                print!("{}", explain(admission.config(), &reviewed));
            }
            println!("{}", String::from_utf8_lossy(&reviewed.json));
            if reviewed.response.allowed {
                0
            } else {
                1
            }
        }
        Err(failure) => {
            eprintln!("tastevin review: {failure}");
            2
        }
    }
}

fn usage_error(err: &ArgError) -> i32 {
    eprintln!("tastevin review: {err}\nTry 'tastevin review --help' for more information.");
    2
}

fn load_config(path: Option<&str>) -> Result<Config, String> {
    let path = match path {
        Some(path) => Path::new(path),
        None if Path::new(Config::DEFAULT_PATH).exists() => Path::new(Config::DEFAULT_PATH),
        None => return Ok(Config::embedded_default()),
    };
    Config::load(path).map_err(|errors| {
        let mut message = format!("{} is not a valid configuration:", path.display());
        for error in errors {
            let _ = write!(message, "\n  {error}");
        }
        message
    })
}

fn read_input(file: Option<&str>) -> Result<Vec<u8>, String> {
    let mut input = Vec::new();
    let limit = MAX_INPUT_BYTES as u64 + 1;
    let read = match file {
        None | Some("-") => std::io::stdin().take(limit).read_to_end(&mut input),
        Some(path) => std::fs::File::open(path)
            .and_then(|file| file.take(limit).read_to_end(&mut input))
            .map_err(|err| std::io::Error::new(err.kind(), format!("cannot read {path}: {err}"))),
    };
    read.map_err(|err| err.to_string())?;
    if input.len() > MAX_INPUT_BYTES {
        return Err(format!("input is larger than {MAX_INPUT_BYTES} bytes"));
    }
    Ok(input)
}

/// The AdmissionReview to decide: the input itself when it is one (byte for byte, so that
/// the webhook's JSON checks apply), else a CREATE review wrapped around the manifest.
///
/// JSON or YAML is decided from the first byte that is not whitespace (`{` or `[` is JSON)
/// and the input is decoded once, by one decoder, with nesting bounded: serde_json stops at
/// depth 128, and YAML is refused past [`yaml_depth::MAX_DEPTH`] before it is decoded
/// (hostile nesting would otherwise cost the YAML scanner quadratic time).
fn review_body(input: &[u8]) -> Result<Vec<u8>, String> {
    let first = input.iter().find(|byte| !byte.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) {
        let document = serde_json::from_slice::<Value>(input)
            .map_err(|err| format!("input is not valid JSON: {err}"))?;
        if is_admission_review(&document) {
            return Ok(input.to_vec());
        }
        return wrap_manifest(document);
    }
    let text = std::str::from_utf8(input).map_err(|err| format!("input is not UTF-8: {err}"))?;
    yaml_depth::check(text).map_err(|err| format!("input is not a usable YAML document: {err}"))?;
    let document: Value = serde_norway::from_str(text)
        .map_err(|err| format!("input is not a single YAML document: {err}"))?;
    if is_admission_review(&document) {
        return serde_json::to_vec(&document).map_err(|err| err.to_string());
    }
    wrap_manifest(document)
}

fn is_admission_review(document: &Value) -> bool {
    document.get("kind").and_then(Value::as_str) == Some("AdmissionReview")
        || document.get("request").is_some()
}

fn wrap_manifest(manifest: Value) -> Result<Vec<u8>, String> {
    let Some(kind) = manifest.get("kind").and_then(Value::as_str) else {
        return Err("the manifest has no 'kind'".to_owned());
    };
    let api_version = manifest
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let namespace = manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": WRAPPED_UID,
            "kind": {"group": group, "version": version, "kind": kind},
            "operation": "CREATE",
            "namespace": namespace,
            "object": manifest,
        }
    });
    serde_json::to_vec(&review).map_err(|err| err.to_string())
}

/// The human-readable account of `--explain`.
fn explain(config: &Config, reviewed: &Reviewed) -> String {
    let mut text = String::new();
    let evaluation = &reviewed.evaluation;
    if evaluation.outcomes.is_empty() {
        let _ = writeln!(text, "no image was validated");
    }
    for outcome in &evaluation.outcomes {
        explain_image(config, outcome, &mut text);
    }
    let response = &reviewed.response;
    let verdict = if response.allowed {
        "admitted"
    } else {
        "denied"
    };
    let _ = writeln!(text, "decision: {verdict}");
    if let Some(status) = &response.status {
        let _ = writeln!(text, "  message: {}", status.message);
    }
    for warning in &response.warnings {
        let _ = writeln!(text, "  warning: {warning}");
    }
    if let Some(patch) = &response.patch {
        let _ = writeln!(text, "  patch: {}", String::from_utf8_lossy(patch));
        let encoded = base64::engine::general_purpose::STANDARD.encode(patch);
        let _ = writeln!(text, "  (sent base64-encoded: {encoded})");
    }
    text
}

fn explain_image(config: &Config, outcome: &ImageOutcome, text: &mut String) {
    let _ = writeln!(text, "image {}", outcome.raw);
    match &outcome.normalised {
        Some(normalised) => {
            let _ = writeln!(text, "  reference: {normalised}");
            if let Ok(image) = ImageRef::parse(&outcome.raw) {
                let _ = writeln!(text, "  rule:");
                for line in policy::explain(config, &image).lines() {
                    let _ = writeln!(text, "    {line}");
                }
            }
        }
        None => {
            let _ = writeln!(text, "  reference: not a valid image reference");
        }
    }
    if let Some(validator) = &outcome.validator {
        let _ = writeln!(
            text,
            "  validator: {} (type {})",
            validator.name, validator.type_name
        );
    }
    let verdict = match (&outcome.result, outcome.skipped, outcome.timed_out) {
        (_, _, true) => "not finished before the request deadline".to_owned(),
        (Ok(_), Some(reason), _) => format!("admitted without validation: {}", reason.label()),
        (Ok(admitted), None, _) => match &admitted.patch_value {
            Some(pinned) => format!("admitted, pinned to {pinned}"),
            None => "admitted, reference unchanged".to_owned(),
        },
        (Err(message), _, _) => format!("denied: {message}"),
    };
    let _ = writeln!(text, "  verdict: {verdict}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(input: &str) -> Value {
        let body = review_body(input.as_bytes()).expect("reviewable input");
        serde_json::from_slice(&body).expect("JSON")
    }

    #[test]
    fn admission_reviews_are_passed_through_byte_for_byte() {
        let input = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}"#;
        assert_eq!(review_body(input).expect("review"), input.to_vec());
    }

    #[test]
    fn json_manifests_are_wrapped_in_a_create_review() {
        let review = wrapped(
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},
                "spec":{"template":{"spec":{"containers":[{"image":"nginx"}]}}}}"#,
        );
        assert_eq!(review["request"]["operation"], "CREATE");
        assert_eq!(review["request"]["uid"], WRAPPED_UID);
        assert_eq!(review["request"]["namespace"], "shop");
        assert_eq!(
            review["request"]["kind"],
            json!({"group":"apps","version":"v1","kind":"Deployment"})
        );
        assert_eq!(review["request"]["object"]["metadata"]["name"], "web");
    }

    #[test]
    fn yaml_manifests_are_wrapped_too() {
        let review = wrapped(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: busybox:1.36\n",
        );
        assert_eq!(
            review["request"]["kind"],
            json!({"group":"","version":"v1","kind":"Pod"})
        );
        assert_eq!(review["request"]["namespace"], "default");
        assert_eq!(
            review["request"]["object"]["spec"]["containers"][0]["image"],
            "busybox:1.36"
        );
    }

    #[test]
    fn inputs_that_are_not_manifests_are_refused() {
        assert!(review_body(b"{\"spec\":{}}").is_err());
        assert!(review_body(b"\xff\xfe").is_err());
        assert!(review_body(b"a: [").is_err());
    }

    #[test]
    fn hostile_nesting_is_refused_by_one_decoder() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let review = format!(
            "{{\"kind\":\"AdmissionReview\",\"request\":{{\"object\":{}}}}}",
            nested(100_000)
        );
        let err = review_body(review.as_bytes()).expect_err("too deep");
        assert!(
            err.starts_with("input is not valid JSON: recursion limit exceeded"),
            "{err}"
        );
        let yaml = format!("kind: Pod\nspec: {}\n", nested(100_000));
        let err = review_body(yaml.as_bytes()).expect_err("too deep");
        assert!(err.contains("deeper than 100 levels (line 2)"), "{err}");
        let block = format!("kind: Pod\nspec:\n{}x\n", "- ".repeat(100_000));
        assert!(review_body(block.as_bytes()).is_err());
        // Leading whitespace does not hide JSON.
        assert!(review_body(b"  \n {\"spec\": ")
            .unwrap_err()
            .starts_with("input is not valid JSON"));
    }

    fn example(name: &str) -> String {
        format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn exit_status_follows_the_decision() {
        let config = example("config.yaml");
        assert_eq!(
            run(&args(&["--config", &config, &example("allowed.json")])),
            0
        );
        assert_eq!(
            run(&args(&["--config", &config, &example("denied.json")])),
            1
        );
        assert_eq!(run(&args(&["--config", &config, &example("pod.yaml")])), 0);
    }

    #[test]
    fn usage_and_input_errors_exit_2() {
        assert_eq!(run(&args(&["--help"])), 0);
        assert_eq!(run(&args(&["--bogus"])), 2);
        assert_eq!(run(&args(&["a.json", "b.json"])), 2);
        let config = example("config.yaml");
        assert_eq!(
            run(&args(&[
                "--config",
                "/nonexistent/config.yaml",
                &example("pod.yaml")
            ])),
            2
        );
        assert_eq!(
            run(&args(&["--config", &config, "/nonexistent/review.json"])),
            2
        );
    }

    #[test]
    fn explain_names_reference_rule_validator_and_verdict() {
        let config =
            Config::from_yaml(include_str!("../../examples/config.yaml")).expect("example config");
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
        let admission = Admission::quiet(Arc::new(config), Settings::default(), metrics);
        let reviewed = admission
            .review(include_bytes!("../../examples/denied.json"))
            .expect("reviewable");
        let text = explain(admission.config(), &reviewed);
        for expected in [
            "image nginx:1.27\n  reference: index.docker.io/library/nginx:1.27\n",
            "chosen: policy[2] \"docker.io/library/nginx:*\"",
            "  validator: allow (type static)\n  verdict: admitted, reference unchanged\n",
            "image untrusted.example.com/tools/miner:latest\n",
            "  validator: deny (type static)\n  verdict: denied: static deny for image untrusted.example.com/tools/miner:latest using rule untrusted.example.com/*\n",
            "decision: denied\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }
}
