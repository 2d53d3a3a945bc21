//! The timed load: N threads each driving one keep-alive connection as fast as answers come,
//! plus an optional probe connection sending one request per interval. Each thread fills its
//! own tally (no shared state on the hot path); tallies are merged at the end.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::connection::{Connection, Dialer, ErrorKind};
use crate::histogram::Histogram;
use crate::response;

/// Pause after a failed connect so a dead server is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// HTTP status codes are three digits.
const STATUS_SLOTS: usize = 1000;

/// A request ready to send on any connection: bytes built once, shared by all threads.
#[derive(Clone)]
pub struct PreparedRequest {
    pub bytes: Arc<[u8]>,
    pub is_head: bool,
    /// A response body must contain this to count as a success.
    pub expect_body: Option<Arc<[u8]>>,
    /// With `--vary TOKEN`: the parts to rebuild the request from, with TOKEN in the body
    /// replaced by the connection's number, so that every connection asks something else.
    pub vary: Option<Arc<Variation>>,
}

/// What a per-connection request is rebuilt from.
pub struct Variation {
    pub token: String,
    pub method: String,
    pub authority: String,
    pub path: String,
    pub body: Vec<u8>,
    pub content_type: String,
}

impl PreparedRequest {
    /// This request as connection `n` sends it.
    pub fn for_connection(&self, n: usize) -> PreparedRequest {
        let Some(vary) = &self.vary else {
            return self.clone();
        };
        let body = String::from_utf8_lossy(&vary.body).replace(&vary.token, &n.to_string());
        let mut request = PreparedRequest::new(
            &vary.method,
            &vary.authority,
            &vary.path,
            Some((body.as_bytes(), &vary.content_type)),
        );
        request.expect_body = self.expect_body.clone();
        request
    }

    pub fn new(method: &str, authority: &str, path: &str, body: Option<(&[u8], &str)>) -> Self {
        let mut bytes = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: tastevin-loadgen\r\n"
        )
        .into_bytes();
        if let Some((body, content_type)) = body {
            bytes.extend_from_slice(
                format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            bytes.extend_from_slice(b"\r\n");
            bytes.extend_from_slice(body);
        } else {
            bytes.extend_from_slice(b"\r\n");
        }
        PreparedRequest {
            bytes: bytes.into(),
            is_head: method.eq_ignore_ascii_case("HEAD"),
            expect_body: None,
            vary: None,
        }
    }
}

/// What one connection (or all of them, merged) saw.
#[derive(Clone)]
pub struct Tally {
    pub latencies: Histogram,
    pub errors: [u64; ErrorKind::ALL.len()],
    statuses: Box<[u64]>,
    /// Answers including those of the warm-up, to relate them to CPU time of the whole run.
    pub answered_with_warmup: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            latencies: Histogram::default(),
            errors: [0; ErrorKind::ALL.len()],
            statuses: vec![0; STATUS_SLOTS].into_boxed_slice(),
            answered_with_warmup: 0,
        }
    }
}

impl Tally {
    fn error(&mut self, kind: ErrorKind) {
        if let Some(count) = self.errors.get_mut(kind.index()) {
            *count += 1;
        }
    }

    fn answer(&mut self, status: u16, latency: Duration) {
        if let Some(count) = self.statuses.get_mut(usize::from(status)) {
            *count += 1;
        }
        self.latencies.record(latency);
    }

    pub fn merge(&mut self, other: &Tally) {
        self.latencies.merge(&other.latencies);
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        for (mine, theirs) in self.statuses.iter_mut().zip(other.statuses.iter()) {
            *mine += theirs;
        }
        self.answered_with_warmup += other.answered_with_warmup;
    }

    /// Answers received (any status).
    pub fn answered(&self) -> u64 {
        self.latencies.count()
    }

    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// `(status, count)` for every status seen, ascending.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (0u16..)
            .zip(self.statuses.iter().copied())
            .filter(|&(_, count)| count > 0)
    }

    pub fn non_2xx(&self) -> u64 {
        self.statuses()
            .filter(|(status, _)| !(200..300).contains(status))
            .map(|(_, count)| count)
            .sum()
    }
}

/// When a thread stops sending, and from when on answers count.
#[derive(Clone, Copy)]
struct Window {
    counted_from: Instant,
    end: Instant,
}

