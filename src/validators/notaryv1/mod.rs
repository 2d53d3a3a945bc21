//! Notary v1 (Docker Content Trust): TUF trust data from a Notary server, checked against the
//! repository's pinned root key, resolving a signed tag to its digest. Pure: no network here.

pub mod canonical;
pub mod keys;
pub mod timestamp;
pub mod tuf;
pub mod verify;
pub mod versions;
