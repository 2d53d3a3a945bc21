//! Validations in flight, shared: when several requests (or several images of one request)
//! need the same image judged by the same rule and validator at the same time, one of them
//! asks the registry and the others wait for its outcome instead of repeating the work.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::Outcome;
use crate::cache::CacheKey;

/// One validation in progress; waiters sleep on `ready` until `outcome` is set.
struct Flight<T> {
    outcome: Mutex<Option<T>>,
    ready: Condvar,
}

/// The validations in progress, by what they judge; `T` is what a validation concludes.
pub struct InFlight<T = Outcome> {
    flights: Mutex<HashMap<CacheKey, Arc<Flight<T>>>>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> InFlight<T> {
    pub fn new() -> InFlight<T> {
        InFlight::default()
    }

    /// Runs `validate` unless an identical validation is already running, in which case its
    /// outcome is awaited (until `deadline`; then `None` is returned and the caller decides).
    pub fn run(
        &self,
        key: &CacheKey,
        deadline: Instant,
        validate: impl FnOnce() -> T,
    ) -> Option<T> {
        let (flight, leader) = {
            let Ok(mut flights) = self.flights.lock() else {
                return Some(validate());
            };
            match flights.get(key) {
                Some(flight) => (Arc::clone(flight), false),
                None => {
                    let flight = Arc::new(Flight {
                        outcome: Mutex::new(None),
                        ready: Condvar::new(),
                    });
                    flights.insert(key.clone(), Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if leader {
            let outcome = validate();
            if let Ok(mut slot) = flight.outcome.lock() {
                *slot = Some(outcome.clone());
            }
            flight.ready.notify_all();
            if let Ok(mut flights) = self.flights.lock() {
                flights.remove(key);
            }
            return Some(outcome);
        }
        let mut slot = flight.outcome.lock().ok()?;
        loop {
            if let Some(outcome) = slot.as_ref() {
                return Some(outcome.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            slot = flight.ready.wait_timeout(slot, left).ok()?.0;
        }
    }

    /// Validations currently running.
    pub fn len(&self) -> usize {
        self.flights.lock().map_or(0, |f| f.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    #[test]
    fn identical_validations_run_once() {
        let in_flight = InFlight::new();
        let runs = AtomicUsize::new(0);
        let started = Barrier::new(2);
        let key = CacheKey::new("img", "judge");
        let deadline = Instant::now() + Duration::from_secs(10);
        let outcomes: Vec<Option<Outcome>> = std::thread::scope(|scope| {
            let leader = scope.spawn(|| {
                in_flight.run(&key, deadline, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started.wait();
                    // Give the follower time to find the flight and wait on it.
                    std::thread::sleep(Duration::from_millis(200));
                    Outcome::Verified {
                        digest: Some("sha256:aa".into()),
                    }
                })
            });
            started.wait();
            let follower = scope.spawn(|| {
                in_flight.run(&key, deadline, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Outcome::Verified { digest: None }
                })
            });
            vec![leader.join().unwrap(), follower.join().unwrap()]
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let expected = Some(Outcome::Verified {
            digest: Some("sha256:aa".into()),
        });
        assert_eq!(outcomes, vec![expected.clone(), expected]);
        assert!(in_flight.is_empty());
    }

    #[test]
    fn waiting_ends_at_the_deadline() {
        let in_flight = InFlight::new();
        let key = CacheKey::new("img", "judge");
        let started = Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                in_flight.run(&key, Instant::now() + Duration::from_secs(10), || {
                    started.wait();
                    std::thread::sleep(Duration::from_millis(500));
                    Outcome::Verified { digest: None }
                })
            });
            started.wait();
            let before = Instant::now();
            let waited = in_flight.run(&key, before + Duration::from_millis(50), || {
                Outcome::Verified { digest: None }
            });
            assert_eq!(waited, None);
            assert!(before.elapsed() < Duration::from_millis(400));
        });
    }
}
