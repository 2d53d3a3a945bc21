//! Feeds a fully populated `/metrics` exposition (hostile label values included) to
//! Prometheus' own checker, `promtool check metrics`, which must accept it silently.

use std::io::Write;
use std::process::{Command, Stdio};

use tastevin::metrics::{Metrics, RejectReason, RoutePath, SkipReason};

/// Label values a misconfigured or hostile config could carry.
const HOSTILE: [&str; 6] = [
    "a\"b\\c\nd",
    "\\",
    "\"",
    "line\nbreak\n",
    "ünïcødé ☃ {x=\"1\"} # not a comment",
    "",
];

fn populated() -> Metrics {
    let m = Metrics::new();
    for method in ["GET", "POST", "BREW", "get"] {
        for (path, status) in [
            (RoutePath::Mutate, 200),
            (RoutePath::Metrics, 200),
            (RoutePath::Other, 404),
            (RoutePath::Mutate, 500),
        ] {
            m.observe_http(method, path, status, 0.000_37);
            m.observe_http(method, path, status, 12.5);
        }
    }
    m.observe_http("POST", RoutePath::Mutate, 200, f64::MAX);
    m.mutate_answered(true);
    m.mutate_answered(false);
    m.mutate_called();
    m.request_admitted();
    m.request_denied(true);
    m.request_denied(false);
    for name in HOSTILE.iter().chain(["default", "cosign-keys"].iter()) {
        for vtype in ["static", "cosign", "notaryv1", "notation", "unknown"] {
            m.validation_outcome(vtype, name, true);
            m.validation_outcome(vtype, name, false);
            m.validation_skipped(vtype, name, SkipReason::CacheHit);
            m.validation_skipped(vtype, name, SkipReason::UnchangedImage);
            m.validation_skipped(vtype, name, SkipReason::ChildApproval);
            m.validation_timeouted(vtype, name);
            m.validation_duration(vtype, name, true, 0.003);
            m.validation_duration(vtype, name, false, 45.0);
        }
        m.registry_request(name, Some(200));
        m.registry_request(name, None);
    }
    m.set_cache_entries(17);
    m.connection_opened();
    for reason in [
        RejectReason::Limit,
        RejectReason::Timeout,
        RejectReason::Tls,
        RejectReason::Malformed,
        RejectReason::TooLarge,
    ] {
        m.connection_rejected(reason);
    }
    m.config_reload(true);
    m.config_reload(false);
    m
}

fn promtool_check(exposition: &str) -> (bool, String) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => panic!(
            "cannot run `promtool` ({err}); install it (Debian: `apt-get install -y prometheus`) \
             to run this test"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}

#[test]
fn promtool_accepts_a_fully_populated_exposition() {
    let mut exposition = String::new();
    populated().render(&mut exposition);
    // Every hostile value made it in, escaped.
    assert!(exposition.contains("validator_name=\"a\\\"b\\\\c\\nd\""));
    assert!(exposition.contains("registry=\"line\\nbreak\\n\""));
    let (ok, said) = promtool_check(&exposition);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics complained:\n{said}\n--- exposition ---\n{exposition}"
    );
}

#[test]
fn promtool_accepts_an_empty_registry() {
    let mut exposition = String::new();
    Metrics::new().render(&mut exposition);
    let (ok, said) = promtool_check(&exposition);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics complained:\n{said}\n--- exposition ---\n{exposition}"
    );
}

#[test]
fn promtool_rejects_a_broken_exposition() {
    // Guards the guard: a checker that accepted anything would make the tests above vacuous.
    let (ok, said) = promtool_check("# TYPE x counter\nx{a=\"unterminated} 1\n");
    assert!(!ok, "promtool accepted garbage: {said}");
}
