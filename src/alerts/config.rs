//! The alerting configuration, Connaisseur's `/app/alerts/config.yaml` (§6.2), loaded
//! strictly: unknown keys and wrong types are refused, every receiver is checked, and
//! every template it names is read from `templates/<template>.json` next to the file and
//! parsed, so that a mistake stops the start (as in Connaisseur) instead of failing alerts
//! one request at a time. Each error names the file, the YAML path and what to fix.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::notification::Stream;
use super::template::{Template, TemplateError};
use crate::config::Yaml11Bool;
use crate::net::https_client::Url;

/// Where Connaisseur's chart mounts the alerting configuration.
pub const DEFAULT_PATH: &str = "/app/alerts/config.yaml";
/// `cluster` when `clusterIdentifier` is absent.
pub const DEFAULT_CLUSTER: &str = "not specified";
/// A receiver's `priority` when absent.
pub const DEFAULT_PRIORITY: u64 = 3;
/// Largest configuration or template file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// A checked alerting configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// `clusterIdentifier`, rendered as `cluster`.
    pub cluster: String,
    /// `admitRequest.receivers`: for admitted requests.
    pub admit: Vec<Receiver>,
    /// `rejectRequest.receivers`: for denied requests.
    pub reject: Vec<Receiver>,
}

/// One checked notification target.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// `<template>-<index in its list>`, as Connaisseur names receivers in its messages.
    pub name: String,
    pub template: Template,
    pub url: Url,
    pub priority: u64,
    /// Header fields to send, names canonicalised, `Content-Type` first.
    pub headers: Vec<(String, String)>,
    /// Merged into the top level of the rendered payload.
    pub payload_fields: Map<String, Value>,
    /// `failIfAlertSendingFails`: the answer waits for this receiver and a failure denies.
    pub fail_on_error: bool,
}

impl AlertsConfig {
    /// Reads `path` and the templates in `templates/` beside it.
    pub fn load(path: &Path) -> Result<AlertsConfig, Vec<AlertsError>> {
        let text = read_limited(path).map_err(|reason| {
            vec![AlertsError::Read {
                file: path.to_owned(),
                reason,
            }]
        })?;
        AlertsConfig::from_yaml(&text, path, &templates_dir(path))
    }

    /// Decodes and checks `text` (read from `file`), reading templates from `templates`.
    pub fn from_yaml(
        text: &str,
        file: &Path,
        templates: &Path,
    ) -> Result<AlertsConfig, Vec<AlertsError>> {
        // Before decoding: deep nesting costs the YAML scanner quadratic time.
        crate::yaml_depth::check(text).map_err(|too_deep| {
            vec![AlertsError::Yaml {
                file: file.to_owned(),
                message: too_deep.to_string(),
            }]
        })?;
        let raw: Option<RawConfig> = serde_norway::from_str(text).map_err(|error| {
            vec![AlertsError::Yaml {
                file: file.to_owned(),
                message: error.to_string(),
            }]
        })?;
        let raw = raw.unwrap_or_default();
        let mut errors = Vec::new();
        let mut check = |stream: Stream, raw: Option<RawStream>| -> Vec<Receiver> {
            let key = match stream {
                Stream::Admit => "admitRequest",
                Stream::Reject => "rejectRequest",
            };
            raw.and_then(|s| s.receivers)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .filter_map(|(index, receiver)| {
                    let path = format!("{key}.receivers[{index}]");
                    match receiver.check(index, templates) {
                        Ok(receiver) => Some(receiver),
                        Err(problems) => {
                            errors.extend(problems.into_iter().map(|(field, problem)| {
                                AlertsError::Invalid {
                                    file: file.to_owned(),
                                    path: format!("{path}{field}"),
                                    problem,
                                }
                            }));
                            None
                        }
                    }
                })
                .collect()
        };
        let admit = check(Stream::Admit, raw.admit_request);
        let reject = check(Stream::Reject, raw.reject_request);
        if !errors.is_empty() {
            return Err(errors);
        }
        let cluster = raw
            .cluster_identifier
            .filter(|cluster| !cluster.is_empty())
            .unwrap_or_else(|| DEFAULT_CLUSTER.to_owned());
        Ok(AlertsConfig {
            cluster,
            admit,
            reject,
        })
    }

