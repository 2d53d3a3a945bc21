//! The outbound clients of the signature validators: one registry client per cosign or
//! Notation validator and one Notary client per Notary v1 validator, kept so that connections and
//! tokens are reused across requests, and the turns that bound how many validations talk
//! to one registry at the same time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use rustls_pki_types::CertificateDer;

use super::notaryv1_validator::NotaryClient;
use crate::config::{Auth, CosignConfig, NotationConfig};
use crate::net::https_client::PlainHttp;
use crate::redis::versions::SharedVersions;
use crate::redis::Shared;
use crate::registry::{Credentials, RegistryClient, RegistryOptions};

/// Validations that may talk to one registry at the same time; more wait for a turn (within
/// their deadline), so that a burst of pods does not hammer a registry into rate limiting.
pub const MAX_PER_REGISTRY: usize = 16;

/// The outbound clients of the signature validators, by validator name, built on first
/// use, and the per-registry turns. Owned by the admission engine: a reloaded configuration
/// gets a new engine and so new clients (credentials and CAs may have changed with it).
pub struct Clients {
    secrets_dir: PathBuf,
    registries: PerValidator<RegistryClient>,
    pub(super) notaries: PerValidator<NotaryClient>,
    busy: Mutex<HashMap<String, usize>>,
    turn_free: Condvar,
    /// What is kept in Redis for every replica (the Notary v1 rollback memory), if configured.
    shared: Option<Arc<Shared>>,
}

/// Clients of one kind, by validator name.
pub(super) struct PerValidator<T> {
    by_name: Mutex<HashMap<String, Arc<T>>>,
}

impl<T> PerValidator<T> {
    fn new() -> PerValidator<T> {
        PerValidator {
            by_name: Mutex::new(HashMap::new()),
        }
    }

    /// The client of validator `name`, built by `build` the first time.
    pub(super) fn get_or_build<E>(
        &self,
        name: &str,
        build: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        if let Some(client) = self.by_name.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(client);
        }
        let client = Arc::new(build()?);
        if let Ok(mut map) = self.by_name.lock() {
            map.insert(name.to_owned(), Arc::clone(&client));
        }
        Ok(client)
    }
}

/// A turn at one registry; given back when dropped.
pub(super) struct Turn<'a> {
    clients: &'a Clients,
    registry: String,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.clients.busy.lock() {
            if let Some(count) = busy.get_mut(&self.registry) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    busy.remove(&self.registry);
                }
            }
        }
        self.clients.turn_free.notify_all();
    }
}

impl Clients {
    pub fn new(secrets_dir: PathBuf) -> Clients {
        Clients {
            secrets_dir,
            registries: PerValidator::new(),
            notaries: PerValidator::new(),
            busy: Mutex::new(HashMap::new()),
            turn_free: Condvar::new(),
            shared: None,
        }
    }

    /// The same clients keeping the Notary v1 rollback memory in Redis too (none: Redis off).
    pub fn with_shared(mut self, shared: Option<Arc<Shared>>) -> Clients {
        self.shared = shared;
        self
    }

    /// The rollback memory every replica keeps in Redis, if configured.
    pub fn shared_versions(&self) -> Option<&SharedVersions> {
        self.shared.as_deref().map(|shared| &shared.versions)
    }

    /// Waits (until `deadline`) for one of the [`MAX_PER_REGISTRY`] turns at `registry`.
    pub(super) fn turn(&self, registry: &str, deadline: Instant) -> Option<Turn<'_>> {
        let mut busy = self.busy.lock().ok()?;
        loop {
            let count = busy.entry(registry.to_owned()).or_insert(0);
            if *count < MAX_PER_REGISTRY {
                *count += 1;
                return Some(Turn {
                    clients: self,
                    registry: registry.to_owned(),
                });
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            busy = self.turn_free.wait_timeout(busy, left).ok()?.0;
        }
    }

    /// Where `auth.secretName` secrets are mounted.
    pub fn secrets_dir(&self) -> &Path {
        &self.secrets_dir
    }

    /// The registry client of cosign validator `name`.
    pub(super) fn registry(
        &self,
        name: &str,
        config: &CosignConfig,
    ) -> Result<Arc<RegistryClient>, String> {
        self.registry_for(
            name,
            config.tls_roots.as_ref(),
            &config.plain_http,
            config.auth.as_ref(),
        )
    }

    /// The registry client of Notation validator `name`.
    pub(super) fn notation_registry(
        &self,
        name: &str,
        config: &NotationConfig,
    ) -> Result<Arc<RegistryClient>, String> {
        self.registry_for(
            name,
            config.tls_roots.as_ref(),
            &config.plain_http,
            config.auth.as_ref(),
        )
    }

    /// The registry client of validator `name` (names are unique across types).
    fn registry_for(
        &self,
        name: &str,
        tls_roots: Option<&Vec<CertificateDer<'static>>>,
        plain_http: &PlainHttp,
        auth: Option<&Auth>,
    ) -> Result<Arc<RegistryClient>, String> {
        self.registries.get_or_build(name, || {
            let credentials = match auth {
                Some(Auth::Secret(secret)) => {
                    Some(Credentials::load(&self.secrets_dir, secret).map_err(|e| e.to_string())?)
                }
                Some(Auth::Keychain) | None => None,
            };
            RegistryClient::new(RegistryOptions {
                ca: tls_roots.cloned(),
                credentials,
                plain_http: plain_http.clone(),
            })
            .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn turns_at_one_registry_are_bounded_and_given_back() {
        let clients = Clients::new(PathBuf::from("/nonexistent"));
        let deadline = Instant::now() + Duration::from_millis(50);
        let turns: Vec<Turn<'_>> = (0..MAX_PER_REGISTRY)
            .map(|_| clients.turn("ghcr.io", deadline).expect("a free turn"))
            .collect();
        assert!(clients.turn("ghcr.io", deadline).is_none(), "one too many");
        assert!(
            clients.turn("quay.io", deadline).is_some(),
            "other registries are not affected"
        );
        drop(turns);
        assert!(clients.turn("ghcr.io", deadline).is_some());
    }
}
