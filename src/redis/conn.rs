//! One connection to Redis over TCP or TLS, authenticated on open (`AUTH`, or `HELLO 3` for
//! RESP3). Blocking and bounded: every call gets a timeout that never reaches past the
//! caller's deadline, so a slow Redis costs at most that, and a reply is read only up to
//! [`super::resp::MAX_BULK`].

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::resp::{self, ParseError, Reply};

/// The most bytes one reply may take (bulk strings and arrays are bounded each; this bounds
/// their product).
const MAX_REPLY: usize = 1024 * 1024;
use super::{Protocol, RedisError, Target};

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        }
    }
}

/// An open, authenticated connection.
pub struct Connection {
    stream: Stream,
    /// Bytes read but not yet parsed.
    buffer: Vec<u8>,
}

impl Connection {
    /// Connects, handshakes and authenticates before `deadline`.
    pub fn open(
        target: &Target,
        tls: Option<&Arc<ClientConfig>>,
        deadline: Instant,
    ) -> Result<Connection, RedisError> {
        let tcp = connect(target, deadline)?;
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            None => Stream::Plain(tcp),
            Some(config) => {
                let name = ServerName::try_from(target.host.clone())
                    .map_err(|e| RedisError::Tls(format!("{}: {e}", target.host)))?;
                let session = ClientConnection::new(Arc::clone(config), name)
                    .map_err(|e| RedisError::Tls(e.to_string()))?;
                Stream::Tls(Box::new(StreamOwned::new(session, tcp)))
            }
        };
        let mut connection = Connection {
            stream,
            buffer: Vec::new(),
        };
        if target.protocol == Protocol::Resp3 {
            let user = target.user.as_deref().unwrap_or("default");
            let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
            if let Some(password) = &target.password {
                hello.extend([&b"AUTH"[..], user.as_bytes(), password.as_bytes()]);
            }
            return match connection.call(&hello, deadline)? {
                Reply::Array(Some(_)) => Ok(connection),
                Reply::Error(message) if message.starts_with("NOPROTO") => {
                    Err(RedisError::Protocol(
                        "the server does not speak RESP3 (REDIS_PROTOCOL=3 needs Redis 6 or later)",
                    ))
                }
                Reply::Error(message) => Err(RedisError::Auth(message)),
                _ => Err(RedisError::Protocol("unexpected answer to HELLO")),
            };
        }
        if let Some(password) = &target.password {
            let reply = match &target.user {
                Some(user) => {
                    connection.call(&[b"AUTH", user.as_bytes(), password.as_bytes()], deadline)?
                }
                None => connection.call(&[b"AUTH", password.as_bytes()], deadline)?,
            };
            match reply {
                Reply::Simple(ok) if ok == "OK" => {}
                Reply::Error(message) => return Err(RedisError::Auth(message)),
                _ => return Err(RedisError::Protocol("unexpected answer to AUTH")),
            }
        }
        Ok(connection)
    }

    /// Sends one command and reads its reply. Server errors (`-ERR …`) are returned as
    /// [`Reply::Error`]; the connection stays usable after them.
    pub fn call(&mut self, args: &[&[u8]], deadline: Instant) -> Result<Reply, RedisError> {
        let request = resp::encode(args);
        self.set_timeouts(deadline)?;
        match &mut self.stream {
            Stream::Plain(tcp) => tcp.write_all(&request).and_then(|()| tcp.flush()),
            Stream::Tls(tls) => tls.write_all(&request).and_then(|()| tls.flush()),
        }
        .map_err(|e| io_error(&e))?;
        let mut chunk = [0u8; 4096];
        loop {
            match resp::parse(&self.buffer) {
                Ok((reply, used)) => {
                    self.buffer.drain(..used);
                    return Ok(reply);
                }
                Err(ParseError::Invalid(what)) => return Err(RedisError::Protocol(what)),
                Err(ParseError::Incomplete) => {}
            }
            self.set_timeouts(deadline)?;
            let n = match &mut self.stream {
                Stream::Plain(tcp) => tcp.read(&mut chunk),
                Stream::Tls(tls) => tls.read(&mut chunk),
            }
            .map_err(|e| io_error(&e))?;
            if n == 0 {
                return Err(RedisError::Io("the connection was closed".to_owned()));
            }
            if self.buffer.len() + n > MAX_REPLY {
                return Err(RedisError::Protocol("reply larger than 1 MiB"));
            }
            self.buffer
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    fn set_timeouts(&self, deadline: Instant) -> Result<(), RedisError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RedisError::Timeout);
        }
        let tcp = self.stream.tcp();
        tcp.set_read_timeout(Some(left))
            .and_then(|()| tcp.set_write_timeout(Some(left)))
            .map_err(|e| io_error(&e))
    }
}

fn connect(target: &Target, deadline: Instant) -> Result<TcpStream, RedisError> {
    let addresses = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| RedisError::Connect(format!("cannot resolve {}: {e}", target.host)))?;
    let mut last = String::from("no address found");
    for address in addresses {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RedisError::Timeout);
        }
        match TcpStream::connect_timeout(&address, left) {
            Ok(tcp) => return Ok(tcp),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(RedisError::Timeout),
            Err(e) => last = e.to_string(),
        }
    }
    Err(RedisError::Connect(format!(
        "{}:{}: {last}",
        target.host, target.port
    )))
}

fn io_error(e: &io::Error) -> RedisError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RedisError::Timeout,
        io::ErrorKind::InvalidData => RedisError::Tls(e.to_string()),
        _ => RedisError::Io(e.to_string()),
    }
}
