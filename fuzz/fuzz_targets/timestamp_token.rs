//! Fuzzes the RFC 3161 time-stamp token verifier: any bytes as a whole token, and a real
//! token (`fixtures/timestamp_token.der`, made once by `openssl ts` with the self-signed
//! TSA certificate `fixtures/timestamp_tsa.der`) with fuzzed bytes spliced in, so that the
//! CMS, TSTInfo, attribute, signature and chain checks behind the outer DER are reached.
//! Nothing may panic; with no TSA root nothing verifies; a splice that still verifies
//! left the signed bytes (and so the stamped time) as they were.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;
use tastevin::timestamp_token::{verify, TsaRoot};

const TOKEN: &[u8] = include_bytes!("../fixtures/timestamp_token.der");
const TSA: &[u8] = include_bytes!("../fixtures/timestamp_tsa.der");
/// What the fixture token stamps.
const STAMPED: &[u8] = b"tastevin fuzz";

fn exercise(token: &[u8], root: &CertificateDer<'static>) {
    assert!(verify(token, STAMPED, &[]).is_err());
    let roots = [TsaRoot {
        name: "fuzz",
        der: root,
    }];
    if let Ok(stamp) = verify(token, STAMPED, &roots) {
        let original = verify(TOKEN, STAMPED, &roots).expect("the fixture verifies");
        assert_eq!(stamp.time, original.time);
        assert_eq!(stamp.accuracy, original.accuracy);
    }
}

fuzz_target!(|data: &[u8]| {
    let root = CertificateDer::from(TSA.to_vec());
    exercise(data, &root);
    // The first two bytes choose where the rest overwrites the fixture.
    if let [high, low, rest @ ..] = data {
        let at = usize::from(u16::from_be_bytes([*high, *low])) % TOKEN.len();
        let mut spliced = TOKEN.to_vec();
        let end = (at + rest.len()).min(spliced.len());
        spliced[at..end].copy_from_slice(&rest[..end - at]);
        exercise(&spliced, &root);
    }
});
