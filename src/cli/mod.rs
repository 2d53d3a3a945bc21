//! Command line: `serve` (the default), `review`, `check-config`, `cert`, with `--help` texts in
//! the style of common Unix tools. Arguments are parsed by hand: `--flag VALUE` or
//! `--flag=VALUE`.

mod args;
pub mod cert;
pub mod check_config;
pub mod review;
mod serve;

pub use args::{ArgError, Args};

const VERSION: &str = env!("CARGO_PKG_VERSION");

const USAGE: &str = "\
Usage: tastevin [COMMAND] [OPTIONS]

A Kubernetes admission webhook that verifies container image signatures and pins
admitted images to their trusted digests (Connaisseur-compatible).

Commands:
  serve         run the webhook (the default when no command is given)
  review        run the admission engine on an AdmissionReview or manifest file
  check-config  load and validate a configuration file
  cert          create a CA and the webhook's serving certificate, print the caBundle

Run 'tastevin COMMAND --help' for the options of a command.

Options:
  -h, --help     print this help
  -V, --version  print the version
";

/// Runs the command line and returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let (command, rest) = match args.split_first() {
        Some((first, rest)) if !first.starts_with('-') => (first.as_str(), rest),
        _ => ("serve", args),
    };
    match command {
        "serve" => {
            if args.first().map(String::as_str) != Some("serve") {
                match args.first().map(String::as_str) {
                    Some("-V" | "--version") => {
                        println!("tastevin {VERSION}");
                        return 0;
                    }
                    Some("-h" | "--help") => {
                        print!("{USAGE}");
                        return 0;
                    }
                    _ => {}
                }
            }
            serve::run(rest)
        }
        "review" => review::run(rest),
        "check-config" => check_config::run(rest),
        "cert" => cert::run(rest),
        "help" => {
            print!("{USAGE}");
            0
        }
        other => {
            eprintln!("tastevin: unknown command '{other}'\n\n{USAGE}");
            2
        }
    }
}
