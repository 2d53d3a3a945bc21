//! Framing of an HTTP/1.1 response: status line and headers via httparse, then how long the
//! body is. Pure functions over a byte buffer, so the client reads exactly one response.

/// Headers beyond this many make the response malformed for our purposes.
const MAX_HEADERS: usize = 32;

/// What the head of a response says about the body that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// `Content-Length` bytes (0 for 1xx/204/304 and answers to HEAD).
    Exactly(usize),
    /// No length given: the body ends when the server closes the connection.
    UntilClose,
}

/// A complete response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes taken by the status line and headers, including the blank line.
    pub len: usize,
    pub body: BodyLength,
    /// The server will close the connection after this response.
    pub closes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// httparse rejected the status line or headers.
    Malformed,
    /// `Transfer-Encoding: chunked` or similar: not spoken by this client.
    UnsupportedTransferEncoding,
    /// `Content-Length` is not one decimal number.
    BadContentLength,
}

/// Parses the head at the start of `buf`; `Ok(None)` means more bytes are needed.
pub fn parse_head(buf: &[u8], answer_to_head: bool) -> Result<Option<Head>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FramingError::Malformed),
    };
    let status = response.code.ok_or(FramingError::Malformed)?;
    let mut content_length = None;
    let mut closes = response.version == Some(0);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(FramingError::BadContentLength)?;
            if content_length.is_some_and(|previous| previous != value) {
                return Err(FramingError::BadContentLength);
            }
            content_length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(FramingError::UnsupportedTransferEncoding);
        } else if header.name.eq_ignore_ascii_case("connection") {
            if header.value.eq_ignore_ascii_case(b"close") {
                closes = true;
            } else if header.value.eq_ignore_ascii_case(b"keep-alive") {
                closes = false;
            }
        }
    }
    let bodiless = answer_to_head || (100..200).contains(&status) || status == 204 || status == 304;
    let body = match (bodiless, content_length) {
        (true, _) => BodyLength::Exactly(0),
        (false, Some(n)) => BodyLength::Exactly(n),
        (false, None) => {
            closes = true;
            BodyLength::UntilClose
        }
    };
    Ok(Some(Head {
        status,
        len,
        body,
        closes,
    }))
}

/// Whether `needle` occurs in `haystack` (no allocation; bodies are small).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_and_keep_alive() {
        let raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello";
        let head = parse_head(raw, false).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.body, BodyLength::Exactly(5));
        assert_eq!(&raw[head.len..], b"hello");
        assert!(!head.closes);
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false),
            Ok(None)
        );
        assert_eq!(parse_head(b"", false), Ok(None));
    }

    #[test]
    fn close_and_missing_length_end_the_connection() {
        let head = parse_head(
            b"HTTP/1.1 503 No\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(head.closes);
        assert_eq!(head.status, 503);
        let head = parse_head(b"HTTP/1.1 200 OK\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(head.body, BodyLength::UntilClose);
        assert!(head.closes);
        let head = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(head.closes);
    }

    #[test]
    fn bodiless_statuses_and_head_requests() {
        let head = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!((head.body, head.closes), (BodyLength::Exactly(0), false));
        let head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(head.body, BodyLength::Exactly(0));
    }

    #[test]
    fn rejects_what_it_cannot_frame() {
        assert_eq!(
            parse_head(b"HTTX/1.1 200 OK\r\n\r\n", false),
            Err(FramingError::Malformed)
        );
        assert_eq!(
            parse_head(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Err(FramingError::UnsupportedTransferEncoding)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false),
            Err(FramingError::BadContentLength)
        );
        assert_eq!(
            parse_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            ),
            Err(FramingError::BadContentLength)
        );
    }

    #[test]
    fn substring_search() {
        assert!(contains(br#"{"allowed":true}"#, br#""allowed":true"#));
        assert!(!contains(br#"{"allowed":false}"#, br#""allowed":true"#));
        assert!(contains(b"", b""));
        assert!(!contains(b"ab", b"abc"));
    }
}
