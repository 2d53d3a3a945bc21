//! The event loop: one `mio::Poll`, the listener, a slab of connections, the waker that
//! brings worker results back, the signal pipe, and the deadline heap that drives the poll
//! timeout.
//!
//! Nothing here blocks: sockets are non-blocking, outbound work goes to the worker pool,
//! and a request that waits for a worker holds no thread, only a connection in
//! `Phase::Waiting`.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::http::request::Limits;
use crate::http::response::Response;
use crate::metrics::{self, RejectReason};
use crate::net::workers::{SubmitError, WorkerPool};
use crate::reload::{self, Reloaded, Watcher};
use crate::routes::{Outcome, Router};
use crate::server::conn::{Conn, Expiry, Next, Phase, Timeouts, Transport};
use crate::server::deadlines::{Deadlines, Timer};
use crate::server::idle_memory;
use crate::server::signals::SignalPipe;
use crate::{log, log_info, log_warn};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

/// Everything the loop needs to know, from the command line.
pub struct Settings {
    pub listen: SocketAddr,
    /// `None` serves plain HTTP (local experiments only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
    pub max_connections: usize,
    pub timeouts: Timeouts,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub grace: Duration,
    pub workers: usize,
    /// Watches the certificate and configuration files, checking at this interval.
    pub reload: Option<(Watcher, Duration)>,
}

/// Who waits for a worker's result, and what to record when it comes.
struct Waiter {
    slot: usize,
    conn_id: u64,
    request: RequestMeta,
}

/// What is kept of a request while its answer is computed.
#[derive(Clone)]
struct RequestMeta {
    /// The method's metrics label, taken before the request moves to the router.
    method: &'static str,
    keep_alive: bool,
    started: Instant,
    metrics_path: Option<metrics::RoutePath>,
}

/// Binds the listener and runs the loop until a signal has drained it.
pub fn serve(settings: Settings, router: Router) -> io::Result<()> {
    let listener = TcpListener::bind(settings.listen)?;
    log_info!(
        "listening on {} ({})",
        listener.local_addr()?,
        if settings.tls.is_some() {
            "https"
        } else {
            "plain http, for local experiments only"
        }
    );
    EventLoop::new(settings, router, listener)?.run()
}

struct EventLoop {
    poll: Poll,
    listener: Option<TcpListener>,
    signals: SignalPipe,
    pool: WorkerPool<Waiter, Response>,
    router: Router,
    settings: Settings,
    /// New certificates and configurations from the watcher thread.
    reloads: Option<Receiver<Reloaded>>,
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
    next_id: u64,
    next_generation: u64,
    deadlines: Deadlines,
    /// accept(2) ran out of file descriptors; retry when a connection closes.
    accept_blocked: bool,
    drain_until: Option<Instant>,
}

impl EventLoop {
    fn new(
        mut settings: Settings,
        router: Router,
        mut listener: TcpListener,
    ) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let reloads = match settings.reload.take() {
            Some((watcher, interval)) => {
                let (sender, receiver) = mpsc::channel();
                let waker = Arc::clone(&waker);
                reload::spawn(watcher, interval, sender, move || {
                    // A failed wake only delays the new version to the next event.
                    let _ = waker.wake();
                })?;
                Some(receiver)
            }
            None => None,
        };
        let pool = WorkerPool::new(settings.workers, settings.workers * 64, move || {
            // A failed wake only delays the result to the next event.
            let _ = waker.wake();
        });
        let signals = SignalPipe::install()?;
        poll.registry()
            .register(&mut SourceFd(&signals.fd()), SIGNALS, Interest::READABLE)?;
        Ok(EventLoop {
            poll,
            listener: Some(listener),
            signals,
            pool,
            router,
            settings,
            reloads,
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            next_id: 0,
            next_generation: 0,
            deadlines: Deadlines::new(),
            accept_blocked: false,
            drain_until: None,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        // This thread's log lines go out together, once per iteration, before it waits.
        let _held = log::hold_lines();
        loop {
            let now = Instant::now();
            let mut timeout = self.deadlines.poll_timeout(now);
            if let Some(until) = self.drain_until {
                let left = until.saturating_duration_since(now);
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            log::write_held();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {
                        self.deliver_results();
                        self.apply_reloads();
                    }
                    SIGNALS => {
                        if self.signals.take() {
                            self.start_drain();
                        }
                    }
                    Token(slot) => self.service(
                        slot,
                        event.is_readable() || event.is_read_closed(),
                        event.is_read_closed(),
                    ),
                }
            }
            self.expire(Instant::now());
            if let Some(until) = self.drain_until {
                if self.open == 0 {
                    log_info!("drained, exiting");
                    return Ok(());
                }
                if Instant::now() >= until {
                    log_warn!(
                        "grace period over, closing {} connection(s) with requests in flight",
                        self.open
                    );
                    return Ok(());
                }
            }
        }
    }

