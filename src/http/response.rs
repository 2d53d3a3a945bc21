//! HTTP/1.1 response encoding: status line, the few headers the webhook needs, and the body.

use std::io::Write;

/// Interim response sent when a client waits on `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const APPLICATION_JSON: &str = "application/json";

/// A response ready to be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text message with a trailing newline, like Go's `http.Error`.
    pub fn text(status: u16, msg: &str) -> Response {
        let mut body = Vec::with_capacity(msg.len() + 1);
        body.extend_from_slice(msg.as_bytes());
        body.push(b'\n');
        Response {
            status,
            content_type: Some(TEXT_PLAIN),
            body,
        }
    }

    /// A response without a body.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    /// `200 OK` with a JSON body.
    pub fn json(body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type: Some(APPLICATION_JSON),
            body,
        }
    }
}

/// Appends status line, headers and body to `out`. `Content-Length` is always sent, except
/// for 1xx and 204 responses, which must not carry it nor a body (RFC 9110 §8.6).
/// `Connection: close` is sent when the connection will not be kept alive.
pub fn encode(resp: &Response, keep_alive: bool, out: &mut Vec<u8>) {
    let bodyless = resp.status < 200 || resp.status == 204;
    // Numbers are written straight into `out` (a Vec cannot fail to take them): no
    // temporary strings on the path of every answer.
    let _ = write!(out, "HTTP/1.1 {} ", resp.status);
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(content_type) = resp.content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(content_type.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !bodyless {
        let _ = write!(out, "Content-Length: {}\r\n", resp.body.len());
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless {
        out.extend_from_slice(&resp.body);
    }
}

/// The reason phrase for a status code (Go's `http.StatusText` wording); empty when unknown,
/// which still makes a valid status line.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(resp: &Response, keep_alive: bool) -> String {
        let mut out = Vec::new();
        encode(resp, keep_alive, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_keep_alive() {
        let resp = Response::json(br#"{"a":1}"#.to_vec());
        assert_eq!(
            encoded(&resp, true),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        );
    }

    #[test]
    fn text_error_with_close() {
        let resp = Response::text(400, "wrong content type: expected json, got text/xml");
        assert_eq!(
            encoded(&resp, false),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 48\r\nConnection: close\r\n\r\n\
             wrong content type: expected json, got text/xml\n"
        );
    }

    #[test]
    fn empty_response_still_has_content_length() {
        assert_eq!(
            encoded(&Response::empty(404), true),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn no_content_has_neither_length_nor_body() {
        let mut resp = Response::empty(204);
        resp.body = b"ignored".to_vec();
        assert_eq!(
            encoded(&resp, false),
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn unknown_status_has_empty_reason() {
        assert_eq!(
            encoded(&Response::empty(599), true),
            "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn appends_to_existing_output() {
        let mut out = b"previous".to_vec();
        encode(&Response::empty(200), true, &mut out);
        assert_eq!(out, b"previousHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn continue_is_a_complete_interim_response() {
        let mut headers = [httparse::EMPTY_HEADER; 1];
        let mut parsed = httparse::Response::new(&mut headers);
        assert_eq!(
            parsed.parse(CONTINUE),
            Ok(httparse::Status::Complete(CONTINUE.len()))
        );
        assert_eq!(parsed.code, Some(100));
    }

    #[test]
    fn encoded_responses_parse_back() {
        let resp = Response::text(413, "request body exceeds 10 bytes");
        let mut out = Vec::new();
        encode(&resp, true, &mut out);
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut parsed = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&out) else {
            panic!("unparseable response");
        };
        assert_eq!(parsed.code, Some(413));
        assert_eq!(parsed.reason, Some("Request Entity Too Large"));
        assert_eq!(&out[head_len..], resp.body.as_slice());
    }
}
