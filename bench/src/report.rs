//! Presenting results: a short text summary for people, or one JSON object for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::connection::ErrorKind;
use crate::cpu::CpuUse;
use crate::idle::IdleResult;
use crate::load::{LoadResult, Tally};

/// Server memory around a load run, in KiB.
pub struct RssAround {
    pub before: Option<u64>,
    pub peak: Option<u64>,
    pub after: Option<u64>,
}

pub struct LoadReport<'a> {
    pub url: &'a str,
    pub method: &'a str,
    pub connections: usize,
    pub probe_url: Option<&'a str>,
    pub result: &'a LoadResult,
    pub rss: Option<RssAround>,
    pub cpu: CpuUse,
}

fn micros(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 100.0).round() / 10.0
}

fn millis_text(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn errors_json(errors: &[u64]) -> Value {
    let map: Map<String, Value> = ErrorKind::ALL
        .iter()
        .zip(errors)
        .filter(|(_, &n)| n > 0)
        .map(|(kind, &n)| (kind.name().to_string(), json!(n)))
        .collect();
    Value::Object(map)
}

fn errors_text(errors: &[u64]) -> String {
    let parts: Vec<String> = ErrorKind::ALL
        .iter()
        .zip(errors)
        .filter(|(_, &n)| n > 0)
        .map(|(kind, n)| format!("{kind}={n}"))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(" ")
    }
}

fn tally_json(tally: &Tally) -> Value {
    let h = &tally.latencies;
    let statuses: Map<String, Value> = tally
        .statuses()
        .map(|(status, n)| (status.to_string(), json!(n)))
        .collect();
    json!({
        "answered": tally.answered(),
        "latency_us": {
            "p50": micros(h.quantile(0.50)),
            "p90": micros(h.quantile(0.90)),
            "p99": micros(h.quantile(0.99)),
            "p999": micros(h.quantile(0.999)),
            "max": micros(h.max()),
            "mean": micros(h.mean()),
        },
        "statuses": statuses,
        "non_2xx": tally.non_2xx(),
        "errors": errors_json(&tally.errors),
        "error_total": tally.error_total(),
    })
}

fn tally_text(out: &mut String, tally: &Tally) {
    let h = &tally.latencies;
    let _ = writeln!(
        out,
        "  latency   p50 {}  p90 {}  p99 {}  max {}",
        millis_text(h.quantile(0.50)),
        millis_text(h.quantile(0.90)),
        millis_text(h.quantile(0.99)),
        millis_text(h.max()),
    );
    let statuses: Vec<String> = tally.statuses().map(|(s, n)| format!("{s}={n}")).collect();
    let _ = writeln!(
        out,
        "  statuses  {}  (non-2xx: {})",
        if statuses.is_empty() {
            "none".to_string()
        } else {
            statuses.join(" ")
        },
        tally.non_2xx()
    );
    let _ = writeln!(out, "  errors    {}", errors_text(&tally.errors));
}

fn kib_json(kib: Option<u64>) -> Value {
    kib.map_or(Value::Null, |k| json!(k))
}

fn kib_text(kib: Option<u64>) -> String {
    kib.map_or("n/a".to_string(), |k| {
        format!("{:.2} MiB", k as f64 / 1024.0)
    })
}

