//! Fuzzes the whole `/mutate` decision on the embedded default configuration: arbitrary bytes
//! as a request body, and arbitrary bytes as the workload object of a Pod review (which reaches
//! workload decoding, image parsing, policy and the validators much sooner). Every input must
//! get a 400 or an AdmissionReview, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tastevin::admission::{Admission, Reply, Settings};
use tastevin::config::Config;
use tastevin::metrics::Metrics;

fn admission() -> &'static Admission {
    static ADMISSION: OnceLock<Admission> = OnceLock::new();
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    ADMISSION.get_or_init(|| {
        let config = Arc::new(Config::embedded_default());
        Admission::quiet(
            config,
            Settings::default(),
            METRICS.get_or_init(Metrics::new),
        )
    })
}

fn check(reply: &Reply) {
    match reply.status {
        200 => assert!(reply.json && reply.body.starts_with(b"{")),
        400 => assert!(!reply.json && reply.body.ends_with(b"\n")),
        other => panic!("unexpected status {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(&admission().handle(data));

    let mut wrapped =
        br#"{"request":{"uid":"fuzz","kind":{"kind":"Pod"},"operation":"UPDATE","object":"#
            .to_vec();
    wrapped.extend_from_slice(data);
    wrapped.extend_from_slice(br#","oldObject":{"spec":{"containers":[{"image":"nginx"}]}}}}"#);
    check(&admission().handle(&wrapped));
});