    /// Puts new versions from the watcher in force: a certificate for connections accepted
    /// from now on, a configuration or an alerting configuration for the next request.
    fn apply_reloads(&mut self) {
        let Some(reloads) = &self.reloads else {
            return;
        };
        while let Ok(reloaded) = reloads.try_recv() {
            match reloaded {
                Reloaded::Tls(config) => {
                    if self.settings.tls.is_some() {
                        self.settings.tls = Some(config);
                    }
                }
                Reloaded::Config(config) => {
                    let admission = self.router.admission().with_config(config);
                    self.router.set_admission(Arc::new(admission));
                }
                Reloaded::Alerts(alerter) => {
                    let admission = self.router.admission().with_alerter(alerter);
                    self.router.set_admission(Arc::new(admission));
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((sock, _peer)) => self.admit(sock),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: the connection stays in the backlog; try again when
                    // one of ours closes, instead of spinning on an edge that will not re-fire.
                    if !self.accept_blocked {
                        log_warn!("accept failed: {e}; waiting for a connection to close");
                    }
                    metrics::global().connection_rejected(RejectReason::Limit);
                    self.accept_blocked = true;
                    return;
                }
            }
        }
    }

    fn admit(&mut self, sock: TcpStream) {
        if self.open >= self.settings.max_connections {
            metrics::global().connection_rejected(RejectReason::Limit);
            return; // dropping the socket closes it
        }
        let _ = sock.set_nodelay(true);
        let transport = match &self.settings.tls {
            Some(config) => match rustls::ServerConnection::new(Arc::clone(config)) {
                Ok(tls) => Transport::Tls(Box::new(tls)),
                Err(e) => {
                    log_warn!("cannot start a TLS session: {e}");
                    metrics::global().connection_rejected(RejectReason::Tls);
                    return;
                }
            },
            None => Transport::Plain,
        };
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.next_id += 1;
        let mut conn = Conn::new(
            sock,
            transport,
            self.settings.limits,
            self.next_id,
            Instant::now(),
        );
        if let Err(e) =
            self.poll
                .registry()
                .register(conn.socket(), Token(slot), Interest::READABLE)
        {
            log_warn!("cannot register a connection: {e}");
            self.free.push(slot);
            return;
        }
        self.open += 1;
        metrics::global().connection_opened();
        if let Some(entry) = self.slots.get_mut(slot) {
            *entry = Some(conn);
        }
        // The client may have sent its hello already; edge-triggered polling would not say so.
        self.service(slot, true, false);
    }

    /// Runs a connection forward after an event: read, frame, route, write, re-arm.
    fn service(&mut self, slot: usize, readable: bool, read_closed: bool) {
        let now = Instant::now();
        let draining = self.drain_until.is_some();
        let Some(conn) = self.slots.get_mut(slot).and_then(|c| c.as_mut()) else {
            return;
        };
        let mut readable = readable;
        let mut failure = None;
        loop {
            let was_handshaking = conn.phase() == Phase::Handshake;
            if let Err(e) = conn.read(readable, read_closed) {
                failure = Some(
                    if was_handshaking || e.kind() == io::ErrorKind::InvalidData {
                        Some(RejectReason::Tls)
                    } else {
                        None
                    },
                );
                break;
            }
            readable = false;
            loop {
                match conn.next_request(now) {
                    Next::Nothing => break,
                    Next::Request(request, started) => {
                        let method = metrics::method_label(&request.method);
                        let keep_alive = request.keep_alive;
                        let routed = self.router.route(request);
                        let meta = RequestMeta {
                            method,
                            keep_alive,
                            started,
                            metrics_path: routed.metrics_path,
                        };
                        match routed.outcome {
                            Outcome::Ready(resp) => answer(conn, &meta, &resp, now),
                            Outcome::Deferred(job) => {
                                let waiter = Waiter {
                                    slot,
                                    conn_id: conn.id,
                                    request: meta.clone(),
                                };
                                match self.pool.submit(waiter, job) {
                                    Ok(()) => conn.wait(now),
                                    Err(SubmitError::QueueFull | SubmitError::Closed) => {
                                        let busy = Response::text(
                                            503,
                                            "tastevin is overloaded: too many validations in flight; retry shortly",
                                        );
                                        answer(conn, &meta, &busy, now);
                                    }
                                }
                            }
                        }
                    }
                    Next::Invalid(e) => {
                        let reason = match e.status() {
                            413 | 431 => RejectReason::TooLarge,
                            _ => RejectReason::Malformed,
                        };
                        metrics::global().connection_rejected(reason);
                        conn.close_after_answer();
                        conn.answer(&Response::text(e.status(), &e.to_string()), false, now);
                        break;
                    }
                    Next::Overflow => {
                        metrics::global().connection_rejected(RejectReason::TooLarge);
                        conn.close_after_answer();
                        conn.answer(&Response::text(413, "request too large"), false, now);
                        break;
                    }
                }
            }
            if conn.flush().is_err() {
                failure = Some(None);
                break;
            }
            if !conn.wants_read() {
                break;
            }
        }
        if let Some(reason) = failure {
            if let Some(reason) = reason {
                metrics::global().connection_rejected(reason);
            }
            self.close(slot);
            return;
        }
        if conn.is_done() || (draining && conn.is_quiet()) {
            self.close(slot);
            return;
        }
        let want_writable = conn.has_pending_output();
        if want_writable != conn.want_writable {
            conn.want_writable = want_writable;
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(conn.socket(), Token(slot), interest)
                .is_err()
            {
                self.close(slot);
                return;
            }
        }
        let (at, _) = conn.deadline(&self.settings.timeouts);
        if conn.timer_at != Some(at) {
            self.next_generation += 1;
            conn.timer_generation = self.next_generation;
            conn.timer_at = Some(at);
            self.deadlines.arm(
                at,
                Timer {
                    slot,
                    generation: self.next_generation,
                },
            );
        }
    }

