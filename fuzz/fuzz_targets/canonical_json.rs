//! Fuzzes the Notary canonical JSON encoder: whatever JSON parses and has a canonical form,
//! that form must parse back to the same value and canonicalise to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tastevin::validators::notaryv1::canonical::to_canonical;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(canonical) = to_canonical(&value) else {
        return;
    };
    let reparsed: Value = match serde_json::from_slice(&canonical) {
        Ok(reparsed) => reparsed,
        Err(e) => panic!("canonical output does not parse: {e}"),
    };
    assert_eq!(reparsed, value, "canonical output changes the value");
    assert_eq!(
        to_canonical(&reparsed).ok(),
        Some(canonical),
        "canonical form is not a fixed point"
    );
});
