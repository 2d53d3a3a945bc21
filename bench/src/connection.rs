//! One keep-alive client connection (plain TCP or TLS): sends a prepared request and reads
//! exactly one response into a buffer that is reused for the next one.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::response::{self, BodyLength, FramingError};

/// Responses larger than this are an error: no answer of the webhook comes near it.
const MAX_RESPONSE_BYTES: usize = 16 << 20;
const INITIAL_BUFFER_BYTES: usize = 64 << 10;

/// Why one request failed; the report counts failures per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    Connect,
    Handshake,
    Write,
    Read,
    Timeout,
    /// The server closed the connection before the response was complete.
    Closed,
    Malformed,
    UnsupportedFraming,
    TooLarge,
    /// The body lacked the text given with `--expect-body`.
    UnexpectedBody,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Connect,
        ErrorKind::Handshake,
        ErrorKind::Write,
        ErrorKind::Read,
        ErrorKind::Timeout,
        ErrorKind::Closed,
        ErrorKind::Malformed,
        ErrorKind::UnsupportedFraming,
        ErrorKind::TooLarge,
        ErrorKind::UnexpectedBody,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Handshake => "tls_handshake",
            ErrorKind::Write => "write",
            ErrorKind::Read => "read",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed_early",
            ErrorKind::Malformed => "malformed_response",
            ErrorKind::UnsupportedFraming => "unsupported_framing",
            ErrorKind::TooLarge => "response_too_large",
            ErrorKind::UnexpectedBody => "unexpected_body",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn from_io(error: &io::Error, during: ErrorKind) -> ErrorKind {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ErrorKind::Closed,
            _ => during,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<FramingError> for ErrorKind {
    fn from(e: FramingError) -> ErrorKind {
        match e {
            FramingError::Malformed | FramingError::BadContentLength => ErrorKind::Malformed,
            FramingError::UnsupportedTransferEncoding => ErrorKind::UnsupportedFraming,
        }
    }
}

/// Everything needed to open a connection to the target.
#[derive(Clone)]
pub struct Dialer {
    pub addr: SocketAddr,
    /// TLS configuration and server name, or `None` for plain HTTP.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    pub io_timeout: Duration,
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// The outcome of one successful exchange: the status and where the body is in the buffer.
pub struct Answer<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

pub struct Connection {
    transport: Transport,
    buffer: Vec<u8>,
    /// Set when the server announced it will close: the next request needs a new connection.
    closing: bool,
}

impl Dialer {
    /// Connects and, for TLS, completes the handshake.
    pub fn connect(&self) -> Result<Connection, ErrorKind> {
        let socket = TcpStream::connect_timeout(&self.addr, self.io_timeout)
            .map_err(|e| ErrorKind::from_io(&e, ErrorKind::Connect))?;
        socket.set_nodelay(true).map_err(|_| ErrorKind::Connect)?;
        socket
            .set_read_timeout(Some(self.io_timeout))
            .map_err(|_| ErrorKind::Connect)?;
        socket
            .set_write_timeout(Some(self.io_timeout))
            .map_err(|_| ErrorKind::Connect)?;
        let transport = match &self.tls {
            None => Transport::Plain(socket),
            Some((config, name)) => {
                let mut session = ClientConnection::new(config.clone(), name.clone())
                    .map_err(|_| ErrorKind::Handshake)?;
                let mut socket = socket;
                while session.is_handshaking() {
                    session.complete_io(&mut socket).map_err(|e| {
                        match ErrorKind::from_io(&e, ErrorKind::Handshake) {
                            ErrorKind::Timeout => ErrorKind::Timeout,
                            _ => ErrorKind::Handshake,
                        }
                    })?;
                }
                Transport::Tls(Box::new(StreamOwned::new(session, socket)))
            }
        };
        Ok(Connection {
            transport,
            // Allocated on first use: idle connections then cost the client almost nothing.
            buffer: Vec::new(),
            closing: false,
        })
    }
}

impl Connection {
    /// Whether the server said it would close this connection after its last answer.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Sends `request` (a complete HTTP/1.1 request) and reads the whole response.
    pub fn exchange(&mut self, request: &[u8], is_head: bool) -> Result<Answer<'_>, ErrorKind> {
        self.transport
            .write_all(request)
            .and_then(|()| self.transport.flush())
            .map_err(|e| ErrorKind::from_io(&e, ErrorKind::Write))?;
        let mut filled = 0;
        let head = loop {
            if let Some(head) = response::parse_head(&self.buffer[..filled], is_head)? {
                break head;
            }
            filled += self.read_more(filled)?;
        };
        let body_end = match head.body {
            BodyLength::Exactly(length) => {
                let end = head.len.checked_add(length).ok_or(ErrorKind::TooLarge)?;
                while filled < end {
                    filled += self.read_more(filled)?;
                }
                end
            }
            BodyLength::UntilClose => loop {
                match self.read_more(filled) {
                    Ok(n) => filled += n,
                    Err(ErrorKind::Closed) => break filled,
                    Err(other) => return Err(other),
                }
            },
        };
        self.closing = head.closes;
        let body = self
            .buffer
            .get(head.len..body_end)
            .ok_or(ErrorKind::Malformed)?;
        Ok(Answer {
            status: head.status,
            body,
        })
    }

    /// Reads at least one byte after `filled`, growing the buffer (up to the limit) when full.
    fn read_more(&mut self, filled: usize) -> Result<usize, ErrorKind> {
        if filled == self.buffer.len() {
            if filled >= MAX_RESPONSE_BYTES {
                return Err(ErrorKind::TooLarge);
            }
            let grown = (filled * 2).clamp(INITIAL_BUFFER_BYTES, MAX_RESPONSE_BYTES);
            self.buffer.resize(grown, 0);
        }
        let free = self.buffer.get_mut(filled..).ok_or(ErrorKind::TooLarge)?;
        match self.transport.read(free) {
            Ok(0) => Err(ErrorKind::Closed),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(ErrorKind::from_io(&e, ErrorKind::Read)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A server that answers each request it reads with the next canned response.
    fn canned_server(responses: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            for response in responses {
                let mut seen = Vec::new();
                while !seen.ends_with(b"\r\n\r\n") {
                    let n = socket.read(&mut buf).unwrap();
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                // Split the answer to exercise reassembly.
                let (a, b) = response.split_at(response.len() / 2);
                socket.write_all(a).unwrap();
                socket.flush().unwrap();
                thread::sleep(Duration::from_millis(5));
                socket.write_all(b).unwrap();
            }
        });
        addr
    }

    fn dialer(addr: SocketAddr) -> Dialer {
        Dialer {
            addr,
            tls: None,
            io_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn keep_alive_reuses_the_connection() {
        let addr = canned_server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
        ]);
        let mut conn = dialer(addr).connect().unwrap();
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let answer = conn.exchange(request, false).unwrap();
        assert_eq!((answer.status, answer.body), (200, &b"abcd"[..]));
        assert!(!conn.is_closing());
        let answer = conn.exchange(request, false).unwrap();
        assert_eq!((answer.status, answer.body), (404, &b"no"[..]));
        assert!(conn.is_closing());
    }

    #[test]
    fn truncated_answers_are_errors() {
        let addr = canned_server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\nshort"]);
        let mut conn = dialer(addr).connect().unwrap();
        let result = conn.exchange(b"GET / HTTP/1.1\r\n\r\n", false);
        assert_eq!(result.err(), Some(ErrorKind::Closed));
    }

    #[test]
    fn refused_connections_are_connect_errors() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(dialer(addr).connect().err(), Some(ErrorKind::Connect));
    }
}
