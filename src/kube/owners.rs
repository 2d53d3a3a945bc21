//! Owner lookups for automatic child approval (§4.5.2): the objects named in a workload's
//! `metadata.ownerReferences`, fetched from the API server as Connaisseur fetches them
//! (`<group>/<version>`, lower-case kind + `s`, the request's namespace), with their UID
//! checked and their images collected.
//!
//! Unlike Connaisseur, a found owner is kept for [`TTL`] and concurrent lookups of the same
//! owner wait for one API call: a Deployment rollout admits a ReplicaSet and then its pods
//! in a burst, every pod naming the same owner. Failures are never kept, and never approve.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::client::{KubeClient, KubeError};
use crate::admission::workload::{self, OwnerReference, WorkloadKind};

/// How long a fetched owner is trusted to be current. Short: the owner's images are what
/// approves, and an owner updated meanwhile only approves what it carried a moment ago.
pub const TTL: Duration = Duration::from_secs(5);
/// Owners kept at most; beyond, the expired ones go, then all.
const MAX_ENTRIES: usize = 1024;

/// What child approval needs of an owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub uid: String,
    /// Raw image strings of containers, init containers (and ephemeral ones of a Pod).
    pub images: Vec<String>,
}

/// Why an owner does not approve anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// Not one of the eight workload kinds, or a name that cannot be a Kubernetes name.
    Unsupported(String),
    Api(KubeError),
    /// The object of that name is another one than the child's owner.
    UidMismatch {
        expected: String,
        found: String,
    },
    /// The owner has no containers or does not decode as its kind.
    Decode(String),
    /// Another request's lookup of the same owner did not finish before this deadline.
    Deadline,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Unsupported(what) => f.write_str(what),
            LookupError::Api(err) => write!(f, "{err}"),
            LookupError::UidMismatch { expected, found } => {
                write!(
                    f,
                    "non matching UIDs: owner reference has {expected}, API object has {found}"
                )
            }
            LookupError::Decode(err) => write!(f, "cannot read the owner: {err}"),
            LookupError::Deadline => {
                f.write_str("an identical owner lookup did not finish before the deadline")
            }
        }
    }
}

type Key = (String, String, String, String);
type Looked = Result<Arc<Parent>, LookupError>;

/// One API call in progress; others asking for the same owner wait on `ready`.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<Looked>>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    found: HashMap<Key, (Instant, Arc<Parent>)>,
    flights: HashMap<Key, Arc<Flight>>,
}

/// The owner lookups of one process.
pub struct Owners {
    client: KubeClient,
    state: Mutex<State>,
}

