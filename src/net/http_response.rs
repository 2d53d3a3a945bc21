//! HTTP/1.1 response framing for the outbound client, as pure functions over bytes: the
//! status line and headers (`httparse`), then the body by `Content-Length`, chunked coding
//! (the server's own incremental decoder) or read-until-close, always under a size limit.

use std::fmt;

use crate::http::chunked::{ChunkedDecoder, ChunkedProgress};
use crate::http::RequestError;

/// Longest response head (status line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Most header fields accepted in one response.
pub const MAX_HEADERS: usize = 64;
/// Framing bytes a chunked body may carry beyond its payload (size lines, trailers).
const CHUNK_OVERHEAD_ALLOWANCE: usize = 16 * 1024;

/// Why a response could not be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// The head is longer than [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// The head is not HTTP/1.x or has a malformed line.
    MalformedHead(String),
    /// `Content-Length` is not one decimal number, or conflicts with itself.
    InvalidContentLength,
    /// A transfer coding other than `chunked`.
    UnsupportedTransferEncoding(String),
    /// The body is, or is announced to be, larger than the caller's limit.
    BodyTooLarge { limit: usize },
    /// The chunked coding is malformed.
    InvalidChunked(String),
    /// The connection closed before the announced body ended.
    Truncated,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::HeadTooLarge => {
                write!(f, "response headers exceed {MAX_HEAD_BYTES} bytes")
            }
            FramingError::MalformedHead(reason) => write!(f, "malformed response head: {reason}"),
            FramingError::InvalidContentLength => f.write_str("invalid Content-Length header"),
            FramingError::UnsupportedTransferEncoding(coding) => {
                write!(f, "unsupported Transfer-Encoding {coding:?}")
            }
            FramingError::BodyTooLarge { limit } => {
                write!(f, "response body exceeds the limit of {limit} bytes")
            }
            FramingError::InvalidChunked(reason) => write!(f, "malformed chunked body: {reason}"),
            FramingError::Truncated => f.write_str("connection closed before the body ended"),
        }
    }
}

impl std::error::Error for FramingError {}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything up to the end of the connection.
    UntilClose,
}

/// A parsed status line and header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Header fields in order, names as sent (compare case-insensitively).
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The first value of header `name` in `headers`, by case-insensitive name.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parses a response head from the start of `buf`. `Ok(None)`: more bytes are needed.
/// On success, also returns the length of the head in `buf`.
pub fn parse_head(
    buf: &[u8],
    request_was_head: bool,
    body_limit: usize,
) -> Result<Option<(ResponseHead, usize)>, FramingError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let used = match response.parse(buf) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(FramingError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(FramingError::MalformedHead(e.to_string())),
    };
    if used > MAX_HEAD_BYTES {
        return Err(FramingError::HeadTooLarge);
    }
    let status = response
        .code
        .ok_or_else(|| FramingError::MalformedHead("no status code".to_string()))?;
    let http10 = response.version == Some(0);
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let framing = framing(&headers, status, request_was_head, body_limit)?;
    let connection_close = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    let keep_alive = !http10 && !connection_close && framing != Framing::UntilClose;
    Ok(Some((
        ResponseHead {
            status,
            headers,
            framing,
            keep_alive,
        },
        used,
    )))
}

fn framing(
    headers: &[(String, String)],
    status: u16,
    request_was_head: bool,
    body_limit: usize,
) -> Result<Framing, FramingError> {
    if request_was_head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if let Some(coding) = header(headers, "transfer-encoding") {
        if coding.eq_ignore_ascii_case("chunked") {
            return Ok(Framing::Chunked);
        }
        return Err(FramingError::UnsupportedTransferEncoding(
            coding.to_string(),
        ));
    }
    let mut length: Option<u64> = None;
    for (_, value) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let parsed = value
            .parse::<u64>()
            .ok()
            .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(FramingError::InvalidContentLength)?;
        if length.is_some_and(|l| l != parsed) {
            return Err(FramingError::InvalidContentLength);
        }
        length = Some(parsed);
    }
    match length {
        Some(len) if len > body_limit as u64 => {
            Err(FramingError::BodyTooLarge { limit: body_limit })
        }
        Some(len) => Ok(Framing::Length(len)),
        None => Ok(Framing::UntilClose),
    }
}

/// Whether a body is complete after the bytes fed so far.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyProgress {
    NeedMore,
    /// The body ended after this many of the bytes just fed; the rest is not part of it.
    Done {
        used: usize,
    },
}

/// Collects one response body from the bytes that follow the head.
#[derive(Debug)]
pub struct BodyDecoder {
    kind: BodyKind,
    body: Vec<u8>,
    limit: usize,
}

#[derive(Debug)]
enum BodyKind {
    Empty,
    Length { remaining: u64 },
    Chunked(Box<ChunkedDecoder>),
    UntilClose,
}

