//! Alert payload templates: Connaisseur's `<template>.json` files with `{{ snake_case }}`
//! variables (§6.2 "Template rendering", rules 1 and 2).
//!
//! Connaisseur rewrites every `{{ name }}` whose inside holds no brace into a Go template
//! field (`alert_message` → `.AlertMessage`) and executes the result. tastevin parses the
//! same syntax once, when the alerting configuration loads, so an unknown variable or a
//! stray `{{{` stops the start instead of failing every alert. Single braces are text.
//! Every value is inserted JSON-string-escaped (without quotes): a value can never break
//! out of the string literal it is written into.

use std::fmt;

/// A value a template can insert. The variable name is converted snake_case → CamelCase
/// (non-alphanumerics dropped) and matched against these, as Connaisseur does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    AlertMessage,
    Priority,
    ConnaisseurPodId,
    Namespace,
    Cluster,
    Timestamp,
    RequestId,
    Images,
    /// Undocumented in Connaisseur: `success`, `skip`, `error`, `timeout` or `invalid`.
    Result,
    /// Undocumented in Connaisseur: the denial message (empty when admitted).
    Error,
}

impl Field {
    /// The field named by a template variable, if any.
    fn from_variable(variable: &str) -> Option<Field> {
        let camel: String = variable
            .split('_')
            .flat_map(|part| {
                let mut chars = part.chars().filter(char::is_ascii_alphanumeric);
                let first = chars.next().map(|c| c.to_ascii_uppercase());
                first.into_iter().chain(chars)
            })
            .collect();
        let field = match camel.as_str() {
            "AlertMessage" => Field::AlertMessage,
            "Priority" => Field::Priority,
            "ConnaisseurPodId" => Field::ConnaisseurPodId,
            "Namespace" => Field::Namespace,
            "Cluster" => Field::Cluster,
            "Timestamp" => Field::Timestamp,
            "RequestId" => Field::RequestId,
            "Images" => Field::Images,
            "Result" => Field::Result,
            "Error" => Field::Error,
            _ => return None,
        };
        Some(field)
    }
}

/// The values of one notification, looked up by [`Template::render`].
pub trait Values {
    /// The text of `field`, unescaped.
    fn value(&self, field: Field) -> String;
}

/// Why a template file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `{{ name }}` names no notification field.
    UnknownVariable(String),
    /// A `{{` whose action holds another brace, e.g. `{{{ priority }}}`.
    UnexpectedBrace { offset: usize },
    /// A `{{` never closed by `}}`.
    Unclosed { offset: usize },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnknownVariable(name) => write!(
                f,
                "unknown variable {{{{ {name} }}}}; the variables are alert_message, priority, \
                 connaisseur_pod_id, namespace, cluster, timestamp, request_id, images, result \
                 and error"
            ),
            TemplateError::UnexpectedBrace { offset } => write!(
                f,
                "unexpected \"{{\" in command at byte {offset}; a variable is written {{{{ name }}}}"
            ),
            TemplateError::Unclosed { offset } => {
                write!(f, "unclosed {{{{ at byte {offset}; close it with }}}}")
            }
        }
    }
}

impl std::error::Error for TemplateError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Variable(Field),
}

/// A parsed template: text and variables in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            let (before, action) = rest.split_at(open);
            if !before.is_empty() {
                segments.push(Segment::Text(before.to_owned()));
            }
            let inside_and_after = action.get(2..).unwrap_or_default();
            let action_offset = offset + open;
            let Some(close) = inside_and_after.find("}}") else {
                return Err(TemplateError::Unclosed {
                    offset: action_offset,
                });
            };
            let (inside, after) = inside_and_after.split_at(close);
            if inside.contains(['{', '}']) {
                return Err(TemplateError::UnexpectedBrace {
                    offset: action_offset,
                });
            }
            let name = inside.trim();
            let field = Field::from_variable(name)
                .ok_or_else(|| TemplateError::UnknownVariable(name.to_owned()))?;
            segments.push(Segment::Variable(field));
            rest = after.get(2..).unwrap_or_default();
            offset = action_offset + 2 + close + 2;
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_owned()));
        }
        Ok(Template { segments })
    }

    /// The text with every variable replaced by its JSON-string-escaped value.
    pub fn render(&self, values: &dyn Values) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Variable(field) => escape_into(&values.value(*field), &mut out),
            }
        }
        out
    }
}

/// Appends `value` escaped for the inside of a JSON string literal.
fn escape_into(value: &str, out: &mut String) {
    let quoted = serde_json::Value::from(value).to_string();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default();
    out.push_str(inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Values for Fixed {
        fn value(&self, field: Field) -> String {
            match field {
                Field::AlertMessage => "CONNAISSEUR admitted a request".to_owned(),
                Field::Priority => "3".to_owned(),
                Field::ConnaisseurPodId => "<script>\"x\"\\\n</script>".to_owned(),
                other => format!("{other:?}"),
            }
        }
    }

    #[test]
    fn variables_are_snake_case_names_of_the_fields() {
        let template = Template::parse(
            "{{alert_message}}|{{ priority }}|{{  request_id\t}}|{{ connaisseur_pod_id }}|{{ images }}|{{ result }}|{{ error }}|{{ namespace }}|{{ cluster }}|{{ timestamp }}",
        )
        .unwrap();
        assert_eq!(
            template.render(&Fixed),
            r#"CONNAISSEUR admitted a request|3|RequestId|<script>\"x\"\\\n</script>|Images|Result|Error|Namespace|Cluster|Timestamp"#
        );
    }

    #[test]
    fn values_are_json_string_escaped() {
        let template = Template::parse(r#"{"name":"{{ connaisseur_pod_id }}"}"#).unwrap();
        let rendered = template.render(&Fixed);
        let parsed: serde_json::Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(parsed["name"], "<script>\"x\"\\\n</script>");
    }

    #[test]
    fn unknown_variables_are_refused() {
        assert_eq!(
            Template::parse(r#"{"name": "{{ connaisseur_podsss }}"}"#),
            Err(TemplateError::UnknownVariable(
                "connaisseur_podsss".to_owned()
            ))
        );
        assert!(matches!(
            Template::parse("{{ }}"),
            Err(TemplateError::UnknownVariable(_))
        ));
    }

    #[test]
    fn triple_and_mismatched_braces_are_parse_errors() {
        assert_eq!(
            Template::parse(r#"{"prio": "{{{ priority }}}"}"#),
            Err(TemplateError::UnexpectedBrace { offset: 10 })
        );
        assert_eq!(
            Template::parse(r#"{"prio": "{{{ priority }}"}"#),
            Err(TemplateError::UnexpectedBrace { offset: 10 })
        );
        assert_eq!(
            Template::parse(r#"{"prio": "{{ priority "}"#),
            Err(TemplateError::Unclosed { offset: 10 })
        );
        let message = TemplateError::UnexpectedBrace { offset: 10 }.to_string();
        assert!(
            message.starts_with("unexpected \"{\" in command"),
            "{message}"
        );
    }

    #[test]
    fn single_braces_and_lone_closers_are_text() {
        let text = r#"{"prio": "{ priority }", "x": "}}"}"#;
        let template = Template::parse(text).unwrap();
        assert_eq!(template.render(&Fixed), text);
    }

    #[test]
    fn variables_without_text_and_empty_templates() {
        assert_eq!(Template::parse("").unwrap().render(&Fixed), "");
        assert_eq!(
            Template::parse("{{priority}}{{priority}}")
                .unwrap()
                .render(&Fixed),
            "33"
        );
    }
}
