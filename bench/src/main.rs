//! `loadgen`: a small load generator for tastevin. Keep-alive HTTP/1.1 over rustls (or plain
//! TCP), one thread per connection, per-request latency into fixed-bucket histograms, an
//! optional probe connection, and the server's resident memory read from /proc.

mod connection;
mod cpu;
mod histogram;
mod idle;
mod load;
mod options;
mod report;
mod response;
mod rss;
mod target;
mod tls;

use std::process::ExitCode;
use std::sync::Arc;

use connection::Dialer;
use cpu::CpuUse;
use load::{LoadPlan, PreparedRequest, Probe, Variation};
use options::{Command, Options};
use report::{LoadReport, RssAround};
use target::Target;

/// Exit status when the run completed but some requests failed or were not answered 2xx.
const EXIT_FAILED_REQUESTS: u8 = 3;
const EXIT_USAGE: u8 = 2;
const EXIT_SETUP: u8 = 1;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match options::parse(&args) {
        Ok(Command::Help) => {
            print!("{}", options::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Run(options)) => match run(&options) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("loadgen: {message}");
                ExitCode::from(EXIT_SETUP)
            }
        },
        Err(e) => {
            eprintln!("loadgen: {e}\nRun 'loadgen --help' for the options.");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn dialer_for(url: &str, options: &Options) -> Result<(Dialer, Target), String> {
    let target = Target::parse(url).map_err(|e| e.to_string())?;
    let tls = if target.tls {
        let trust = match (&options.ca, options.insecure) {
            (Some(ca), _) => tls::Trust::CaFile(ca),
            (None, true) => tls::Trust::AnyCertificate,
            (None, false) => {
                return Err(format!("{url} uses TLS: give --ca FILE or --insecure"));
            }
        };
        let config = tls::client_config(trust).map_err(|e| e.to_string())?;
        let name = tls::server_name(&target.host).map_err(|e| e.to_string())?;
        Some((config, name))
    } else {
        None
    };
    let addr = target.socket_addr().map_err(|e| e.to_string())?;
    let dialer = Dialer {
        addr,
        tls,
        io_timeout: options.timeout,
    };
    Ok((dialer, target))
}

fn run(options: &Options) -> Result<ExitCode, String> {
    let (dialer, target) = dialer_for(&options.url, options)?;
    if let Some(count) = options.idle_connections {
        let idle = idle::run(&dialer, count, options.idle_settle, options.server_pid);
        if options.json {
            println!("{}", report::idle_json(&options.url, &idle));
        } else {
            print!("{}", report::idle_text(&options.url, &idle));
        }
        return Ok(if idle.opened == count {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILED_REQUESTS)
        });
    }

    let body = match &options.body {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read body file '{}': {e}", path.display()))?,
        ),
        None => None,
    };
    let mut request = PreparedRequest::new(
        &options.method,
        &target.authority(),
        &target.path,
        body.as_deref().map(|b| (b, options.content_type.as_str())),
    );
    request.expect_body = options
        .expect_body
        .as_deref()
        .map(|t| Arc::from(t.as_bytes()));
    if let (Some(token), Some(body)) = (&options.vary, &body) {
        request.vary = Some(Arc::new(Variation {
            token: token.clone(),
            method: options.method.clone(),
            authority: target.authority(),
            path: target.path.clone(),
            body: body.clone(),
            content_type: options.content_type.clone(),
        }));
    }
    let probe = match &options.probe_url {
        Some(url) => {
            let (dialer, target) = dialer_for(url, options)?;
            let request = PreparedRequest::new("GET", &target.authority(), &target.path, None);
            Some(Probe {
                dialer,
                request,
                interval: options.probe_interval,
                after: options.probe_after,
            })
        }
        None => None,
    };
    let plan = LoadPlan {
        dialer,
        request,
        connections: options.connections,
        duration: options.duration,
        warmup: options.warmup,
        requests_per_connection: options.requests_per_connection,
        probe,
    };

    let rss_before = options.server_pid.and_then(rss::vm_rss_kib);
    let sampler = options.server_pid.map(rss::PeakSampler::start);
    let cpu_before = CpuUse::now(options.server_pid);
    let result = load::run(&plan);
    let cpu = CpuUse::now(options.server_pid).since(&cpu_before);
    let rss = options.server_pid.map(|pid| RssAround {
        before: rss_before,
        peak: sampler.and_then(rss::PeakSampler::finish),
        after: rss::vm_rss_kib(pid),
    });

    let report = LoadReport {
        url: &options.url,
        method: &options.method,
        connections: options.connections,
        probe_url: options.probe_url.as_deref(),
        result: &result,
        rss,
        cpu,
    };
    if options.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    let probe_failed = result
        .probe
        .as_ref()
        .is_some_and(|p| p.error_total() + p.non_2xx() > 0);
    let failed = result.load.error_total() + result.load.non_2xx() > 0 || probe_failed;
    Ok(if failed {
        ExitCode::from(EXIT_FAILED_REQUESTS)
    } else {
        ExitCode::SUCCESS
    })
}