    /// The receivers of `stream`.
    pub fn receivers(&self, stream: Stream) -> &[Receiver] {
        match stream {
            Stream::Admit => &self.admit,
            Stream::Reject => &self.reject,
        }
    }

    /// No receiver at all (`{}`): alerting is off.
    pub fn is_empty(&self) -> bool {
        self.admit.is_empty() && self.reject.is_empty()
    }
}

/// Why the alerting configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertsError {
    /// The file could not be read.
    Read { file: PathBuf, reason: String },
    /// The YAML decoder refused the document (syntax, type, unknown key); its message
    /// names the path and the line.
    Yaml { file: PathBuf, message: String },
    /// A value is not acceptable.
    Invalid {
        file: PathBuf,
        path: String,
        problem: Problem,
    },
}

impl fmt::Display for AlertsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertsError::Read { file, reason } => {
                write!(f, "{}: cannot read: {reason}", file.display())
            }
            AlertsError::Yaml { file, message } => write!(f, "{}: {message}", file.display()),
            AlertsError::Invalid {
                file,
                path,
                problem,
            } => write!(f, "{}: {path}: {problem}", file.display()),
        }
    }
}

impl std::error::Error for AlertsError {}

/// What is wrong with one value of a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    MissingField(&'static str),
    /// `template` must be a file name, not a path.
    BadTemplateName(String),
    TemplateUnreadable {
        file: PathBuf,
        reason: String,
    },
    BadTemplate {
        file: PathBuf,
        error: TemplateError,
    },
    BadUrl(String),
    NegativePriority(i64),
    /// `customHeaders` or `payloadFields` given but empty.
    EmptyList,
    HeaderWithoutColon(String),
    BadHeaderName(String),
    HeaderValueLineBreak(String),
    /// A header the HTTP client writes itself (`Host`, `Content-Length`, …).
    ReservedHeader(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingField(field) => write!(f, "{field} is a required field"),
            Problem::BadTemplateName(name) => write!(
                f,
                "template {name:?} must be the base name of a file in the templates directory (no '/', not '.' or '..')"
            ),
            Problem::TemplateUnreadable { file, reason } => write!(
                f,
                "unable to get template file {}: {reason}; add it to the templates directory or name an existing template",
                file.display()
            ),
            Problem::BadTemplate { file, error } => {
                write!(f, "template {} cannot be used: {error}", file.display())
            }
            Problem::BadUrl(url) => write!(
                f,
                "receiverUrl {url:?} must be an absolute http:// or https:// URL"
            ),
            Problem::NegativePriority(value) => {
                write!(f, "priority must be 0 or greater, got {value}")
            }
            Problem::EmptyList => f.write_str("must contain at least 1 item when given"),
            Problem::HeaderWithoutColon(header) => write!(
                f,
                "custom header {header:?} must be written \"Name: value\""
            ),
            Problem::BadHeaderName(name) => write!(
                f,
                "custom header name {name:?} must be a non-empty HTTP token (letters, digits, '-', ...)"
            ),
            Problem::HeaderValueLineBreak(name) => {
                write!(f, "custom header {name:?} must not contain a line break")
            }
            Problem::ReservedHeader(name) => write!(
                f,
                "custom header {name:?} is written by tastevin itself; remove it"
            ),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "an alerting configuration mapping (clusterIdentifier, admitRequest, rejectRequest)"
)]
struct RawConfig {
    cluster_identifier: Option<String>,
    admit_request: Option<RawStream>,
    reject_request: Option<RawStream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with a receivers list")]
struct RawStream {
    receivers: Option<Vec<RawReceiver>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a receiver mapping (template, receiverUrl, priority, customHeaders, payloadFields, failIfAlertSendingFails)"
)]
struct RawReceiver {
    template: Option<String>,
    receiver_url: Option<String>,
    priority: Option<i64>,
    custom_headers: Option<Vec<String>>,
    payload_fields: Option<Map<String, Value>>,
    fail_if_alert_sending_fails: Option<Yaml11Bool>,
}

