//! The CLI on hostile input: deeply nested JSON and YAML given to `review` and
//! `check-config` get a clear error and exit code 2 (review) or 1 (check-config) at once.
//! There is no timing assertion; a regression (a parser grinding through the nesting)
//! shows as the generous process timeout below being hit.

mod support;

use std::fs;
use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::TempDir;

/// Far more than the CLI needs on a loaded machine; the pre-fix YAML fallback took 24 s of
/// CPU on the first input below.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `tastevin args…`, killed after [`PROCESS_TIMEOUT`]: exit code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tastevin"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tastevin");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tastevin {args:?} still running after {PROCESS_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    (status.code(), reader.join().expect("stderr reader"))
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The shapes of the report: an AdmissionReview whose object is 100,000 nested arrays, the
/// same as YAML flow and as compact block sequences.
fn hostile_inputs() -> [(&'static str, String); 3] {
    [
        (
            "review.json",
            format!(
                "{{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{{\"uid\":\"x\",\"object\":{}}}}}",
                nested(100_000)
            ),
        ),
        ("flow.yaml", format!("kind: Pod\nspec: {}\n", nested(100_000))),
        ("block.yaml", format!("kind: Pod\nspec:\n{}x\n", "- ".repeat(100_000))),
    ]
}

#[test]
fn review_refuses_deep_nesting_with_exit_2() {
    let dir = TempDir::new();
    for (name, text) in hostile_inputs() {
        let file = dir.path().join(name);
        fs::write(&file, text).expect("write the input");
        let (code, err) = run(&["review", &file.display().to_string()]);
        assert_eq!(code, Some(2), "{name}: {err}");
        let clear = err.contains("recursion limit exceeded")
            || err.contains("nests collections deeper than 100 levels");
        assert!(
            clear && err.starts_with("tastevin review: input is not"),
            "{name}: {err}"
        );
    }
}

#[test]
fn check_config_refuses_deep_nesting_with_exit_1() {
    let dir = TempDir::new();
    for (name, text) in hostile_inputs() {
        let file = dir.path().join(name);
        fs::write(&file, text).expect("write the input");
        let path = file.display().to_string();
        let (code, err) = run(&["check-config", "--no-secrets", "--config", &path]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(
            err.contains("nests collections deeper than 100 levels"),
            "{name}: {err}"
        );
    }
}
