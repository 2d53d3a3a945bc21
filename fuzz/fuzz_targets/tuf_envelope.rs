//! Fuzzes TUF envelope and role parsing: arbitrary bytes as each role's document, and as the
//! `signed` part of an envelope, through to full verification. Any input must give a value
//! or an error, never a panic.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use tastevin::validators::notaryv1::tuf::{
    parse_root, parse_snapshot, parse_targets, parse_timestamp,
};
use tastevin::validators::notaryv1::verify::{verify_trust_data, Lookup, TrustData};
use tastevin::validators::notaryv1::versions::VersionMemory;

fn parse_all(document: &[u8]) {
    let _ = parse_root(document);
    let _ = parse_targets(document);
    let _ = parse_snapshot(document);
    let _ = parse_timestamp(document);
}

fuzz_target!(|data: &[u8]| {
    parse_all(data);
    let mut wrapped = br#"{"signatures":[],"signed":"#.to_vec();
    wrapped.extend_from_slice(data);
    wrapped.push(b'}');
    parse_all(&wrapped);

    let trust_data = TrustData {
        root: data.to_vec(),
        targets: data.to_vec(),
        snapshot: data.to_vec(),
        timestamp: data.to_vec(),
    };
    let lookup = Lookup {
        validator: "fuzz",
        repository: "fuzz",
        tag: Some("latest"),
        digest: None,
        delegations: &[],
    };
    let mut no_delegations = |roles: &[String]| {
        roles
            .iter()
            .map(|_| Err("404 Not Found".to_owned()))
            .collect()
    };
    let _ = verify_trust_data(
        &trust_data,
        &[],
        &lookup,
        SystemTime::now(),
        &VersionMemory::new(),
        &mut no_delegations,
    );
});
