//! Logging to stdout: one line per event, as text or as JSON lines.
//!
//! `LOG_LEVEL` (`debug`, `info`, `warn`, `error`; case-insensitive, default `info`) and
//! `LOG_FORMAT` (`text` by default; `json` or Connaisseur's `json-pretty` give JSON lines)
//! are read once, at the first log call. Each line is written with a single `write` so that
//! lines from worker threads never interleave.
//!
//! The event loop's thread holds its lines instead ([`hold_lines`]) and writes them
//! together once per loop iteration, before it waits for events again: a `write` per
//! admission line was an eighth of the CPU time of a static `/mutate`.

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

/// A line buffer larger than this after a line is released rather than kept for the next.
const KEPT_BUFFER_BYTES: usize = 16 * 1024;

/// JSON line, fields in the order Connaisseur writes them.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    level: &'a str,
    msg: &'a str,
    time: f64,
}

/// Per-thread buffers for the line and (JSON only) the message: every admission logs a line,
/// and formatting into reused buffers keeps that off the allocator.
#[derive(Default)]
struct Buffers {
    line: Vec<u8>,
    message: String,
}

/// Held lines are written at once past this size, so that holding never grows memory.
const HELD_LIMIT_BYTES: usize = 16 * 1024;

thread_local! {
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::default();
    /// This thread's lines not yet written, while it holds them (see [`hold_lines`]).
    static HELD: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread's held lines (`None` inside when the thread does not hold them);
/// `None` when the thread is exiting or the lines are busy being written.
fn with_held<R>(f: impl FnOnce(&mut Option<Vec<u8>>) -> R) -> Option<R> {
    HELD.try_with(|held| held.try_borrow_mut().ok().map(|mut held| f(&mut held)))
        .ok()
        .flatten()
}

/// Writes `bytes` in one `write` and empties them, keeping a modest buffer for next time.
fn write_out(bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    emit(bytes);
    bytes.clear();
    if bytes.capacity() > KEPT_BUFFER_BYTES {
        *bytes = Vec::new();
    }
}

/// Lines logged on this thread are held until [`write_held`] or until the returned guard is
/// dropped (which writes what is left and stops holding).
pub fn hold_lines() -> HeldLines {
    with_held(|held| {
        held.get_or_insert_with(Vec::new);
    });
    HeldLines {
        _not_send: std::marker::PhantomData,
    }
}

/// Writes the lines this thread holds, in one `write`.
pub fn write_held() {
    with_held(|held| held.as_mut().map(write_out));
}

/// Holding lines on this thread; dropping it writes them and ends holding.
pub struct HeldLines {
    // Holding is per thread: the guard must be dropped where it was made.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for HeldLines {
    fn drop(&mut self) {
        with_held(|held| {
            if let Some(mut bytes) = held.take() {
                write_out(&mut bytes);
            }
        });
    }
}

/// Holds `line` if this thread holds its lines, else writes it.
fn deliver(line: &[u8]) {
    let held = with_held(|held| {
        let Some(bytes) = held.as_mut() else {
            return false;
        };
        bytes.extend_from_slice(line);
        if bytes.len() >= HELD_LIMIT_BYTES {
            write_out(bytes);
        }
        true
    });
    if held != Some(true) {
        emit(line);
    }
}

/// Writes one log line (used through the `log_*!` macros).
pub fn write(level: Level, message: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let format = settings().format;
    let at = SystemTime::now();
    let written = BUFFERS.try_with(|buffers| {
        // Busy only when formatting an argument logs itself: that line gets its own buffers.
        let Ok(mut buffers) = buffers.try_borrow_mut() else {
            return false;
        };
        let Buffers {
            line,
            message: scratch,
        } = &mut *buffers;
        format_line(line, scratch, format, level, message, at);
        deliver(line);
        if line.capacity() > KEPT_BUFFER_BYTES || scratch.capacity() > KEPT_BUFFER_BYTES {
            *buffers = Buffers::default();
        }
        true
    });
    if written != Ok(true) {
        let mut line = Vec::new();
        format_line(&mut line, &mut String::new(), format, level, message, at);
        deliver(&line);
    }
}

fn emit(line: &[u8]) {
    // A closed stdout must not take the webhook down: the line is lost, nothing else.
    let _ = std::io::stdout().lock().write_all(line);
}

/// Replaces `line` by the formatted line (`scratch` holds the JSON message while it is
/// escaped).
fn format_line(
    line: &mut Vec<u8>,
    scratch: &mut String,
    format: Format,
    level: Level,
    message: std::fmt::Arguments<'_>,
    at: SystemTime,
) {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    line.clear();
    // Writing into a Vec cannot fail, nor can serialising strings and a number.
    match format {
        Format::Text => {
            let _ = writeln!(line, "{secs:.3} {:<5} {message}", level.as_str());
        }
        Format::Json => {
            scratch.clear();
            let _ = std::fmt::Write::write_fmt(scratch, message);
            let json = JsonLine {
                level: level.as_str(),
                msg: scratch,
                time: secs,
            };
            let _ = serde_json::to_writer(&mut *line, &json);
            line.push(b'\n');
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

    fn line(format: Format, level: Level, message: &str) -> String {
        let mut line = Vec::new();
        format_line(
            &mut line,
            &mut String::new(),
            format,
            level,
            format_args!("{message}"),
            UNIX_EPOCH,
        );
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn json_lines_escape_the_message() {
        let line = line(Format::Json, Level::Warn, "a \"quoted\"\nline");
        assert!(line.ends_with('\n'));
        let parsed: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed["level"], "warn");
        assert_eq!(parsed["msg"], "a \"quoted\"\nline");
        assert_eq!(parsed["time"], 0.0);
        assert!(line.starts_with(r#"{"level":"warn","msg":"#), "{line}");
    }

    #[test]
    fn text_lines_carry_level_and_message() {
        assert_eq!(
            line(Format::Text, Level::Info, "hello"),
            "0.000 info  hello\n"
        );
    }

    #[test]
    fn a_reused_buffer_holds_only_the_last_line() {
        let mut buffer = Vec::new();
        let mut scratch = String::new();
        for (format, message) in [
            (Format::Json, "a longer first message"),
            (Format::Json, "b"),
        ] {
            format_line(
                &mut buffer,
                &mut scratch,
                format,
                Level::Info,
                format_args!("{message}"),
                UNIX_EPOCH,
            );
        }
        assert_eq!(
            buffer,
            br#"{"level":"info","msg":"b","time":0.0}"#
                .iter()
                .chain(b"\n")
                .copied()
                .collect::<Vec<u8>>()
        );
    }

    fn held_bytes() -> Option<usize> {
        HELD.with(|held| held.borrow().as_ref().map(Vec::len))
    }

    #[test]
    fn held_lines_wait_for_the_end_of_the_iteration() {
        // Tests run on threads of their own, so holding here touches no other test.
        assert_eq!(held_bytes(), None, "nothing held before hold_lines");
        let guard = hold_lines();
        write(Level::Error, format_args!("first"));
        write(Level::Error, format_args!("second"));
        let held = HELD.with(|held| held.borrow().clone()).unwrap_or_default();
        let text = String::from_utf8(held).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("first") && text.contains("second"), "{text}");
        write_held();
        assert_eq!(held_bytes(), Some(0), "written and cleared");
        write(Level::Error, format_args!("third"));
        assert!(held_bytes().unwrap_or(0) > 0);
        drop(guard);
        assert_eq!(
            held_bytes(),
            None,
            "the guard writes the rest and stops holding"
        );
    }

    #[test]
    fn held_lines_are_written_past_the_limit() {
        let _guard = hold_lines();
        let long = "x".repeat(1000);
        for _ in 0..100 {
            write(Level::Error, format_args!("{long}"));
            assert!(held_bytes().unwrap_or(0) < HELD_LIMIT_BYTES);
        }
    }

    #[test]
    fn a_line_logged_while_formatting_a_line_is_written_too() {
        struct Nested;
        impl std::fmt::Display for Nested {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write(Level::Error, format_args!("inner"));
                f.write_str("outer")
            }
        }
        // Must neither panic on the busy buffer nor deadlock.
        write(Level::Error, format_args!("{Nested}"));
    }
}
