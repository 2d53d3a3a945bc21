//! A small blocking HTTP/1.1 client for registries: `std::net` + rustls (aws-lc-rs) +
//! the response framing of [`super::http_response`]. Runs on worker threads only.
//!
//! Every call carries a deadline: connect, TLS handshake, writes and reads each get the time
//! that is left, so a silent server costs at most that. Connections are kept alive per
//! origin in a small shared pool and reused when the previous response was read in full; a
//! reused connection the server closed in the meantime is retried once on a fresh one (only
//! GET and HEAD are sent that way, so a retry is always safe). A POST ([`HttpsClient::post`],
//! for alert notifications) always goes on a fresh connection of its own and is never
//! retried. Bodies are read under a hard limit.
//!
//! Proxies ([`super::proxy`]) are applied here, at the connection, so every outbound user
//! gets them: an `https` target is reached through a `CONNECT` tunnel with TLS inside it,
//! a plain-`http` target by sending the request in absolute form to the proxy.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

use super::http_response::{self, BodyDecoder, BodyProgress, FramingError, ResponseHead};
use super::proxy::{self, Proxy, ProxyConfig, ProxyError};

/// Where Debian-based images keep the system CA bundle.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Redirects followed for one GET before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// Idle connections kept per origin, and in all.
const MAX_IDLE_PER_ORIGIN: usize = 4;
const MAX_IDLE_TOTAL: usize = 32;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
const USER_AGENT: &str = concat!("tastevin/", env!("CARGO_PKG_VERSION"));
/// Largest answer head a proxy may give to `CONNECT`.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Why an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not `http(s)://host[:port]/path`.
    InvalidUrl(String),
    /// A plain-HTTP URL where only HTTPS is allowed.
    PlainHttpNotAllowed { host: String },
    /// The CA bundle or the configured CA certificates are unusable.
    Trust(String),
    /// The host name did not resolve.
    Resolve { host: String, reason: String },
    /// No address of the host accepted a connection.
    Connect { host: String, reason: String },
    /// The deadline passed before the answer was complete.
    Timeout { host: String },
    /// The server's certificate is not trusted (or not for this host name).
    CertificateNotTrusted { host: String, reason: String },
    /// The TLS handshake or session failed for another reason.
    Tls { host: String, reason: String },
    /// Reading or writing failed.
    Io { host: String, reason: String },
    /// The answer is not valid HTTP/1.1, or is larger than allowed.
    Response { host: String, error: FramingError },
    /// More redirects than [`MAX_REDIRECTS`], or one without a usable `Location`.
    Redirect { host: String, reason: String },
    /// The proxy settings are unusable (startup refuses them, so only a library user sees it).
    ProxyConfig(ProxyError),
    /// The proxy could not be reached, refused the tunnel or the credentials.
    Proxy {
        /// The proxy as shown: `http://user@host:port`, never the password.
        proxy: String,
        host: String,
        reason: String,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(url) => write!(f, "invalid URL {url:?}"),
            HttpError::PlainHttpNotAllowed { host } => write!(
                f,
                "refusing plain HTTP to {host}: only HTTPS is allowed for this registry"
            ),
            HttpError::Trust(reason) => write!(f, "cannot set up TLS trust: {reason}"),
            HttpError::Resolve { host, reason } => {
                write!(f, "cannot resolve host {host}: {reason}")
            }
            HttpError::Connect { host, reason } => {
                write!(f, "cannot connect to {host}: {reason}")
            }
            HttpError::Timeout { host } => {
                write!(f, "registry {host} did not answer within the deadline")
            }
            HttpError::CertificateNotTrusted { host, reason } => write!(
                f,
                "TLS certificate of host {host} not trusted: {reason}; give the validator the registry's CA as `cert`"
            ),
            HttpError::Tls { host, reason } => write!(f, "TLS with {host} failed: {reason}"),
            HttpError::Io { host, reason } => write!(f, "connection to {host} failed: {reason}"),
            HttpError::Response { host, error } => {
                write!(f, "unusable answer from {host}: {error}")
            }
            HttpError::Redirect { host, reason } => {
                write!(f, "redirect from {host} not followed: {reason}")
            }
            HttpError::ProxyConfig(error) => error.fmt(f),
            HttpError::Proxy {
                proxy,
                host,
                reason,
            } => write!(f, "proxy {proxy} (for {host}): {reason}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// Whether the request ran out of time (not cached, reported as a timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, HttpError::Timeout { .. })
    }
}

