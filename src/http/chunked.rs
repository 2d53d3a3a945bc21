//! Incremental decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).
//!
//! It is fed only the bytes it has not seen yet, keeps its position in a small state machine,
//! and so stays linear even when a body arrives one byte at a time. Chunk extensions and
//! trailer fields are accepted and ignored. Line endings must be CRLF: a bare LF is the kind of
//! ambiguity request smuggling lives on.

use super::request::RequestError;

/// A chunk size with more hex digits than this is rejected (same bound as Go's `net/http`),
/// so leading zeros cannot be used to pad the input without limit.
const MAX_SIZE_DIGITS: u8 = 16;

/// Where the decoder stands in the chunked grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a chunk-size line, before its first hex digit.
    SizeStart,
    /// Reading the hex digits of a chunk size.
    Size { size: u64, digits: u8 },
    /// Spaces or tabs after the size, before `;` or CR.
    SizeWhitespace { size: u64 },
    /// Inside a chunk extension (`;name=value`), skipped up to CR.
    Extension { size: u64 },
    /// Saw the CR ending a chunk-size line, LF must follow.
    SizeLf { size: u64 },
    /// Copying chunk data.
    Data { remaining: u64 },
    /// Chunk data ended, CR must follow.
    DataCr,
    /// Chunk data ended and CR seen, LF must follow.
    DataLf,
    /// After the last chunk: at the start of a trailer line or the final empty line.
    TrailerLineStart,
    /// Inside a trailer field line, skipped up to CR.
    TrailerLine,
    /// Saw the CR ending a trailer line, LF must follow.
    TrailerLineLf,
    /// Saw the CR of the final empty line, LF must follow.
    FinalLf,
}

/// Outcome of feeding bytes to the decoder.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChunkedProgress {
    /// Every byte fed was used; the body goes on.
    NeedMore,
    /// The body ended after this many of the bytes just fed.
    Done { used: usize },
}

