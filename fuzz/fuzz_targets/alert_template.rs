//! Fuzzes alert templates: any template text parses or is refused without panicking, and
//! rendering then finishing it never panics; a value of any content, rendered into a JSON
//! string of a template, comes out of the sent payload unchanged (escaping is complete).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tastevin::alerts::payload::finish;
use tastevin::alerts::template::{Field, Template, Values};

struct Same<'a>(&'a str);

impl Values for Same<'_> {
    fn value(&self, _field: Field) -> String {
        self.0.to_owned()
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (template, value) = text.split_once('\u{0}').unwrap_or((&text, "v"));
    if let Ok(template) = Template::parse(template) {
        let _ = finish(&template.render(&Same(value)), &Map::new());
    }

    let quoted = Template::parse(r#"{"message": "{{ alert_message }}"}"#).expect("template");
    let body = finish(&quoted.render(&Same(value)), &Map::new())
        .expect("a rendered string literal is JSON")
        .expect("a non-empty object");
    let sent: Value = serde_json::from_slice(&body).expect("the payload is JSON");
    assert_eq!(sent["message"], Value::from(value));
});