/// Scheme, host and port: what a connection is made to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub https: bool,
    /// Host name or IP address; IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// `host[:port]` as it goes into `Host` and log messages (port omitted when default).
    pub fn authority(&self) -> String {
        let default_port = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// An absolute `http(s)` URL split into origin and request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub origin: Origin,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(raw: &str) -> Result<Url, HttpError> {
        let invalid = || HttpError::InvalidUrl(raw.chars().take(200).collect());
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(raw, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(raw, "http://") {
            (false, rest)
        } else {
            return Err(invalid());
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i..).unwrap_or("/"),
            ),
            None => (rest, "/"),
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_string()
        };
        if target
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
        {
            return Err(invalid());
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(invalid)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse::<u16>().map_err(|_| invalid())?,
                None if after.is_empty() => default_port,
                None => return Err(invalid()),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, p)) => (host, p.parse::<u16>().map_err(|_| invalid())?),
                None => (authority, default_port),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if !host_ok {
            return Err(invalid());
        }
        Ok(Url {
            origin: Origin {
                https,
                host: host.to_ascii_lowercase(),
                port,
            },
            target,
        })
    }

    /// Resolves a `Location` value against this URL.
    pub fn join(&self, location: &str) -> Result<Url, HttpError> {
        if location.starts_with("//") {
            let scheme = if self.origin.https { "https:" } else { "http:" };
            Url::parse(&format!("{scheme}{location}"))
        } else if location.starts_with('/') {
            Url::parse(&format!(
                "{}://{}{location}",
                if self.origin.https { "https" } else { "http" },
                self.origin.authority()
            ))
        } else {
            Url::parse(location)
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.origin.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.origin.authority(), self.target)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// The two methods a registry client needs, and POST for notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    /// Extra header fields (`Accept`, `Authorization`); names and values must be clean.
    pub headers: Vec<(String, String)>,
    /// Largest body accepted.
    pub max_body: usize,
    pub deadline: Instant,
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The URL that answered (after redirects).
    pub url: Url,
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        http_response::header(&self.headers, name)
    }
}

/// A rustls client configuration trusting exactly `ca` when given, else the system bundle.
pub fn tls_config(ca: Option<&[CertificateDer<'static>]>) -> Result<Arc<ClientConfig>, HttpError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(certs) => {
            if certs.is_empty() {
                return Err(HttpError::Trust("no CA certificate given".to_string()));
            }
            for cert in certs {
                roots
                    .add(cert.clone())
                    .map_err(|e| HttpError::Trust(format!("unusable CA certificate: {e}")))?;
            }
        }
        None => {
            let bundle = Path::new(SYSTEM_CA_BUNDLE);
            let certs = CertificateDer::pem_file_iter(bundle)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    HttpError::Trust(format!(
                        "cannot read the system CA bundle {SYSTEM_CA_BUNDLE}: {e}"
                    ))
                })?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(HttpError::Trust(format!(
                    "the system CA bundle {SYSTEM_CA_BUNDLE} holds no usable certificate"
                )));
            }
        }
    }
    let mut config = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| HttpError::Trust(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Registries negotiate HTTP/2 when offered it; this client speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Where a client may speak plain HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PlainHttp {
    #[default]
    Nowhere,
    Anywhere,
    /// Only to these hosts (a registry's `plainHttpRegistries`).
    To(Vec<PlainHttpHost>),
}

impl PlainHttp {
    pub fn allows(&self, origin: &Origin) -> bool {
        match self {
            PlainHttp::Nowhere => false,
            PlainHttp::Anywhere => true,
            PlainHttp::To(hosts) => hosts.iter().any(|entry| entry.matches(origin)),
        }
    }
}

impl From<bool> for PlainHttp {
    fn from(allowed: bool) -> PlainHttp {
        if allowed {
            PlainHttp::Anywhere
        } else {
            PlainHttp::Nowhere
        }
    }
}

/// A host that may be spoken to over plain HTTP: `host` (any port) or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainHttpHost {
    /// Lower case; IPv6 without brackets.
    host: String,
    port: Option<u16>,
}