impl LoadReport<'_> {
    pub fn requests_per_second(&self) -> f64 {
        let secs = self.result.measured.as_secs_f64();
        if secs > 0.0 {
            self.result.load.answered() as f64 / secs
        } else {
            0.0
        }
    }

    /// Server CPU time per answer, over the whole run including the warm-up.
    pub fn server_cpu_per_request(&self) -> Option<Duration> {
        let server = self.cpu.server?;
        let answered = self.result.load.answered_with_warmup
            + self
                .result
                .probe
                .as_ref()
                .map_or(0, |p| p.answered_with_warmup);
        let answered = u32::try_from(answered).ok().filter(|&n| n > 0)?;
        Some(server / answered)
    }

    pub fn to_json(&self) -> Value {
        let mut report = json!({
            "url": self.url,
            "method": self.method,
            "connections": self.connections,
            "measured_secs": self.result.measured.as_secs_f64(),
            "requests_per_sec": (self.requests_per_second() * 10.0).round() / 10.0,
            "load": tally_json(&self.result.load),
        });
        if let (Some(probe), Some(url)) = (&self.result.probe, self.probe_url) {
            let mut probe = tally_json(probe);
            probe["url"] = json!(url);
            report["probe"] = probe;
        }
        report["cpu_secs"] = json!({
            "server": self.cpu.server.map(|d| d.as_secs_f64()),
            "client": self.cpu.client.map(|d| d.as_secs_f64()),
            "server_us_per_request": self.server_cpu_per_request().map(micros),
        });
        if let Some(rss) = &self.rss {
            report["server_rss_kib"] = json!({
                "before": kib_json(rss.before),
                "peak": kib_json(rss.peak),
                "after": kib_json(rss.after),
            });
        }
        report
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}  ({} connections, {:.1} s measured)",
            self.method,
            self.url,
            self.connections,
            self.result.measured.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  requests  {} answered, {:.0} req/s",
            self.result.load.answered(),
            self.requests_per_second()
        );
        tally_text(&mut out, &self.result.load);
        if let (Some(probe), Some(url)) = (&self.result.probe, self.probe_url) {
            let _ = writeln!(out, "probe GET {url}  ({} answered)", probe.answered());
            tally_text(&mut out, probe);
        }
        if let Some(server) = self.cpu.server {
            let _ = writeln!(
                out,
                "cpu         server {:.2} s ({:.1} us/request), loadgen {:.2} s",
                server.as_secs_f64(),
                self.server_cpu_per_request()
                    .map_or(0.0, |d| d.as_secs_f64() * 1e6),
                self.cpu.client.map_or(0.0, |d| d.as_secs_f64()),
            );
        }
        if let Some(rss) = &self.rss {
            let _ = writeln!(
                out,
                "server RSS  before {}  peak {}  after {}",
                kib_text(rss.before),
                kib_text(rss.peak),
                kib_text(rss.after)
            );
        }
        out
    }
}

pub fn idle_json(url: &str, idle: &IdleResult) -> Value {
    json!({
        "url": url,
        "idle_connections": {
            "requested": idle.requested,
            "opened": idle.opened,
            "open_secs": idle.open_time.as_secs_f64(),
            "errors": errors_json(&idle.errors),
        },
        "server_rss_kib": {
            "before": kib_json(idle.rss_before_kib),
            "with_idle": kib_json(idle.rss_with_idle_kib),
            "after_close": kib_json(idle.rss_after_close_kib),
        },
    })
}

pub fn idle_text(url: &str, idle: &IdleResult) -> String {
    format!(
        "idle connections to {url}: {}/{} opened in {:.2} s, errors {}\n\
         server RSS  before {}  with idle connections {}  after closing {}\n",
        idle.opened,
        idle.requested,
        idle.open_time.as_secs_f64(),
        errors_text(&idle.errors),
        kib_text(idle.rss_before_kib),
        kib_text(idle.rss_with_idle_kib),
        kib_text(idle.rss_after_close_kib),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_keep_one_decimal() {
        assert_eq!(micros(Duration::from_nanos(412_345)), 412.3);
        assert_eq!(kib_text(Some(3072)), "3.00 MiB");
        assert_eq!(kib_text(None), "n/a");
    }

    #[test]
    fn error_listing_names_kinds() {
        let mut errors = [0; ErrorKind::ALL.len()];
        assert_eq!(errors_text(&errors), "none");
        errors[ErrorKind::Timeout.index()] = 2;
        assert_eq!(errors_text(&errors), "timeout=2");
        assert_eq!(errors_json(&errors), json!({"timeout": 2}));
    }
}
