//! `burst`: one burst of identical admission requests, spread over several replicas. Every
//! connection is opened and its TLS handshake completed first; then all of them send their one
//! request at the same instant (a barrier), the way a Deployment scaled to N Pods reaches the
//! webhook. Prints each request's latency and outcome as one JSON object, so a script can sum
//! several bursts and read the registry requests they cost from the replicas' metrics.

// The connection, TLS, URL and HTTP framing code is loadgen's; this binary uses only part of it.
#[allow(dead_code)]
#[path = "connection.rs"]
mod connection;
#[allow(dead_code)]
#[path = "response.rs"]
mod response;
#[allow(dead_code)]
#[path = "target.rs"]
mod target;
#[allow(dead_code)]
#[path = "tls.rs"]
mod tls;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use connection::{Dialer, ErrorKind};

const USAGE: &str = "\
Usage: burst --url URL [--url URL...] --body FILE --connections N [OPTIONS]

Opens N TLS (or plain) connections, spread round-robin over the URLs, completes every
handshake, then sends one POST with FILE on all of them at once and prints one JSON object:
each request's latency in microseconds (sorted), its p50/p99/max, and failures by kind.

Options:
      --expect-body TEXT   count an answer whose body lacks TEXT as failed
      --insecure           accept any server certificate (local benchmarks only)
      --ca FILE            PEM CA certificates to trust instead
      --timeout-ms N       per-request socket timeout [default: 30000]
  -h, --help               print this help

Exit status: 0 every request answered 2xx (with TEXT), 3 some failed, 2 usage, 1 setup error.
";

struct Options {
    urls: Vec<String>,
    body: PathBuf,
    connections: usize,
    expect_body: Option<String>,
    insecure: bool,
    ca: Option<PathBuf>,
    timeout: Duration,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut urls = Vec::new();
    let (mut body, mut connections, mut expect_body, mut ca) = (None, None, None, None);
    let mut insecure = false;
    let mut timeout = Duration::from_secs(30);
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--insecure" => {
                insecure = true;
                continue;
            }
            _ => {}
        }
        let value = iter
            .next()
            .ok_or_else(|| format!("option '{flag}' needs a value"))?;
        let invalid = || format!("invalid value '{value}' for '{flag}'");
        match flag.as_str() {
            "--url" => urls.push(value.clone()),
            "--body" => body = Some(PathBuf::from(value)),
            "--connections" => {
                connections = Some(value.parse().ok().filter(|n| *n > 0).ok_or_else(invalid)?)
            }
            "--expect-body" => expect_body = Some(value.clone()),
            "--ca" => ca = Some(PathBuf::from(value)),
            "--timeout-ms" => {
                timeout = Duration::from_millis(value.parse().map_err(|_| invalid())?)
            }
            _ => return Err(format!("unknown option '{flag}'")),
        }
    }
    if urls.is_empty() {
        return Err("give at least one --url".to_string());
    }
    Ok(Some(Options {
        urls,
        body: body.ok_or("--body is required")?,
        connections: connections.ok_or("--connections is required")?,
        expect_body,
        insecure,
        ca,
        timeout,
    }))
}

/// A dialer and the complete request for one URL.
struct Replica {
    dialer: Dialer,
    request: Vec<u8>,
}

fn replica(url: &str, body: &[u8], options: &Options) -> Result<Replica, String> {
    let target = target::Target::parse(url).map_err(|e| e.to_string())?;
    let tls = if target.tls {
        let trust = match (&options.ca, options.insecure) {
            (Some(ca), _) => tls::Trust::CaFile(ca),
            (None, true) => tls::Trust::AnyCertificate,
            (None, false) => return Err(format!("{url} uses TLS: give --ca FILE or --insecure")),
        };
        let config = tls::client_config(trust).map_err(|e| e.to_string())?;
        Some((
            config,
            tls::server_name(&target.host).map_err(|e| e.to_string())?,
        ))
    } else {
        None
    };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tastevin-burst\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        target.path,
        target.authority(),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    Ok(Replica {
        dialer: Dialer {
            addr: target.socket_addr().map_err(|e| e.to_string())?,
            tls,
            io_timeout: options.timeout,
        },
        request,
    })
}

/// What one connection's request came to.
type Outcome = Result<Duration, ErrorKind>;

fn send_one(replica: &Replica, barrier: &Barrier, expect: Option<&[u8]>) -> Outcome {
    let connected = replica.dialer.connect();
    // Everyone waits here, connected or not, so the barrier always opens.
    barrier.wait();
    let mut connection = connected?;
    let start = Instant::now();
    let answer = connection.exchange(&replica.request, false)?;
    let elapsed = start.elapsed();
    let body_ok = expect.is_none_or(|needle| response::contains(answer.body, needle));
    if !(200..300).contains(&answer.status) || !body_ok {
        return Err(ErrorKind::UnexpectedBody);
    }
    Ok(elapsed)
}

fn run(options: &Options) -> Result<ExitCode, String> {
    let body = std::fs::read(&options.body)
        .map_err(|e| format!("cannot read '{}': {e}", options.body.display()))?;
    let replicas: Vec<Arc<Replica>> = options
        .urls
        .iter()
        .map(|url| replica(url, &body, options).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let expect: Option<Arc<[u8]>> = options.expect_body.as_deref().map(|t| t.as_bytes().into());
    let barrier = Arc::new(Barrier::new(options.connections));
    let threads: Vec<_> = (0..options.connections)
        .map(|n| {
            let replica = Arc::clone(&replicas[n % replicas.len()]);
            let barrier = Arc::clone(&barrier);
            let expect = expect.clone();
            thread::spawn(move || send_one(&replica, &barrier, expect.as_deref()))
        })
        .collect();
    let mut latencies_us = Vec::with_capacity(options.connections);
    let mut failures: BTreeMap<&'static str, u64> = BTreeMap::new();
    for thread in threads {
        match thread.join() {
            Ok(Ok(latency)) => latencies_us.push(latency.as_micros() as u64),
            Ok(Err(kind)) => *failures.entry(kind.name()).or_default() += 1,
            Err(_) => *failures.entry("panicked").or_default() += 1,
        }
    }
    latencies_us.sort_unstable();
    // Nearest rank: the smallest latency at or above which the fraction `q` of answers lies.
    let quantile = |q: f64| {
        let rank = ((q * latencies_us.len() as f64).ceil() as usize).max(1);
        latencies_us.get(rank - 1).copied()
    };
    let report = json!({
        "urls": options.urls,
        "requests": options.connections,
        "succeeded": latencies_us.len(),
        "failures": failures,
        "p50_us": quantile(0.5),
        "p99_us": quantile(0.99),
        "max_us": latencies_us.last(),
        "latencies_us": latencies_us,
    });
    println!("{report}");
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(options)) => run(&options).unwrap_or_else(|message| {
            eprintln!("burst: {message}");
            ExitCode::from(1)
        }),
        Err(message) => {
            eprintln!("burst: {message}\nRun 'burst --help' for the options.");
            ExitCode::from(2)
        }
    }
}
