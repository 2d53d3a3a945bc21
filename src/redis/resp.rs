//! The RESP subset tastevin speaks to Redis: commands are encoded as arrays of bulk strings,
//! replies are parsed strictly and within bounds, because a Redis that lies (or something
//! else on its port) must produce a clear error, never a panic, a hang or a huge allocation.
//!
//! Replies are RESP2, or RESP3 after `HELLO 3` (`REDIS_PROTOCOL=3`). RESP3's extra types are
//! read into the RESP2 shapes the callers already handle: null → nil bulk string, boolean →
//! integer 1/0, double, big number and verbatim string → bulk string (the text), blob error →
//! error, map → array of keys and values in turn, set → array. Push and attribute frames
//! (client tracking, pub/sub, never asked for) are refused.

/// The largest bulk string accepted; verdicts are a few hundred bytes.
pub const MAX_BULK: usize = 64 * 1024;
/// The most elements of an array reply: `MGET` of a verdict and its lock gets 2, the Notary
/// rollback memory of one repository (`ZRANGE … WITHSCORES`) 2 per role.
pub const MAX_ARRAY: usize = 256;
/// Array nesting at most.
const MAX_DEPTH: usize = 4;
/// A simple string, error or integer line at most.
const MAX_LINE: usize = 4096;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    /// `None` is the nil bulk string (`$-1`), a missing key.
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// Why bytes are not (yet) a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// More bytes are needed.
    Incomplete,
    /// The bytes cannot be a RESP reply; the text says what is wrong.
    Invalid(&'static str),
}

/// Encodes one command.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses the reply at the start of `buf`; returns it and the bytes it took.
pub fn parse(buf: &[u8]) -> Result<(Reply, usize), ParseError> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], depth: usize) -> Result<(Reply, usize), ParseError> {
    let (&kind, rest) = buf.split_first().ok_or(ParseError::Incomplete)?;
    let (line, line_len) = line(rest)?;
    let after_line = 1 + line_len;
    match kind {
        b'+' => Ok((Reply::Simple(text(line)?), after_line)),
        b'-' => Ok((Reply::Error(text(line)?), after_line)),
        b':' => Ok((Reply::Integer(integer(line)?), after_line)),
        b'_' if line.is_empty() => Ok((Reply::Bulk(None), after_line)),
        b'#' => match line {
            b"t" => Ok((Reply::Integer(1), after_line)),
            b"f" => Ok((Reply::Integer(0), after_line)),
            _ => Err(ParseError::Invalid("malformed boolean")),
        },
        b',' | b'(' => Ok((Reply::Bulk(Some(text(line)?.into_bytes())), after_line)),
        b'$' | b'=' | b'!' => {
            let (body, used) = blob(buf, line, after_line)?;
            let reply = match kind {
                b'$' => Reply::Bulk(body),
                // `=`: a three-letter format and a colon before the text.
                b'=' => match body {
                    Some(body) if body.get(3) == Some(&b':') => {
                        Reply::Bulk(Some(body.get(4..).unwrap_or_default().to_vec()))
                    }
                    _ => return Err(ParseError::Invalid("malformed verbatim string")),
                },
                _ => Reply::Error(text(&body.ok_or(ParseError::Invalid("nil blob error"))?)?),
            };
            Ok((reply, used))
        }
        b'*' | b'~' | b'%' => {
            let count = integer(line)?;
            if count == -1 && kind == b'*' {
                return Ok((Reply::Array(None), after_line));
            }
            let count =
                usize::try_from(count).map_err(|_| ParseError::Invalid("negative array length"))?;
            // A map's count is of pairs.
            let count = if kind == b'%' {
                count.saturating_mul(2)
            } else {
                count
            };
            if count > MAX_ARRAY {
                return Err(ParseError::Invalid("array with more than 256 elements"));
            }
            if depth >= MAX_DEPTH {
                return Err(ParseError::Invalid("arrays nested too deeply"));
            }
            let mut items = Vec::with_capacity(count);
            let mut used = after_line;
            for _ in 0..count {
                let tail = buf.get(used..).ok_or(ParseError::Incomplete)?;
                let (item, n) = parse_at(tail, depth + 1)?;
                items.push(item);
                used += n;
            }
            Ok((Reply::Array(Some(items)), used))
        }
        _ => Err(ParseError::Invalid("unknown reply type byte")),
    }
}

/// The body of a blob (`$`, `=`, `!`) whose length line is `line`, and the bytes the whole
/// reply took; `None` for RESP2's nil bulk string (`$-1`).
fn blob(
    buf: &[u8],
    line: &[u8],
    after_line: usize,
) -> Result<(Option<Vec<u8>>, usize), ParseError> {
    let length = integer(line)?;
    if length == -1 {
        return Ok((None, after_line));
    }
    let length =
        usize::try_from(length).map_err(|_| ParseError::Invalid("negative bulk string length"))?;
    if length > MAX_BULK {
        return Err(ParseError::Invalid("bulk string longer than 64 KiB"));
    }
    let body = buf
        .get(after_line..after_line + length)
        .ok_or(ParseError::Incomplete)?;
    let end = after_line + length;
    match (buf.get(end), buf.get(end + 1)) {
        (Some(b'\r'), Some(b'\n')) => Ok((Some(body.to_vec()), end + 2)),
        (None, _) | (Some(b'\r'), None) => Err(ParseError::Incomplete),
        _ => Err(ParseError::Invalid("bulk string not followed by CRLF")),
    }
}

