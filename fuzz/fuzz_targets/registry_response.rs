//! Fuzzes the outbound client's response framing: never panics, a body never exceeds the
//! limit, and feeding the same bytes whole or one at a time gives the same outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::net::http_response::{parse_head, BodyDecoder, BodyProgress, FramingError};

const LIMIT: usize = 1024;

fn decode(bytes: &[u8], step: usize) -> Result<Option<Vec<u8>>, FramingError> {
    let Some((head, used)) = parse_head(bytes, false, LIMIT)? else {
        return Ok(None);
    };
    let mut decoder = BodyDecoder::new(head.framing, LIMIT);
    let rest = bytes.get(used..).unwrap_or_default();
    if rest.is_empty() && decoder.is_empty_framing() {
        if let BodyProgress::Done { .. } = decoder.feed(&[])? {
            return Ok(Some(decoder.into_body()));
        }
    }
    for piece in rest.chunks(step) {
        if let BodyProgress::Done { .. } = decoder.feed(piece)? {
            return Ok(Some(decoder.into_body()));
        }
    }
    decoder.finish_at_eof().map(Some)
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(data, data.len().max(1));
    let bytewise = decode(data, 1);
    if let Ok(Some(body)) = &whole {
        assert!(body.len() <= LIMIT);
    }
    assert_eq!(whole, bytewise);
});
