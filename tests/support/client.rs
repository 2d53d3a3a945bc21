//! A raw HTTP/1.1 client over TLS (rustls, aws-lc-rs) or plain TCP: it sends exactly the
//! bytes a test gives it and parses answers one at a time, so tests control framing,
//! pipelining and half-sent requests byte for byte.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned, SupportedProtocolVersion,
};

use super::ANSWER_TIMEOUT;

/// Largest answer the client accepts, so a misbehaving server cannot exhaust the test.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client configuration trusting exactly `cert`, offering ALPN `http/1.1`.
pub fn trusting(cert: &CertificateDer<'static>) -> Arc<ClientConfig> {
    trusting_with(cert, rustls::ALL_VERSIONS, &[b"http/1.1"])
}

/// A client configuration trusting exactly `cert`, with the given versions and ALPN offer.
pub fn trusting_with(
    cert: &CertificateDer<'static>,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).expect("trust the test certificate");
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client configuration accepting only a server certificate whose SHA-256 fingerprint is
/// `fingerprint` (for the server's own self-signed certificate, unknown in advance).
pub fn pinned(fingerprint: &str) -> Arc<ClientConfig> {
    let verifier = Arc::new(Pinned {
        fingerprint: fingerprint.to_string(),
        provider: provider(),
    });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Certificate pinning: the leaf must hash to the expected fingerprint; handshake
/// signatures are still verified against it.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if super::fingerprint(end_entity) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "served certificate does not match the logged fingerprint".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

enum Stream {
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Plain(TcpStream),
}

/// One parsed HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True when the answer says the server closes the connection after it.
    pub fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A client connection with its handshake done.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
}

impl Client {
    pub fn tls(tcp: TcpStream, config: Arc<ClientConfig>) -> io::Result<Client> {
        set_timeouts(&tcp)?;
        let name = ServerName::try_from("localhost").expect("valid server name");
        let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Client {
            stream: Stream::Tls(Box::new(stream)),
            buf: Vec::new(),
        })
    }

    pub fn plain(tcp: TcpStream) -> io::Result<Client> {
        set_timeouts(&tcp)?;
        Ok(Client {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
        })
    }

    /// The TLS session, for ALPN, version and peer certificate checks.
    pub fn tls_session(&self) -> Option<&ClientConnection> {
        match &self.stream {
            Stream::Tls(s) => Some(&s.conn),
            Stream::Plain(_) => None,
        }
    }

    fn tcp(&self) -> &TcpStream {
        match &self.stream {
            Stream::Tls(s) => &s.sock,
            Stream::Plain(s) => s,
        }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.tcp()
            .set_read_timeout(Some(timeout))
            .expect("set a read timeout");
    }

    /// Sends `bytes` as one write; panics if the server is gone.
    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).expect("send to the server");
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Tls(s) => {
                s.write_all(bytes)?;
                s.flush()
            }
            Stream::Plain(s) => {
                s.write_all(bytes)?;
                s.flush()
            }
        }
    }

    /// Shuts down the client's sending side (TLS close_notify, then TCP FIN).
    pub fn shutdown_write(&mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        self.tcp()
            .shutdown(Shutdown::Write)
            .expect("shut down writing");
    }

    fn read_some(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = match &mut self.stream {
            Stream::Tls(s) => read_tls_only(&mut s.conn, &mut s.sock, &mut chunk)?,
            Stream::Plain(s) => s.read(&mut chunk)?,
        };
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// Reads one answer; panics with the reason if none comes.
    pub fn read_response(&mut self) -> Response {
        self.try_read_response().expect("read an answer")
    }

    /// Reads one answer (a `100 Continue` counts as one).
    pub fn try_read_response(&mut self) -> io::Result<Response> {
        loop {
            if let Some((resp, used)) = parse_response(&self.buf)? {
                self.buf.drain(..used);
                return Ok(resp);
            }
            if self.buf.len() > MAX_RESPONSE {
                return Err(io::Error::other("answer too large"));
            }
            if self.read_some()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed after {} byte(s) of answer",
                        self.buf.len()
                    ),
                ));
            }
        }
    }

    /// Waits up to `timeout` for the server to close the connection, discarding anything
    /// it sends. True when it closed (EOF, reset, or TLS EOF without close_notify).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.set_read_timeout(timeout);
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_some() {
                Ok(0) => return true,
                Ok(_) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }

    /// Bytes received but not yet parsed as an answer.
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }
}

/// Reads plaintext without writing anything first: unlike `StreamOwned::read`, which
/// flushes pending TLS output and so fails with EPIPE after the server refused a request
/// mid-upload, before the refusal can be read.
fn read_tls_only(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    out: &mut [u8],
) -> io::Result<usize> {
    loop {
        match conn.reader().read(out) {
            // Ok(0) is the server's close_notify; UnexpectedEof a close without it.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            result => return result,
        }
        conn.read_tls(sock)?;
        conn.process_new_packets().map_err(io::Error::other)?;
    }
}

fn set_timeouts(tcp: &TcpStream) -> io::Result<()> {
    tcp.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    tcp.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    tcp.set_nodelay(true)
}

/// One answer from the front of `buf` and the bytes it used, or `None` when incomplete.
fn parse_response(buf: &[u8]) -> io::Result<Option<(Response, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad answer {e}: {:?}", String::from_utf8_lossy(buf)),
            ))
        }
    };
    let status = parsed.code.unwrap_or(0);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>())
        .transpose()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("content-length: {e}")))?;
    let body_len = match (status, length) {
        (100..=199 | 204 | 304, _) => 0,
        (_, Some(n)) => n,
        (_, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("answer {status} without Content-Length"),
            ))
        }
    };
    let Some(body) = buf.get(head_len..head_len + body_len) else {
        return Ok(None);
    };
    let resp = Response {
        status,
        headers,
        body: body.to_vec(),
    };
    Ok(Some((resp, head_len + body_len)))
}
