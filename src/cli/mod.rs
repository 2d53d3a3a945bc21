//! Command line: `serve` (default), `review`, `check-config`, `cert`, with `--help` texts.

pub mod check_config;

/// Runs the command line and returns the process exit code.
pub fn main(_args: &[String]) -> i32 {
    0
}