impl RawReceiver {
    /// The checked receiver, or each problem with the field it is about (`.template`, …).
    fn check(self, index: usize, templates: &Path) -> Result<Receiver, Vec<(String, Problem)>> {
        let mut problems: Vec<(String, Problem)> = Vec::new();
        let template_name = self.template.filter(|name| !name.is_empty());
        let template = match &template_name {
            None => {
                problems.push((".template".into(), Problem::MissingField("template")));
                None
            }
            Some(name) => match load_template(name, templates) {
                Ok(template) => Some(template),
                Err(problem) => {
                    problems.push((".template".into(), problem));
                    None
                }
            },
        };
        let url = match self.receiver_url.filter(|url| !url.is_empty()) {
            None => {
                problems.push((".receiverUrl".into(), Problem::MissingField("receiverUrl")));
                None
            }
            Some(raw) => match Url::parse(&raw) {
                Ok(url) => Some(url),
                Err(_) => {
                    problems.push((".receiverUrl".into(), Problem::BadUrl(raw)));
                    None
                }
            },
        };
        let priority = match self.priority {
            None => DEFAULT_PRIORITY,
            Some(value) => u64::try_from(value).unwrap_or_else(|_| {
                problems.push((".priority".into(), Problem::NegativePriority(value)));
                DEFAULT_PRIORITY
            }),
        };
        let headers = match self.custom_headers {
            None => headers_with_defaults(Vec::new()),
            Some(custom) if custom.is_empty() => {
                problems.push((".customHeaders".into(), Problem::EmptyList));
                Vec::new()
            }
            Some(custom) => {
                let mut parsed = Vec::new();
                for (at, header) in custom.iter().enumerate() {
                    match parse_header(header) {
                        Ok(field) => parsed.push(field),
                        Err(problem) => problems.push((format!(".customHeaders[{at}]"), problem)),
                    }
                }
                headers_with_defaults(parsed)
            }
        };
        if self.payload_fields.as_ref().is_some_and(Map::is_empty) {
            problems.push((".payloadFields".into(), Problem::EmptyList));
        }
        match (template_name, template, url) {
            (Some(name), Some(template), Some(url)) if problems.is_empty() => Ok(Receiver {
                name: format!("{name}-{index}"),
                template,
                url,
                priority,
                headers,
                payload_fields: self.payload_fields.unwrap_or_default(),
                fail_on_error: self.fail_if_alert_sending_fails.is_some_and(|b| b.0),
            }),
            _ => Err(problems),
        }
    }
}

/// Where the templates of the alerting file at `path` are read from: `templates/` beside it.
pub fn templates_dir(path: &Path) -> PathBuf {
    path.parent()
        .unwrap_or_else(|| Path::new("."))
        .join("templates")
}

fn load_template(name: &str, templates: &Path) -> Result<Template, Problem> {
    if name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return Err(Problem::BadTemplateName(name.to_owned()));
    }
    let file = templates.join(format!("{name}.json"));
    let text = read_limited(&file).map_err(|reason| Problem::TemplateUnreadable {
        file: file.clone(),
        reason,
    })?;
    Template::parse(&text).map_err(|error| Problem::BadTemplate { file, error })
}

fn read_limited(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// `Name: value` split at the first `:`; the name canonicalised as Go does
/// (`CoNTeNt-TYpE` → `Content-Type`), both trimmed as Go writes them.
fn parse_header(header: &str) -> Result<(String, String), Problem> {
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| Problem::HeaderWithoutColon(header.to_owned()))?;
    let name = name.trim();
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(Problem::BadHeaderName(name.to_owned()));
    }
    if value.contains(['\r', '\n']) {
        return Err(Problem::HeaderValueLineBreak(name.to_owned()));
    }
    let name = canonical_header_name(name);
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(Problem::ReservedHeader(name));
    }
    Ok((name, value.trim().to_owned()))
}

