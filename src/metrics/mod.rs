//! The `/metrics` registry: Connaisseur 2.x compatible families (group A), Connaisseur 3.x
//! `connaisseur_*` families (group B), tastevin's own (group C) and `process_*` figures, all
//! rendered in the Prometheus text format 0.0.4.
//!
//! Recording is lock-free for unlabelled metrics and takes a short per-family lock for
//! labelled ones; every label value comes from a fixed set or from the configuration, never
//! from request data, so cardinality is bounded.

pub mod exposition;
pub mod process;
pub mod registry;

use std::io::Write as _;
use std::sync::OnceLock;

use exposition::{Encoder, MetricType, Value};
use registry::{Counter, Family, Gauge, Histogram, Series};

/// The `Content-Type` of a `/metrics` answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the duration histograms: Connaisseur 2.x's set plus finer buckets below
/// 0.1 s, since tastevin answers in microseconds.
pub const DURATION_BUCKETS: [f64; 18] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
    15.0, 20.0, 30.0,
];

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The route of a request as recorded in the `path` label (never the raw request path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutePath {
    Mutate,
    Metrics,
    Other,
}

impl RoutePath {
    pub fn label(self) -> &'static str {
        match self {
            RoutePath::Mutate => "/mutate",
            RoutePath::Metrics => "/metrics",
            RoutePath::Other => "other",
        }
    }
}

/// Why a client connection was refused or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Limit,
    Timeout,
    Tls,
    Malformed,
    TooLarge,
}

impl RejectReason {
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::Limit => "limit",
            RejectReason::Timeout => "timeout",
            RejectReason::Tls => "tls",
            RejectReason::Malformed => "malformed",
            RejectReason::TooLarge => "too_large",
        }
    }
}

/// Why a validation was skipped (Connaisseur's exact reason texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    UnchangedImage,
    ChildApproval,
    CacheHit,
}

impl SkipReason {
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::UnchangedImage => "unchanged image reference",
            SkipReason::ChildApproval => "automatic approval of child image reference",
            SkipReason::CacheHit => "cache hit",
        }
    }
}

/// Maps an HTTP method to one of a fixed set of label values, so that a client sending
/// invented methods cannot create new series.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

fn result_label(success: bool) -> &'static str {
    if success {
        "success"
    } else {
        "error"
    }
}

/// Writes a status code into a stack buffer and returns it as text, so that recording a
/// request does not allocate.
fn status_label(buffer: &mut [u8; 5], code: u16) -> &str {
    let capacity = buffer.len();
    let mut cursor: &mut [u8] = buffer;
    // Five bytes hold any u16, so the write cannot run out of room.
    let written = match write!(cursor, "{code}") {
        Ok(()) => capacity - cursor.len(),
        Err(_) => 0,
    };
    buffer
        .get(..written)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .unwrap_or("other")
}

fn new_duration_histogram() -> Histogram {
    Histogram::new(&DURATION_BUCKETS)
}

/// Every metric tastevin exposes. Shared by all threads (`Sync`); see [`global`].
#[derive(Debug)]
pub struct Metrics {
    // Group A: Connaisseur 2.x.
    http_duration: Family<Histogram, 3>,
    http_requests: Family<Counter, 2>,
    http_exceptions: Family<Counter, 2>,
    mutate_requests: Family<Counter, 2>,
    // Group B: Connaisseur 3.x.
    requests: Counter,
    requests_admitted: Counter,
    requests_denied: Family<Counter, 1>,
    validations: Family<Counter, 3>,
    validations_successful: Family<Counter, 2>,
    validations_failed: Family<Counter, 2>,
    validations_skipped: Family<Counter, 3>,
    validations_timeouted: Family<Counter, 2>,
    // Group C: tastevin's own.
    validation_duration: Family<Histogram, 3>,
    registry_requests: Family<Counter, 2>,
    kube_requests: Family<Counter, 2>,
    kube_duration: Family<Histogram, 1>,
    cache_entries: Gauge,
    connections_open: Gauge,
    connections_rejected: Family<Counter, 1>,
    config_reloads: Family<Counter, 1>,
    cache_lookups: Family<Counter, 2>,
    redis_errors: Family<Counter, 1>,
    redis_duration: Family<Histogram, 1>,
    single_flights: Family<Counter, 1>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The process-wide registry that the server records into and `/metrics` renders.
pub fn global() -> &'static Metrics {
    static GLOBAL: OnceLock<Metrics> = OnceLock::new();
    GLOBAL.get_or_init(Metrics::new)
}