/// One request on `connection` (opened first if needed), recorded into `tally` when it was sent
/// after the warm-up. A failed or closing connection is dropped, to be reopened next time.
fn one_request(
    dialer: &Dialer,
    connection: &mut Option<Connection>,
    request: &PreparedRequest,
    window: Window,
    tally: &mut Tally,
) {
    let conn = match connection {
        Some(conn) => conn,
        None => match dialer.connect() {
            Ok(conn) => connection.insert(conn),
            Err(kind) => {
                tally.error(kind);
                thread::sleep(RECONNECT_PAUSE);
                return;
            }
        },
    };
    let started = Instant::now();
    let outcome = match conn.exchange(&request.bytes, request.is_head) {
        Ok(answer) => match &request.expect_body {
            Some(needle) if !response::contains(answer.body, needle) => {
                Err(ErrorKind::UnexpectedBody)
            }
            _ => Ok(answer.status),
        },
        Err(kind) => Err(kind),
    };
    let finished = Instant::now();
    let counted = started >= window.counted_from;
    match outcome {
        Ok(status) => {
            tally.answered_with_warmup += 1;
            if counted {
                tally.answer(status, finished - started);
            }
            if conn.is_closing() {
                *connection = None;
            }
        }
        Err(kind) => {
            if counted {
                tally.error(kind);
            }
            *connection = None;
        }
    }
}

/// The merged result of a load and its probe.
pub struct LoadResult {
    pub load: Tally,
    /// Time from the end of the warm-up until the last counted answer.
    pub measured: Duration,
    pub probe: Option<Tally>,
}

pub struct LoadPlan {
    pub dialer: Dialer,
    pub request: PreparedRequest,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Each load connection stops after this many requests, even before `duration` is over.
    pub requests_per_connection: Option<u64>,
    /// A separate connection and request sent every interval during the load.
    pub probe: Option<Probe>,
}

/// One extra connection sending `request` every `interval`, from `after` the start of the load
/// until its end; its answers are tallied apart from the load's.
#[derive(Clone)]
pub struct Probe {
    pub dialer: Dialer,
    pub request: PreparedRequest,
    pub interval: Duration,
    /// Lets the load reach the state to observe (e.g. every request in flight) first.
    pub after: Duration,
}