/// Decodes one chunked body. Non-data bytes (size lines, extensions, CRLFs, trailers) are
/// counted as framing overhead, which may not exceed `overhead_allowance` plus the decoded body
/// size: the caller's buffer then holds at most about twice the body limit, whatever the chunking.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    body: Vec<u8>,
    max_body_bytes: usize,
    overhead: usize,
    overhead_allowance: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new(max_body_bytes: usize, overhead_allowance: usize) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            body: Vec::new(),
            max_body_bytes,
            overhead: 0,
            overhead_allowance,
        }
    }

    /// The decoded body; call once `feed` reported `Done`.
    pub(crate) fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Consumes `new`, the bytes that arrived since the last call.
    pub(crate) fn feed(&mut self, new: &[u8]) -> Result<ChunkedProgress, RequestError> {
        let mut pos = 0;
        while let Some(rest) = new.get(pos..).filter(|rest| !rest.is_empty()) {
            if let State::Data { remaining } = self.state {
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                self.body
                    .extend_from_slice(rest.get(..take).unwrap_or_default());
                pos += take;
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                continue;
            }
            let Some(&byte) = rest.first() else {
                break;
            };
            pos += 1;
            self.count_overhead()?;
            if self.step(byte)? {
                return Ok(ChunkedProgress::Done { used: pos });
            }
        }
        Ok(ChunkedProgress::NeedMore)
    }

    fn count_overhead(&mut self) -> Result<(), RequestError> {
        self.overhead += 1;
        let budget = self.overhead_allowance.saturating_add(self.body.len());
        if self.overhead > budget {
            return Err(RequestError::ChunkOverheadTooLarge);
        }
        Ok(())
    }

    /// Advances over one framing byte; true when that byte ended the body.
    fn step(&mut self, byte: u8) -> Result<bool, RequestError> {
        self.state = match self.state {
            State::SizeStart => match hex_value(byte) {
                Some(digit) => self.size_digit(0, 0, digit)?,
                None => return Err(RequestError::InvalidChunkSize),
            },
            State::Size { size, digits } => match byte {
                b';' => State::Extension { size },
                b' ' | b'\t' => State::SizeWhitespace { size },
                b'\r' => State::SizeLf { size },
                b'\n' => return Err(RequestError::MissingChunkCrlf),
                _ => match hex_value(byte) {
                    Some(digit) => self.size_digit(size, digits, digit)?,
                    None => return Err(RequestError::InvalidChunkSize),
                },
            },
            State::SizeWhitespace { size } => match byte {
                b' ' | b'\t' => State::SizeWhitespace { size },
                b';' => State::Extension { size },
                b'\r' => State::SizeLf { size },
                b'\n' => return Err(RequestError::MissingChunkCrlf),
                _ => return Err(RequestError::InvalidChunkSize),
            },
            State::Extension { size } => match byte {
                b'\r' => State::SizeLf { size },
                b'\n' => return Err(RequestError::MissingChunkCrlf),
                _ => State::Extension { size },
            },
            State::SizeLf { size } => match (byte, size) {
                (b'\n', 0) => State::TrailerLineStart,
                (b'\n', _) => State::Data { remaining: size },
                _ => return Err(RequestError::MissingChunkCrlf),
            },
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(RequestError::MissingChunkCrlf),
            },
            State::DataLf => match byte {
                b'\n' => State::SizeStart,
                _ => return Err(RequestError::MissingChunkCrlf),
            },
            State::TrailerLineStart => match byte {
                b'\r' => State::FinalLf,
                b'\n' => return Err(RequestError::MissingChunkCrlf),
                _ => State::TrailerLine,
            },
            State::TrailerLine => match byte {
                b'\r' => State::TrailerLineLf,
                b'\n' => return Err(RequestError::MissingChunkCrlf),
                _ => State::TrailerLine,
            },
            State::TrailerLineLf | State::FinalLf if byte != b'\n' => {
                return Err(RequestError::MissingChunkCrlf)
            }
            State::TrailerLineLf => State::TrailerLineStart,
            State::FinalLf => {
                self.state = State::SizeStart;
                return Ok(true);
            }
            // `feed` copies chunk data in bulk and never steps through it byte by byte.
            State::Data { remaining } => State::Data { remaining },
        };
        Ok(false)
    }

    /// Appends a hex digit to a chunk size, rejecting sizes that would not fit the body limit
    /// as soon as that is known.
    fn size_digit(&self, size: u64, digits: u8, digit: u8) -> Result<State, RequestError> {
        if digits >= MAX_SIZE_DIGITS {
            return Err(RequestError::InvalidChunkSize);
        }
        let size = (size << 4) | u64::from(digit);
        let room = self.max_body_bytes.saturating_sub(self.body.len());
        if size > room as u64 {
            return Err(RequestError::BodyTooLarge {
                limit: self.max_body_bytes,
            });
        }
        Ok(State::Size {
            size,
            digits: digits + 1,
        })
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), RequestError> {
        let mut decoder = ChunkedDecoder::new(1024, 256);
        match decoder.feed(input)? {
            ChunkedProgress::Done { used } => Ok((decoder.take_body(), used)),
            ChunkedProgress::NeedMore => panic!("body incomplete"),
        }
    }

    #[test]
    fn decodes_chunks_and_reports_used_bytes() {
        let input = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT";
        let (body, used) = decode_all(input).unwrap();
        assert_eq!(body, b"Wikipedia");
        assert_eq!(used, input.len() - 4);
    }

    #[test]
    fn hex_sizes_in_either_case() {
        let data = [b'x'; 26];
        let mut input = b"1a\r\n".to_vec();
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(decode_all(&input).unwrap().0.len(), 26);
        input[1] = b'A';
        assert_eq!(decode_all(&input).unwrap().0.len(), 26);
    }

    #[test]
    fn extensions_whitespace_and_trailers_are_ignored() {
        let input = b"3 ;a=b;c=\"d\"\r\nabc\r\n0;last\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
        let (body, used) = decode_all(input).unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(used, input.len());
    }

    #[test]
    fn malformed_framing_is_rejected() {
        let cases: &[(&[u8], RequestError)] = &[
            (b"\r\n", RequestError::InvalidChunkSize),
            (b";ext\r\n", RequestError::InvalidChunkSize),
            (b"g\r\n", RequestError::InvalidChunkSize),
            (b"-1\r\n", RequestError::InvalidChunkSize),
            (b"+1\r\n", RequestError::InvalidChunkSize),
            (b"0x1\r\n", RequestError::InvalidChunkSize),
            (b"1 2\r\n", RequestError::InvalidChunkSize),
            (b"00000000000000001\r\n", RequestError::InvalidChunkSize),
            (b"1\nx\r\n", RequestError::MissingChunkCrlf),
            (b"1\rx\r\n", RequestError::MissingChunkCrlf),
            (b"1;a\nx\r\n", RequestError::MissingChunkCrlf),
            (b"1\r\nxy\r\n", RequestError::MissingChunkCrlf),
            (b"1\r\nx\ry", RequestError::MissingChunkCrlf),
            (b"1\r\nx\n", RequestError::MissingChunkCrlf),
            (b"0\r\n\n", RequestError::MissingChunkCrlf),
            (b"0\r\nA: b\n\r\n", RequestError::MissingChunkCrlf),
            (b"0\r\n\rx", RequestError::MissingChunkCrlf),
        ];
        for (input, expected) in cases {
            let mut decoder = ChunkedDecoder::new(1024, 256);
            assert_eq!(
                decoder.feed(input).as_ref(),
                Err(expected),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn size_past_the_body_limit_is_rejected_before_data_arrives() {
        let mut decoder = ChunkedDecoder::new(10, 256);
        assert_eq!(
            decoder.feed(b"5\r\nhello\r\n"),
            Ok(ChunkedProgress::NeedMore)
        );
        assert_eq!(
            decoder.feed(b"6"),
            Err(RequestError::BodyTooLarge { limit: 10 })
        );
        let mut decoder = ChunkedDecoder::new(10, 256);
        assert_eq!(
            decoder.feed(b"ffffffffffffffffffff"),
            Err(RequestError::BodyTooLarge { limit: 10 })
        );
    }

    #[test]
    fn body_exactly_at_the_limit_is_accepted() {
        let mut decoder = ChunkedDecoder::new(5, 256);
        assert_eq!(
            decoder.feed(b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
            Ok(ChunkedProgress::Done { used: 20 })
        );
        assert_eq!(decoder.take_body(), b"abcde");
    }

    #[test]
    fn long_extensions_and_trailers_hit_the_overhead_budget() {
        let mut decoder = ChunkedDecoder::new(1024, 16);
        let mut input = b"1;".to_vec();
        input.extend_from_slice(&[b'a'; 32]);
        assert_eq!(
            decoder.feed(&input),
            Err(RequestError::ChunkOverheadTooLarge)
        );
        let mut decoder = ChunkedDecoder::new(1024, 16);
        let mut input = b"0\r\n".to_vec();
        input.extend_from_slice(&[b'a'; 32]);
        assert_eq!(
            decoder.feed(&input),
            Err(RequestError::ChunkOverheadTooLarge)
        );
    }

    #[test]
    fn tiny_chunks_hit_the_overhead_budget_but_normal_ones_do_not() {
        let mut tiny = Vec::new();
        for _ in 0..100 {
            tiny.extend_from_slice(b"1\r\nx\r\n");
        }
        let mut decoder = ChunkedDecoder::new(1024, 64);
        assert_eq!(
            decoder.feed(&tiny),
            Err(RequestError::ChunkOverheadTooLarge)
        );

        let mut normal = Vec::new();
        for _ in 0..8 {
            normal.extend_from_slice(b"80\r\n");
            normal.extend_from_slice(&[b'y'; 128]);
            normal.extend_from_slice(b"\r\n");
        }
        normal.extend_from_slice(b"0\r\n\r\n");
        let mut decoder = ChunkedDecoder::new(1024, 64);
        assert_eq!(
            decoder.feed(&normal),
            Ok(ChunkedProgress::Done { used: normal.len() })
        );
        assert_eq!(decoder.take_body().len(), 1024);
    }

    #[test]
    fn byte_at_a_time_matches_all_at_once() {
        let input = b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
        let mut decoder = ChunkedDecoder::new(1024, 256);
        for (index, byte) in input.iter().enumerate() {
            let progress = decoder.feed(std::slice::from_ref(byte)).unwrap();
            if index + 1 == input.len() {
                assert_eq!(progress, ChunkedProgress::Done { used: 1 });
            } else {
                assert_eq!(progress, ChunkedProgress::NeedMore);
            }
        }
        assert_eq!(decoder.take_body(), b"abc0123456789abcdef");
    }
}