    fn deliver_results(&mut self) {
        let results: Vec<(Waiter, Response)> = self.pool.finished().collect();
        let now = Instant::now();
        for (waiter, resp) in results {
            let Some(conn) = self.slots.get_mut(waiter.slot).and_then(|c| c.as_mut()) else {
                continue;
            };
            if conn.id != waiter.conn_id || conn.phase() != Phase::Waiting {
                continue; // the client left; its slot now serves someone else
            }
            answer(conn, &waiter.request, &resp, now);
            self.service(waiter.slot, false, false);
        }
    }

    fn expire(&mut self, now: Instant) {
        for timer in self.deadlines.expired(now) {
            let Some(conn) = self.slots.get_mut(timer.slot).and_then(|c| c.as_mut()) else {
                continue;
            };
            if conn.timer_generation != timer.generation {
                continue;
            }
            conn.timer_at = None;
            let (at, expiry) = conn.deadline(&self.settings.timeouts);
            if at > now {
                self.service(timer.slot, false, false);
                continue;
            }
            match expiry {
                Expiry::Idle => self.close(timer.slot),
                Expiry::Handshake | Expiry::Stalled => {
                    metrics::global().connection_rejected(RejectReason::Timeout);
                    self.close(timer.slot);
                }
                Expiry::Request => {
                    metrics::global().connection_rejected(RejectReason::Timeout);
                    conn.close_after_answer();
                    conn.answer(
                        &Response::text(408, "request not received in time"),
                        false,
                        now,
                    );
                    self.service(timer.slot, false, false);
                }
            }
        }
        let slots = &self.slots;
        self.deadlines.compact(
            self.open,
            |t| matches!(slots.get(t.slot), Some(Some(c)) if c.timer_generation == t.generation),
        );
    }

    fn close(&mut self, slot: usize) {
        let Some(mut conn) = self.slots.get_mut(slot).and_then(|c| c.take()) else {
            return;
        };
        let _ = self.poll.registry().deregister(conn.socket());
        conn.shutdown();
        self.free.push(slot);
        self.open -= 1;
        metrics::global().connection_closed();
        if self.open == 0 {
            idle_memory::release();
        }
        if self.accept_blocked {
            self.accept_blocked = false;
            self.accept();
        }
    }

    fn start_drain(&mut self) {
        if self.drain_until.is_some() {
            return;
        }
        log_info!(
            "signal received: no longer accepting, /ready answers 503, finishing {} connection(s) within {:?}",
            self.open,
            self.settings.grace
        );
        self.drain_until = Some(Instant::now() + self.settings.grace);
        self.router.set_draining();
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let busy: Vec<usize> = (0..self.slots.len()).collect();
        for slot in busy {
            if let Some(conn) = self.slots.get_mut(slot).and_then(|c| c.as_mut()) {
                conn.drain();
                if conn.is_quiet() {
                    self.close(slot);
                }
            }
        }
    }
}

/// Queues an answer and records it in the HTTP metrics.
fn answer(conn: &mut Conn, meta: &RequestMeta, resp: &Response, now: Instant) {
    conn.answer(resp, meta.keep_alive, now);
    if let Some(path) = meta.metrics_path {
        // `now` is when the event began; the answer was computed since.
        let seconds = Instant::now()
            .saturating_duration_since(meta.started)
            .as_secs_f64();
        metrics::global().observe_http(meta.method, path, resp.status, seconds);
    }
}
