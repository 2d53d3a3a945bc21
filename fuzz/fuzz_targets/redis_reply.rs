//! Fuzzes the RESP2 reply parser and the stored-verdict decoder: never panics, a parsed reply
//! never claims more bytes than it was given, a reply parses the same with trailing bytes,
//! and a decoded verdict encodes back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::redis::resp::{parse, ParseError};
use tastevin::redis::verdicts::{decode, encode};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok((reply, used)) => {
            assert!(used > 0 && used <= data.len());
            let mut longer = data.get(..used).unwrap_or_default().to_vec();
            longer.extend_from_slice(b"+trailing\r\n");
            assert_eq!(parse(&longer), Ok((reply, used)));
        }
        Err(ParseError::Incomplete | ParseError::Invalid(_)) => {}
    }
    if let Ok(verdict) = decode(data) {
        assert_eq!(encode(&verdict).as_bytes(), data);
    }
});
