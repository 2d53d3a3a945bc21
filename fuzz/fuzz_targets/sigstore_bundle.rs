//! Fuzzes Sigstore bundle parsing: any input is either refused with an error or parsed
//! into values within the documented bounds; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::validators::cosign::sigstore_bundle::{
    SigstoreBundle, MAX_BUNDLE_BYTES, MAX_PROOF_HASHES, MAX_TLOG_ENTRIES,
};

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = SigstoreBundle::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_BUNDLE_BYTES);
    assert!(bundle.tlog_entries.len() <= MAX_TLOG_ENTRIES);
    for entry in &bundle.tlog_entries {
        if let Some(proof) = &entry.inclusion_proof {
            assert!(proof.hashes.len() <= MAX_PROOF_HASHES);
        }
    }
});