impl Metrics {
    /// An empty registry. The server uses [`global`]; tests create their own to assert
    /// exact values.
    pub fn new() -> Metrics {
        Metrics {
            http_duration: Family::new(["method", "path", "status"], new_duration_histogram),
            http_requests: Family::new(["method", "status"], Counter::new),
            http_exceptions: Family::new(["method", "status"], Counter::new),
            mutate_requests: Family::new(["allowed", "status_code"], Counter::new),
            requests: Counter::new(),
            requests_admitted: Counter::new(),
            requests_denied: Family::new(["timeout"], Counter::new),
            validations: Family::new(["type", "validator_name", "result"], Counter::new),
            validations_successful: Family::new(["type", "validator_name"], Counter::new),
            validations_failed: Family::new(["type", "validator_name"], Counter::new),
            validations_skipped: Family::new(["type", "validator_name", "reason"], Counter::new),
            validations_timeouted: Family::new(["type", "validator_name"], Counter::new),
            validation_duration: Family::new(
                ["type", "validator_name", "result"],
                new_duration_histogram,
            ),
            registry_requests: Family::new(["registry", "status"], Counter::new),
            kube_requests: Family::new(["resource", "status"], Counter::new),
            kube_duration: Family::new(["resource"], new_duration_histogram),
            cache_entries: Gauge::new(),
            connections_open: Gauge::new(),
            connections_rejected: Family::new(["reason"], Counter::new),
            config_reloads: Family::new(["result"], Counter::new),
            cache_lookups: Family::new(["tier", "result"], Counter::new),
            redis_errors: Family::new(["kind"], Counter::new),
            redis_duration: Family::new(["command"], new_duration_histogram),
            single_flights: Family::new(["outcome"], Counter::new),
        }
    }

    /// A request answered (not `/health` or `/ready`, which are not recorded):
    /// `http_request_total`, the duration histogram, and `http_request_exceptions_total`
    /// when the answer is an internal error (500).
    pub fn observe_http(&self, method: &str, path: RoutePath, status: u16, seconds: f64) {
        let method = method_label(method);
        let mut buffer = [0u8; 5];
        let status_text = status_label(&mut buffer, status);
        self.http_requests.with([method, status_text], Counter::inc);
        self.http_duration
            .with([method, path.label(), status_text], |h| h.observe(seconds));
        if status == 500 {
            self.http_exceptions
                .with([method, status_text], Counter::inc);
        }
    }

    /// An AdmissionReview answered: allowed → `True`/`202`, denied → `False`/`403`.
    pub fn mutate_answered(&self, allowed: bool) {
        let labels = if allowed {
            ["True", "202"]
        } else {
            ["False", "403"]
        };
        self.mutate_requests.with(labels, Counter::inc);
    }

    /// Any call to `/mutate`, including those answered with an HTTP error.
    pub fn mutate_called(&self) {
        self.requests.inc();
    }

    /// Final answer `allowed: true`.
    pub fn request_admitted(&self) {
        self.requests_admitted.inc();
    }

    /// Final answer denied; `timeout` when the validation deadline expired.
    pub fn request_denied(&self, timeout: bool) {
        let label = if timeout { "true" } else { "false" };
        self.requests_denied.with([label], Counter::inc);
    }

    /// The outcome of one distinct image (skips included). `vtype` is `unknown` and
    /// `validator` empty when no validator was chosen.
    pub fn validation_outcome(&self, vtype: &str, validator: &str, success: bool) {
        self.validations
            .with([vtype, validator, result_label(success)], Counter::inc);
        let detail = if success {
            &self.validations_successful
        } else {
            &self.validations_failed
        };
        detail.with([vtype, validator], Counter::inc);
    }

    /// A skipped validation; the caller also reports its outcome through
    /// [`Metrics::validation_outcome`].
    pub fn validation_skipped(&self, vtype: &str, validator: &str, reason: SkipReason) {
        self.validations_skipped
            .with([vtype, validator, reason.label()], Counter::inc);
    }