/// The line up to CRLF (without it) and its length with it.
fn line(buf: &[u8]) -> Result<(&[u8], usize), ParseError> {
    let window = buf.get(..buf.len().min(MAX_LINE + 2)).unwrap_or(buf);
    match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(at) => match (window.get(at), window.get(at + 1)) {
            (Some(b'\r'), Some(b'\n')) => Ok((window.get(..at).unwrap_or_default(), at + 2)),
            (Some(b'\r'), None) => Err(ParseError::Incomplete),
            _ => Err(ParseError::Invalid("line not ended by CRLF")),
        },
        None if window.len() > MAX_LINE => Err(ParseError::Invalid("reply line too long")),
        None => Err(ParseError::Incomplete),
    }
}

fn text(line: &[u8]) -> Result<String, ParseError> {
    std::str::from_utf8(line)
        .map(str::to_owned)
        .map_err(|_| ParseError::Invalid("reply line is not UTF-8"))
}

fn integer(line: &[u8]) -> Result<i64, ParseError> {
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Invalid("malformed integer"));
    }
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError::Invalid("integer out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        assert_eq!(
            encode(&[b"GET", b"k"]),
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec()
        );
    }

    #[test]
    fn parses_every_reply_kind() {
        assert_eq!(parse(b"+OK\r\n"), Ok((Reply::Simple("OK".into()), 5)));
        assert_eq!(
            parse(b"-ERR no\r\n"),
            Ok((Reply::Error("ERR no".into()), 9))
        );
        assert_eq!(parse(b":-12\r\n"), Ok((Reply::Integer(-12), 6)));
        assert_eq!(parse(b"$-1\r\n"), Ok((Reply::Bulk(None), 5)));
        assert_eq!(
            parse(b"$3\r\na\r\n\r\nrest"),
            Ok((Reply::Bulk(Some(b"a\r\n".to_vec())), 9))
        );
        assert_eq!(
            parse(b"*2\r\n:1\r\n$0\r\n\r\n"),
            Ok((
                Reply::Array(Some(vec![Reply::Integer(1), Reply::Bulk(Some(vec![]))])),
                14
            ))
        );
    }

    #[test]
    fn resp3_replies_take_the_resp2_shapes() {
        assert_eq!(parse(b"_\r\n"), Ok((Reply::Bulk(None), 3)));
        assert_eq!(parse(b"#t\r\n"), Ok((Reply::Integer(1), 4)));
        assert_eq!(parse(b"#f\r\n"), Ok((Reply::Integer(0), 4)));
        assert_eq!(parse(b",5\r\n"), Ok((Reply::Bulk(Some(b"5".to_vec())), 4)));
        assert_eq!(
            parse(b"(123456789012345678901234567890\r\n").map(|(r, _)| r),
            Ok(Reply::Bulk(Some(
                b"123456789012345678901234567890".to_vec()
            )))
        );
        assert_eq!(
            parse(b"=7\r\ntxt:abc\r\n"),
            Ok((Reply::Bulk(Some(b"abc".to_vec())), 13))
        );
        assert_eq!(
            parse(b"!5\r\nERR x\r\n"),
            Ok((Reply::Error("ERR x".into()), 11))
        );
        assert_eq!(
            parse(b"%1\r\n+proto\r\n:3\r\n").map(|(r, _)| r),
            Ok(Reply::Array(Some(vec![
                Reply::Simple("proto".into()),
                Reply::Integer(3)
            ])))
        );
        assert_eq!(
            parse(b"~1\r\n$1\r\na\r\n").map(|(r, _)| r),
            Ok(Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec()))])))
        );
        for bad in [
            &b"_x\r\n"[..],
            b"#x\r\n",
            b"=3\r\nabc\r\n",
            b"%200\r\n",
            b"~-1\r\n",
            b">1\r\n+x\r\n",
            b"|1\r\n+a\r\n+b\r\n",
            b",\xff\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(ParseError::Invalid(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn every_prefix_of_a_reply_is_incomplete() {
        let whole = b"*2\r\n+OK\r\n$5\r\nhello\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Err(ParseError::Incomplete), "{cut}");
        }
        assert!(parse(whole).is_ok());
    }

    #[test]
    fn garbage_is_rejected_not_waited_for() {
        for bad in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"+OK\n",
            b":12a\r\n",
            b":\r\n",
            b"$99999999\r\n",
            b"$-2\r\n",
            b"$1\r\nab\r\n",
            b"*300\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b"+\xff\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(ParseError::Invalid(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            parse(&[b'+'; MAX_LINE + 10]),
            Err(ParseError::Invalid(_))
        ));
    }
}
