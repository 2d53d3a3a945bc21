//! The verdict cache: recent validation results, so that a Deployment's ReplicaSet and Pods
//! (and retries by the API server) do not fetch the same signatures again.
//!
//! In-process and bounded in entries and bytes. An entry is found by the normalised image
//! reference together with a fingerprint of the rule and validator that judged it, so a
//! configuration change never serves a verdict reached under another policy. Successes live
//! for `CACHE_EXPIRY_SECONDS`; verification failures only when `CACHE_ERRORS` allows, and
//! for a shorter time; transport errors and timeouts are never stored (the caller decides).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries at most.
pub const MAX_ENTRIES: usize = 10_000;
/// Bytes of keys and values at most.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Failures are kept for at most this long, whatever the success TTL.
pub const MAX_ERROR_TTL: Duration = Duration::from_secs(10);

/// What a cache entry remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verified; the digest the validator vouched for, if any.
    Trusted(Option<String>),
    /// Not trusted; the message the cluster user saw.
    Rejected(String),
}

/// How long verdicts are kept, from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// `None` turns the cache off (`CACHE_EXPIRY_SECONDS` ≤ 0).
    pub ttl: Option<Duration>,
    pub cache_errors: bool,
}

impl Default for CachePolicy {
    fn default() -> CachePolicy {
        CachePolicy {
            ttl: Some(Duration::from_secs(30)),
            cache_errors: true,
        }
    }
}

/// The key of an entry: the image and the fingerprint of what judged it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    image: String,
    judge: u64,
}

impl CacheKey {
    /// `image` is the normalised reference (with its digest when it has one); `judge` is
    /// anything that describes the rule and validator completely (see [`crate::config::Config::judge`]).
    pub fn new(image: &str, judge: impl Hash) -> CacheKey {
        let mut hasher = DefaultHasher::new();
        judge.hash(&mut hasher);
        CacheKey {
            image: image.to_owned(),
            judge: hasher.finish(),
        }
    }

    fn bytes(&self) -> usize {
        self.image.len() + std::mem::size_of::<u64>()
    }
}

struct Entry {
    verdict: Verdict,
    expires: Instant,
    bytes: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<CacheKey, Entry>,
    /// Insertion order, oldest first, for eviction; may hold keys already replaced.
    order: VecDeque<CacheKey>,
    bytes: usize,
}

/// The cache. Shared by worker threads; every operation holds the lock briefly.
pub struct VerdictCache {
    policy: CachePolicy,
    entries: Mutex<Entries>,
}

impl VerdictCache {
    pub fn new(policy: CachePolicy) -> VerdictCache {
        VerdictCache {
            policy,
            entries: Mutex::new(Entries::default()),
        }
    }

    pub fn policy(&self) -> CachePolicy {
        self.policy
    }

    /// A verdict that has not expired.
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<Verdict> {
        self.policy.ttl?;
        let mut entries = self.entries.lock().ok()?;
        match entries.map.get(key) {
            Some(entry) if entry.expires > now => Some(entry.verdict.clone()),
            Some(_) => {
                if let Some(gone) = entries.map.remove(key) {
                    entries.bytes -= gone.bytes;
                }
                None
            }
            None => None,
        }
    }

