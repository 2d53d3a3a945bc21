//! Fuzzes the YAML nesting pre-scan on the shapes that made the YAML scanner grind (deep
//! flow brackets, compact `- - -` sequences, growing indentation), built from a small
//! input so the fuzzer reaches them without a corpus: the first byte picks a shape, the
//! next two a repetition count, the rest is the filler around it. Whatever the scan
//! accepts must never reach the decoder's recursion limit when loaded as a configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut chars = text.chars();
    let shape = chars.next().map_or(0, u32::from) % 5;
    let count = chars.next().map_or(0, u32::from) % 256 + chars.next().map_or(0, u32::from) % 256;
    let count = count as usize;
    let filler: String = chars.collect();
    // Error messages quote the input: a filler that spells the phrase proves nothing.
    if filler.contains("recursion limit") {
        return;
    }
    let document = match shape {
        0 => filler,
        1 => format!("{}{filler}{}", "[".repeat(count), "]".repeat(count)),
        2 => format!("a:\n{}{filler}\n", "- ".repeat(count)),
        3 => (0..count)
            .map(|level| format!("{}{filler}:\n", " ".repeat(level)))
            .collect(),
        _ => format!("{{\"a\": {}{filler}\n", "{\"b\": [".repeat(count)),
    };
    let accepted = tastevin::yaml_depth::check(&document).is_ok();
    if let Err(errors) = Config::from_yaml(&document) {
        for error in errors {
            let message = error.to_string();
            assert!(
                !(accepted && message.contains("recursion limit exceeded")),
                "the pre-scan let through {message}"
            );
        }
    }
});
