//! Verdicts in Redis, the second cache tier shared by all replicas. Keys carry the stable
//! fingerprint of the rule and validator ([`crate::config::Config::judge`]), so a policy
//! change on one replica never reuses a verdict reached under another; values are versioned
//! (`v1:`) and parsed strictly: a value that does not parse is a miss, counted and logged,
//! and never admits anything.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;

use super::resp::Reply;
use super::{Client, RedisError};
use crate::cache::{CachePolicy, Verdict, MAX_ERROR_TTL};
use crate::log_warn;
use crate::metrics::Metrics;

/// Why a stored value was ignored (the `result` label is `invalid`; the log says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not a bulk string (a list, an integer...).
    Type,
    /// No `v1:T:` / `v1:R:` prefix: another version or garbage.
    Version,
    /// Not UTF-8.
    Encoding,
    /// A digest that is not `sha256:` and 64 lower-case hex digits.
    Digest,
}

impl Invalid {
    fn bit(self) -> u8 {
        match self {
            Invalid::Type => 1,
            Invalid::Version => 2,
            Invalid::Encoding => 4,
            Invalid::Digest => 8,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Invalid::Type => "is not a string",
            Invalid::Version => "does not start with v1:T: or v1:R:",
            Invalid::Encoding => "is not UTF-8",
            Invalid::Digest => "holds a digest that is not sha256:<64 hex digits>",
        }
    }
}

/// Encodes a verdict as stored.
pub fn encode(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Trusted(digest) => format!("v1:T:{}", digest.as_deref().unwrap_or("")),
        Verdict::Rejected(message) => format!("v1:R:{message}"),
    }
}

/// Decodes a stored value.
pub fn decode(value: &[u8]) -> Result<Verdict, Invalid> {
    let text = std::str::from_utf8(value).map_err(|_| Invalid::Encoding)?;
    if let Some(digest) = text.strip_prefix("v1:T:") {
        if digest.is_empty() {
            return Ok(Verdict::Trusted(None));
        }
        let hex = digest.strip_prefix("sha256:").ok_or(Invalid::Digest)?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Invalid::Digest);
        }
        return Ok(Verdict::Trusted(Some(digest.to_owned())));
    }
    match text.strip_prefix("v1:R:") {
        Some(message) if !message.is_empty() => Ok(Verdict::Rejected(message.to_owned())),
        _ => Err(Invalid::Version),
    }
}

/// The Redis key of an image judged by `judge`.
pub fn key(image: &str, judge: u64) -> String {
    let hash = digest::digest(&digest::SHA256, image.as_bytes());
    let mut key = format!("tastevin:v1:verdict:{judge:016x}:");
    for byte in hash.as_ref() {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// The shared tier.
pub struct SharedVerdicts {
    client: Client,
    policy: CachePolicy,
    metrics: &'static Metrics,
    /// Invalid kinds already logged, one bit each: each kind is logged once per process.
    logged: AtomicU8,
}

impl SharedVerdicts {
    pub fn new(client: Client, policy: CachePolicy, metrics: &'static Metrics) -> SharedVerdicts {
        SharedVerdicts {
            client,
            policy,
            metrics,
            logged: AtomicU8::new(0),
        }
    }

    /// The verdict stored by any replica, or `None` (miss, Redis unusable, value invalid).
    pub fn get(&self, image: &str, judge: u64, deadline: Instant) -> Option<Verdict> {
        self.policy.ttl?;
        let key = key(image, judge);
        let reply = match self.client.call("get", &[b"GET", key.as_bytes()], deadline) {
            Ok(reply) => reply,
            Err(error) => {
                self.failed("read", &error);
                self.metrics.cache_lookup("redis", "error");
                return None;
            }
        };
        let decoded = match reply {
            Reply::Bulk(None) => {
                self.metrics.cache_lookup("redis", "miss");
                return None;
            }
            Reply::Bulk(Some(value)) => decode(&value),
            _ => Err(Invalid::Type),
        };
        match decoded {
            Ok(verdict) => {
                self.metrics.cache_lookup("redis", "hit");
                Some(verdict)
            }
            Err(invalid) => {
                self.metrics.cache_lookup("redis", "invalid");
                let bit = invalid.bit();
                if self.logged.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
                    log_warn!(
                        "ignoring the Redis cache entry for image {image}: the value {} (validating instead; further values like it are counted in tastevin_cache_lookups_total{{tier=\"redis\",result=\"invalid\"}} only)",
                        invalid.describe()
                    );
                }
                None
            }
        }
    }

    /// Stores a verdict for every replica, with the local tier's lifetimes.
    pub fn put(&self, image: &str, judge: u64, verdict: &Verdict, deadline: Instant) {
        let Some(ttl) = self.policy.ttl else { return };
        let ttl = match verdict {
            Verdict::Trusted(_) => ttl,
            Verdict::Rejected(_) if self.policy.cache_errors => ttl.min(MAX_ERROR_TTL),
            Verdict::Rejected(_) => return,
        };
        let key = key(image, judge);
        let value = encode(verdict);
        let millis = ttl.max(Duration::from_millis(1)).as_millis().to_string();
        let args: [&[u8]; 5] = [
            b"SET",
            key.as_bytes(),
            value.as_bytes(),
            b"PX",
            millis.as_bytes(),
        ];
        match self.client.call("set", &args, deadline) {
            Ok(Reply::Simple(ok)) if ok == "OK" => {}
            Ok(_) => self.failed("write", &RedisError::Protocol("unexpected answer to SET")),
            Err(error) => self.failed("write", &error),
        }
    }

    fn failed(&self, what: &str, error: &RedisError) {
        // While backing off every call fails the same way; the first failure was logged.
        if *error != RedisError::BackingOff {
            log_warn!("Redis cache {what} failed, using the local cache only: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        for verdict in [
            Verdict::Trusted(None),
            Verdict::Trusted(Some(digest)),
            Verdict::Rejected("error during cosign validation of image x: no".into()),
        ] {
            assert_eq!(decode(encode(&verdict).as_bytes()), Ok(verdict));
        }
    }

    #[test]
    fn garbage_never_becomes_a_verdict() {
        assert_eq!(
            decode(b"{\"digest\":\"sha256:aa\",\"error\":\"\"}"),
            Err(Invalid::Version)
        );
        assert_eq!(decode(b"v2:T:"), Err(Invalid::Version));
        assert_eq!(decode(b"v1:R:"), Err(Invalid::Version));
        assert_eq!(decode(b"v1:T:sha256:1234"), Err(Invalid::Digest));
        assert_eq!(decode(b"v1:T:md5:00"), Err(Invalid::Digest));
        assert_eq!(decode(b"v1:T:\xff"), Err(Invalid::Encoding));
    }

    #[test]
    fn keys_differ_by_image_and_judge_only() {
        assert_eq!(key("img", 1), key("img", 1));
        assert_ne!(key("img", 1), key("img", 2));
        assert_ne!(key("img", 1), key("img2", 1));
        assert!(key("img", 1).starts_with("tastevin:v1:verdict:0000000000000001:"));
    }
}