impl BodyDecoder {
    pub fn new(framing: Framing, limit: usize) -> BodyDecoder {
        let kind = match framing {
            Framing::Empty => BodyKind::Empty,
            Framing::Length(remaining) => BodyKind::Length { remaining },
            Framing::Chunked => BodyKind::Chunked(Box::new(ChunkedDecoder::new(
                limit,
                CHUNK_OVERHEAD_ALLOWANCE,
            ))),
            Framing::UntilClose => BodyKind::UntilClose,
        };
        BodyDecoder {
            kind,
            body: Vec::new(),
            limit,
        }
    }

    /// Consumes bytes that arrived since the last call.
    pub fn feed(&mut self, new: &[u8]) -> Result<BodyProgress, FramingError> {
        match &mut self.kind {
            BodyKind::Empty => Ok(BodyProgress::Done { used: 0 }),
            BodyKind::Length { remaining } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(new.len());
                self.body
                    .extend_from_slice(new.get(..take).unwrap_or_default());
                *remaining -= take as u64;
                if *remaining == 0 {
                    Ok(BodyProgress::Done { used: take })
                } else {
                    Ok(BodyProgress::NeedMore)
                }
            }
            BodyKind::Chunked(decoder) => match decoder.feed(new) {
                Ok(ChunkedProgress::NeedMore) => Ok(BodyProgress::NeedMore),
                Ok(ChunkedProgress::Done { used }) => {
                    self.body = decoder.take_body();
                    Ok(BodyProgress::Done { used })
                }
                Err(RequestError::BodyTooLarge { .. }) => {
                    Err(FramingError::BodyTooLarge { limit: self.limit })
                }
                Err(e) => Err(FramingError::InvalidChunked(e.to_string())),
            },
            BodyKind::UntilClose => {
                if self.body.len().saturating_add(new.len()) > self.limit {
                    return Err(FramingError::BodyTooLarge { limit: self.limit });
                }
                self.body.extend_from_slice(new);
                Ok(BodyProgress::NeedMore)
            }
        }
    }

    /// Whether no more bytes are needed before the first `feed` (an empty body).
    pub fn is_empty_framing(&self) -> bool {
        matches!(
            self.kind,
            BodyKind::Empty | BodyKind::Length { remaining: 0 }
        )
    }

    /// The connection reached end of file: the body, if that is where it was meant to end.
    pub fn finish_at_eof(self) -> Result<Vec<u8>, FramingError> {
        match self.kind {
            BodyKind::UntilClose | BodyKind::Empty => Ok(self.body),
            BodyKind::Length { remaining: 0 } => Ok(self.body),
            _ => Err(FramingError::Truncated),
        }
    }

    /// The body, once `feed` reported `Done`.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> ResponseHead {
        parse_head(raw.as_bytes(), false, 1024).unwrap().unwrap().0
    }

    fn decode(framing: Framing, limit: usize, bytes: &[u8]) -> Result<Vec<u8>, FramingError> {
        let mut decoder = BodyDecoder::new(framing, limit);
        for byte in bytes.chunks(1) {
            if let BodyProgress::Done { .. } = decoder.feed(byte)? {
                return Ok(decoder.into_body());
            }
        }
        decoder.finish_at_eof()
    }

    #[test]
    fn partial_head_needs_more() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nA: b", false, 10), Ok(None));
    }

    #[test]
    fn content_length_framing_and_keep_alive() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDocker-Content-Digest: x\r\n\r\n");
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        assert_eq!(h.header("docker-content-digest"), Some("x"));
        assert_eq!(decode(h.framing, 10, b"hello").unwrap(), b"hello");
    }

    #[test]
    fn head_request_has_no_body_even_with_length() {
        let (h, _) = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n",
            true,
            10,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn announced_length_over_limit_is_refused_up_front() {
        let e = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n",
            false,
            1024,
        );
        assert_eq!(e, Err(FramingError::BodyTooLarge { limit: 1024 }));
    }

    #[test]
    fn conflicting_lengths_are_refused() {
        let e = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            false,
            10,
        );
        assert_eq!(e, Err(FramingError::InvalidContentLength));
        let e = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", false, 10);
        assert_eq!(e, Err(FramingError::InvalidContentLength));
    }

    #[test]
    fn chunked_body_is_decoded_and_limited() {
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(
            decode(h.framing, 10, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert_eq!(
            decode(h.framing, 4, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
            Err(FramingError::BodyTooLarge { limit: 4 })
        );
    }

    #[test]
    fn until_close_body_is_limited_and_not_kept_alive() {
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.keep_alive);
        assert_eq!(decode(h.framing, 5, b"abc").unwrap(), b"abc");
        assert_eq!(
            decode(h.framing, 2, b"abc"),
            Err(FramingError::BodyTooLarge { limit: 2 })
        );
    }

    #[test]
    fn truncated_length_body_is_an_error() {
        assert_eq!(
            decode(Framing::Length(5), 10, b"abc"),
            Err(FramingError::Truncated)
        );
    }

    #[test]
    fn connection_close_and_http10_are_not_kept_alive() {
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    }
}
