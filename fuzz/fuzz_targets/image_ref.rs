//! Fuzzes image reference parsing: never panics, and whatever parses normalises to a
//! form that re-parses to the same reference; pinning a digest keeps that property.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::image_ref::ImageRef;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(image) = ImageRef::parse(raw) else {
        return;
    };
    let normalised = image.to_string();
    assert_eq!(ImageRef::parse(&normalised).as_ref(), Ok(&image), "{raw:?}");
    assert!(normalised.starts_with(&image.name()));
    assert!(image.tag().is_some() || image.digest().is_some());
    let pinned = image.with_digest(DIGEST).map(|pinned| pinned.to_string());
    let reparsed = pinned.as_deref().map(ImageRef::parse);
    match (pinned.as_deref(), reparsed) {
        (Ok(text), Ok(Ok(again))) => {
            assert_eq!(again.to_string(), text);
            assert_eq!(again.digest(), Some(DIGEST));
            assert_eq!(again.tag(), image.tag());
        }
        other => panic!("pinning {raw:?} failed: {other:?}"),
    }
});