impl fmt::Debug for Owners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owners")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Owners {
    pub fn new(client: KubeClient) -> Owners {
        Owners {
            client,
            state: Mutex::new(State::default()),
        }
    }

    pub fn client(&self) -> &KubeClient {
        &self.client
    }

    /// The owner `owner` of an object in `namespace`, with its UID checked.
    pub fn parent(&self, namespace: &str, owner: &OwnerReference, deadline: Instant) -> Looked {
        let key: Key = (
            namespace.to_owned(),
            owner.api_version.clone(),
            owner.kind.clone(),
            owner.name.clone(),
        );
        let parent = self.fetch_shared(&key, namespace, owner, deadline)?;
        // An empty UID matches nothing: every object the API server stores has one.
        if owner.uid.is_empty() || parent.uid != owner.uid {
            return Err(LookupError::UidMismatch {
                expected: owner.uid.clone(),
                found: parent.uid.clone(),
            });
        }
        Ok(parent)
    }

    /// A kept owner, else the result of the one call in flight for it, else a new call.
    fn fetch_shared(
        &self,
        key: &Key,
        namespace: &str,
        owner: &OwnerReference,
        deadline: Instant,
    ) -> Looked {
        let (flight, leader) = {
            let Ok(mut state) = self.state.lock() else {
                return self.fetch(namespace, owner, deadline);
            };
            let now = Instant::now();
            if let Some((at, parent)) = state.found.get(key) {
                if now.duration_since(*at) < TTL {
                    return Ok(Arc::clone(parent));
                }
            }
            match state.flights.get(key) {
                Some(flight) => (Arc::clone(flight), false),
                None => {
                    let flight = Arc::new(Flight::default());
                    state.flights.insert(key.clone(), Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if leader {
            let result = self.fetch(namespace, owner, deadline);
            if let Ok(mut state) = self.state.lock() {
                state.flights.remove(key);
                if let Ok(parent) = &result {
                    let now = Instant::now();
                    if state.found.len() >= MAX_ENTRIES {
                        state
                            .found
                            .retain(|_, (at, _)| now.duration_since(*at) < TTL);
                    }
                    if state.found.len() >= MAX_ENTRIES {
                        state.found.clear();
                    }
                    state.found.insert(key.clone(), (now, Arc::clone(parent)));
                }
            }
            if let Ok(mut slot) = flight.result.lock() {
                *slot = Some(result.clone());
            }
            flight.ready.notify_all();
            return result;
        }
        let timed_out = || Err(LookupError::Deadline);
        let Ok(mut slot) = flight.result.lock() else {
            return timed_out();
        };
        loop {
            if let Some(result) = slot.as_ref() {
                return result.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return timed_out();
            }
            slot = match flight.ready.wait_timeout(slot, deadline - now) {
                Ok((slot, _)) => slot,
                Err(_) => return timed_out(),
            };
        }
    }

    fn fetch(&self, namespace: &str, owner: &OwnerReference, deadline: Instant) -> Looked {
        let kind = WorkloadKind::from_name(&owner.kind).ok_or_else(|| {
            LookupError::Unsupported(format!("owner kind {:?} runs no containers", owner.kind))
        })?;
        let (resource, path) = owner_path(namespace, owner)?;
        let body = self
            .client
            .get(&resource, &path, deadline)
            .map_err(LookupError::Api)?;
        parse_parent(kind, &body)
    }
}

/// The metrics label and the API path of `owner`, e.g. `replicasets` and
/// `/apis/apps/v1/namespaces/team/replicasets/web-5d4f`.
pub fn owner_path(
    namespace: &str,
    owner: &OwnerReference,
) -> Result<(String, String), LookupError> {
    let resource = format!("{}s", owner.kind.to_ascii_lowercase());
    let prefix = match owner.api_version.split_once('/') {
        Some((group, version)) => format!("/apis/{group}/{version}"),
        None => format!("/api/{}", owner.api_version),
    };
    // Every part comes from the admitted object: only Kubernetes name characters may reach
    // the request path.
    let clean = |part: &str| {
        !part.is_empty()
            && part.len() <= 253
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !part.starts_with('.')
    };
    let version_parts = owner.api_version.split('/').collect::<Vec<_>>();
    let valid = clean(namespace)
        && clean(&owner.name)
        && version_parts.len() <= 2
        && version_parts.iter().all(|part| clean(part));
    if !valid {
        return Err(LookupError::Unsupported(format!(
            "owner {}/{} {:?} in namespace {namespace:?} is not a valid Kubernetes reference",
            owner.api_version, owner.kind, owner.name
        )));
    }
    let path = format!("{prefix}/namespaces/{namespace}/{resource}/{}", owner.name);
    Ok((resource, path))
}

/// The owner's UID and images, read as a workload of `kind`.
fn parse_parent(kind: WorkloadKind, body: &[u8]) -> Looked {
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(default)]
        uid: String,
    }
    #[derive(Deserialize)]
    struct Object {
        metadata: Metadata,
    }
    let raw: Box<RawValue> = serde_json::from_slice(body)
        .map_err(|e| LookupError::Api(KubeError::Json(e.to_string())))?;
    let object: Object = serde_json::from_str(raw.get())
        .map_err(|e| LookupError::Api(KubeError::Json(e.to_string())))?;
    let decoded = workload::decode(kind.name(), Some(&raw))
        .map_err(|e| LookupError::Decode(e.to_string()))?;
    Ok(Arc::new(Parent {
        uid: object.metadata.uid,
        images: decoded.images.into_iter().map(|slot| slot.image).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(api_version: &str, kind: &str, name: &str) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: "u".into(),
        }
    }

    #[test]
    fn item_37_paths_follow_group_version_and_plural_kind() {
        assert_eq!(
            owner_path("team", &owner("apps/v1", "ReplicaSet", "web-5d4f")).unwrap(),
            (
                "replicasets".to_owned(),
                "/apis/apps/v1/namespaces/team/replicasets/web-5d4f".to_owned()
            )
        );
        assert_eq!(
            owner_path("team", &owner("v1", "ReplicationController", "rc"))
                .unwrap()
                .1,
            "/api/v1/namespaces/team/replicationcontrollers/rc"
        );
        assert_eq!(
            owner_path("team", &owner("batch/v1", "CronJob", "nightly"))
                .unwrap()
                .1,
            "/apis/batch/v1/namespaces/team/cronjobs/nightly"
        );
    }

    #[test]
    fn names_that_could_change_the_path_are_refused() {
        for (ns, o) in [
            ("team", owner("apps/v1", "ReplicaSet", "../../secrets/x")),
            ("team", owner("apps/v1", "ReplicaSet", "a?watch=1")),
            ("te/am", owner("apps/v1", "ReplicaSet", "a")),
            ("team", owner("apps/v1/x", "ReplicaSet", "a")),
            ("team", owner("apps/v1", "ReplicaSet", "")),
        ] {
            assert!(owner_path(ns, &o).is_err(), "{ns} {o:?}");
        }
    }

    #[test]
    fn parents_carry_uid_and_all_images() {
        let body =
            br#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"rs","uid":"abc"},
            "spec":{"template":{"spec":{"containers":[{"name":"a","image":"x@sha256:1"}],
            "initContainers":[{"name":"b","image":"y:1"}]}}}}"#;
        let parent = parse_parent(WorkloadKind::ReplicaSet, body).unwrap();
        assert_eq!(parent.uid, "abc");
        assert_eq!(parent.images, vec!["x@sha256:1", "y:1"]);
        assert!(matches!(
            parse_parent(
                WorkloadKind::ReplicaSet,
                br#"{"metadata":{"uid":"a"},"spec":{}}"#
            ),
            Err(LookupError::Decode(_))
        ));
        assert!(parse_parent(WorkloadKind::Pod, b"<html>").is_err());
    }
}
