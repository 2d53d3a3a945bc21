//! One client connection: its socket, its TLS session, its buffers, and where it stands
//! (handshaking, between requests, reading a request, waiting for a worker, closing).
//!
//! The connection only moves bytes and frames requests; the event loop decides what to do
//! with each request and when a deadline has passed. Memory is bounded per connection: the
//! input buffer never exceeds twice the request limits, and no new request is read while a
//! response is still waiting (for a worker, or for the client to read what was written).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::http::request::{Decoded, Limits, Request, RequestDecoder, RequestError};
use crate::http::response::{self, Response};

/// Bytes of written-but-unsent output above which no further pipelined request is read.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// Bytes read from the socket per step, so the input cap is checked between steps.
const READ_CHUNK: usize = 16 * 1024;
/// An idle input buffer larger than this is released rather than kept for reuse.
const KEEP_BUFFER: usize = 4 * 1024;

/// The byte stream under HTTP: TLS or, for local experiments only, plain TCP.
pub enum Transport {
    Tls(Box<rustls::ServerConnection>),
    Plain,
}

/// Where the connection stands; decides which deadline applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TLS handshake not finished yet.
    Handshake,
    /// Between requests, nothing buffered.
    Idle,
    /// Part of a request has arrived.
    Reading,
    /// A request is with a worker; its answer comes back through the waker.
    Waiting,
}

/// The timeouts that drive a connection's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub handshake: Duration,
    pub read: Duration,
    pub idle: Duration,
    pub write: Duration,
    pub wait: Duration,
}

/// What a passed deadline means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Handshake too slow: drop it.
    Handshake,
    /// A request did not arrive in time: answer 408 and close.
    Request,
    /// Keep-alive connection unused for too long: close quietly.
    Idle,
    /// The client stopped reading our output, or a worker never answered: close.
    Stalled,
}

/// What one step of input processing produced.
pub enum Next {
    /// A whole request to route.
    Request(Request, Instant),
    /// The client sent something that is not acceptable HTTP.
    Invalid(RequestError),
    /// The buffered input outgrew what any acceptable request needs.
    Overflow,
    /// Nothing to do until more bytes arrive or output drains.
    Nothing,
}

pub struct Conn {
    sock: TcpStream,
    transport: Transport,
    decoder: RequestDecoder,
    limits: Limits,
    input: Vec<u8>,
    output: Vec<u8>,
    output_sent: usize,
    phase: Phase,
    /// When the current phase's clock started (accept, first byte, last answer, wait start).
    phase_since: Instant,
    /// When output last made progress while some was pending.
    output_since: Instant,
    /// The socket may hold bytes we have not read (we paused before `WouldBlock`).
    unread: bool,
    /// The peer sent EOF or close_notify.
    peer_closed: bool,
    /// The poll reported the peer's half of the connection closed: its EOF is queued behind
    /// the bytes, and no further readiness event will announce it, so every read now goes on
    /// to `WouldBlock` or EOF.
    peer_closing: bool,
    /// Close once the pending output is flushed.
    close_after_flush: bool,
    /// The server is shutting down: answer what is in flight with `Connection: close`.
    draining: bool,
    /// Registered for writable events.
    pub want_writable: bool,
    /// Unique id of this connection, so late worker results for a reused slot are dropped.
    pub id: u64,
    /// Generation of the armed deadline timer and its instant.
    pub timer_generation: u64,
    pub timer_at: Option<Instant>,
}

impl Conn {
    pub fn new(
        sock: TcpStream,
        transport: Transport,
        limits: Limits,
        id: u64,
        now: Instant,
    ) -> Conn {
        let phase = match transport {
            Transport::Tls(_) => Phase::Handshake,
            Transport::Plain => Phase::Idle,
        };
        Conn {
            sock,
            transport,
            decoder: RequestDecoder::new(limits),
            limits,
            input: Vec::new(),
            output: Vec::new(),
            output_sent: 0,
            phase,
            phase_since: now,
            output_since: now,
            unread: true,
            peer_closed: false,
            peer_closing: false,
            close_after_flush: false,
            draining: false,
            want_writable: false,
            id,
            timer_generation: 0,
            timer_at: None,
        }
    }