impl PlainHttpHost {
    /// `registry.internal`, `registry.internal:5000`, `10.0.0.7:5000`, `[fd00::7]:5000`.
    pub fn parse(raw: &str) -> Result<PlainHttpHost, String> {
        let explicit_port = match raw.rsplit_once(':') {
            Some((_, port)) => {
                !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && (!raw.starts_with('[') || raw.contains("]:"))
            }
            None => false,
        };
        let url = Url::parse(&format!("http://{raw}/"))
            .ok()
            .filter(|url| url.target == "/" && !raw.contains(['/', '?', '@']) && !raw.is_empty())
            .ok_or_else(|| "must be host or host:port, without a scheme or path".to_string())?;
        Ok(PlainHttpHost {
            host: url.origin.host.to_ascii_lowercase(),
            port: explicit_port.then_some(url.origin.port),
        })
    }

    fn matches(&self, origin: &Origin) -> bool {
        self.host.eq_ignore_ascii_case(&origin.host)
            && self.port.is_none_or(|port| port == origin.port)
    }
}

/// The client: a TLS configuration, the plain-HTTP permission, the proxies and the idle
/// connections.
pub struct HttpsClient {
    tls: Arc<ClientConfig>,
    plain_http: PlainHttp,
    proxies: Result<Arc<ProxyConfig>, ProxyError>,
    idle: Mutex<HashMap<Origin, Vec<Connection>>>,
}

impl fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsClient")
            .field("plain_http", &self.plain_http)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// A client using the process's proxy settings ([`proxy::global`]).
    pub fn new(tls: Arc<ClientConfig>, plain_http: impl Into<PlainHttp>) -> HttpsClient {
        HttpsClient {
            tls,
            plain_http: plain_http.into(),
            proxies: proxy::global().clone(),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// A client using `proxies` instead of the process's settings.
    pub fn with_proxies(
        tls: Arc<ClientConfig>,
        plain_http: impl Into<PlainHttp>,
        proxies: Arc<ProxyConfig>,
    ) -> HttpsClient {
        HttpsClient {
            tls,
            plain_http: plain_http.into(),
            proxies: Ok(proxies),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// The proxy for `origin`, if any; an error when the settings are unusable.
    fn proxy_for(&self, origin: &Origin) -> Result<Option<&Proxy>, HttpError> {
        match &self.proxies {
            Ok(config) => Ok(config.for_origin(origin)),
            Err(error) => Err(HttpError::ProxyConfig(error.clone())),
        }
    }

    /// Sends `request`; a GET follows redirects (at most [`MAX_REDIRECTS`]), dropping
    /// `Authorization` when a redirect leaves the origin.
    pub fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let mut url = request.url.clone();
        let mut headers = request.headers.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = self.exchange(
                request.method,
                &url,
                &headers,
                request.max_body,
                request.deadline,
            )?;
            let redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308)
                && request.method == Method::Get;
            if !redirect {
                return Ok(response);
            }
            let location = response
                .header("location")
                .ok_or_else(|| HttpError::Redirect {
                    host: url.origin.authority(),
                    reason: format!("status {} without a Location header", response.status),
                })?;
            let next = url.join(location)?;
            if next.origin != url.origin {
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
            }
            url = next;
        }
        Err(HttpError::Redirect {
            host: request.url.origin.authority(),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// One request and response, on a pooled connection when there is one.
    fn exchange(
        &self,
        method: Method,
        url: &Url,
        headers: &[(String, String)],
        max_body: usize,
        deadline: Instant,
    ) -> Result<Response, HttpError> {
        let authority = url.origin.authority();
        if !url.origin.https && !self.plain_http.allows(&url.origin) {
            return Err(HttpError::PlainHttpNotAllowed { host: authority });
        }
        let result = self.exchange_with_retry(method, url, headers, max_body, deadline);
        crate::metrics::global().registry_request(
            &authority,
            result.as_ref().ok().map(|response| response.status),
        );
        result
    }

    fn exchange_with_retry(
        &self,
        method: Method,
        url: &Url,
        headers: &[(String, String)],
        max_body: usize,
        deadline: Instant,
    ) -> Result<Response, HttpError> {
        let proxy = self.proxy_for(&url.origin)?;
        let request = encode_request(method, url, headers, forwarding(proxy, url));
        if let Some(mut pooled) = self.take_idle(&url.origin) {
            match pooled.round_trip(&request, method, url, max_body, deadline) {
                Ok((response, reusable)) => {
                    if reusable {
                        self.put_idle(url.origin.clone(), pooled);
                    }
                    return Ok(response);
                }
                // The server closed the idle connection: a fresh one gets the request again.
                Err(Failure::Stale) => {}
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        let mut fresh = Connection::open(&url.origin, proxy, &self.tls, deadline)?;
        match fresh.round_trip(&request, method, url, max_body, deadline) {
            Ok((response, reusable)) => {
                if reusable {
                    self.put_idle(url.origin.clone(), fresh);
                }
                forwarded_answer(proxy, url, response)
            }
            Err(Failure::Stale) => Err(HttpError::Io {
                host: url.origin.authority(),
                reason: "the server closed the connection without answering".to_string(),
            }),
            Err(Failure::Fatal(e)) => Err(e),
        }
    }

    /// POSTs `body` to `url` with `headers` (a `Content-Length` is added) on a fresh
    /// connection that is closed afterwards: no pooling, no retry, no redirect, since a POST
    /// must not be sent twice. Not counted as a registry request in the metrics.
    pub fn post(
        &self,
        url: &Url,
        headers: &[(String, String)],
        body: &[u8],
        max_body: usize,
        deadline: Instant,
    ) -> Result<Response, HttpError> {
        if !url.origin.https && !self.plain_http.allows(&url.origin) {
            return Err(HttpError::PlainHttpNotAllowed {
                host: url.origin.authority(),
            });
        }
        let proxy = self.proxy_for(&url.origin)?;
        let mut headers = headers.to_vec();
        headers.push(("Content-Length".to_string(), body.len().to_string()));
        let mut request = encode_request(Method::Post, url, &headers, forwarding(proxy, url));
        request.extend_from_slice(body);
        let mut connection = Connection::open(&url.origin, proxy, &self.tls, deadline)?;
        match connection.round_trip(&request, Method::Post, url, max_body, deadline) {
            Ok((response, _)) => forwarded_answer(proxy, url, response),
            Err(Failure::Stale) => Err(HttpError::Io {
                host: url.origin.authority(),
                reason: "the server closed the connection without answering".to_string(),
            }),
            Err(Failure::Fatal(e)) => Err(e),
        }
    }

    fn take_idle(&self, origin: &Origin) -> Option<Connection> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(origin)?;
        let connection = list.pop();
        if list.is_empty() {
            idle.remove(origin);
        }
        connection
    }

    fn put_idle(&self, origin: Origin, connection: Connection) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let total: usize = idle.values().map(Vec::len).sum();
        if total >= MAX_IDLE_TOTAL {
            return;
        }
        let list = idle.entry(origin).or_default();
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(connection);
        }
    }
}

/// The proxy a plain-HTTP request is forwarded by (an `https` one goes through a tunnel
/// and is not the proxy's business).
fn forwarding<'a>(proxy: Option<&'a Proxy>, url: &Url) -> Option<&'a Proxy> {
    proxy.filter(|_| !url.origin.https)
}

