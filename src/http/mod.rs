//! Hand-rolled HTTP/1.1 for the webhook server: request framing and response encoding as
//! pure functions over bytes (no sockets), so they can be unit-tested and fuzzed.

pub(crate) mod chunked;
pub mod request;
pub mod response;

pub use request::{Decoded, Limits, Request, RequestDecoder, RequestError, Version};
pub use response::{encode, reason, Response, CONTINUE};
