//! The cosign validator at work: resolve the image's digest at its registry, fetch the
//! signatures stored beside it, and verify them against the rule's trust roots.
//!
//! Runs on a worker thread (it blocks on the network), within the request's deadline.
//! Registry clients are kept per validator, so connections and tokens are reused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::cosign::CosignVerifier;
use super::{Outcome, Rejection};
use crate::config::{Auth, CosignConfig, Rule};
use crate::image_ref::ImageRef;
use crate::registry::Credentials;
use crate::registry::{signatures, RegistryClient, RegistryError, RegistryOptions};

/// Validations that may talk to one registry at the same time; more wait for a turn (within
/// their deadline), so that a burst of pods does not hammer a registry into rate limiting.
pub const MAX_PER_REGISTRY: usize = 16;

/// Registry clients by validator name, built on first use, and the per-registry turns.
pub struct Clients {
    secrets_dir: PathBuf,
    by_validator: Mutex<HashMap<String, Arc<RegistryClient>>>,
    busy: Mutex<HashMap<String, usize>>,
    turn_free: Condvar,
}

/// A turn at one registry; given back when dropped.
struct Turn<'a> {
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
            by_validator: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashMap::new()),
            turn_free: Condvar::new(),
        }
    }

    /// Waits (until `deadline`) for one of the [`MAX_PER_REGISTRY`] turns at `registry`.
    fn turn(&self, registry: &str, deadline: Instant) -> Option<Turn<'_>> {
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

    /// Where `auth.secretName` secrets are mounted (shared with the Notary v1 validator).
    pub fn secrets_dir(&self) -> &std::path::Path {
        &self.secrets_dir
    }

    fn for_validator(
        &self,
        name: &str,
        config: &CosignConfig,
    ) -> Result<Arc<RegistryClient>, String> {
        if let Some(client) = self
            .by_validator
            .lock()
            .ok()
            .and_then(|m| m.get(name).cloned())
        {
            return Ok(client);
        }
        let credentials = match &config.auth {
            Some(Auth::Secret(secret)) => {
                Some(Credentials::load(&self.secrets_dir, secret).map_err(|e| e.to_string())?)
            }
            Some(Auth::Keychain) | None => None,
        };
        let client = Arc::new(
            RegistryClient::new(RegistryOptions {
                ca: config.tls_roots.clone(),
                credentials,
                allow_http: false,
            })
            .map_err(|e| e.to_string())?,
        );
        if let Ok(mut map) = self.by_validator.lock() {
            map.insert(name.to_owned(), Arc::clone(&client));
        }
        Ok(client)
    }
}

/// Verifies `image` with the cosign validator `name`.
pub fn validate(
    name: &str,
    config: &CosignConfig,
    rule: &Rule,
    image: &ImageRef,
    deadline: Instant,
    clients: &Clients,
) -> Outcome {
    let verifier = match CosignVerifier::from_config(name, config, &rule.with) {
        Ok(verifier) => verifier,
        Err(e) => return Outcome::Rejected(Rejection::Failed(e.to_string())),
    };
    let client = match clients.for_validator(name, config) {
        Ok(client) => client,
        Err(e) => return Outcome::Rejected(Rejection::Failed(e)),
    };
    let Some(_turn) = clients.turn(image.registry(), deadline) else {
        return Outcome::Rejected(Rejection::Unavailable(format!(
            "registry {} is busy with {MAX_PER_REGISTRY} validations and none finished before the deadline",
            image.registry()
        )));
    };
    let digest = match client.resolve_digest(image, deadline) {
        Ok(digest) => digest,
        Err(e) => return registry_failure(e),
    };
    let layers = match signatures::fetch(&client, image, &digest, deadline) {
        Ok(layers) => layers,
        Err(e) => return registry_failure(e),
    };
    match verifier.verify(&layers, &digest) {
        Ok(verified) => Outcome::Verified {
            digest: Some(verified.digest),
        },
        Err(e) => Outcome::Rejected(Rejection::Failed(e.to_string())),
    }
}

fn registry_failure(error: RegistryError) -> Outcome {
    let message = error.to_string();
    Outcome::Rejected(if error.is_transport() {
        Rejection::Unavailable(message)
    } else {
        Rejection::Failed(message)
    })
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
