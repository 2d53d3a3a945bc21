//! Rollback protection: the highest version of each role seen per repository, kept in memory
//! for the life of the process and shared by all validations, and with Redis configured also
//! by every replica across restarts ([`WithShared`]). A server (or an attacker in its place)
//! that later serves an older, still validly signed version is refused.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::redis::versions::SharedVersions;

/// Where the highest versions seen are looked up and raised.
pub trait RollbackMemory {
    /// The first of `versions` (role, version) lower than one seen before for `repository`.
    fn check(&self, repository: &str, versions: &[(String, u64)]) -> Result<(), Rollback>;
    /// Remembers `versions` of validated trust data for `repository`.
    fn record(&self, repository: &str, versions: &[(String, u64)]);
}

/// Most repositories remembered; beyond that new repositories are not tracked (those already
/// tracked stay protected), so memory stays bounded.
pub const MAX_REPOSITORIES: usize = 65_536;

/// Highest versions seen, by repository and role.
#[derive(Debug, Default)]
pub struct VersionMemory {
    seen: Mutex<HashMap<String, HashMap<String, u64>>>,
}

/// A role whose version went backwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub role: String,
    pub version: u64,
    pub highest_seen: u64,
}

impl VersionMemory {
    pub fn new() -> VersionMemory {
        VersionMemory::default()
    }

    /// The first of `versions` (role, version) lower than one seen before for `repository`.
    pub fn check(&self, repository: &str, versions: &[(String, u64)]) -> Result<(), Rollback> {
        RollbackMemory::check(self, repository, versions)
    }

    /// Remembers `versions` of validated trust data for `repository`.
    pub fn record(&self, repository: &str, versions: &[(String, u64)]) {
        RollbackMemory::record(self, repository, versions);
    }
}

impl RollbackMemory for VersionMemory {
    fn check(&self, repository: &str, versions: &[(String, u64)]) -> Result<(), Rollback> {
        let Ok(seen) = self.seen.lock() else {
            return Ok(());
        };
        let Some(roles) = seen.get(repository) else {
            return Ok(());
        };
        first_lower(versions, |role| roles.get(role).copied())
    }

    fn record(&self, repository: &str, versions: &[(String, u64)]) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        if !seen.contains_key(repository) && seen.len() >= MAX_REPOSITORIES {
            return;
        }
        let roles = seen.entry(repository.to_owned()).or_default();
        for (role, version) in versions {
            let highest = roles.entry(role.clone()).or_insert(*version);
            *highest = (*highest).max(*version);
        }
    }
}

/// The first of `versions` lower than the highest seen for its role, as `highest_seen` tells.
fn first_lower(
    versions: &[(String, u64)],
    highest_seen: impl Fn(&str) -> Option<u64>,
) -> Result<(), Rollback> {
    for (role, version) in versions {
        if let Some(highest_seen) = highest_seen(role).filter(|seen| version < seen) {
            return Err(Rollback {
                role: role.clone(),
                version: *version,
                highest_seen,
            });
        }
    }
    Ok(())
}

/// This process's memory and the one every replica keeps in Redis, for one validation: Redis
/// is read once (on the first check) and raised after the trust data verified.
pub struct WithShared<'a> {
    local: &'a VersionMemory,
    shared: &'a SharedVersions,
    deadline: Instant,
    remote: OnceCell<Vec<(String, u64)>>,
}

impl<'a> WithShared<'a> {
    pub fn new(
        local: &'a VersionMemory,
        shared: &'a SharedVersions,
        deadline: Instant,
    ) -> WithShared<'a> {
        WithShared {
            local,
            shared,
            deadline,
            remote: OnceCell::new(),
        }
    }
}

impl RollbackMemory for WithShared<'_> {
    fn check(&self, repository: &str, versions: &[(String, u64)]) -> Result<(), Rollback> {
        self.local.check(repository, versions)?;
        let remote = self
            .remote
            .get_or_init(|| self.shared.highest(repository, self.deadline));
        first_lower(versions, |role| {
            remote.iter().find(|(r, _)| r == role).map(|(_, v)| *v)
        })
    }

    fn record(&self, repository: &str, versions: &[(String, u64)]) {
        self.local.record(repository, versions);
        self.shared.record(repository, versions, self.deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(r, v)| ((*r).to_owned(), *v)).collect()
    }

    #[test]
    fn lower_versions_are_refused_per_repository() {
        let memory = VersionMemory::new();
        memory.record("n/a", &versions(&[("timestamp", 5), ("targets", 2)]));
        assert_eq!(memory.check("n/a", &versions(&[("timestamp", 5)])), Ok(()));
        assert_eq!(memory.check("n/a", &versions(&[("timestamp", 6)])), Ok(()));
        assert_eq!(
            memory.check("n/a", &versions(&[("targets", 2), ("timestamp", 4)])),
            Err(Rollback {
                role: "timestamp".to_owned(),
                version: 4,
                highest_seen: 5
            })
        );
        assert_eq!(memory.check("n/b", &versions(&[("timestamp", 1)])), Ok(()));
        // Recording an older version never lowers the mark.
        memory.record("n/a", &versions(&[("timestamp", 3)]));
        assert!(memory.check("n/a", &versions(&[("timestamp", 4)])).is_err());
    }
}