    /// A validation that finished after the deadline: counted as timed out and, like
    /// Connaisseur, as an `error` in `connaisseur_validations_total`.
    pub fn validation_timeouted(&self, vtype: &str, validator: &str) {
        self.validations_timeouted
            .with([vtype, validator], Counter::inc);
        self.validations
            .with([vtype, validator, "error"], Counter::inc);
    }

    /// Time taken to validate one image (cache hits included).
    pub fn validation_duration(&self, vtype: &str, validator: &str, success: bool, seconds: f64) {
        self.validation_duration
            .with([vtype, validator, result_label(success)], |h| {
                h.observe(seconds)
            });
    }

    /// An outbound registry, Notary or Rekor call; `None` when no HTTP status was received.
    pub fn registry_request(&self, registry: &str, status: Option<u16>) {
        let mut buffer = [0u8; 5];
        let status_text = match status {
            Some(code) => status_label(&mut buffer, code),
            None => "error",
        };
        self.registry_requests
            .with([registry, status_text], Counter::inc);
    }

    /// A Kubernetes API call for child approval: `resource` is one of the eight workload
    /// resources (`replicasets`, …); `None` when no HTTP status was received.
    pub fn kube_api_request(&self, resource: &str, status: Option<u16>, seconds: f64) {
        let mut buffer = [0u8; 5];
        let status_text = match status {
            Some(code) => status_label(&mut buffer, code),
            None => "error",
        };
        self.kube_requests
            .with([resource, status_text], Counter::inc);
        self.kube_duration.with([resource], |h| h.observe(seconds));
    }

