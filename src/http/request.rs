//! HTTP/1.1 request framing: an incremental, I/O-free decoder that turns the bytes of a
//! connection into whole [`Request`]s, enforcing size limits and rejecting request smuggling
//! shapes. The head is parsed with `httparse`; bodies are framed by `Content-Length` or
//! `Transfer-Encoding: chunked`.

use std::fmt;

use super::chunked::{ChunkedDecoder, ChunkedProgress};

/// Size limits applied to every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header fields plus the blank line ending them. Also the allowance for
    /// chunk extensions and trailers in a chunked body.
    pub max_head_bytes: usize,
    /// Decoded body size.
    pub max_body_bytes: usize,
    /// Number of header fields.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_body_bytes: 8 * 1024 * 1024,
            max_headers: 64,
        }
    }
}

/// The HTTP version a request was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// One complete request, body decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// As sent, e.g. `POST`.
    pub method: String,
    /// The request-target without its query string.
    pub path: String,
    pub version: Version,
    /// Raw value of `Content-Type`, trimmed.
    pub content_type: Option<String>,
    /// Whether the connection may stay open after the response.
    pub keep_alive: bool,
    /// Decoded body (a chunked body is already de-chunked).
    pub body: Vec<u8>,
}

/// Result of one [`RequestDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Need more bytes. `send_continue` is true exactly once per request: when the head
    /// was just completed, carries `Expect: 100-continue`, and the body is not complete yet.
    Incomplete { send_continue: bool },
    /// A whole request; the caller drops `consumed` bytes from the front of its buffer.
    Complete { request: Request, consumed: usize },
}

/// Why a request was refused. After any error the connection cannot be resynchronised:
/// answer with [`RequestError::status`] and the Display text, then close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// No end of the request head within the limit.
    HeadTooLarge { limit: usize },
    /// More header fields than the limit.
    TooManyHeaders { limit: usize },
    /// The head is not valid HTTP/1.x syntax; the reason comes from the parser.
    MalformedHead { reason: &'static str },
    /// An `HTTP/x.y` version other than 1.0 and 1.1.
    UnsupportedVersion,
    /// A header value that is not valid UTF-8 where text is needed.
    InvalidHeaderValue { name: &'static str },
    /// `Content-Length` that is not a plain decimal number fitting 64 bits.
    InvalidContentLength,
    /// Several `Content-Length` fields with different values.
    ConflictingContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ContentLengthWithTransferEncoding,
    /// A `Transfer-Encoding` other than exactly `chunked` (501: we implement no other coding).
    UnsupportedTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request, where chunked framing does not exist.
    TransferEncodingInHttp10,
    /// An `Expect` value other than `100-continue`.
    UnsupportedExpectation,
    /// The body is, or is announced to be, larger than the limit.
    BodyTooLarge { limit: usize },
    /// A chunk size that is empty, not hex, or longer than 16 digits.
    InvalidChunkSize,
    /// A chunk-size line, chunk data or trailer line not terminated by CRLF.
    MissingChunkCrlf,
    /// Chunk-size lines, extensions and trailers take more room than the body they frame.
    ChunkOverheadTooLarge,
}

impl RequestError {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::HeadTooLarge { .. } | RequestError::TooManyHeaders { .. } => 431,
            RequestError::UnsupportedVersion => 505,
            RequestError::UnsupportedTransferEncoding => 501,
            RequestError::UnsupportedExpectation => 417,
            RequestError::BodyTooLarge { .. } | RequestError::ChunkOverheadTooLarge => 413,
            RequestError::MalformedHead { .. }
            | RequestError::InvalidHeaderValue { .. }
            | RequestError::InvalidContentLength
            | RequestError::ConflictingContentLength
            | RequestError::ContentLengthWithTransferEncoding
            | RequestError::TransferEncodingInHttp10
            | RequestError::InvalidChunkSize
            | RequestError::MissingChunkCrlf => 400,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::HeadTooLarge { limit } => {
                write!(f, "request header section exceeds {limit} bytes")
            }
            RequestError::TooManyHeaders { limit } => {
                write!(f, "request has more than {limit} header fields")
            }
            RequestError::MalformedHead { reason } => write!(f, "malformed request: {reason}"),
            RequestError::UnsupportedVersion => {
                f.write_str("unsupported HTTP version: only HTTP/1.0 and HTTP/1.1 are served")
            }
            RequestError::InvalidHeaderValue { name } => {
                write!(f, "invalid {name} header: value is not valid UTF-8")
            }
            RequestError::InvalidContentLength => {
                f.write_str("invalid Content-Length: expected a decimal number of bytes")
            }
            RequestError::ConflictingContentLength => {
                f.write_str("conflicting Content-Length headers")
            }
            RequestError::ContentLengthWithTransferEncoding => {
                f.write_str("request has both Content-Length and Transfer-Encoding")
            }
            RequestError::UnsupportedTransferEncoding => {
                f.write_str("unsupported Transfer-Encoding: only a single \"chunked\" is accepted")
            }
            RequestError::TransferEncodingInHttp10 => {
                f.write_str("Transfer-Encoding is not allowed in an HTTP/1.0 request")
            }
            RequestError::UnsupportedExpectation => {
                f.write_str("unsupported Expect header: only 100-continue is accepted")
            }
            RequestError::BodyTooLarge { limit } => {
                write!(f, "request body exceeds {limit} bytes")
            }
            RequestError::InvalidChunkSize => {
                f.write_str("malformed chunked body: invalid chunk size")
            }
            RequestError::MissingChunkCrlf => {
                f.write_str("malformed chunked body: expected CRLF line ending")
            }
            RequestError::ChunkOverheadTooLarge => f.write_str(
                "chunked body framing too large: use bigger chunks and shorter extensions or trailers",
            ),
        }
    }
}

