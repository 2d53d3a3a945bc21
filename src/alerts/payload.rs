//! From rendered template text to the bytes POSTed to a receiver (§6.2 "Template
//! rendering", rule 4): nothing for an empty render, else a JSON object with the
//! receiver's `payloadFields` merged at the top level, re-serialised the way Go's
//! `encoding/json` writes a `map[string]interface{}`: compact, keys sorted, `<`, `>`, `&`,
//! U+2028 and U+2029 escaped, and the template's numbers written as Go writes a float64.

use std::fmt;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Why rendered text cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Not JSON, or JSON but not an object.
    NotAnObject(String),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::NotAnObject(reason) => {
                write!(f, "failed to unmarshal rendered template: {reason}")
            }
        }
    }
}

impl std::error::Error for PayloadError {}

/// The body to send, or `None` when the template rendered to nothing or to `{}`.
pub fn finish(
    rendered: &str,
    payload_fields: &Map<String, Value>,
) -> Result<Option<Vec<u8>>, PayloadError> {
    if rendered.trim().is_empty() {
        return Ok(None);
    }
    let parsed: Value =
        serde_json::from_str(rendered).map_err(|e| PayloadError::NotAnObject(e.to_string()))?;
    let Value::Object(mut object) = as_go_numbers(parsed) else {
        return Err(PayloadError::NotAnObject(
            "the template must render to a JSON object".to_owned(),
        ));
    };
    if object.is_empty() {
        return Ok(None);
    }
    for (key, value) in payload_fields {
        object.insert(key.clone(), value.clone());
    }
    let mut out = String::new();
    write_go_json(&Value::Object(object), &mut out);
    Ok(Some(out.into_bytes()))
}

/// Go decodes every JSON number of the template into a float64.
fn as_go_numbers(value: Value) -> Value {
    match value {
        Value::Number(number) => number
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(Value::Number(number), Value::Number),
        Value::Array(items) => Value::Array(items.into_iter().map(as_go_numbers).collect()),
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| (key, as_go_numbers(value)))
                .collect(),
        ),
        other => other,
    }
}

fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(number) => write_go_number(number, out),
        Value::String(text) => write_go_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_go_string(key, out);
                out.push(':');
                if let Some(value) = object.get(key) {
                    write_go_json(value, out);
                }
            }
            out.push('}');
        }
    }
}

/// Integers as they are; floats as Go's `encoding/json` writes a float64: plain decimal
/// between 1e-6 and 1e21, else exponent form with a signed exponent (`1e+21`, `1e-7`).
fn write_go_number(number: &Number, out: &mut String) {
    let Some(float) = number.as_f64().filter(|_| number.is_f64()) else {
        let _ = write!(out, "{number}");
        return;
    };
    let magnitude = float.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        let _ = write!(out, "{float}");
        return;
    }
    let exponent_form = format!("{float:e}");
    match exponent_form.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => {
            let _ = write!(out, "{mantissa}e+{exponent}");
        }
        _ => out.push_str(&exponent_form),
    }
}

fn write_go_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn send(rendered: &str, fields: Value) -> Option<String> {
        let Value::Object(fields) = fields else {
            panic!("payload fields must be an object")
        };
        finish(rendered, &fields)
            .unwrap()
            .map(|body| String::from_utf8(body).unwrap())
    }

    #[test]
    fn keys_are_sorted_and_output_compact() {
        let rendered =
            "{\n  \"message\": \"CONNAISSEUR admitted a request\",\n  \"cluster\": \"test\"\n}";
        assert_eq!(
            send(rendered, json!({})).as_deref(),
            Some(r#"{"cluster":"test","message":"CONNAISSEUR admitted a request"}"#)
        );
        assert_eq!(
            send(
                r#"{"b":{"z":1,"a":[{"y":true,"x":null}]},"a":"x"}"#,
                json!({})
            )
            .as_deref(),
            Some(r#"{"a":"x","b":{"a":[{"x":null,"y":true}],"z":1}}"#)
        );
    }

    #[test]
    fn html_characters_are_escaped_as_go_does() {
        assert_eq!(
            send(
                r#"{"name":"connaisseur_pod_id","value":"<script>alert('x') & \u2028</script>"}"#,
                json!({})
            )
            .as_deref(),
            Some(
                r#"{"name":"connaisseur_pod_id","value":"\u003cscript\u003ealert('x') \u0026 \u2028\u003c/script\u003e"}"#
            )
        );
        assert_eq!(
            send(r#"{"c":"\u0001\b\f\n\r\t\"\\é"}"#, json!({})).as_deref(),
            Some(r#"{"c":"\u0001\b\f\n\r\t\"\\é"}"#)
        );
    }

    #[test]
    fn payload_fields_are_merged_at_the_top_level_and_win() {
        let rendered = r#"{"message":"m","tags":[],"responders":[]}"#;
        let fields = json!({"tags": ["deployed_an_image"], "responders": [{"type": "user", "username": "u"}], "extra": 2});
        assert_eq!(
            send(rendered, fields).as_deref(),
            Some(
                r#"{"extra":2,"message":"m","responders":[{"type":"user","username":"u"}],"tags":["deployed_an_image"]}"#
            )
        );
    }

    #[test]
    fn empty_renders_send_nothing() {
        assert_eq!(send("", json!({"a": 1})), None);
        assert_eq!(send(" \n", json!({})), None);
        assert_eq!(send("{}", json!({"a": 1})), None);
        assert_eq!(send("{ }\n", json!({})), None);
    }

    #[test]
    fn non_objects_are_errors() {
        for rendered in ["[1]", "\"x\"", "{\"a\":", "{\"a\":1} trailing", "{'a':1}"] {
            let error = finish(rendered, &Map::new()).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with("failed to unmarshal rendered template"),
                "{rendered}: {error}"
            );
        }
    }

    #[test]
    fn template_numbers_are_written_as_go_floats() {
        assert_eq!(
            send(
                r#"{"a":3,"b":1.0,"c":1e3,"d":0.5,"e":1e21,"f":1e-7,"g":-0.0000015}"#,
                json!({"h": 7})
            )
            .as_deref(),
            Some(r#"{"a":3,"b":1,"c":1000,"d":0.5,"e":1e+21,"f":1e-7,"g":-0.0000015,"h":7}"#)
        );
    }
}
