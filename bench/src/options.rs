//! The command line of `loadgen`, read by hand into typed options.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
Usage: loadgen --url URL [OPTIONS]

Sends requests over keep-alive HTTP/1.1 connections (TLS or plain) for a fixed time and reports
throughput, latency percentiles, errors by kind and non-2xx statuses.

Options:
      --url URL                 http:// or https:// URL to load (e.g. https://127.0.0.1:8443/mutate)
      --connections N           concurrent keep-alive connections, one thread each [default: 16]
      --duration SECS           how long to send requests [default: 10]
      --warmup SECS             first seconds not counted in the figures [default: 0]
      --requests-per-connection N
                                each connection stops after N requests (the probe keeps
                                going until --duration) [default: no limit]
      --method METHOD           request method [default: POST with --body, else GET]
      --body FILE               request body, sent as is
      --vary TOKEN              replace TOKEN in the body by the connection's number, so
                                that every connection sends a different request
      --content-type TYPE       Content-Type of the body [default: application/json]
      --expect-body TEXT        count a response whose body lacks TEXT as an error
      --insecure                accept any server certificate (local benchmarks only)
      --ca FILE                 PEM CA certificates to trust instead
      --timeout-ms N            per-request socket timeout [default: 5000]
      --probe-url URL           one extra connection sending GET URL during the load;
                                its latency is reported separately
      --probe-interval-ms N     pause between probe requests [default: 100]
      --probe-after SECS        start the probe this long after the load [default: 0]
      --server-pid PID          report VmRSS of PID before, at peak during, and after the run
      --idle-connections N      instead of a load: open N connections that only complete
                                the handshake, wait, report the server's RSS, close them
      --idle-settle-ms N        wait before measuring RSS with idle connections [default: 2000]
      --json                    print one JSON object instead of text
  -h, --help                    print this help

Exit status: 0 all requests answered 2xx, 3 some failed or were not 2xx, 2 usage error,
1 setup error (bad URL, CA file, body file).
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub url: String,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub requests_per_connection: Option<u64>,
    pub method: String,
    pub body: Option<PathBuf>,
    pub vary: Option<String>,
    pub content_type: String,
    pub expect_body: Option<String>,
    pub insecure: bool,
    pub ca: Option<PathBuf>,
    pub timeout: Duration,
    pub probe_url: Option<String>,
    pub probe_interval: Duration,
    pub probe_after: Duration,
    pub server_pid: Option<u32>,
    pub idle_connections: Option<usize>,
    pub idle_settle: Duration,
    pub json: bool,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Box<Options>),
    Help,
}

#[derive(Debug, PartialEq, Eq)]
pub enum OptionsError {
    Unknown(String),
    MissingValue(String),
    Invalid { flag: String, value: String },
    MissingUrl,
    WarmupNotShorter,
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsError::Unknown(flag) => write!(f, "unknown option '{flag}'"),
            OptionsError::MissingValue(flag) => write!(f, "option '{flag}' needs a value"),
            OptionsError::Invalid { flag, value } => {
                write!(f, "invalid value '{value}' for '{flag}'")
            }
            OptionsError::MissingUrl => write!(f, "--url is required"),
            OptionsError::WarmupNotShorter => write!(f, "--warmup must be shorter than --duration"),
        }
    }
}