impl std::error::Error for RequestError {}

/// How the body of the request being decoded is delimited.
#[derive(Debug)]
enum BodyFraming {
    /// Exactly this many bytes follow the head (0 when no framing header was sent).
    Length(usize),
    /// Chunked; `scanned` is the absolute offset of the first byte not yet fed to the decoder.
    Chunked {
        decoder: ChunkedDecoder,
        scanned: usize,
    },
}

/// A parsed head waiting for its body.
#[derive(Debug)]
struct PendingRequest {
    method: String,
    path: String,
    version: Version,
    content_type: Option<String>,
    keep_alive: bool,
    expects_continue: bool,
    head_len: usize,
    framing: BodyFraming,
}

/// Looks for the end of the request head without ever revisiting a byte.
#[derive(Debug, Default)]
struct HeadScan {
    /// Offset of the request line, once the empty lines a client may send before it are skipped.
    request_start: Option<usize>,
    /// Offset of the first byte not yet looked at.
    scanned: usize,
}

impl HeadScan {
    /// Returns the head length once the empty line ending it has arrived.
    fn find_end(
        &mut self,
        input: &[u8],
        max_head_bytes: usize,
    ) -> Result<Option<usize>, RequestError> {
        while let Some(&byte) = input.get(self.scanned) {
            if self.scanned >= max_head_bytes {
                return Err(RequestError::HeadTooLarge {
                    limit: max_head_bytes,
                });
            }
            let index = self.scanned;
            self.scanned += 1;
            match self.request_start {
                None if byte != b'\r' && byte != b'\n' => self.request_start = Some(index),
                Some(start) if byte == b'\n' && ends_empty_line(input, start, index) => {
                    return Ok(Some(self.scanned));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

/// Whether the LF at `lf` ends an empty line (`\n\n` or `\n\r\n`) after the request line.
fn ends_empty_line(input: &[u8], request_start: usize, lf: usize) -> bool {
    let before = |back: usize| {
        lf.checked_sub(back)
            .filter(|&at| at >= request_start)
            .and_then(|at| input.get(at))
            .copied()
    };
    before(1) == Some(b'\n') || (before(1) == Some(b'\r') && before(2) == Some(b'\n'))
}

/// Incremental decoder for one request at a time; reusable (resets itself after `Complete`).
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    head_scan: HeadScan,
    pending: Option<PendingRequest>,
}

impl RequestDecoder {
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            limits,
            head_scan: HeadScan::default(),
            pending: None,
        }
    }

    /// `input` is the whole unconsumed buffer (it only grows between calls until Complete).
    /// Each byte is examined once across calls, so decoding is linear overall. After an
    /// error the decoder is reset, but the connection should be closed.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, RequestError> {
        let result = self.decode_step(input);
        if !matches!(result, Ok(Decoded::Incomplete { .. })) {
            self.head_scan = HeadScan::default();
            self.pending = None;
        }
        result
    }

    fn decode_step(&mut self, input: &[u8]) -> Result<Decoded, RequestError> {
        let head_just_completed = self.pending.is_none();
        let pending = match &mut self.pending {
            Some(pending) => pending,
            None => {
                let Some(head_len) = self.head_scan.find_end(input, self.limits.max_head_bytes)?
                else {
                    return Ok(Decoded::Incomplete {
                        send_continue: false,
                    });
                };
                let head = input.get(..head_len).unwrap_or(input);
                self.pending.insert(parse_head(head, &self.limits)?)
            }
        };
        let body_end = match &mut pending.framing {
            BodyFraming::Length(length) => {
                let end = pending.head_len.saturating_add(*length);
                (end <= input.len()).then_some(end)
            }
            BodyFraming::Chunked { decoder, scanned } => {
                let new = input.get(*scanned..).unwrap_or_default();
                match decoder.feed(new)? {
                    ChunkedProgress::Done { used } => Some(*scanned + used),
                    ChunkedProgress::NeedMore => {
                        *scanned = input.len();
                        None
                    }
                }
            }
        };
        let Some(consumed) = body_end else {
            return Ok(Decoded::Incomplete {
                send_continue: head_just_completed && pending.expects_continue,
            });
        };
        let body = match &mut pending.framing {
            BodyFraming::Length(_) => input
                .get(pending.head_len..consumed)
                .unwrap_or_default()
                .to_vec(),
            BodyFraming::Chunked { decoder, .. } => decoder.take_body(),
        };
        let request = Request {
            method: std::mem::take(&mut pending.method),
            path: std::mem::take(&mut pending.path),
            version: pending.version,
            content_type: pending.content_type.take(),
            keep_alive: pending.keep_alive,
            body,
        };
        Ok(Decoded::Complete { request, consumed })
    }
}

/// Parses a complete head (request line, fields, empty line) and decides the body framing.
fn parse_head(head: &[u8], limits: &Limits) -> Result<PendingRequest, RequestError> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut fields);
    let head_len = match parsed.parse(head) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) => {
            return Err(RequestError::MalformedHead {
                reason: "incomplete request head",
            })
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError::TooManyHeaders {
                limit: limits.max_headers,
            })
        }
        Err(httparse::Error::Version) if names_an_http_version(head) => {
            return Err(RequestError::UnsupportedVersion)
        }
        Err(error) => {
            return Err(RequestError::MalformedHead {
                reason: parse_error_reason(error),
            })
        }
    };
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(RequestError::MalformedHead {
            reason: "incomplete request line",
        });
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let fields = FieldSummary::collect(parsed.headers, version)?;
    let framing = fields.body_framing(version, head_len, limits)?;
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Ok(PendingRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        version,
        keep_alive: fields.keep_alive(version),
        expects_continue: fields.expects_continue,
        content_type: fields.content_type,
        head_len,
        framing,
    })
}

