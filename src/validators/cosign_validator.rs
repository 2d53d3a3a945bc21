//! The cosign validator at work: resolve the image's digest at its registry, fetch the
//! signatures stored beside it, and verify them against the rule's trust roots.
//!
//! Runs on a worker thread (it blocks on the network), within the request's deadline.
//! Registry clients are kept per validator, so connections and tokens are reused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::cosign::CosignVerifier;
use super::{Outcome, Rejection};
use crate::config::{Auth, CosignConfig, Rule};
use crate::image_ref::ImageRef;
use crate::registry::Credentials;
use crate::registry::{signatures, RegistryClient, RegistryError, RegistryOptions};

/// Registry clients by validator name, built on first use.
pub struct Clients {
    secrets_dir: PathBuf,
    by_validator: Mutex<HashMap<String, Arc<RegistryClient>>>,
}

impl Clients {
    pub fn new(secrets_dir: PathBuf) -> Clients {
        Clients {
            secrets_dir,
            by_validator: Mutex::new(HashMap::new()),
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