    pub fn socket(&mut self) -> &mut TcpStream {
        &mut self.sock
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    fn pending_output(&self) -> usize {
        let tls_pending = match &self.transport {
            Transport::Tls(tls) if tls.wants_write() => 1,
            _ => 0,
        };
        self.output.len() - self.output_sent + tls_pending
    }

    /// True when the connection has nothing in flight and can be closed without loss.
    pub fn is_quiet(&self) -> bool {
        matches!(self.phase, Phase::Idle | Phase::Handshake) && self.pending_output() == 0
    }

    /// True when the connection is finished and the loop should drop it.
    pub fn is_done(&self) -> bool {
        let flushed = self.pending_output() == 0;
        (self.close_after_flush && flushed)
            || (self.peer_closed && flushed && self.phase != Phase::Waiting)
    }

    /// Marks the connection to close after its current answer (drain, errors).
    pub fn close_after_answer(&mut self) {
        self.close_after_flush = true;
    }

    /// The server is shutting down: the request in flight is still answered, then closed.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Reads what the socket has, as far as the connection may buffer. `readable` says the
    /// poll reported new bytes; without it only bytes left unread earlier are taken;
    /// `read_closed` that the poll also reported the peer's write side closed. TLS errors are
    /// returned as `InvalidData` after the alert has been sent if possible.
    ///
    /// A read that returns less than it asked for has emptied the socket's receive queue:
    /// the poll is edge-triggered and reports any byte that arrives later, so reading stops
    /// there instead of spending a system call on `WouldBlock` for every request — unless
    /// the peer's EOF is queued (`read_closed`), which only a further read finds.
    pub fn read(&mut self, readable: bool, read_closed: bool) -> io::Result<()> {
        if readable {
            self.unread = true;
        }
        if read_closed {
            self.peer_closing = true;
        }
        while self.may_read() {
            let progressed = match &mut self.transport {
                Transport::Tls(tls) => read_tls_step(tls, &mut self.sock, &mut self.input)?,
                Transport::Plain => read_plain_step(&mut self.sock, &mut self.input)?,
            };
            match progressed {
                Step::Bytes { drained } => {
                    if drained && !self.peer_closing {
                        self.unread = false;
                        break;
                    }
                }
                Step::WouldBlock => {
                    self.unread = false;
                    break;
                }
                Step::Eof => {
                    self.unread = false;
                    self.peer_closed = true;
                    break;
                }
            }
        }
        if let Transport::Tls(tls) = &self.transport {
            if self.phase == Phase::Handshake && !tls.is_handshaking() {
                self.enter(Phase::Idle, Instant::now());
            }
        }
        Ok(())
    }

    fn may_read(&self) -> bool {
        self.unread
            && !self.peer_closed
            && self.phase != Phase::Waiting
            && self.pending_output() < OUTPUT_HIGH_WATER
            && self.input.len() < input_cap(&self.limits)
    }

    /// Frames the next request from buffered input, if a whole one is there.
    pub fn next_request(&mut self, now: Instant) -> Next {
        if self.phase == Phase::Handshake
            || self.phase == Phase::Waiting
            || self.close_after_flush
            || self.pending_output() >= OUTPUT_HIGH_WATER
        {
            return Next::Nothing;
        }
        if self.input.is_empty() {
            return Next::Nothing;
        }
        if self.phase == Phase::Idle {
            self.enter(Phase::Reading, now);
        }
        let started = self.phase_since;
        match self.decoder.decode(&self.input) {
            Ok(Decoded::Incomplete { send_continue }) => {
                if send_continue {
                    self.output.extend_from_slice(response::CONTINUE);
                }
                if self.input.len() >= input_cap(&self.limits) {
                    return Next::Overflow;
                }
                Next::Nothing
            }
            Ok(Decoded::Complete { request, consumed }) => {
                self.input.drain(..consumed.min(self.input.len()));
                if self.input.is_empty() && self.input.capacity() > KEEP_BUFFER {
                    self.input = Vec::new();
                }
                Next::Request(request, started)
            }
            Err(e) => Next::Invalid(e),
        }
    }

    /// Queues an answer. `keep_alive` false (or a drain in progress) closes after it.
    pub fn answer(&mut self, resp: &Response, keep_alive: bool, now: Instant) {
        let keep = keep_alive && !self.close_after_flush && !self.draining;
        if !keep {
            self.close_after_flush = true;
        }
        if self.pending_output() == 0 {
            self.output_since = now;
        }
        response::encode(resp, keep, &mut self.output);
        let next = if self.input.is_empty() {
            Phase::Idle
        } else {
            Phase::Reading
        };
        self.enter(next, now);
    }

    /// The request went to a worker; no further input is framed until `answer`.
    pub fn wait(&mut self, now: Instant) {
        self.enter(Phase::Waiting, now);
    }

    fn enter(&mut self, phase: Phase, now: Instant) {
        self.phase = phase;
        self.phase_since = now;
    }

    /// Writes pending output as far as the socket takes it.
    pub fn flush(&mut self) -> io::Result<()> {
        let before = self.pending_output();
        loop {
            let blocked = match &mut self.transport {
                Transport::Tls(tls) => {
                    while let Some(rest) = self
                        .output
                        .get(self.output_sent..)
                        .filter(|r| !r.is_empty())
                    {
                        let n = tls.writer().write(rest)?;
                        if n == 0 {
                            break;
                        }
                        self.output_sent += n;
                    }
                    write_tls_all(tls, &mut self.sock)?
                }
                Transport::Plain => {
                    write_plain_all(&mut self.sock, &self.output, &mut self.output_sent)?
                }
            };
            if self.output_sent >= self.output.len() {
                self.output.clear();
                self.output_sent = 0;
                if self.output.capacity() > OUTPUT_HIGH_WATER {
                    self.output = Vec::new();
                }
            }
            let tls_pending = matches!(&self.transport, Transport::Tls(t) if t.wants_write());
            if blocked || (self.output.is_empty() && !tls_pending) {
                break;
            }
        }
        if self.pending_output() < before {
            self.output_since = Instant::now();
        }
        Ok(())
    }

    /// Sends the TLS close_notify (if any) and stops; errors are irrelevant at this point.
    pub fn shutdown(&mut self) {
        if let Transport::Tls(tls) = &mut self.transport {
            tls.send_close_notify();
            let _ = write_tls_all(tls, &mut self.sock);
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }

    /// True when the socket still has bytes to give and we are ready to take them.
    pub fn wants_read(&self) -> bool {
        self.may_read()
    }

    /// True when there is output the socket did not take yet.
    pub fn has_pending_output(&self) -> bool {
        self.pending_output() > 0
    }

    /// The instant at which this connection's current deadline passes, and what it means.
    pub fn deadline(&self, t: &Timeouts) -> (Instant, Expiry) {
        if self.pending_output() > 0 {
            return (self.output_since + t.write, Expiry::Stalled);
        }
        match self.phase {
            Phase::Handshake => (self.phase_since + t.handshake, Expiry::Handshake),
            Phase::Idle => (self.phase_since + t.idle, Expiry::Idle),
            Phase::Reading => (self.phase_since + t.read, Expiry::Request),
            Phase::Waiting => (self.phase_since + t.wait, Expiry::Stalled),
        }
    }
}

/// The most input a connection buffers: a whole request at the limits, with room for the
/// framing overhead of a chunked body (small chunks cost a few bytes each).
fn input_cap(limits: &Limits) -> usize {
    limits
        .max_head_bytes
        .saturating_add(limits.max_body_bytes)
        .saturating_mul(2)
}

enum Step {
    /// Bytes were read; `drained` when fewer than asked for (the receive queue is empty).
    Bytes {
        drained: bool,
    },
    WouldBlock,
    Eof,
}

fn read_plain_step(sock: &mut TcpStream, input: &mut Vec<u8>) -> io::Result<Step> {
    let old = input.len();
    input.resize(old + READ_CHUNK, 0);
    let result = loop {
        let Some(room) = input.get_mut(old..) else {
            break Ok(0);
        };
        match sock.read(room) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    match result {
        Ok(0) => {
            input.truncate(old);
            Ok(Step::Eof)
        }
        Ok(n) => {
            input.truncate(old + n);
            Ok(Step::Bytes {
                drained: n < READ_CHUNK,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            input.truncate(old);
            Ok(Step::WouldBlock)
        }
        Err(e) => {
            input.truncate(old);
            Err(e)
        }
    }
}

fn read_tls_step(
    tls: &mut rustls::ServerConnection,
    sock: &mut TcpStream,
    input: &mut Vec<u8>,
) -> io::Result<Step> {
    let mut sock = ShortReads { sock, short: false };
    let step = loop {
        match tls.read_tls(&mut sock) {
            Ok(0) => break Step::Eof,
            Ok(_) => {
                break Step::Bytes {
                    drained: sock.short,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Step::WouldBlock,
            Err(e) => return Err(e),
        }
    };
    let sock = sock.sock;
    let state = match tls.process_new_packets() {
        Ok(state) => state,
        Err(e) => {
            // Queue and try to send the alert, so the client learns why.
            let _ = write_tls_all(tls, sock);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    };
    // Take all plaintext now, or rustls' buffer fills and reading stops.
    let n = state.plaintext_bytes_to_read();
    if n > 0 {
        let old = input.len();
        input.resize(old + n, 0);
        if let Some(room) = input.get_mut(old..) {
            tls.reader().read_exact(room)?;
        }
    }
    if state.peer_has_closed() {
        return Ok(Step::Eof);
    }
    Ok(step)
}

/// The socket as rustls reads it, noting whether the last read returned fewer bytes than
/// rustls asked for.
struct ShortReads<'a> {
    sock: &'a mut TcpStream,
    short: bool,
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// Writes queued TLS records; returns true when the socket would block.
fn write_tls_all(tls: &mut rustls::ServerConnection, sock: &mut TcpStream) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Writes plain output; returns true when the socket would block.
fn write_plain_all(sock: &mut TcpStream, output: &[u8], sent: &mut usize) -> io::Result<bool> {
    while let Some(rest) = output.get(*sent..).filter(|r| !r.is_empty()) {
        match sock.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}