/// What the framing and connection logic needs from the header fields.
#[derive(Debug, Default)]
struct FieldSummary {
    content_length: Option<u64>,
    transfer_encoding_count: usize,
    transfer_encoding_is_chunked: bool,
    content_type: Option<String>,
    connection_close: bool,
    connection_keep_alive: bool,
    expects_continue: bool,
}

impl FieldSummary {
    fn collect(fields: &[httparse::Header<'_>], version: Version) -> Result<Self, RequestError> {
        let mut summary = FieldSummary::default();
        for field in fields {
            let value = trim_whitespace(field.value);
            let name = field.name;
            if name.eq_ignore_ascii_case("content-length") {
                let length = parse_content_length(value)?;
                if summary.content_length.is_some_and(|seen| seen != length) {
                    return Err(RequestError::ConflictingContentLength);
                }
                summary.content_length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                summary.transfer_encoding_count += 1;
                summary.transfer_encoding_is_chunked = value.eq_ignore_ascii_case(b"chunked");
            } else if name.eq_ignore_ascii_case("content-type") {
                if summary.content_type.is_none() {
                    let text = std::str::from_utf8(value).map_err(|_| {
                        RequestError::InvalidHeaderValue {
                            name: "Content-Type",
                        }
                    })?;
                    summary.content_type = Some(text.to_owned());
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&byte| byte == b',') {
                    let token = trim_whitespace(token);
                    summary.connection_close |= token.eq_ignore_ascii_case(b"close");
                    summary.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") && version == Version::Http11 {
                if !value.eq_ignore_ascii_case(b"100-continue") {
                    return Err(RequestError::UnsupportedExpectation);
                }
                summary.expects_continue = true;
            }
        }
        Ok(summary)
    }

    fn body_framing(
        &self,
        version: Version,
        head_len: usize,
        limits: &Limits,
    ) -> Result<BodyFraming, RequestError> {
        if self.transfer_encoding_count > 0 {
            if self.content_length.is_some() {
                return Err(RequestError::ContentLengthWithTransferEncoding);
            }
            if version == Version::Http10 {
                return Err(RequestError::TransferEncodingInHttp10);
            }
            if self.transfer_encoding_count > 1 || !self.transfer_encoding_is_chunked {
                return Err(RequestError::UnsupportedTransferEncoding);
            }
            return Ok(BodyFraming::Chunked {
                decoder: ChunkedDecoder::new(limits.max_body_bytes, limits.max_head_bytes),
                scanned: head_len,
            });
        }
        let length = self.content_length.unwrap_or(0);
        match usize::try_from(length) {
            Ok(length) if length <= limits.max_body_bytes => Ok(BodyFraming::Length(length)),
            _ => Err(RequestError::BodyTooLarge {
                limit: limits.max_body_bytes,
            }),
        }
    }

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.connection_close,
            Version::Http10 => self.connection_keep_alive && !self.connection_close,
        }
    }
}