    /// Stores a verdict, if the policy keeps verdicts of its kind.
    pub fn put(&self, key: CacheKey, verdict: Verdict, now: Instant) {
        let Some(ttl) = self.policy.ttl else { return };
        let ttl = match verdict {
            Verdict::Trusted(_) => ttl,
            Verdict::Rejected(_) if self.policy.cache_errors => ttl.min(MAX_ERROR_TTL),
            Verdict::Rejected(_) => return,
        };
        let bytes = key.bytes()
            + match &verdict {
                Verdict::Trusted(digest) => digest.as_ref().map_or(0, String::len),
                Verdict::Rejected(message) => message.len(),
            };
        if bytes > MAX_BYTES {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(old) = entries.map.remove(&key) {
            entries.bytes -= old.bytes;
        }
        while entries.map.len() >= MAX_ENTRIES || entries.bytes + bytes > MAX_BYTES {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some(gone) = entries.map.remove(&oldest) {
                entries.bytes -= gone.bytes;
            }
        }
        entries.order.push_back(key.clone());
        entries.bytes += bytes;
        entries.map.insert(
            key,
            Entry {
                verdict,
                expires: now + ttl,
                bytes,
            },
        );
        // Keys replaced in place leave stale copies in `order`; drop them once they dominate.
        if entries.order.len() > 2 * entries.map.len() + 64 {
            let Entries { map, order, .. } = &mut *entries;
            order.retain(|k| map.contains_key(k));
        }
    }

    /// Entries currently stored (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CachePolicy {
    /// Reads `CACHE_EXPIRY_SECONDS` (default 30; ≤ 0 turns the cache off) and `CACHE_ERRORS`
    /// (default true) through `lookup`; returns what was not understood alongside.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (CachePolicy, Vec<String>) {
        let mut policy = CachePolicy::default();
        let mut notices = Vec::new();
        if let Some(value) = lookup("CACHE_EXPIRY_SECONDS") {
            match value.trim().parse::<i64>() {
                Ok(seconds) if seconds <= 0 => policy.ttl = None,
                Ok(seconds) => policy.ttl = Some(Duration::from_secs(seconds.unsigned_abs())),
                Err(_) => notices.push(format!(
                    "CACHE_EXPIRY_SECONDS={value:?} is not understood, using 30 seconds"
                )),
            }
        }
        if let Some(value) = lookup("CACHE_ERRORS") {
            match value.as_str() {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => policy.cache_errors = true,
                "0" | "f" | "F" | "FALSE" | "false" | "False" => policy.cache_errors = false,
                // Connaisseur's quirk 2 turned errors off here while saying "true"; say and do
                // the same thing: keep the default.
                _ => notices.push(format!(
                    "CACHE_ERRORS={value:?} is not understood, caching errors (the default)"
                )),
            }
        }
        (policy, notices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn hits_until_expiry() {
        let cache = VerdictCache::new(CachePolicy::default());
        let now = Instant::now();
        let key = CacheKey::new("index.docker.io/library/nginx:1", "rule+validator");
        cache.put(key.clone(), Verdict::Trusted(Some("sha256:aa".into())), now);
        assert_eq!(
            cache.get(&key, now + Duration::from_secs(29)),
            Some(Verdict::Trusted(Some("sha256:aa".into())))
        );
        assert_eq!(cache.get(&key, now + Duration::from_secs(30)), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn another_judge_is_another_entry() {
        let cache = VerdictCache::new(CachePolicy::default());
        let now = Instant::now();
        cache.put(
            CacheKey::new("img", "old rule"),
            Verdict::Trusted(None),
            now,
        );
        assert_eq!(cache.get(&CacheKey::new("img", "new rule"), now), None);
        assert!(cache.get(&CacheKey::new("img", "old rule"), now).is_some());
    }

    #[test]
    fn errors_follow_the_policy_and_expire_sooner() {
        let now = Instant::now();
        let key = CacheKey::new("img", 1);
        let rejected = Verdict::Rejected("no signatures found".into());
        let keeping = VerdictCache::new(CachePolicy::default());
        keeping.put(key.clone(), rejected.clone(), now);
        assert_eq!(keeping.get(&key, now), Some(rejected.clone()));
        assert_eq!(keeping.get(&key, now + MAX_ERROR_TTL), None);
        let dropping = VerdictCache::new(CachePolicy {
            cache_errors: false,
            ..CachePolicy::default()
        });
        dropping.put(key.clone(), rejected, now);
        assert_eq!(dropping.get(&key, now), None);
    }

    #[test]
    fn off_means_nothing_is_kept() {
        let cache = VerdictCache::new(CachePolicy {
            ttl: None,
            cache_errors: true,
        });
        let now = Instant::now();
        cache.put(CacheKey::new("img", 1), Verdict::Trusted(None), now);
        assert_eq!(cache.get(&CacheKey::new("img", 1), now), None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn bounded_in_entries_oldest_evicted_first() {
        let cache = VerdictCache::new(CachePolicy::default());
        let now = Instant::now();
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(
                CacheKey::new(&format!("img{i}"), 0),
                Verdict::Trusted(None),
                now,
            );
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert_eq!(cache.get(&CacheKey::new("img0", 0), now), None);
        assert!(cache
            .get(&CacheKey::new(&format!("img{}", MAX_ENTRIES + 9), 0), now)
            .is_some());
    }

    #[test]
    fn bounded_in_bytes() {
        let cache = VerdictCache::new(CachePolicy::default());
        let now = Instant::now();
        let message = "x".repeat(64 * 1024);
        for i in 0..100 {
            cache.put(
                CacheKey::new(&format!("img{i}"), 0),
                Verdict::Rejected(message.clone()),
                now,
            );
        }
        let stored = cache.entries.lock().unwrap().bytes;
        assert!(stored <= MAX_BYTES, "{stored}");
        assert!(cache.len() < 100);
    }

    #[test]
    fn environment_as_connaisseur() {
        assert_eq!(CachePolicy::from_lookup(env(&[])).0, CachePolicy::default());
        let (off, _) = CachePolicy::from_lookup(env(&[("CACHE_EXPIRY_SECONDS", "0")]));
        assert_eq!(off.ttl, None);
        let (short, _) = CachePolicy::from_lookup(env(&[("CACHE_EXPIRY_SECONDS", "5")]));
        assert_eq!(short.ttl, Some(Duration::from_secs(5)));
        let (no_errors, _) = CachePolicy::from_lookup(env(&[("CACHE_ERRORS", "false")]));
        assert!(!no_errors.cache_errors);
        let (kept, notices) = CachePolicy::from_lookup(env(&[("CACHE_ERRORS", "maybe")]));
        assert!(kept.cache_errors);
        assert_eq!(notices.len(), 1);
    }
}
