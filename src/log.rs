//! Logging to stdout: one line per event, as text or as JSON lines.
//!
//! `LOG_LEVEL` (`debug`, `info`, `warn`, `error`; case-insensitive, default `info`) and
//! `LOG_FORMAT` (`text` by default; `json` or Connaisseur's `json-pretty` give JSON lines)
//! are read once, at the first log call. Each line is written with a single `write` so that
//! lines from worker threads never interleave.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Severity of a log line, ordered from the most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_lowercase().as_str() {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" | "fatal" => Some(Level::Error),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

struct Settings {
    threshold: Level,
    format: Format,
}

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| Settings {
        threshold: std::env::var("LOG_LEVEL")
            .ok()
            .and_then(|v| Level::parse(&v))
            .unwrap_or(Level::Info),
        format: match std::env::var("LOG_FORMAT").map(|v| v.to_ascii_lowercase()) {
            Ok(v) if v.starts_with("json") => Format::Json,
            _ => Format::Text,
        },
    })
}

/// True when a line of this level would be written.
pub fn enabled(level: Level) -> bool {
    level >= settings().threshold
}

/// Writes one log line (used through the `log_*!` macros).
pub fn write(level: Level, message: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = format_line(
        settings().format,
        level,
        &message.to_string(),
        SystemTime::now(),
    );
    // A closed stdout must not take the webhook down: the line is lost, nothing else.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

fn format_line(format: Format, level: Level, message: &str, at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    match format {
        Format::Text => format!("{secs:.3} {:<5} {message}\n", level.as_str()),
        Format::Json => {
            let value =
                serde_json::json!({ "level": level.as_str(), "msg": message, "time": secs });
            format!("{value}\n")
        }
    }
}

/// Logs at debug level.
#[macro_export]
macro_rules! log_debug { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) } }
/// Logs at info level.
#[macro_export]
macro_rules! log_info { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) } }
/// Logs at warn level.
#[macro_export]
macro_rules! log_warn { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) } }
/// Logs at error level.
#[macro_export]
macro_rules! log_error { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::parse(" Warn "), Some(Level::Warn));
        assert_eq!(Level::parse("fatal"), Some(Level::Error));
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn json_lines_escape_the_message() {
        let line = format_line(Format::Json, Level::Warn, "a \"quoted\"\nline", UNIX_EPOCH);
        assert!(line.ends_with('\n'));
        let parsed: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed["level"], "warn");
        assert_eq!(parsed["msg"], "a \"quoted\"\nline");
        assert_eq!(parsed["time"], 0.0);
    }

    #[test]
    fn text_lines_carry_level_and_message() {
        let line = format_line(Format::Text, Level::Info, "hello", UNIX_EPOCH);
        assert_eq!(line, "0.000 info  hello\n");
    }
}
