//! TUF/Notary canonical JSON: the bytes Notary signs. Object keys sorted byte-wise, no
//! insignificant whitespace, strings escaped the way Go's `encoding/json` (as forked in
//! `docker/go/canonical/json`) escapes them: `<`, `>`, `&`, U+2028 and U+2029 as `\u00xx`/
//! `\u20xx`, control characters as `\n`, `\r`, `\t` or `\u00xx`, everything else verbatim.
//! Only integers are allowed as numbers: TUF metadata has no fractions, and Go and Rust
//! would print floats differently.

use std::fmt;

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    /// A number that is not an integer.
    NonIntegerNumber(String),
}

impl fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanonicalError::NonIntegerNumber(n) => {
                write!(f, "canonical JSON allows only integers, found {n}")
            }
        }
    }
}

impl std::error::Error for CanonicalError {}

/// The canonical bytes of `value`.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => {
            if number.is_i64() || number.is_u64() {
                out.extend_from_slice(number.to_string().as_bytes());
            } else {
                return Err(CanonicalError::NonIntegerNumber(number.to_string()));
            }
        }
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sorted here rather than relying on the map's order, which depends on
            // serde_json's `preserve_order` feature anywhere in the build.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for character in text.chars() {
        match character {
            '\\' => out.extend_from_slice(b"\\\\"),
            '"' => out.extend_from_slice(b"\\\""),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(json: &str) -> String {
        let value: Value = match serde_json::from_str(json) {
            Ok(value) => value,
            Err(e) => panic!("{json}: {e}"),
        };
        match to_canonical(&value) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[test]
    fn keys_are_sorted_and_whitespace_dropped() {
        assert_eq!(
            canonical(r#"{ "b": [1, 2, {"z": null, "a": true}], "a": "x", "B": false }"#),
            r#"{"B":false,"a":"x","b":[1,2,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn keys_sort_by_bytes_not_characters() {
        // 'é' (0xc3 0xa9) sorts after 'z' byte-wise, as Go's sort.Strings does.
        assert_eq!(
            canonical(r#"{"é":1,"z":2,"_":3}"#),
            r#"{"_":3,"z":2,"é":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_like_go() {
        assert_eq!(
            canonical(r#""a<b>&c\"d\\e\n\r\t\u0001\u001f\u2028\u2029/é""#),
            r#""a\u003cb\u003e\u0026c\"d\\e\n\r\t\u0001\u001f\u2028\u2029/é""#
        );
    }

    #[test]
    fn integers_pass_and_fractions_are_refused() {
        assert_eq!(
            canonical(r#"[0,-1,18446744073709551615]"#),
            "[0,-1,18446744073709551615]"
        );
        let value: Value = match serde_json::from_str("[1.5]") {
            Ok(value) => value,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            to_canonical(&value),
            Err(CanonicalError::NonIntegerNumber("1.5".to_owned()))
        );
    }

    #[test]
    fn canonical_output_is_a_fixed_point() {
        let once = canonical(r#"{"k":{"x":"<\u0000>","a":[true,{"c":1,"b":2}]}}"#);
        assert_eq!(canonical(&once), once);
    }
}