pub fn parse(args: &[String]) -> Result<Command, OptionsError> {
    let mut url = None;
    let mut connections = 16usize;
    let mut duration = Duration::from_secs(10);
    let mut warmup = Duration::ZERO;
    let mut requests_per_connection = None;
    let mut method = None;
    let mut body = None;
    let mut vary = None;
    let mut content_type = "application/json".to_string();
    let mut expect_body = None;
    let mut insecure = false;
    let mut ca = None;
    let mut timeout = Duration::from_millis(5000);
    let mut probe_url = None;
    let mut probe_interval = Duration::from_millis(100);
    let mut probe_after = Duration::ZERO;
    let mut server_pid = None;
    let mut idle_connections = None;
    let mut idle_settle = Duration::from_millis(2000);
    let mut json = false;

    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| OptionsError::MissingValue(flag.to_string()))
        };
        match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "--insecure" => insecure = true,
            "--json" => json = true,
            "--url" => url = Some(value()?),
            "--connections" => connections = positive(flag, &value()?)?,
            "--duration" => duration = seconds(flag, &value()?)?,
            "--warmup" => warmup = seconds(flag, &value()?)?,
            "--requests-per-connection" => {
                requests_per_connection = Some(positive(flag, &value()?)? as u64)
            }
            "--method" => method = Some(value()?),
            "--body" => body = Some(PathBuf::from(value()?)),
            "--vary" => vary = Some(value()?),
            "--content-type" => content_type = value()?,
            "--expect-body" => expect_body = Some(value()?),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--timeout-ms" => timeout = millis(flag, &value()?)?,
            "--probe-url" => probe_url = Some(value()?),
            "--probe-interval-ms" => probe_interval = millis(flag, &value()?)?,
            "--probe-after" => probe_after = seconds(flag, &value()?)?,
            "--server-pid" => server_pid = Some(number(flag, &value()?)?),
            "--idle-connections" => idle_connections = Some(number(flag, &value()?)?),
            "--idle-settle-ms" => idle_settle = millis(flag, &value()?)?,
            _ => return Err(OptionsError::Unknown(arg.clone())),
        }
    }
    let url = url.ok_or(OptionsError::MissingUrl)?;
    if idle_connections.is_none() && warmup >= duration {
        return Err(OptionsError::WarmupNotShorter);
    }
    let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.to_string());
    Ok(Command::Run(Box::new(Options {
        url,
        connections,
        duration,
        warmup,
        requests_per_connection,
        method,
        body,
        vary,
        content_type,
        expect_body,
        insecure,
        ca,
        timeout,
        probe_url,
        probe_interval,
        probe_after,
        server_pid,
        idle_connections,
        idle_settle,
        json,
    })))
}

fn invalid(flag: &str, value: &str) -> OptionsError {
    OptionsError::Invalid {
        flag: flag.to_string(),
        value: value.to_string(),
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, OptionsError> {
    value.parse().map_err(|_| invalid(flag, value))
}

fn positive(flag: &str, value: &str) -> Result<usize, OptionsError> {
    match number(flag, value)? {
        0 => Err(invalid(flag, value)),
        n => Ok(n),
    }
}

fn seconds(flag: &str, value: &str) -> Result<Duration, OptionsError> {
    let secs: f64 = number(flag, value)?;
    Duration::try_from_secs_f64(secs).map_err(|_| invalid(flag, value))
}

fn millis(flag: &str, value: &str) -> Result<Duration, OptionsError> {
    number(flag, value).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, OptionsError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Run(options) => Ok(*options),
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_and_values() {
        let o = run(&["--url", "https://127.0.0.1:1/mutate", "--body", "b.json"]).unwrap();
        assert_eq!(o.connections, 16);
        assert_eq!(o.duration, Duration::from_secs(10));
        assert_eq!(o.method, "POST");
        assert_eq!(o.content_type, "application/json");
        assert_eq!(o.requests_per_connection, None);
        assert!(!o.insecure && !o.json);
        let o = run(&[
            "--url=http://h/metrics",
            "--connections",
            "4",
            "--duration",
            "2.5",
            "--server-pid",
            "42",
            "--insecure",
            "--json",
            "--probe-interval-ms=10",
            "--requests-per-connection",
            "1",
            "--probe-after",
            "0.5",
        ])
        .unwrap();
        assert_eq!(o.probe_after, Duration::from_millis(500));
        assert_eq!(o.requests_per_connection, Some(1));
        assert_eq!(o.method, "GET");
        assert_eq!(o.connections, 4);
        assert_eq!(o.duration, Duration::from_millis(2500));
        assert_eq!(o.server_pid, Some(42));
        assert_eq!(o.probe_interval, Duration::from_millis(10));
        assert!(o.insecure && o.json);
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(run(&["--duration", "1"]), Err(OptionsError::MissingUrl));
        assert_eq!(
            run(&["--url", "u", "--bogus"]),
            Err(OptionsError::Unknown("--bogus".into()))
        );
        assert_eq!(
            run(&["--url"]),
            Err(OptionsError::MissingValue("--url".into()))
        );
        assert!(matches!(
            run(&["--url", "u", "--connections", "0"]),
            Err(OptionsError::Invalid { .. })
        ));
        assert!(matches!(
            run(&["--url", "u", "--duration", "-1"]),
            Err(OptionsError::Invalid { .. })
        ));
        assert_eq!(
            run(&["--url", "u", "--duration", "1", "--warmup", "1"]),
            Err(OptionsError::WarmupNotShorter)
        );
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(&["--help".to_string()]), Ok(Command::Help));
    }
}
