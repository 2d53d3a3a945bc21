//! Timers for the event loop. mio has none, so each connection's next deadline (handshake,
//! request read, idle keep-alive, drain) is pushed into a min-heap and the loop's poll
//! timeout is the time to the earliest one.
//!
//! Entries are never removed when a connection moves on: each carries the connection's
//! deadline generation, and a popped entry whose generation is stale is simply ignored.
//! The heap therefore holds at most a few entries per event, and is compacted when stale
//! entries outnumber live connections by far.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// One armed timer: a connection slot and the generation of its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    pub slot: usize,
    pub generation: u64,
}

/// A min-heap of (instant, timer).
#[derive(Default)]
pub struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl Deadlines {
    pub fn new() -> Deadlines {
        Deadlines::default()
    }

    /// Arms a timer; the caller remembers `timer.generation` to recognise it.
    pub fn arm(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// How long the loop may sleep before the earliest timer is due.
    pub fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Removes and returns every timer due at `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(Reverse((at, timer))) = self.heap.peek() {
            if *at > now {
                break;
            }
            due.push(*timer);
            self.heap.pop();
        }
        due
    }

    /// Drops stale entries when the heap has grown far past the number of live timers.
    pub fn compact(&mut self, live: usize, is_live: impl Fn(&Timer) -> bool) {
        if self.heap.len() > 64 && self.heap.len() > live.saturating_mul(4) {
            self.heap.retain(|Reverse((_, t))| is_live(t));
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_timer_drives_the_poll_timeout() {
        let now = Instant::now();
        let mut d = Deadlines::new();
        assert_eq!(d.poll_timeout(now), None);
        d.arm(
            now + Duration::from_secs(5),
            Timer {
                slot: 1,
                generation: 1,
            },
        );
        d.arm(
            now + Duration::from_secs(2),
            Timer {
                slot: 2,
                generation: 1,
            },
        );
        assert_eq!(d.poll_timeout(now), Some(Duration::from_secs(2)));
        assert!(d.expired(now + Duration::from_secs(1)).is_empty());
        assert_eq!(
            d.expired(now + Duration::from_secs(3)),
            vec![Timer {
                slot: 2,
                generation: 1
            }]
        );
        assert_eq!(
            d.poll_timeout(now + Duration::from_secs(3)),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn overdue_timers_give_a_zero_timeout() {
        let now = Instant::now();
        let mut d = Deadlines::new();
        d.arm(
            now,
            Timer {
                slot: 0,
                generation: 0,
            },
        );
        assert_eq!(
            d.poll_timeout(now + Duration::from_secs(1)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn compaction_keeps_only_live_timers() {
        let now = Instant::now();
        let mut d = Deadlines::new();
        for g in 0..100 {
            d.arm(
                now,
                Timer {
                    slot: 0,
                    generation: g,
                },
            );
        }
        d.compact(1, |t| t.generation == 99);
        assert_eq!(d.len(), 1);
    }
}