/// `Content-Length = 1*DIGIT`: no sign, no spaces inside, no list, must fit 64 bits.
fn parse_content_length(value: &[u8]) -> Result<u64, RequestError> {
    if value.is_empty() {
        return Err(RequestError::InvalidContentLength);
    }
    value.iter().try_fold(0u64, |length, &byte| {
        let digit = match byte {
            b'0'..=b'9' => u64::from(byte - b'0'),
            _ => return Err(RequestError::InvalidContentLength),
        };
        length
            .checked_mul(10)
            .and_then(|length| length.checked_add(digit))
            .ok_or(RequestError::InvalidContentLength)
    })
}

fn trim_whitespace(value: &[u8]) -> &[u8] {
    let is_space = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = value
        .iter()
        .position(|byte| !is_space(byte))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|byte| !is_space(byte))
        .map_or(start, |last| last + 1);
    value.get(start..end).unwrap_or_default()
}

/// Whether the request line is `method SP target SP HTTP/<digits>.<digits>`, so that a version
/// error from httparse means a version we do not speak rather than garbage.
fn names_an_http_version(head: &[u8]) -> bool {
    let start = head
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(head.len());
    let rest = head.get(start..).unwrap_or_default();
    let line = rest.split(|&byte| byte == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&byte| byte == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(number) = version.strip_prefix(b"HTTP/") else {
        return false;
    };
    let mut numbers = number.split(|&byte| byte == b'.');
    let is_number = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    match (numbers.next(), numbers.next(), numbers.next()) {
        (Some(major), None, None) => is_number(major),
        (Some(major), Some(minor), None) => is_number(major) && is_number(minor),
        _ => false,
    }
}

fn parse_error_reason(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::Status | httparse::Error::TooManyHeaders => "invalid request head",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        max_head_bytes: 256,
        max_body_bytes: 64,
        max_headers: 8,
    };

    fn decode_once(limits: Limits, input: &[u8]) -> Result<Decoded, RequestError> {
        RequestDecoder::new(limits).decode(input)
    }

    fn complete(input: &[u8]) -> (Request, usize) {
        match decode_once(Limits::default(), input) {
            Ok(Decoded::Complete { request, consumed }) => (request, consumed),
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    fn error_status(limits: Limits, input: &[u8]) -> u16 {
        match decode_once(limits, input) {
            Err(error) => error.status(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Feeds `input` growing one split at a time, like a connection buffer, and collects
    /// every outcome until the first complete request or error.
    fn decode_split(input: &[u8], splits: &[usize]) -> (Result<Decoded, RequestError>, usize) {
        let mut decoder = RequestDecoder::new(Limits::default());
        let mut continues = 0;
        for &end in splits.iter().chain(std::iter::once(&input.len())) {
            match decoder.decode(&input[..end]) {
                Ok(Decoded::Incomplete { send_continue }) => {
                    continues += usize::from(send_continue)
                }
                outcome => return (outcome, continues),
            }
        }
        (
            Ok(Decoded::Incomplete {
                send_continue: false,
            }),
            continues,
        )
    }

    const POST_LENGTH: &[u8] = b"POST /mutate?timeout=10s HTTP/1.1\r\nHost: tastevin\r\n\
        Content-Type: application/json \r\nContent-Length: 10\r\n\r\n{\"a\":\"bc\"}";
    const POST_CHUNKED: &[u8] = b"POST /mutate HTTP/1.1\r\nHost: tastevin\r\n\
        Transfer-Encoding: Chunked\r\nContent-Type: application/json\r\n\r\n\
        4;ext=1\r\n{\"a\"\r\n7\r\n:\"bc\"}\n\r\n0\r\nX-Checksum: 1\r\n\r\n";

    #[test]
    fn content_length_request() {
        let (request, consumed) = complete(POST_LENGTH);
        assert_eq!(consumed, POST_LENGTH.len());
        assert_eq!(
            request,
            Request {
                method: "POST".into(),
                path: "/mutate".into(),
                version: Version::Http11,
                content_type: Some("application/json".into()),
                keep_alive: true,
                body: b"{\"a\":\"bc\"}".to_vec(),
            }
        );
    }

    #[test]
    fn chunked_request() {
        let (request, consumed) = complete(POST_CHUNKED);
        assert_eq!(consumed, POST_CHUNKED.len());
        assert_eq!(request.body, b"{\"a\":\"bc\"}\n");
        assert_eq!(request.path, "/mutate");
    }

    #[test]
    fn no_framing_header_means_no_body() {
        let input = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE";
        let (request, consumed) = complete(input);
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/health");
        assert!(request.body.is_empty());
        assert_eq!(consumed, input.len() - "GARBAGE".len());
    }

    #[test]
    fn every_split_point_decodes_like_the_whole() {
        for input in [POST_LENGTH, POST_CHUNKED] {
            let (whole, _) = decode_split(input, &[]);
            assert!(matches!(whole, Ok(Decoded::Complete { .. })));
            for split in 0..input.len() {
                assert_eq!(decode_split(input, &[split]).0, whole, "split at {split}");
            }
            let every_byte: Vec<usize> = (0..input.len()).collect();
            assert_eq!(decode_split(input, &every_byte).0, whole);
        }
    }

    #[test]
    fn pipelined_requests_are_consumed_exactly() {
        let mut input = POST_CHUNKED.to_vec();
        input.extend_from_slice(POST_LENGTH);
        input.extend_from_slice(b"GET /metr");
        let mut decoder = RequestDecoder::new(Limits::default());
        let Ok(Decoded::Complete { request, consumed }) = decoder.decode(&input) else {
            panic!("first request incomplete");
        };
        assert_eq!(request.body, b"{\"a\":\"bc\"}\n");
        assert_eq!(consumed, POST_CHUNKED.len());
        input.drain(..consumed);
        let Ok(Decoded::Complete { request, consumed }) = decoder.decode(&input) else {
            panic!("second request incomplete");
        };
        assert_eq!(request.body, b"{\"a\":\"bc\"}");
        assert_eq!(consumed, POST_LENGTH.len());
        input.drain(..consumed);
        assert_eq!(
            decoder.decode(&input),
            Ok(Decoded::Incomplete {
                send_continue: false
            })
        );
        input.extend_from_slice(b"ics HTTP/1.1\r\n\r\n");
        let Ok(Decoded::Complete { request, .. }) = decoder.decode(&input) else {
            panic!("third request incomplete");
        };
        assert_eq!(request.path, "/metrics");
    }

    #[test]
    fn empty_lines_before_a_request_are_skipped_and_consumed() {
        let input = b"\r\n\nGET / HTTP/1.1\n\n";
        let (request, consumed) = complete(input);
        assert_eq!(request.path, "/");
        assert_eq!(consumed, input.len());
        assert_eq!(
            decode_once(Limits::default(), b"\r\n\r\n\r\n"),
            Ok(Decoded::Incomplete {
                send_continue: false
            })
        );
    }

    #[test]
    fn head_limit_gives_431() {
        let limits = Limits {
            max_head_bytes: 40,
            ..SMALL
        };
        let exact = b"GET / HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaa\r\n\r\n";
        assert_eq!(exact.len(), 40);
        assert!(matches!(
            decode_once(limits, exact),
            Ok(Decoded::Complete { consumed: 40, .. })
        ));
        let over = b"GET / HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaaa\r\n\r\n";
        assert_eq!(error_status(limits, over), 431);
        // No end of head in sight: refused as soon as the limit is passed.
        assert_eq!(error_status(limits, &[b'A'; 41]), 431);
        assert_eq!(
            decode_once(limits, &[b'A'; 40]),
            Ok(Decoded::Incomplete {
                send_continue: false
            })
        );
        assert_eq!(error_status(limits, &[b'\n'; 41]), 431);
    }

    #[test]
    fn too_many_headers_gives_431() {
        let limits = Limits {
            max_headers: 2,
            ..SMALL
        };
        assert!(decode_once(limits, b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n").is_ok());
        assert_eq!(
            decode_once(limits, b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
            Err(RequestError::TooManyHeaders { limit: 2 })
        );
    }

    #[test]
    fn garbage_gives_400() {
        for input in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nName : x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"GET / XTTP/1.1\r\n\r\n",
            b"\rGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\rA: b\r\n\r\n",
        ] {
            assert_eq!(
                error_status(SMALL, input),
                400,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn other_http_versions_give_505() {
        for input in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / HTTP/3\r\n\r\n",
        ] {
            assert_eq!(
                decode_once(SMALL, input),
                Err(RequestError::UnsupportedVersion),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn content_length_must_be_plain_digits() {
        for value in [
            "+5",
            "-5",
            "5 5",
            "0x5",
            "5,5",
            "",
            "5a",
            "18446744073709551616",
        ] {
            let input = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\nhello");
            assert_eq!(
                decode_once(SMALL, input.as_bytes()),
                Err(RequestError::InvalidContentLength),
                "{value:?}"
            );
        }
        let (request, _) = complete(b"POST / HTTP/1.1\r\nContent-Length: 005\r\n\r\nhello");
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn duplicate_content_length() {
        let same = b"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(complete(same).0.body, b"ok");
        let different = b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!";
        assert_eq!(
            decode_once(SMALL, different),
            Err(RequestError::ConflictingContentLength)
        );
    }

    #[test]
    fn content_length_with_transfer_encoding_gives_400() {
        let input =
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(
            decode_once(SMALL, input),
            Err(RequestError::ContentLengthWithTransferEncoding)
        );
        assert_eq!(error_status(SMALL, input), 400);
    }

    #[test]
    fn transfer_encoding_other_than_chunked_gives_501() {
        for header in [
            "Transfer-Encoding: gzip, chunked",
            "Transfer-Encoding: chunked, chunked",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            "Transfer-Encoding: gzip",
            "Transfer-Encoding: chunked;q=1",
            "Transfer-Encoding: xchunked",
            "Transfer-Encoding:",
        ] {
            let input = format!("POST / HTTP/1.1\r\n{header}\r\n\r\n0\r\n\r\n");
            assert_eq!(
                decode_once(SMALL, input.as_bytes()),
                Err(RequestError::UnsupportedTransferEncoding),
                "{header}"
            );
        }
        assert_eq!(RequestError::UnsupportedTransferEncoding.status(), 501);
    }

    #[test]
    fn transfer_encoding_in_http10_gives_400() {
        let input = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(error_status(SMALL, input), 400);
    }

    #[test]
    fn chunked_framing_errors_give_400() {
        for body in [
            &b"\r\n\r\n"[..],
            b"z\r\n",
            b"11111111111111111\r\n",
            b"2\r\nabc\r\n0\r\n\r\n",
            b"3\nabc\r\n0\r\n\r\n",
        ] {
            let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            input.extend_from_slice(body);
            let limits = Limits {
                max_body_bytes: usize::MAX,
                ..SMALL
            };
            assert_eq!(
                error_status(limits, &input),
                400,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn announced_body_over_the_limit_gives_413_before_any_body_byte() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 65\r\nExpect: 100-continue\r\n\r\n";
        assert_eq!(
            decode_once(SMALL, input),
            Err(RequestError::BodyTooLarge { limit: 64 })
        );
        let huge = b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n";
        assert_eq!(error_status(SMALL, huge), 413);
        let mut exact = b"POST / HTTP/1.1\r\nContent-Length: 64\r\n\r\n".to_vec();
        exact.extend_from_slice(&[b'x'; 64]);
        assert!(matches!(
            decode_once(SMALL, &exact),
            Ok(Decoded::Complete { request, .. }) if request.body.len() == 64
        ));
    }

    #[test]
    fn growing_chunked_body_gives_413_as_soon_as_known() {
        let mut decoder = RequestDecoder::new(SMALL);
        let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 32]);
        input.extend_from_slice(b"\r\n");
        assert_eq!(
            decoder.decode(&input),
            Ok(Decoded::Incomplete {
                send_continue: false
            })
        );
        input.extend_from_slice(b"21");
        assert_eq!(
            decoder.decode(&input),
            Err(RequestError::BodyTooLarge { limit: 64 })
        );
    }

    #[test]
    fn chunked_trailers_count_against_the_head_limit() {
        let limits = Limits {
            max_head_bytes: 64,
            ..SMALL
        };
        let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ".to_vec();
        input.extend_from_slice(&[b'y'; 64]);
        assert_eq!(
            decode_once(limits, &input),
            Err(RequestError::ChunkOverheadTooLarge)
        );
    }

    #[test]
    fn expect_continue_is_signalled_once() {
        let mut decoder = RequestDecoder::new(SMALL);
        let mut input =
            b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n".to_vec();
        assert_eq!(
            decoder.decode(&input[..10]),
            Ok(Decoded::Incomplete {
                send_continue: false
            })
        );
        assert_eq!(
            decoder.decode(&input),
            Ok(Decoded::Incomplete {
                send_continue: true
            })
        );
        input.extend_from_slice(b"ab");
        assert_eq!(
            decoder.decode(&input),
            Ok(Decoded::Incomplete {
                send_continue: false
            })
        );
        input.extend_from_slice(b"cd");
        assert!(matches!(
            decoder.decode(&input),
            Ok(Decoded::Complete { .. })
        ));
    }

    #[test]
    fn expect_continue_is_not_signalled_when_not_needed() {
        // Body already complete.
        let input = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
        assert!(matches!(
            decode_once(SMALL, input),
            Ok(Decoded::Complete { .. })
        ));
        // No body at all.
        let input = b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n";
        assert!(matches!(
            decode_once(SMALL, input),
            Ok(Decoded::Complete { .. })
        ));
        // HTTP/1.0 does not know 100-continue.
        let input = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(
            decode_once(SMALL, input),
            Ok(Decoded::Incomplete {
                send_continue: false
            })
        );
        // Chunked body announced but not arrived: continue is due.
        let input =
            b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            decode_once(SMALL, input),
            Ok(Decoded::Incomplete {
                send_continue: true
            })
        );
    }

    #[test]
    fn unknown_expectation_gives_417() {
        let input = b"POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(error_status(SMALL, input), 417);
    }

    #[test]
    fn keep_alive_rules() {
        let cases: &[(&str, &str, bool)] = &[
            ("1.1", "", true),
            ("1.1", "Connection: close\r\n", false),
            ("1.1", "Connection: Keep-Alive, CLOSE\r\n", false),
            ("1.1", "Connection: Upgrade\r\nConnection: close\r\n", false),
            ("1.1", "Connection: closed\r\n", true),
            ("1.0", "", false),
            ("1.0", "Connection: keep-alive\r\n", true),
            ("1.0", "Connection: keep-alive, Upgrade\r\n", true),
            ("1.0", "Connection: Upgrade ,  KEEP-ALIVE \r\n", true),
            ("1.0", "Connection: keep-alive, close\r\n", false),
        ];
        for (version, headers, keep_alive) in cases {
            let input = format!("GET / HTTP/{version}\r\n{headers}\r\n");
            let (request, _) = complete(input.as_bytes());
            assert_eq!(request.keep_alive, *keep_alive, "{input:?}");
        }
        let (request, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(request.version, Version::Http10);
    }

    #[test]
    fn content_type_is_first_value_trimmed() {
        let (request, _) =
            complete(b"GET / HTTP/1.1\r\ncontent-type:\t text/plain \r\nContent-Type: b\r\n\r\n");
        assert_eq!(request.content_type.as_deref(), Some("text/plain"));
        let (request, _) = complete(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(request.content_type, None);
        assert_eq!(
            error_status(SMALL, b"GET / HTTP/1.1\r\nContent-Type: \xff\r\n\r\n"),
            400
        );
    }

    #[test]
    fn decoder_resets_after_an_error() {
        let mut decoder = RequestDecoder::new(SMALL);
        assert!(decoder.decode(b"GET / HTTP/9.9\r\n\r\n").is_err());
        assert!(matches!(
            decoder.decode(b"GET / HTTP/1.1\r\n\r\n"),
            Ok(Decoded::Complete { .. })
        ));
    }

    #[test]
    fn byte_at_a_time_chunked_body_is_linear() {
        // 1 MiB of chunked body fed one byte per call: quadratic rescanning would take minutes.
        let limits = Limits {
            max_body_bytes: 1 << 20,
            ..Limits::default()
        };
        let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..256 {
            input.extend_from_slice(b"1000\r\n");
            input.extend_from_slice(&[b'z'; 0x1000]);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\n");
        let mut decoder = RequestDecoder::new(limits);
        let started = std::time::Instant::now();
        for end in 1..input.len() {
            assert!(matches!(
                decoder.decode(&input[..end]),
                Ok(Decoded::Incomplete { .. })
            ));
        }
        let Ok(Decoded::Complete { request, consumed }) = decoder.decode(&input) else {
            panic!("chunked body incomplete");
        };
        assert_eq!(consumed, input.len());
        assert_eq!(request.body.len(), 1 << 20);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn error_messages_are_short_and_specific() {
        assert_eq!(
            RequestError::BodyTooLarge { limit: 64 }.to_string(),
            "request body exceeds 64 bytes"
        );
        assert_eq!(
            RequestError::HeadTooLarge { limit: 16384 }.to_string(),
            "request header section exceeds 16384 bytes"
        );
    }
}