    pub fn set_cache_entries(&self, n: u64) {
        self.cache_entries.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn connection_opened(&self) {
        self.connections_open.inc();
    }

    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    pub fn connection_rejected(&self, reason: RejectReason) {
        self.connections_rejected
            .with([reason.label()], Counter::inc);
    }

    pub fn config_reload(&self, success: bool) {
        self.config_reloads
            .with([result_label(success)], Counter::inc);
    }

    /// A verdict cache lookup: `tier` is `local` or `redis`; `result` is `hit`, `miss`,
    /// `invalid` (a Redis value that does not parse) or `error` (Redis unusable).
    pub fn cache_lookup(&self, tier: &'static str, result: &'static str) {
        self.cache_lookups.with([tier, result], Counter::inc);
    }

    /// A failed Redis call, by [`crate::redis::RedisError::kind`].
    pub fn redis_error(&self, kind: &'static str) {
        self.redis_errors.with([kind], Counter::inc);
    }

    /// The time one Redis command took (failures included).
    pub fn redis_request(&self, command: &'static str, seconds: f64) {
        self.redis_duration.with([command], |h| h.observe(seconds));
    }

    /// A cluster-wide single flight: `led` (this replica validated for all), `joined` (it
    /// used another replica's verdict) or `alone` (it validated without the others).
    pub fn single_flight(&self, outcome: &'static str) {
        self.single_flights.with([outcome], Counter::inc);
    }

    /// The whole exposition (all groups + process metrics), appended to `out`.
    pub fn render(&self, out: &mut String) {
        self.render_registry(out);
        render_process(out, &process::read());
    }

    /// Groups A, B and C without the process figures (which change between two reads).
    fn render_registry(&self, out: &mut String) {
        let mut enc = Encoder::new(out);

        // Group A.
        histogram_family(
            &mut enc,
            "http_request_duration_seconds",
            "HTTP request duration in seconds",
            &self.http_duration,
        );
        created_family(
            &mut enc,
            "http_request_duration_seconds_created",
            "HTTP request duration in seconds",
            &self.http_duration,
        );
        counter_family(
            &mut enc,
            "http_request_total",
            "Total number of HTTP requests",
            &self.http_requests,
        );
        created_family(
            &mut enc,
            "http_request_created",
            "Total number of HTTP requests",
            &self.http_requests,
        );
        counter_family(
            &mut enc,
            "http_request_exceptions_total",
            "Total number of HTTP requests which resulted in an internal error",
            &self.http_exceptions,
        );
        counter_family(
            &mut enc,
            "mutate_requests_total",
            "Total number of mutate requests",
            &self.mutate_requests,
        );
        created_family(
            &mut enc,
            "mutate_requests_created",
            "Total number of mutate requests",
            &self.mutate_requests,
        );
        info_family(
            &mut enc,
            "exporter_info",
            "Information about the Prometheus exporter",
            &["version"],
            &[VERSION],
        );

        // Group B.
        counter(
            &mut enc,
            "connaisseur_requests_total",
            "Total number of requests to the mutate endpoint",
            &self.requests,
        );
        counter(
            &mut enc,
            "connaisseur_requests_admitted_total",
            "Total number of admitted requests",
            &self.requests_admitted,
        );
        counter_family(
            &mut enc,
            "connaisseur_requests_denied_total",
            "Total number of denied requests",
            &self.requests_denied,
        );
        counter_family(
            &mut enc,
            "connaisseur_validations_total",
            "Total number of image validations",
            &self.validations,
        );
        counter_family(
            &mut enc,
            "connaisseur_validations_successful_total",
            "Total number of successful image validations",
            &self.validations_successful,
        );
        counter_family(
            &mut enc,
            "connaisseur_validations_failed_total",
            "Total number of failed image validations",
            &self.validations_failed,
        );
        counter_family(
            &mut enc,
            "connaisseur_validations_skipped_total",
            "Total number of skipped image validations",
            &self.validations_skipped,
        );
        counter_family(
            &mut enc,
            "connaisseur_validations_timeouted_total",
            "Total number of image validations that finished after the deadline",
            &self.validations_timeouted,
        );

        // Group C.
        info_family(
            &mut enc,
            "tastevin_build_info",
            "Version and source revision of the running tastevin",
            &["version", "revision"],
            &[
                VERSION,
                option_env!("TASTEVIN_REVISION").unwrap_or("unknown"),
            ],
        );
        histogram_family(
            &mut enc,
            "tastevin_validation_duration_seconds",
            "Time to validate one image in seconds, cache hits included",
            &self.validation_duration,
        );
        counter_family(
            &mut enc,
            "tastevin_registry_requests_total",
            "Outbound registry, Notary and Rekor requests by host and HTTP status",
            &self.registry_requests,
        );
        counter_family(
            &mut enc,
            "tastevin_kube_api_requests_total",
            "Kubernetes API requests of automatic child approval by resource and HTTP status",
            &self.kube_requests,
        );
        histogram_family(
            &mut enc,
            "tastevin_kube_api_request_duration_seconds",
            "Kubernetes API request duration in seconds, by resource",
            &self.kube_duration,
        );
        gauge(
            &mut enc,
            "tastevin_cache_entries",
            "Entries in the verdict cache",
            &self.cache_entries,
        );
        gauge(
            &mut enc,
            "tastevin_connections_open",
            "Client connections currently open",
            &self.connections_open,
        );
        counter_family(
            &mut enc,
            "tastevin_connections_rejected_total",
            "Client connections refused or dropped, by reason",
            &self.connections_rejected,
        );
        counter_family(
            &mut enc,
            "tastevin_config_reloads_total",
            "Configuration and certificate reloads, by result",
            &self.config_reloads,
        );
        counter_family(
            &mut enc,
            "tastevin_cache_lookups_total",
            "Verdict cache lookups by tier (local, redis) and result (hit, miss, invalid, error)",
            &self.cache_lookups,
        );
        counter_family(
            &mut enc,
            "tastevin_redis_errors_total",
            "Failed Redis calls by kind; the local cache is used meanwhile",
            &self.redis_errors,
        );
        histogram_family(
            &mut enc,
            "tastevin_redis_request_duration_seconds",
            "Redis command duration in seconds, by command",
            &self.redis_duration,
        );
        counter_family(
            &mut enc,
            "tastevin_redis_single_flight_total",
            "Validations coordinated across replicas through Redis, by outcome (led, joined, alone)",
            &self.single_flights,
        );
    }
}

fn counter(enc: &mut Encoder<'_>, name: &str, help: &str, counter: &Counter) {
    enc.family(name, help, MetricType::Counter);
    enc.sample(name, &[], &[] as &[&str], None, Value::Int(counter.get()));
}

fn gauge(enc: &mut Encoder<'_>, name: &str, help: &str, gauge: &Gauge) {
    enc.family(name, help, MetricType::Gauge);
    let value = u64::try_from(gauge.get()).unwrap_or(0);
    enc.sample(name, &[], &[] as &[&str], None, Value::Int(value));
}

fn info_family(enc: &mut Encoder<'_>, name: &str, help: &str, names: &[&str], values: &[&str]) {
    enc.family(name, help, MetricType::Gauge);
    enc.sample(name, names, values, None, Value::Int(1));
}

fn counter_family<const N: usize>(
    enc: &mut Encoder<'_>,
    name: &str,
    help: &str,
    family: &Family<Counter, N>,
) {
    enc.family(name, help, MetricType::Counter);
    family.for_each(|series| {
        enc.sample(
            name,
            family.label_names(),
            &series.label_values,
            None,
            Value::Int(series.metric.get()),
        );
    });
}

/// The `_created` gauge of a family: when each label set first appeared.
fn created_family<T, const N: usize>(
    enc: &mut Encoder<'_>,
    name: &str,
    help: &str,
    family: &Family<T, N>,
) {
    enc.family(name, help, MetricType::Gauge);
    family.for_each(|series: &Series<T, N>| {
        enc.sample(
            name,
            family.label_names(),
            &series.label_values,
            None,
            Value::Float(series.created),
        );
    });
}

fn histogram_family<const N: usize>(
    enc: &mut Encoder<'_>,
    name: &str,
    help: &str,
    family: &Family<Histogram, N>,
) {
    let bucket_name = format!("{name}_bucket");
    let sum_name = format!("{name}_sum");
    let count_name = format!("{name}_count");
    enc.family(name, help, MetricType::Histogram);
    family.for_each(|series| {
        let snapshot = series.metric.snapshot();
        let names = family.label_names();
        for (bound, cumulative) in &snapshot.buckets {
            enc.sample(
                &bucket_name,
                names,
                &series.label_values,
                Some(*bound),
                Value::Int(*cumulative),
            );
        }
        enc.sample(
            &sum_name,
            names,
            &series.label_values,
            None,
            Value::Float(snapshot.sum),
        );
        enc.sample(
            &count_name,
            names,
            &series.label_values,
            None,
            Value::Int(snapshot.count),
        );
    });
}

fn render_process(out: &mut String, stats: &process::ProcessStats) {
    let mut enc = Encoder::new(out);
    let families: [(&str, &str, MetricType, f64); 6] = [
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            MetricType::Gauge,
            stats.virtual_memory_bytes,
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            MetricType::Gauge,
            stats.resident_memory_bytes,
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            MetricType::Gauge,
            stats.start_time_seconds,
        ),
        (
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds",
            MetricType::Counter,
            stats.cpu_seconds_total,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors",
            MetricType::Gauge,
            stats.open_fds,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors",
            MetricType::Gauge,
            stats.max_fds,
        ),
    ];
    for (name, help, kind, value) in families {
        enc.family(name, help, kind);
        enc.sample(name, &[], &[] as &[&str], None, Value::Float(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(metrics: &Metrics) -> String {
        let mut out = String::new();
        metrics.render_registry(&mut out);
        out
    }

    /// Sample lines (no comments) of one family, `_created` excluded unless asked for.
    fn samples_of(text: &str, family: &str) -> Vec<String> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter(|line| {
                line.strip_prefix(family).is_some_and(|rest| {
                    rest.starts_with('{')
                        || rest.starts_with(' ')
                        || ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| rest.starts_with(suffix))
                })
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn status_labels_are_decimal_text() {
        let mut buffer = [0u8; 5];
        assert_eq!(status_label(&mut buffer, 0), "0");
        assert_eq!(status_label(&mut buffer, 200), "200");
        assert_eq!(status_label(&mut buffer, 65535), "65535");
        assert_eq!(status_label(&mut buffer, 7), "7");
    }

    #[test]
    fn unknown_methods_collapse_to_other() {
        assert_eq!(method_label("POST"), "POST");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("post"), "other");
        assert_eq!(method_label("BREW"), "other");
    }

    #[test]
    fn small_scenario_renders_exact_lines() {
        let m = Metrics::new();
        m.mutate_answered(true);
        m.mutate_answered(true);
        m.mutate_answered(false);
        m.mutate_called();
        m.request_denied(true);
        m.registry_request("a\"b\\c\nd", Some(404));
        m.registry_request("ghcr.io", None);
        m.observe_http("POST", RoutePath::Mutate, 200, 0.0003);
        m.observe_http("POST", RoutePath::Mutate, 200, 0.02);
        m.observe_http("POST", RoutePath::Mutate, 200, 31.0);
        let text = rendered(&m);

        assert_eq!(
            samples_of(&text, "mutate_requests_total"),
            [
                "mutate_requests_total{allowed=\"True\",status_code=\"202\"} 2",
                "mutate_requests_total{allowed=\"False\",status_code=\"403\"} 1",
            ]
        );
        assert_eq!(
            samples_of(&text, "connaisseur_requests_total"),
            ["connaisseur_requests_total 1"]
        );
        assert_eq!(
            samples_of(&text, "connaisseur_requests_admitted_total"),
            ["connaisseur_requests_admitted_total 0"]
        );
        assert_eq!(
            samples_of(&text, "connaisseur_requests_denied_total"),
            ["connaisseur_requests_denied_total{timeout=\"true\"} 1"]
        );
        assert_eq!(
            samples_of(&text, "tastevin_registry_requests_total"),
            [
                "tastevin_registry_requests_total{registry=\"a\\\"b\\\\c\\nd\",status=\"404\"} 1",
                "tastevin_registry_requests_total{registry=\"ghcr.io\",status=\"error\"} 1",
            ]
        );
        assert_eq!(
            samples_of(&text, "http_request_total"),
            ["http_request_total{method=\"POST\",status=\"200\"} 3"]
        );
        let labels = "method=\"POST\",path=\"/mutate\",status=\"200\"";
        let expected_buckets = [
            ("0.0005", 1),
            ("0.001", 1),
            ("0.0025", 1),
            ("0.005", 1),
            ("0.01", 1),
            ("0.025", 2),
            ("0.05", 2),
            ("0.1", 2),
            ("0.25", 2),
            ("0.5", 2),
            ("0.75", 2),
            ("1", 2),
            ("2.5", 2),
            ("5", 2),
            ("10", 2),
            ("15", 2),
            ("20", 2),
            ("30", 2),
            ("+Inf", 3),
        ];
        let mut expected: Vec<String> = expected_buckets
            .iter()
            .map(|(le, n)| {
                format!("http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}")
            })
            .collect();
        expected.push(format!(
            "http_request_duration_seconds_sum{{{labels}}} {}",
            0.0003 + 0.02 + 31.0
        ));
        expected.push(format!("http_request_duration_seconds_count{{{labels}}} 3"));
        assert_eq!(samples_of(&text, "http_request_duration_seconds"), expected);
        assert!(samples_of(&text, "http_request_exceptions_total").is_empty());
    }

    #[test]
    fn every_family_is_announced_even_without_samples() {
        let text = rendered(&Metrics::new());
        for (family, kind) in [
            ("http_request_duration_seconds", "histogram"),
            ("http_request_duration_seconds_created", "gauge"),
            ("http_request_total", "counter"),
            ("http_request_created", "gauge"),
            ("http_request_exceptions_total", "counter"),
            ("mutate_requests_total", "counter"),
            ("mutate_requests_created", "gauge"),
            ("exporter_info", "gauge"),
            ("connaisseur_requests_total", "counter"),
            ("connaisseur_requests_admitted_total", "counter"),
            ("connaisseur_requests_denied_total", "counter"),
            ("connaisseur_validations_total", "counter"),
            ("connaisseur_validations_successful_total", "counter"),
            ("connaisseur_validations_failed_total", "counter"),
            ("connaisseur_validations_skipped_total", "counter"),
            ("connaisseur_validations_timeouted_total", "counter"),
            ("tastevin_build_info", "gauge"),
            ("tastevin_validation_duration_seconds", "histogram"),
            ("tastevin_registry_requests_total", "counter"),
            ("tastevin_kube_api_requests_total", "counter"),
            ("tastevin_kube_api_request_duration_seconds", "histogram"),
            ("tastevin_cache_entries", "gauge"),
            ("tastevin_connections_open", "gauge"),
            ("tastevin_connections_rejected_total", "counter"),
            ("tastevin_config_reloads_total", "counter"),
            ("tastevin_cache_lookups_total", "counter"),
            ("tastevin_redis_errors_total", "counter"),
            ("tastevin_redis_request_duration_seconds", "histogram"),
            ("tastevin_redis_single_flight_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("\n# TYPE {family} {kind}\n")),
                "missing TYPE of {family}"
            );
            assert!(
                text.contains(&format!("# HELP {family} ")),
                "missing HELP of {family}"
            );
        }
        // No labelled series before the first event.
        assert!(samples_of(&text, "mutate_requests_total").is_empty());
        assert!(samples_of(&text, "http_request_duration_seconds").is_empty());
        assert!(text.contains(&format!("\nexporter_info{{version=\"{VERSION}\"}} 1\n")));
    }

    #[test]
    fn created_gauges_carry_the_time_of_first_appearance() {
        let m = Metrics::new();
        let before = registry::unix_now();
        m.observe_http("GET", RoutePath::Metrics, 200, 0.001);
        m.mutate_answered(false);
        let after = registry::unix_now();
        m.observe_http("GET", RoutePath::Metrics, 200, 0.001);
        let text = rendered(&m);
        for (family, labels) in [
            (
                "http_request_duration_seconds_created",
                "method=\"GET\",path=\"/metrics\",status=\"200\"",
            ),
            ("http_request_created", "method=\"GET\",status=\"200\""),
            (
                "mutate_requests_created",
                "allowed=\"False\",status_code=\"403\"",
            ),
        ] {
            let prefix = format!("{family}{{{labels}}} ");
            let line = text
                .lines()
                .find(|line| line.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no {prefix} line in\n{text}"));
            let value: f64 = line[prefix.len()..].parse().unwrap();
            assert!(before <= value && value <= after, "{line}");
        }
    }

    #[test]
    fn internal_errors_count_as_exceptions() {
        let m = Metrics::new();
        m.observe_http("BREW", RoutePath::Other, 500, 0.0);
        m.observe_http("GET", RoutePath::Other, 404, 0.0);
        let text = rendered(&m);
        assert_eq!(
            samples_of(&text, "http_request_exceptions_total"),
            ["http_request_exceptions_total{method=\"other\",status=\"500\"} 1"]
        );
    }

    /// Connaisseur §6.4's validation metrics expectation, replayed through the API.
    #[test]
    fn connaisseur_validation_scenario() {
        let m = Metrics::new();
        m.validation_outcome("static", "default", true);
        m.validation_outcome("static", "allow", true);
        m.validation_outcome("static", "allow", true);
        m.validation_outcome("static", "deny", false);
        // cosign: one real success, a cache hit and an unchanged reference (both successes),
        // one real failure and one cached failure.
        m.validation_outcome("cosign", "cosign-keys", true);
        m.validation_skipped("cosign", "cosign-keys", SkipReason::CacheHit);
        m.validation_outcome("cosign", "cosign-keys", true);
        m.validation_skipped("cosign", "cosign-keys", SkipReason::UnchangedImage);
        m.validation_outcome("cosign", "cosign-keys", true);
        m.validation_outcome("cosign", "cosign-keys", false);
        m.validation_skipped("cosign", "cosign-keys", SkipReason::CacheHit);
        m.validation_outcome("cosign", "cosign-keys", false);
        let text = rendered(&m);

        assert_eq!(
            samples_of(&text, "connaisseur_validations_total"),
            [
                "connaisseur_validations_total{type=\"static\",validator_name=\"default\",result=\"success\"} 1",
                "connaisseur_validations_total{type=\"static\",validator_name=\"allow\",result=\"success\"} 2",
                "connaisseur_validations_total{type=\"static\",validator_name=\"deny\",result=\"error\"} 1",
                "connaisseur_validations_total{type=\"cosign\",validator_name=\"cosign-keys\",result=\"success\"} 3",
                "connaisseur_validations_total{type=\"cosign\",validator_name=\"cosign-keys\",result=\"error\"} 2",
            ]
        );
        assert_eq!(
            samples_of(&text, "connaisseur_validations_successful_total"),
            [
                "connaisseur_validations_successful_total{type=\"static\",validator_name=\"default\"} 1",
                "connaisseur_validations_successful_total{type=\"static\",validator_name=\"allow\"} 2",
                "connaisseur_validations_successful_total{type=\"cosign\",validator_name=\"cosign-keys\"} 3",
            ]
        );
        assert_eq!(
            samples_of(&text, "connaisseur_validations_failed_total"),
            [
                "connaisseur_validations_failed_total{type=\"static\",validator_name=\"deny\"} 1",
                "connaisseur_validations_failed_total{type=\"cosign\",validator_name=\"cosign-keys\"} 2",
            ]
        );
        assert_eq!(
            samples_of(&text, "connaisseur_validations_skipped_total"),
            [
                "connaisseur_validations_skipped_total{type=\"cosign\",validator_name=\"cosign-keys\",reason=\"cache hit\"} 2",
                "connaisseur_validations_skipped_total{type=\"cosign\",validator_name=\"cosign-keys\",reason=\"unchanged image reference\"} 1",
            ]
        );
    }

    #[test]
    fn timeouted_validations_also_count_as_errors() {
        let m = Metrics::new();
        m.validation_timeouted("notaryv1", "dockerhub");
        let text = rendered(&m);
        assert_eq!(
            samples_of(&text, "connaisseur_validations_timeouted_total"),
            ["connaisseur_validations_timeouted_total{type=\"notaryv1\",validator_name=\"dockerhub\"} 1"]
        );
        assert_eq!(
            samples_of(&text, "connaisseur_validations_total"),
            ["connaisseur_validations_total{type=\"notaryv1\",validator_name=\"dockerhub\",result=\"error\"} 1"]
        );
        assert!(samples_of(&text, "connaisseur_validations_failed_total").is_empty());
    }

    #[test]
    fn group_c_gauges_and_counters() {
        let m = Metrics::new();
        m.set_cache_entries(42);
        m.connection_opened();
        m.connection_opened();
        m.connection_closed();
        m.connection_rejected(RejectReason::TooLarge);
        m.connection_rejected(RejectReason::TooLarge);
        m.config_reload(false);
        m.validation_duration("cosign", "k", true, 0.004);
        let text = rendered(&m);
        assert_eq!(
            samples_of(&text, "tastevin_cache_entries"),
            ["tastevin_cache_entries 42"]
        );
        assert_eq!(
            samples_of(&text, "tastevin_connections_open"),
            ["tastevin_connections_open 1"]
        );
        assert_eq!(
            samples_of(&text, "tastevin_connections_rejected_total"),
            ["tastevin_connections_rejected_total{reason=\"too_large\"} 2"]
        );
        assert_eq!(
            samples_of(&text, "tastevin_config_reloads_total"),
            ["tastevin_config_reloads_total{result=\"error\"} 1"]
        );
        let durations = samples_of(&text, "tastevin_validation_duration_seconds");
        assert!(durations.contains(
            &"tastevin_validation_duration_seconds_bucket{type=\"cosign\",validator_name=\"k\",result=\"success\",le=\"0.0025\"} 0".to_string()
        ));
        assert!(durations.contains(
            &"tastevin_validation_duration_seconds_bucket{type=\"cosign\",validator_name=\"k\",result=\"success\",le=\"0.005\"} 1".to_string()
        ));
        assert!(text.contains("\ntastevin_build_info{version=\""));
    }

    #[test]
    fn render_appends_process_metrics() {
        let mut out = String::from("prefix\n");
        Metrics::new().render(&mut out);
        assert!(out.starts_with("prefix\n# HELP http_request_duration_seconds "));
        let rss_line = out
            .lines()
            .find(|line| line.starts_with("process_resident_memory_bytes "))
            .unwrap();
        let rss: f64 = rss_line["process_resident_memory_bytes ".len()..]
            .parse()
            .unwrap();
        assert!(rss > 0.0, "{rss_line}");
        assert!(out.contains("\n# TYPE process_cpu_seconds_total counter\n"));
    }

    #[test]
    fn global_is_one_shared_registry() {
        assert!(std::ptr::eq(global(), global()));
        fn assert_sync<T: Sync>() {}
        assert_sync::<Metrics>();
    }
}
