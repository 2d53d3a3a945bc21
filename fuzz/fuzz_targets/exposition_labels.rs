//! Arbitrary bytes as a label value: the rendered sample line must parse back (with the
//! small text-format parser below) to exactly that value, on one line, with the right count.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::metrics::exposition::{Encoder, MetricType, Value};

/// Parses `name{label="escaped"} value` and returns the unescaped label value and the value
/// text, or `None` if the line is not of that shape.
fn parse_sample(line: &str, name: &str, label: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix(name)?.strip_prefix('{')?;
    let rest = rest.strip_prefix(label)?.strip_prefix("=\"")?;
    let mut value = String::new();
    let mut chars = rest.char_indices();
    let end = loop {
        let (index, c) = chars.next()?;
        match c {
            '"' => break index,
            '\\' => match chars.next()?.1 {
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                'n' => value.push('\n'),
                _ => return None,
            },
            '\n' => return None,
            other => value.push(other),
        }
    };
    let after = rest.get(end + 1..)?.strip_prefix("} ")?;
    Some((value, after.to_string()))
}

fuzz_target!(|data: &[u8]| {
    let label_value = String::from_utf8_lossy(data);
    let mut out = String::new();
    let mut enc = Encoder::new(&mut out);
    enc.family("fuzz_total", "Fuzzed label values", MetricType::Counter);
    enc.sample(
        "fuzz_total",
        &["value"],
        &[label_value.as_ref()],
        None,
        Value::Int(7),
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("# HELP fuzz_total Fuzzed label values"));
    assert_eq!(lines.next(), Some("# TYPE fuzz_total counter"));
    let sample = lines.next().expect("sample line");
    assert_eq!(lines.next(), None, "label value broke the line: {out:?}");
    let (parsed, count) = parse_sample(sample, "fuzz_total", "value").expect("parsable sample");
    assert_eq!(parsed, label_value.as_ref());
    assert_eq!(count, "7");
});