/// A `407` from a forwarding proxy is the proxy's answer, not the target's: an error
/// naming the proxy.
fn forwarded_answer(
    proxy: Option<&Proxy>,
    url: &Url,
    response: Response,
) -> Result<Response, HttpError> {
    match forwarding(proxy, url) {
        Some(proxy) if response.status == 407 => Err(proxy_auth_refused(proxy, &url.origin, 407)),
        _ => Ok(response),
    }
}

fn proxy_auth_refused(proxy: &Proxy, origin: &Origin, status: u16) -> HttpError {
    let reason = if proxy.authorization.is_some() {
        format!("the proxy refused the credentials of the proxy URL ({status})")
    } else {
        format!(
            "the proxy requires authentication ({status}); give it as http://user:password@host:port"
        )
    };
    HttpError::Proxy {
        proxy: proxy.to_string(),
        host: origin.authority(),
        reason,
    }
}

/// The request bytes: origin-form, or absolute-form with `Proxy-Authorization` when
/// `forwarded_by` a proxy.
fn encode_request(
    method: Method,
    url: &Url,
    headers: &[(String, String)],
    forwarded_by: Option<&Proxy>,
) -> Vec<u8> {
    let target = match forwarded_by {
        Some(_) => url.to_string(),
        None => url.target.clone(),
    };
    let mut out = format!(
        "{} {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n",
        method.as_str(),
        url.origin.authority()
    );
    if let Some(authorization) = forwarded_by.and_then(|p| p.authorization.as_deref()) {
        out.push_str("Proxy-Authorization: ");
        out.push_str(authorization);
        out.push_str("\r\n");
    }
    for (name, value) in headers {
        // Values come from registries (tokens) too: never let one inject a header line.
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            continue;
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// How a round trip on one connection failed.
enum Failure {
    /// Nothing came back on a connection that may have been closed while idle.
    Stale,
    Fatal(HttpError),
}

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

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

struct Connection {
    stream: Stream,
    host: String,
}

impl Connection {
    fn open(
        origin: &Origin,
        proxy: Option<&Proxy>,
        tls: &Arc<ClientConfig>,
        deadline: Instant,
    ) -> Result<Connection, HttpError> {
        let host = origin.authority();
        let tcp = match proxy {
            None => connect(origin, &host, deadline)?,
            Some(proxy) => {
                let proxy_error = |reason: String| HttpError::Proxy {
                    proxy: proxy.to_string(),
                    host: host.clone(),
                    reason,
                };
                let tcp = connect(&proxy.origin(), &host, deadline).map_err(|e| match e {
                    HttpError::Timeout { .. } => e,
                    HttpError::Resolve { reason, .. } => {
                        proxy_error(format!("cannot resolve the proxy: {reason}"))
                    }
                    HttpError::Connect { reason, .. } | HttpError::Io { reason, .. } => {
                        proxy_error(format!("cannot connect to the proxy: {reason}"))
                    }
                    other => other,
                })?;
                if origin.https {
                    tunnel(&tcp, origin, proxy, &host, deadline)?;
                }
                tcp
            }
        };
        let _ = tcp.set_nodelay(true);
        let stream = if origin.https {
            let name = ServerName::try_from(origin.host.clone()).map_err(|e| HttpError::Tls {
                host: host.clone(),
                reason: format!("invalid server name: {e}"),
            })?;
            let mut session =
                ClientConnection::new(Arc::clone(tls), name).map_err(|e| HttpError::Tls {
                    host: host.clone(),
                    reason: e.to_string(),
                })?;
            let mut tcp = tcp;
            while session.is_handshaking() {
                set_timeouts(&tcp, &host, deadline)?;
                session
                    .complete_io(&mut tcp)
                    .map_err(|e| classify_io(&host, &e))?;
            }
            Stream::Tls(Box::new(StreamOwned::new(session, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        Ok(Connection { stream, host })
    }

    /// Writes the request and reads the whole answer. Also says whether the connection can
    /// carry another request.
    fn round_trip(
        &mut self,
        request: &[u8],
        method: Method,
        url: &Url,
        max_body: usize,
        deadline: Instant,
    ) -> Result<(Response, bool), Failure> {
        let fatal = Failure::Fatal;
        set_timeouts(self.stream.tcp(), &self.host, deadline).map_err(fatal)?;
        if let Err(e) = self
            .stream
            .write_all(request)
            .and_then(|()| self.stream.flush())
        {
            return Err(stale_or(&self.host, &e));
        }
        let mut buffer: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; READ_CHUNK];
        let (head, head_len) = loop {
            let parsed = http_response::parse_head(&buffer, method == Method::Head, max_body)
                .map_err(|error| {
                    fatal(HttpError::Response {
                        host: self.host.clone(),
                        error,
                    })
                })?;
            if let Some(found) = parsed {
                break found;
            }
            let n = self.read_some(&mut chunk, deadline)?;
            if n == 0 {
                return Err(if buffer.is_empty() {
                    Failure::Stale
                } else {
                    fatal(HttpError::Response {
                        host: self.host.clone(),
                        error: FramingError::Truncated,
                    })
                });
            }
            buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        let ResponseHead {
            status,
            headers,
            framing,
            keep_alive,
        } = head;
        let mut decoder = BodyDecoder::new(framing, max_body);
        let host = self.host.clone();
        let framing_error = |error| {
            Failure::Fatal(HttpError::Response {
                host: host.clone(),
                error,
            })
        };
        let mut pending: Vec<u8> = buffer.get(head_len..).unwrap_or_default().to_vec();
        let (body, clean_end) = loop {
            if !pending.is_empty() || decoder.is_empty_framing() {
                if let BodyProgress::Done { used } =
                    decoder.feed(&pending).map_err(framing_error)?
                {
                    break (decoder.into_body(), used == pending.len());
                }
            }
            let n = self.read_some(&mut chunk, deadline)?;
            if n == 0 {
                break (decoder.finish_at_eof().map_err(framing_error)?, false);
            }
            pending.clear();
            pending.extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        let response = Response {
            status,
            headers,
            body,
            url: url.clone(),
        };
        Ok((response, keep_alive && clean_end))
    }

    fn read_some(&mut self, chunk: &mut [u8], deadline: Instant) -> Result<usize, Failure> {
        set_timeouts(self.stream.tcp(), &self.host, deadline).map_err(Failure::Fatal)?;
        loop {
            match self.stream.read(chunk) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(Failure::Fatal(classify_io(&self.host, &e))),
            }
        }
    }
}

/// Asks `proxy` for a tunnel to `origin` and reads its answer; the TLS session then runs
/// inside the tunnel, so the proxy sees only the host name and port.
fn tunnel(
    mut tcp: &TcpStream,
    origin: &Origin,
    proxy: &Proxy,
    host: &str,
    deadline: Instant,
) -> Result<(), HttpError> {
    let proxy_error = |reason: String| HttpError::Proxy {
        proxy: proxy.to_string(),
        host: host.to_string(),
        reason,
    };
    // The authority with its port always: CONNECT's request target is `host:port`.
    let target = if origin.host.contains(':') {
        format!("[{}]:{}", origin.host, origin.port)
    } else {
        format!("{}:{}", origin.host, origin.port)
    };
    let mut request =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {USER_AGENT}\r\n");
    if let Some(authorization) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(authorization);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    set_timeouts(tcp, host, deadline)?;
    tcp.write_all(request.as_bytes())
        .map_err(|e| match classify_io(host, &e) {
            HttpError::Timeout { .. } => HttpError::Timeout {
                host: host.to_string(),
            },
            _ => proxy_error(format!("cannot send CONNECT: {e}")),
        })?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        set_timeouts(tcp, host, deadline)?;
        let n = match tcp.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match classify_io(host, &e) {
                    timeout @ HttpError::Timeout { .. } => timeout,
                    _ => proxy_error(format!("reading the answer to CONNECT failed: {e}")),
                })
            }
        };
        if n == 0 {
            return Err(proxy_error(
                "the proxy closed the connection without answering CONNECT".to_string(),
            ));
        }
        buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut head = httparse::Response::new(&mut fields);
        match head.parse(&buffer) {
            Ok(httparse::Status::Complete(len)) => {
                let status = head.code.unwrap_or_default();
                let reason = head.reason.unwrap_or_default().to_string();
                return match status {
                    200..=299 if len == buffer.len() => Ok(()),
                    200..=299 => Err(proxy_error(
                        "the proxy sent data after accepting CONNECT".to_string(),
                    )),
                    // Some proxies (tinyproxy) answer wrong credentials with 401; for CONNECT both can
                    // only be about the proxy's own authentication.
                    401 | 407 => Err(proxy_auth_refused(proxy, origin, status)),
                    _ => Err(proxy_error(format!(
                        "the proxy refused the tunnel: {status} {}",
                        reason.chars().take(100).collect::<String>()
                    ))),
                };
            }
            Ok(httparse::Status::Partial) if buffer.len() < MAX_CONNECT_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(proxy_error(
                    "the answer to CONNECT is too large".to_string(),
                ))
            }
            Err(e) => return Err(proxy_error(format!("unusable answer to CONNECT: {e}"))),
        }
    }
}

fn stale_or(host: &str, e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => Failure::Stale,
        _ => Failure::Fatal(classify_io(host, e)),
    }
}

