//! Fuzzes the HTTP/1.1 request decoder: arbitrary bytes, delivered in arbitrary pieces, must
//! never panic, never over-consume, never yield a body over the limit, and must decode exactly
//! as they do when delivered all at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::http::{Decoded, Limits, Request, RequestDecoder};

/// Small limits so that the fuzzer reaches every limit check.
const LIMITS: Limits = Limits {
    max_head_bytes: 128,
    max_body_bytes: 256,
    max_headers: 4,
};

#[derive(Debug, PartialEq)]
enum Outcome {
    Request(Request),
    Refused(u16),
}

/// Plays `input` into a connection buffer piece by piece (`piece_len` gives each piece's
/// size), decoding after each piece like the server does, pipelined requests included.
fn run(input: &[u8], mut piece_len: impl FnMut() -> usize) -> Vec<Outcome> {
    let mut decoder = RequestDecoder::new(LIMITS);
    let mut buffer = Vec::new();
    let mut outcomes = Vec::new();
    let mut continues_for_this_request = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(piece_len().clamp(1, rest.len()));
        rest = after;
        buffer.extend_from_slice(piece);
        loop {
            match decoder.decode(&buffer) {
                Ok(Decoded::Incomplete { send_continue }) => {
                    continues_for_this_request += usize::from(send_continue);
                    assert!(
                        continues_for_this_request <= 1,
                        "100-continue signalled twice"
                    );
                    break;
                }
                Ok(Decoded::Complete { request, consumed }) => {
                    assert!(
                        consumed > 0 && consumed <= buffer.len(),
                        "bad consumed {consumed}"
                    );
                    assert!(request.body.len() <= LIMITS.max_body_bytes);
                    buffer.drain(..consumed);
                    continues_for_this_request = 0;
                    outcomes.push(Outcome::Request(request));
                }
                Err(error) => {
                    let status = error.status();
                    assert!(matches!(status, 400 | 413 | 417 | 431 | 501 | 505));
                    assert!(!error.to_string().is_empty());
                    outcomes.push(Outcome::Refused(status));
                    return outcomes;
                }
            }
        }
    }
    outcomes
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // The seed picks the largest piece and a xorshift stream picks each piece's size.
    let max_piece = usize::from(seed % 32) + 1;
    let mut state = u32::from(seed) | 0x9e37_7900;
    let split = run(input, || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as usize % max_piece + 1
    });
    let whole = run(input, || input.len());
    assert_eq!(split, whole);
});
