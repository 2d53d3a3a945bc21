//! Fuzzes `WWW-Authenticate` parsing: never panics, and a parsed challenge rendered back
//! to a header parses to the same challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::registry::auth::{Challenge, MAX_CHALLENGE_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenge) = Challenge::parse(header) else {
        return;
    };
    assert!(!challenge.scheme.is_empty());
    assert!(challenge.params.iter().all(|(name, _)| !name.is_empty()));
    let rendered = challenge.render();
    if rendered.len() <= MAX_CHALLENGE_LEN {
        assert_eq!(
            Challenge::parse(&rendered).as_ref(),
            Ok(&challenge),
            "{rendered:?}"
        );
    }
});