fn remaining(host: &str, deadline: Instant) -> Result<Duration, HttpError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(HttpError::Timeout {
            host: host.to_string(),
        });
    }
    Ok(left)
}

fn set_timeouts(tcp: &TcpStream, host: &str, deadline: Instant) -> Result<(), HttpError> {
    let left = remaining(host, deadline)?;
    tcp.set_read_timeout(Some(left))
        .and_then(|()| tcp.set_write_timeout(Some(left)))
        .map_err(|e| classify_io(host, &e))
}

fn connect(origin: &Origin, host: &str, deadline: Instant) -> Result<TcpStream, HttpError> {
    let addresses: Vec<SocketAddr> = (origin.host.as_str(), origin.port)
        .to_socket_addrs()
        .map_err(|e| HttpError::Resolve {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    let mut last = None;
    for address in &addresses {
        let left = remaining(host, deadline)?;
        match TcpStream::connect_timeout(address, left) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(classify_io(host, &e)).map_err(|error| match error {
            HttpError::Io { host, reason } => HttpError::Connect { host, reason },
            other => other,
        }),
        None => Err(HttpError::Resolve {
            host: host.to_string(),
            reason: "no address found".to_string(),
        }),
    }
}

/// Maps an I/O error to what the user needs to know: timeout, untrusted certificate, other
/// TLS failure, or plain I/O.
fn classify_io(host: &str, e: &io::Error) -> HttpError {
    let host = host.to_string();
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        return HttpError::Timeout { host };
    }
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match tls {
            rustls::Error::InvalidCertificate(reason) => HttpError::CertificateNotTrusted {
                host,
                reason: format!("{reason:?}"),
            },
            // What a plain-HTTP server's first answer looks like to a TLS client.
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                HttpError::Tls {
                    host,
                    reason: "the server does not speak TLS; plain HTTP is only spoken where \
                             the configuration says so (a registry in the validator's \
                             plainHttpRegistries, an http:// Notary host)"
                        .to_string(),
                }
            }
            other => HttpError::Tls {
                host,
                reason: other.to_string(),
            },
        };
    }
    HttpError::Io {
        host,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_hosts_match_host_and_optional_port() {
        let origin = |raw: &str| Url::parse(raw).unwrap().origin;
        let allowed = |entries: &[&str], url: &str| {
            let hosts = entries
                .iter()
                .map(|entry| PlainHttpHost::parse(entry).unwrap())
                .collect();
            PlainHttp::To(hosts).allows(&origin(url))
        };
        assert!(allowed(
            &["registry.internal"],
            "http://registry.internal:5000/"
        ));
        assert!(allowed(&["Registry.Internal"], "http://registry.internal/"));
        assert!(allowed(
            &["registry.internal:5000"],
            "http://registry.internal:5000/v2/"
        ));
        assert!(!allowed(
            &["registry.internal:5000"],
            "http://registry.internal:5001/"
        ));
        assert!(!allowed(
            &["registry.internal:5000"],
            "http://registry.internal/"
        ));
        assert!(!allowed(
            &["registry.internal"],
            "http://evil-registry.internal/"
        ));
        assert!(!allowed(
            &["registry.internal"],
            "http://registry.internal.evil/"
        ));
        assert!(allowed(&["[fd00::7]:5000"], "http://[fd00::7]:5000/"));
        assert!(allowed(&["[fd00::7]"], "http://[fd00::7]:5000/"));
        assert!(allowed(&["10.0.0.7"], "http://10.0.0.7:80/"));
        for bad in [
            "",
            "http://registry",
            "registry/v2",
            "user@registry",
            "r:99999",
            "r?x",
        ] {
            assert!(PlainHttpHost::parse(bad).is_err(), "{bad}");
        }
        assert!(!PlainHttp::Nowhere.allows(&origin("http://registry.internal/")));
        assert!(PlainHttp::Anywhere.allows(&origin("http://registry.internal/")));
    }
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn urls_split_into_origin_and_target() {
        let url = Url::parse("https://Registry.example:5000/v2/x/manifests/y?a=b").unwrap();
        assert_eq!(url.origin.host, "registry.example");
        assert_eq!(url.origin.port, 5000);
        assert!(url.origin.https);
        assert_eq!(url.target, "/v2/x/manifests/y?a=b");
        assert_eq!(
            url.to_string(),
            "https://registry.example:5000/v2/x/manifests/y?a=b"
        );
        let url = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!(url.origin.host, "::1");
        assert_eq!(url.origin.authority(), "[::1]:8080");
        assert_eq!(url.target, "/");
        assert_eq!(Url::parse("https://h/p").unwrap().origin.authority(), "h");
        for bad in [
            "ftp://h/",
            "https://",
            "https://h:99999/",
            "https://h/a b",
            "https://a@b/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = Url::parse("https://r.example/v2/a").unwrap();
        assert_eq!(
            base.join("/blobs/x").unwrap().to_string(),
            "https://r.example/blobs/x"
        );
        assert_eq!(
            base.join("//cdn.example/x").unwrap().to_string(),
            "https://cdn.example/x"
        );
        assert_eq!(
            base.join("http://o:1/y").unwrap().to_string(),
            "http://o:1/y"
        );
    }

    #[test]
    fn header_values_with_line_breaks_are_not_sent() {
        let url = Url::parse("http://h/x").unwrap();
        let out = encode_request(
            Method::Get,
            &url,
            &[
                ("Accept".to_string(), "a".to_string()),
                ("Authorization".to_string(), "x\r\nEvil: 1".to_string()),
            ],
            None,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /x HTTP/1.1\r\nHost: h\r\n"));
        assert!(text.contains("Accept: a\r\n"));
        assert!(!text.contains("Evil"));
    }

    #[test]
    fn plain_http_needs_permission() {
        let client = HttpsClient::new(tls_config(None).unwrap(), false);
        let request = Request {
            method: Method::Get,
            url: Url::parse("http://127.0.0.1:1/").unwrap(),
            headers: vec![],
            max_body: 10,
            deadline: Instant::now() + Duration::from_secs(1),
        };
        assert!(matches!(
            client.send(&request),
            Err(HttpError::PlainHttpNotAllowed { .. })
        ));
    }

    /// A server answering each connection's requests from a script, counting connections.
    fn serve(answers: Vec<&'static str>) -> (SocketAddr, thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let mut connections = 0;
            let mut answers = answers.into_iter();
            while let Ok((mut tcp, _)) = listener.accept() {
                connections += 1;
                let mut buf = [0u8; 4096];
                while let Ok(n) = tcp.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    match answers.next() {
                        Some("CLOSE") => break,
                        Some(answer) => tcp.write_all(answer.as_bytes()).unwrap(),
                        None => return connections,
                    }
                }
                if answers.len() == 0 {
                    return connections;
                }
            }
            connections
        });
        (addr, handle)
    }

    fn get(
        client: &HttpsClient,
        addr: SocketAddr,
        path: &str,
        max_body: usize,
    ) -> Result<Response, HttpError> {
        client.send(&Request {
            method: Method::Get,
            url: Url::parse(&format!("http://{addr}{path}")).unwrap(),
            headers: vec![("Authorization".to_string(), "Bearer t".to_string())],
            max_body,
            deadline: Instant::now() + Duration::from_secs(5),
        })
    }

    #[test]
    fn keep_alive_reuses_one_connection_and_redirects_are_followed() {
        let (addr, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ]);
        let client = HttpsClient::new(tls_config(None).unwrap(), true);
        assert_eq!(get(&client, addr, "/a", 10).unwrap().body, b"hi");
        let redirected = get(&client, addr, "/a", 10).unwrap();
        assert_eq!(redirected.body, b"abc");
        assert_eq!(redirected.url.target, "/b");
        drop(client);
        assert_eq!(server.join().unwrap(), 1);
    }

    #[test]
    fn a_connection_closed_while_idle_is_replaced() {
        let (addr, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
            "CLOSE",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2",
        ]);
        let client = HttpsClient::new(tls_config(None).unwrap(), true);
        assert_eq!(get(&client, addr, "/", 10).unwrap().body, b"1");
        assert_eq!(get(&client, addr, "/", 10).unwrap().body, b"2");
        drop(client);
        assert_eq!(server.join().unwrap(), 2);
    }

    #[test]
    fn body_over_the_limit_is_an_error() {
        let (addr, _server) = serve(vec!["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"]);
        let client = HttpsClient::new(tls_config(None).unwrap(), true);
        let e = get(&client, addr, "/", 10).unwrap_err();
        assert!(
            e.to_string().contains("exceeds the limit of 10 bytes"),
            "{e}"
        );
    }
    #[test]
    fn post_sends_its_body_on_a_fresh_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut received = Vec::new();
            let mut buf = [0u8; 1024];
            while !received.ends_with(b"{\"a\":1}") {
                let n = tcp.read(&mut buf).unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&received));
                received.extend_from_slice(&buf[..n]);
            }
            tcp.write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nnope")
                .unwrap();
            String::from_utf8(received).unwrap()
        });
        let client = HttpsClient::new(tls_config(None).unwrap(), true);
        let url = Url::parse(&format!("http://{addr}/hook")).unwrap();
        let headers = [("Content-Type".to_string(), "application/json".to_string())];
        let deadline = Instant::now() + Duration::from_secs(5);
        let response = client
            .post(&url, &headers, b"{\"a\":1}", 100, deadline)
            .unwrap();
        assert_eq!((response.status, response.body), (500, b"nope".to_vec()));
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains("\r\nContent-Type: application/json\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\nContent-Length: 7\r\n\r\n{"),
            "{request}"
        );
        let refused = HttpsClient::new(tls_config(None).unwrap(), false)
            .post(&url, &headers, b"{}", 100, deadline)
            .unwrap_err();
        assert!(matches!(refused, HttpError::PlainHttpNotAllowed { .. }));
    }
}
