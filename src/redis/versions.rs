//! The Notary v1 rollback memory in Redis: the highest version of each role seen per
//! repository, kept by every replica in one sorted set per repository (member = role, score =
//! version), so that a restart or a new replica does not forget it. `ZADD … GT` only ever
//! raises a version, atomically, whichever replica writes.
//!
//! Redis adds to the protection and never weakens it: an unusable answer is ignored (each
//! replica still has its own memory), and a version read from Redis can only refuse trust
//! data, never admit it.

use std::sync::Arc;
use std::time::Instant;

use aws_lc_rs::digest;

use super::resp::Reply;
use super::{Client, RedisError};
use crate::log_warn;
use crate::metrics::Metrics;

/// The Redis key of `repository`'s versions.
pub fn key(repository: &str) -> String {
    let hash = digest::digest(&digest::SHA256, repository.as_bytes());
    let mut key = String::from("tastevin:v1:notary-versions:");
    for byte in hash.as_ref() {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// The shared rollback memory.
pub struct SharedVersions {
    client: Arc<Client>,
    metrics: &'static Metrics,
}

impl SharedVersions {
    pub fn new(client: Arc<Client>, metrics: &'static Metrics) -> SharedVersions {
        SharedVersions { client, metrics }
    }

    /// The highest versions any replica saw for `repository`, by role; empty when none or
    /// when Redis cannot be used.
    pub fn highest(&self, repository: &str, deadline: Instant) -> Vec<(String, u64)> {
        let key = key(repository);
        let args: [&[u8]; 5] = [b"ZRANGE", key.as_bytes(), b"0", b"-1", b"WITHSCORES"];
        match self.client.call("versions_get", &args, deadline) {
            Ok(Reply::Array(Some(items))) => match parse_pairs(items) {
                Some(pairs) => pairs,
                None => {
                    self.metrics.redis_error("invalid");
                    log_warn!(
                        "ignoring the Notary rollback memory in Redis for {repository}: it is not a set of roles with whole versions"
                    );
                    Vec::new()
                }
            },
            Ok(_) => {
                self.failed(&RedisError::Protocol("unexpected answer to ZRANGE"));
                Vec::new()
            }
            Err(error) => {
                self.failed(&error);
                Vec::new()
            }
        }
    }

    /// Raises the versions kept for `repository` to `versions` where they are higher.
    pub fn record(&self, repository: &str, versions: &[(String, u64)], deadline: Instant) {
        if versions.is_empty() {
            return;
        }
        let key = key(repository);
        let scores: Vec<String> = versions.iter().map(|(_, v)| v.to_string()).collect();
        let mut args: Vec<&[u8]> = vec![b"ZADD", key.as_bytes(), b"GT"];
        for ((role, _), score) in versions.iter().zip(&scores) {
            args.push(score.as_bytes());
            args.push(role.as_bytes());
        }
        match self.client.call("versions_set", &args, deadline) {
            Ok(Reply::Integer(_)) => {}
            Ok(_) => self.failed(&RedisError::Protocol("unexpected answer to ZADD")),
            Err(error) => self.failed(&error),
        }
    }

    fn failed(&self, error: &RedisError) {
        if *error != RedisError::BackingOff {
            log_warn!("Redis rollback memory unusable, using this replica's own: {error}");
        }
    }
}

/// `ZRANGE … WITHSCORES`: role, version, role, version… (RESP2), or one `[role, version]`
/// array per role (RESP3). Versions are whole numbers written by [`SharedVersions::record`];
/// anything else makes the whole answer unusable.
fn parse_pairs(items: Vec<Reply>) -> Option<Vec<(String, u64)>> {
    let items = if items
        .iter()
        .all(|item| matches!(item, Reply::Array(Some(pair)) if pair.len() == 2))
    {
        items
            .into_iter()
            .flat_map(|item| match item {
                Reply::Array(Some(pair)) => pair,
                _ => Vec::new(),
            })
            .collect()
    } else {
        items
    };
    if items.len() % 2 != 0 {
        return None;
    }
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(role), Some(score)) = (items.next(), items.next()) {
        let (Reply::Bulk(Some(role)), Reply::Bulk(Some(score))) = (role, score) else {
            return None;
        };
        let role = String::from_utf8(role).ok()?;
        let version = std::str::from_utf8(&score).ok()?.parse::<u64>().ok()?;
        pairs.push((role, version));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Some(text.as_bytes().to_vec()))
    }

    #[test]
    fn roles_and_whole_versions_only() {
        assert_eq!(
            parse_pairs(vec![bulk("root"), bulk("1"), bulk("targets"), bulk("7")]),
            Some(vec![("root".into(), 1), ("targets".into(), 7)])
        );
        assert_eq!(parse_pairs(vec![]), Some(vec![]));
        for bad in [
            vec![bulk("root")],
            vec![bulk("root"), bulk("1.5")],
            vec![bulk("root"), bulk("-1")],
            vec![bulk("root"), bulk("inf")],
            vec![bulk("root"), Reply::Integer(3)],
            vec![Reply::Bulk(None), bulk("3")],
        ] {
            assert_eq!(parse_pairs(bad.clone()), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_hide_the_repository_name() {
        let key = key("notary.example/library/app");
        assert!(key.starts_with("tastevin:v1:notary-versions:"));
        assert!(!key.contains("library"));
        assert_ne!(key, super::key("notary.example/library/other"));
    }
}
