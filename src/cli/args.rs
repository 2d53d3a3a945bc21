//! A small hand-written argument reader: long options with values (`--flag VALUE` or
//! `--flag=VALUE`), switches, and positional arguments.

use std::fmt;
use std::str::FromStr;

/// A mistake on the command line, shown with the command's usage.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgError {
    Unknown(String),
    MissingValue(String),
    Invalid {
        flag: String,
        value: String,
        why: String,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Unknown(flag) => write!(f, "unknown option '{flag}'"),
            ArgError::MissingValue(flag) => write!(f, "option '{flag}' needs a value"),
            ArgError::Invalid { flag, value, why } => {
                write!(f, "invalid value '{value}' for '{flag}': {why}")
            }
        }
    }
}

/// The parsed command line of one command.
#[derive(Debug, Default)]
pub struct Args {
    options: Vec<(String, String)>,
    switches: Vec<String>,
    pub positional: Vec<String>,
}

impl Args {
    /// Splits `raw` given which flags take a value and which are switches.
    pub fn parse(raw: &[String], valued: &[&str], switches: &[&str]) -> Result<Args, ArgError> {
        let mut args = Args::default();
        let mut iter = raw.iter();
        while let Some(arg) = iter.next() {
            if arg == "--" {
                args.positional.extend(iter.by_ref().cloned());
                break;
            }
            if !arg.starts_with('-') || arg == "-" {
                args.positional.push(arg.clone());
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            if valued.contains(&flag) {
                let value = match inline {
                    Some(v) => v,
                    None => iter
                        .next()
                        .cloned()
                        .ok_or_else(|| ArgError::MissingValue(flag.to_string()))?,
                };
                args.options.push((flag.to_string(), value));
            } else if switches.contains(&flag) && inline.is_none() {
                args.switches.push(flag.to_string());
            } else {
                return Err(ArgError::Unknown(arg.clone()));
            }
        }
        Ok(args)
    }

    /// The last value given for `flag`.
    pub fn value(&self, flag: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `flag` parsed as `T`, or `default` when absent.
    pub fn parsed<T: FromStr>(&self, flag: &str, default: T) -> Result<T, ArgError>
    where
        T::Err: fmt::Display,
    {
        match self.value(flag) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ArgError::Invalid {
                flag: flag.to_string(),
                value: v.to_string(),
                why: e.to_string(),
            }),
        }
    }

    pub fn switch(&self, flag: &str) -> bool {
        self.switches.iter().any(|s| s == flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_switches_and_positionals() {
        let a = Args::parse(
            &strings(&[
                "--listen",
                "1.2.3.4:5",
                "--plain-http",
                "file",
                "--workers=3",
            ]),
            &["--listen", "--workers"],
            &["--plain-http"],
        )
        .unwrap();
        assert_eq!(a.value("--listen"), Some("1.2.3.4:5"));
        assert_eq!(a.parsed("--workers", 1usize), Ok(3));
        assert!(a.switch("--plain-http"));
        assert_eq!(a.positional, vec!["file"]);
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            Args::parse(&strings(&["--bogus"]), &[], &[]).unwrap_err(),
            ArgError::Unknown("--bogus".into())
        );
        assert_eq!(
            Args::parse(&strings(&["--listen"]), &["--listen"], &[]).unwrap_err(),
            ArgError::MissingValue("--listen".into())
        );
        let a = Args::parse(&strings(&["--workers", "x"]), &["--workers"], &[]).unwrap();
        assert!(a
            .parsed("--workers", 1usize)
            .unwrap_err()
            .to_string()
            .contains("'x'"));
    }
}
