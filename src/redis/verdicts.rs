//! Verdicts in Redis, the second cache tier shared by all replicas. Keys carry the stable
//! fingerprint of the rule and validator ([`crate::config::Config::judge`]), so a policy
//! change on one replica never reuses a verdict reached under another; values are versioned
//! (`v1:`) and parsed strictly: a value that does not parse is a miss, counted and logged,
//! and never admits anything.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
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
    named("verdict", image, judge)
}

/// The key of the lock held by the replica validating `image` for every other.
pub fn lock_key(image: &str, judge: u64) -> String {
    named("lock", image, judge)
}

fn named(kind: &str, image: &str, judge: u64) -> String {
    format!(
        "tastevin:v1:{kind}:{judge:016x}:{}",
        hex_sha256(image.as_bytes())
    )
}

fn hex_sha256(bytes: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, bytes);
    let mut text = String::with_capacity(64);
    for byte in hash.as_ref() {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Deletes the lock only while it still holds this replica's token: a lock that expired and
/// was taken by another replica is not ours to remove.
const RELEASE_SCRIPT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
/// First pause between two looks at a verdict another replica is reaching; doubled each time.
/// Short, because a validation takes milliseconds and the looks are cheap: the local single
/// flight lets only one request per replica and image wait here.
const FIRST_POLL: Duration = Duration::from_millis(2);
/// Longest pause between two looks.
const MAX_POLL: Duration = Duration::from_millis(5);

/// What a replica does about an image that no tier has a verdict for.
#[derive(Debug)]
pub enum Turn {
    /// This replica validates for all; [`SharedVerdicts::release`] the lock once the verdict
    /// is stored.
    Lead(Lock),
    /// Another replica validated the image meanwhile.
    Decided(Verdict),
    /// Validate without the others: Redis is unusable, or the replica that held the lock
    /// finished without a verdict to share or took too long.
    Alone,
}

/// The lock on one image, taken with `SET … NX PX`; it expires by itself at the request's
/// deadline should this replica die while validating.
#[derive(Debug)]
pub struct Lock {
    key: String,
    token: String,
}

/// A look at a key.
enum Lookup {
    Found(Verdict),
    Missing,
    /// Unusable (counted and logged).
    Unusable,
}

/// The shared tier.
pub struct SharedVerdicts {
    client: Arc<Client>,
    policy: CachePolicy,
    metrics: &'static Metrics,
    /// Invalid kinds already logged, one bit each: each kind is logged once per process.
    logged: AtomicU8,
}

impl SharedVerdicts {
    pub fn new(
        client: Arc<Client>,
        policy: CachePolicy,
        metrics: &'static Metrics,
    ) -> SharedVerdicts {
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
        match self.interpret(image, reply, true) {
            Lookup::Found(verdict) => Some(verdict),
            Lookup::Missing | Lookup::Unusable => None,
        }
    }

    /// Cluster-wide single flight: the first replica to ask takes the lock and validates;
    /// the others wait for its verdict for at most half the time left, so that each can still
    /// validate by itself if none comes.
    pub fn claim(&self, image: &str, judge: u64, deadline: Instant) -> Turn {
        if self.policy.ttl.is_none() {
            return Turn::Alone;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(token) = token() else {
            return Turn::Alone;
        };
        let lock = Lock {
            key: lock_key(image, judge),
            token,
        };
        let expiry = left.as_millis().max(1).to_string();
        let args: [&[u8]; 6] = [
            b"SET",
            lock.key.as_bytes(),
            lock.token.as_bytes(),
            b"NX",
            b"PX",
            expiry.as_bytes(),
        ];
        let turn = match self.client.call("lock", &args, deadline) {
            Ok(Reply::Simple(ok)) if ok == "OK" => Turn::Lead(lock),
            Ok(Reply::Bulk(None)) => self.await_verdict(image, judge, &lock.key, deadline, left),
            Ok(_) => {
                self.failed("lock", &RedisError::Protocol("unexpected answer to SET NX"));
                Turn::Alone
            }
            Err(error) => {
                self.failed("lock", &error);
                Turn::Alone
            }
        };
        let outcome = match turn {
            Turn::Lead(_) => "led",
            Turn::Decided(_) => "joined",
            Turn::Alone => "alone",
        };
        self.metrics.single_flight(outcome);
        turn
    }

    fn await_verdict(
        &self,
        image: &str,
        judge: u64,
        lock_key: &str,
        deadline: Instant,
        left: Duration,
    ) -> Turn {
        let key = key(image, judge);
        let give_up = Instant::now() + left / 2;
        let mut pause = FIRST_POLL;
        loop {
            std::thread::sleep(pause.min(give_up.saturating_duration_since(Instant::now())));
            let args: [&[u8]; 3] = [b"MGET", key.as_bytes(), lock_key.as_bytes()];
            let (verdict, lock) = match self.client.call("wait", &args, deadline) {
                Ok(Reply::Array(Some(items))) => match <[Reply; 2]>::try_from(items) {
                    Ok([verdict, lock]) => (verdict, lock),
                    Err(_) => {
                        self.failed("wait", &RedisError::Protocol("MGET answered another count"));
                        return Turn::Alone;
                    }
                },
                Ok(_) => {
                    self.failed("wait", &RedisError::Protocol("unexpected answer to MGET"));
                    return Turn::Alone;
                }
                Err(error) => {
                    self.failed("wait", &error);
                    return Turn::Alone;
                }
            };
            match self.interpret(image, verdict, false) {
                Lookup::Found(verdict) => return Turn::Decided(verdict),
                Lookup::Unusable => return Turn::Alone,
                // The lock is gone with no verdict: that validation ended in nothing to share.
                Lookup::Missing if lock == Reply::Bulk(None) => return Turn::Alone,
                Lookup::Missing if Instant::now() >= give_up => return Turn::Alone,
                Lookup::Missing => pause = (pause * 2).min(MAX_POLL),
            }
        }
    }

    /// Gives up the lock of a finished validation (after its verdict is stored).
    pub fn release(&self, lock: Lock) {
        // Its own short budget: the request's deadline may be spent, and a lock left behind
        // would keep the other replicas waiting until it expires.
        let deadline = Instant::now() + self.client.settings().call_timeout;
        let args: [&[u8]; 5] = [
            b"EVAL",
            RELEASE_SCRIPT.as_bytes(),
            b"1",
            lock.key.as_bytes(),
            lock.token.as_bytes(),
        ];
        match self.client.call("release", &args, deadline) {
            Ok(Reply::Integer(_)) => {}
            Ok(_) => self.failed("unlock", &RedisError::Protocol("unexpected answer to EVAL")),
            Err(error) => self.failed("unlock", &error),
        }
    }

    /// What a `GET` answered, counted (misses only when `count_miss`: waiting for a verdict
    /// looks many times); an invalid value is logged once per kind.
    fn interpret(&self, image: &str, reply: Reply, count_miss: bool) -> Lookup {
        let decoded = match reply {
            Reply::Bulk(None) => {
                if count_miss {
                    self.metrics.cache_lookup("redis", "miss");
                }
                return Lookup::Missing;
            }
            Reply::Bulk(Some(value)) => decode(&value),
            _ => Err(Invalid::Type),
        };
        match decoded {
            Ok(verdict) => {
                self.metrics.cache_lookup("redis", "hit");
                Lookup::Found(verdict)
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
                Lookup::Unusable
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

/// A lock token no other replica holds: 128 random bits.
fn token() -> Option<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
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