/// Framing headers the client sets from the request itself (Go's client ignores them too).
const RESERVED_HEADERS: &[&str] = &["Host", "Content-Length", "Transfer-Encoding", "Connection"];

fn canonical_header_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// `Content-Type: application/json`, then the custom headers; a later header of the same
/// name replaces an earlier one (Go's `Header.Set`), so a custom `Content-Type` wins.
fn headers_with_defaults(custom: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    for (name, value) in custom {
        match headers.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = value,
            None => headers.push((name, value)),
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Dir(PathBuf);

    impl Dir {
        fn new(templates: &[(&str, &str)]) -> Dir {
            static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("tastevin-alerts-config-{}-{n}", std::process::id()));
            fs::create_dir_all(dir.join("templates")).unwrap();
            for (name, text) in templates {
                fs::write(dir.join("templates").join(format!("{name}.json")), text).unwrap();
            }
            Dir(dir)
        }

        fn load(&self, yaml: &str) -> Result<AlertsConfig, Vec<AlertsError>> {
            let file = self.0.join("config.yaml");
            fs::write(&file, yaml).unwrap();
            AlertsConfig::load(&file)
        }

        fn errors(&self, yaml: &str) -> Vec<String> {
            self.load(yaml)
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const MESSAGE: &str = r#"{"message": "{{ alert_message }}", "cluster": "{{ cluster }}"}"#;

    #[test]
    fn a_full_configuration_loads_with_defaults() {
        let dir = Dir::new(&[("chat", MESSAGE), ("pager", "{}")]);
        let config = dir
            .load(
                "clusterIdentifier: staging\nadmitRequest:\n  receivers:\n    - template: pager\n      receiverUrl: https://pager.example/v2/alerts\n      priority: 4\n      customHeaders: [\"authorization:  GenieKey k:v \", \"CoNTeNt-TYpE: text/json\"]\n      payloadFields:\n        tags: [deployed]\n        count: 2\n      failIfAlertSendingFails: True\n    - template: chat\n      receiverUrl: http://chat.example:8080/hook\nrejectRequest:\n  receivers:\n    - template: chat\n      receiverUrl: https://chat.example/hook\n      failIfAlertSendingFails: yes\n",
            )
            .unwrap();
        assert_eq!(config.cluster, "staging");
        let pager = &config.admit[0];
        assert_eq!(pager.name, "pager-0");
        assert_eq!(pager.priority, 4);
        assert!(pager.fail_on_error);
        assert_eq!(
            pager.headers,
            vec![
                ("Content-Type".to_owned(), "text/json".to_owned()),
                ("Authorization".to_owned(), "GenieKey k:v".to_owned()),
            ]
        );
        assert_eq!(
            Value::Object(pager.payload_fields.clone()),
            serde_json::json!({"tags": ["deployed"], "count": 2})
        );
        let chat = &config.admit[1];
        assert_eq!(chat.name, "chat-1");
        assert_eq!(chat.priority, DEFAULT_PRIORITY);
        assert!(!chat.fail_on_error);
        assert_eq!(chat.url.to_string(), "http://chat.example:8080/hook");
        assert_eq!(
            chat.headers,
            vec![("Content-Type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(config.reject[0].name, "chat-0");
        assert!(config.reject[0].fail_on_error);
    }

    #[test]
    fn empty_documents_mean_no_alerting() {
        let dir = Dir::new(&[]);
        for text in ["{}", "", "# nothing\n", "admitRequest: {receivers: []}\n"] {
            let config = dir.load(text).unwrap();
            assert!(config.is_empty(), "{text:?}");
            assert_eq!(config.cluster, DEFAULT_CLUSTER);
        }
    }

    #[test]
    fn syntax_types_and_unknown_keys_are_refused_with_the_file() {
        let dir = Dir::new(&[("chat", MESSAGE)]);
        for text in [
            "\\\\",
            "admitRequest:\n  receivers: \\\\\n",
            "clusterIdentifer: x\n",
            "admitRequest:\n  receivers:\n    - template: chat\n      receiverURL: https://x\n",
            "admitRequest:\n  receivers:\n    - template: chat\n      receiverUrl: https://x\n      priority: high\n",
            "admitRequest:\n  receivers:\n    - template: chat\n      receiverUrl: https://x\n      failIfAlertSendingFails: maybe\n",
            "admitRequest:\n  receivers:\n    - template: chat\n      receiverUrl: https://x\n      payloadFields: [a]\n",
        ] {
            let errors = dir.errors(text);
            assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
            assert!(errors[0].contains("config.yaml: "), "{errors:?}");
            assert!(!errors[0].contains("Raw"), "{errors:?}");
        }
        let unknown = dir.errors(
            "admitRequest:\n  receivers:\n    - template: chat\n      receiverURL: https://x\n",
        );
        assert!(unknown[0].contains("receiverURL"), "{unknown:?}");
        assert!(unknown[0].contains("line 4"), "{unknown:?}");
    }

    #[test]
    fn receiver_checks_name_the_path_and_what_to_fix() {
        let dir = Dir::new(&[("chat", MESSAGE), ("broken", r#"{"x": "{{ podsss }}"}"#)]);
        let errors = dir.errors(
            "admitRequest:\n  receivers:\n    - priority: -1\n    - template: ../chat\n      receiverUrl: ftp://x\n      customHeaders: []\n      payloadFields: {}\nrejectRequest:\n  receivers:\n    - template: missing\n      receiverUrl: not a url\n      customHeaders: [\"NoColon\", \"Bad Name: x\", \": v\"]\n    - template: broken\n      receiverUrl: https://x\n",
        );
        let expected = [
            "admitRequest.receivers[0].template: template is a required field",
            "admitRequest.receivers[0].receiverUrl: receiverUrl is a required field",
            "admitRequest.receivers[0].priority: priority must be 0 or greater, got -1",
            "admitRequest.receivers[1].template: template \"../chat\" must be the base name",
            "admitRequest.receivers[1].receiverUrl: receiverUrl \"ftp://x\" must be an absolute http:// or https:// URL",
            "admitRequest.receivers[1].customHeaders: must contain at least 1 item when given",
            "admitRequest.receivers[1].payloadFields: must contain at least 1 item when given",
            "rejectRequest.receivers[0].template: unable to get template file",
            "rejectRequest.receivers[0].receiverUrl: receiverUrl \"not a url\"",
            "rejectRequest.receivers[0].customHeaders[0]: custom header \"NoColon\" must be written \"Name: value\"",
            "rejectRequest.receivers[0].customHeaders[1]: custom header name \"Bad Name\"",
            "rejectRequest.receivers[0].customHeaders[2]: custom header name \"\"",
            "rejectRequest.receivers[1].template: template ",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (error, wanted) in errors.iter().zip(expected) {
            assert!(error.contains("config.yaml: "), "{error}");
            assert!(error.contains(wanted), "{error}\n  wanted: {wanted}");
        }
        assert!(errors[7].contains("missing.json"), "{}", errors[7]);
        assert!(
            errors[12].contains("unknown variable {{ podsss }}"),
            "{}",
            errors[12]
        );
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let dir = Dir::new(&[]);
        let errors = AlertsConfig::load(&dir.0.join("absent.yaml")).unwrap_err();
        assert!(matches!(errors.as_slice(), [AlertsError::Read { .. }]));
        assert!(errors[0].to_string().contains("absent.yaml: cannot read"));
    }

    #[test]
    fn header_names_are_canonicalised_like_go() {
        assert_eq!(canonical_header_name("x-API-key"), "X-Api-Key");
        assert_eq!(
            parse_header("content-type:").unwrap(),
            ("Content-Type".to_owned(), String::new())
        );
        assert_eq!(
            parse_header("X-Value: a\nInjected: b"),
            Err(Problem::HeaderValueLineBreak("X-Value".to_owned()))
        );
        assert_eq!(
            parse_header("content-length: 5"),
            Err(Problem::ReservedHeader("Content-Length".to_owned()))
        );
    }
}