pub fn run(plan: &LoadPlan) -> LoadResult {
    let start = Instant::now();
    let window = Window {
        counted_from: start + plan.warmup,
        end: start + plan.duration,
    };
    let workers: Vec<_> = (0..plan.connections)
        .map(|n| {
            let dialer = plan.dialer.clone();
            let request = plan.request.for_connection(n);
            let limit = plan.requests_per_connection.unwrap_or(u64::MAX);
            thread::spawn(move || {
                let mut tally = Tally::default();
                let mut connection = None;
                let mut sent = 0u64;
                while Instant::now() < window.end && sent < limit {
                    one_request(&dialer, &mut connection, &request, window, &mut tally);
                    sent += 1;
                }
                tally
            })
        })
        .collect();
    let probe = plan.probe.clone().map(|probe| {
        thread::spawn(move || {
            let mut tally = Tally::default();
            let mut connection = None;
            let mut next = start + probe.after;
            let window = Window {
                counted_from: window.counted_from.max(next),
                end: window.end,
            };
            if let Some(pause) = next.checked_duration_since(Instant::now()) {
                thread::sleep(pause);
            }
            while next < window.end {
                one_request(
                    &probe.dialer,
                    &mut connection,
                    &probe.request,
                    window,
                    &mut tally,
                );
                next += probe.interval;
                if let Some(pause) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(pause);
                }
            }
            tally
        })
    });
    let mut load = Tally::default();
    for worker in workers {
        if let Ok(tally) = worker.join() {
            load.merge(&tally);
        }
    }
    let measured = window.counted_from.elapsed();
    let probe = probe.and_then(|p| p.join().ok());
    LoadResult {
        load,
        measured,
        probe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A keep-alive server answering every request head with a fixed response.
    fn fixed_server(response: &'static [u8]) -> Dialer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for socket in listener.incoming() {
                let Ok(mut socket) = socket else { return };
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match socket.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n)
                                if buf[..n].ends_with(b"\r\n\r\n") || buf[..n].ends_with(b"}") =>
                            {
                                if socket.write_all(response).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                        }
                    }
                });
            }
        });
        Dialer {
            addr,
            tls: None,
            io_timeout: Duration::from_secs(2),
        }
    }

    fn plan(dialer: Dialer, request: PreparedRequest) -> LoadPlan {
        LoadPlan {
            dialer: dialer.clone(),
            request: request.clone(),
            connections: 2,
            duration: Duration::from_millis(300),
            warmup: Duration::ZERO,
            requests_per_connection: None,
            probe: Some(Probe {
                dialer,
                request,
                interval: Duration::from_millis(20),
                after: Duration::ZERO,
            }),
        }
    }

    #[test]
    fn a_varied_request_differs_per_connection() {
        let mut request = PreparedRequest::new(
            "POST",
            "h:1",
            "/mutate",
            Some((b"{\"image\":\"app-N\"}", "application/json")),
        );
        request.vary = Some(Arc::new(Variation {
            token: "N".into(),
            method: "POST".into(),
            authority: "h:1".into(),
            path: "/mutate".into(),
            body: b"{\"image\":\"app-N\"}".to_vec(),
            content_type: "application/json".into(),
        }));
        let seven = request.for_connection(7);
        let text = String::from_utf8_lossy(&seven.bytes).into_owned();
        assert!(text.ends_with("{\"image\":\"app-7\"}"), "{text}");
        assert!(text.contains("Content-Length: 17\r\n"), "{text}");
    }

    #[test]
    fn request_bytes_carry_length_and_type() {
        let r = PreparedRequest::new("POST", "h:1", "/mutate", Some((b"{}", "application/json")));
        assert_eq!(
            &*r.bytes,
            &b"POST /mutate HTTP/1.1\r\nHost: h:1\r\nUser-Agent: tastevin-loadgen\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"[..]
        );
        assert!(!r.is_head);
    }

    #[test]
    fn counts_answers_statuses_and_probe_separately() {
        let dialer = fixed_server(b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno");
        let request = PreparedRequest::new("GET", "x", "/", None);
        let result = run(&plan(dialer, request));
        assert!(
            result.load.answered() > 10,
            "only {}",
            result.load.answered()
        );
        assert_eq!(result.load.non_2xx(), result.load.answered());
        assert_eq!(
            result.load.statuses().collect::<Vec<_>>(),
            vec![(503, result.load.answered())]
        );
        assert_eq!(result.load.error_total(), 0);
        assert_eq!(result.load.answered_with_warmup, result.load.answered());
        let probe = result.probe.unwrap();
        assert!(
            (5..=20).contains(&probe.answered()),
            "probe sent {}",
            probe.answered()
        );
    }

    #[test]
    fn a_request_limit_stops_the_load_but_not_the_probe() {
        let dialer = fixed_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let request = PreparedRequest::new("GET", "x", "/", None);
        let mut plan = plan(dialer, request);
        plan.requests_per_connection = Some(3);
        let result = run(&plan);
        assert_eq!(result.load.answered(), 6, "2 connections x 3 requests");
        let probe = result.probe.unwrap();
        assert!(probe.answered() >= 5, "probe sent {}", probe.answered());
    }

    #[test]
    fn a_delayed_probe_starts_late() {
        let dialer = fixed_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let request = PreparedRequest::new("GET", "x", "/", None);
        let mut plan = plan(dialer, request);
        if let Some(probe) = plan.probe.as_mut() {
            probe.after = Duration::from_millis(200);
        }
        let probe = run(&plan).probe.unwrap();
        // 100 ms left at one request per 20 ms; from the start it would be 15.
        assert!(
            (3..=6).contains(&probe.answered()),
            "probe sent {}",
            probe.answered()
        );
    }

    #[test]
    fn warm_up_answers_are_not_counted() {
        let dialer = fixed_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let request = PreparedRequest::new("GET", "x", "/", None);
        let mut plan = plan(dialer, request);
        plan.warmup = Duration::from_millis(150);
        let result = run(&plan);
        assert!(result.load.answered() > 0);
        assert!(result.load.answered_with_warmup > result.load.answered());
        assert!(
            result.measured < Duration::from_millis(250),
            "{:?}",
            result.measured
        );
    }

    #[test]
    fn unexpected_bodies_and_dead_servers_are_errors() {
        let dialer =
            fixed_server(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"allowed\":false}");
        let mut request = PreparedRequest::new("GET", "x", "/", None);
        request.expect_body = Some(Arc::from(&b"\"allowed\":true"[..]));
        let result = run(&plan(dialer, request.clone()));
        assert!(result.load.errors[ErrorKind::UnexpectedBody.index()] > 0);
        assert_eq!(result.load.answered(), 0);

        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let dialer = Dialer {
            addr: dead,
            tls: None,
            io_timeout: Duration::from_secs(1),
        };
        let result = run(&plan(dialer, request));
        assert!(result.load.errors[ErrorKind::Connect.index()] > 0);
    }
}
