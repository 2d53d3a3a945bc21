//! Metric primitives on atomics (counter, gauge, fixed-bucket histogram) and labelled
//! families that find-or-insert their series by label values.
//!
//! Recording never allocates once a series exists: the lookup compares borrowed label
//! values with the stored ones. Each family holds at most [`MAX_SERIES_PER_FAMILY`] series so
//! memory stays bounded even if a caller were to pass unbounded label values.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Upper bound on the series of one family. Label values come from a fixed set or from the
/// configuration, so reaching it means a bug; new label sets are then dropped rather than
/// growing memory without limit.
pub const MAX_SERIES_PER_FAMILY: usize = 4096;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn new() -> Counter {
        Counter::default()
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// An integer level that goes up and down (open connections, cache entries).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn new() -> Gauge {
        Gauge::default()
    }

    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Decrements but never below zero: an unmatched close must not show a negative level.
    pub fn dec(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                (v > 0).then(|| v - 1)
            });
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram with fixed upper bounds (inclusive, like Prometheus' `le`). Bucket counts are
/// stored per bucket and made cumulative when read, so `count` always equals the `+Inf`
/// bucket.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One counter per bound plus a last one for values above every bound (`+Inf`).
    counts: Box<[AtomicU64]>,
    /// The f64 sum, stored as its bits and updated by compare-and-swap.
    sum_bits: AtomicU64,
}

/// A consistent-enough reading of a histogram for the exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, ending with `(+Inf, count)`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// `bounds` must be sorted ascending and finite; `+Inf` is implicit.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        let index = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        if let Some(bucket) = self.counts.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(self.counts.len());
        let bounds = self.bounds.iter().copied().chain([f64::INFINITY]);
        for (bound, bucket) in bounds.zip(self.counts.iter()) {
            cumulative = cumulative.saturating_add(bucket.load(Ordering::Relaxed));
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            buckets,
            sum: f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
            count: cumulative,
        }
    }
}

/// One labelled series of a family.
#[derive(Debug)]
pub struct Series<T, const N: usize> {
    pub label_values: [Box<str>; N],
    /// Unix time in seconds when this label set first appeared (the `_created` gauges).
    pub created: f64,
    pub metric: T,
}

/// A family of series sharing label names; `N` is the number of labels, checked at compile
/// time at every recording site.
#[derive(Debug)]
pub struct Family<T, const N: usize> {
    label_names: [&'static str; N],
    make: fn() -> T,
    series: Mutex<Vec<Series<T, N>>>,
}

impl<T, const N: usize> Family<T, N> {
    /// `make` builds the metric of a new series (e.g. a histogram with its buckets).
    pub fn new(label_names: [&'static str; N], make: fn() -> T) -> Family<T, N> {
        Family {
            label_names,
            make,
            series: Mutex::new(Vec::new()),
        }
    }

    pub fn label_names(&self) -> &[&'static str; N] {
        &self.label_names
    }

    /// Runs `record` on the series with these label values, creating it at first use.
    /// Does nothing if the family is full (see [`MAX_SERIES_PER_FAMILY`]).
    pub fn with(&self, label_values: [&str; N], record: impl FnOnce(&T)) {
        let mut series = self.lock();
        let existing = series.iter().find(|s| {
            s.label_values
                .iter()
                .zip(label_values.iter())
                .all(|(stored, wanted)| **stored == **wanted)
        });
        if let Some(found) = existing {
            record(&found.metric);
            return;
        }
        if series.len() >= MAX_SERIES_PER_FAMILY {
            return;
        }
        let created = Series {
            label_values: label_values.map(Box::from),
            created: unix_now(),
            metric: (self.make)(),
        };
        record(&created.metric);
        series.push(created);
    }

    /// Visits every series in creation order (the exposition order).
    pub fn for_each(&self, mut visit: impl FnMut(&Series<T, N>)) {
        for series in self.lock().iter() {
            visit(series);
        }
    }

    /// A poisoned lock only means another thread panicked while holding it; the atomics
    /// and the vector are still valid, so carry on rather than lose metrics.
    fn lock(&self) -> MutexGuard<'_, Vec<Series<T, N>>> {
        self.series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Seconds since the Unix epoch as a float (0 if the clock is before 1970).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    static BOUNDS: [f64; 3] = [0.1, 1.0, 10.0];

    #[test]
    fn histogram_buckets_are_inclusive_and_cumulative() {
        let h = Histogram::new(&BOUNDS);
        for v in [0.05, 0.1, 0.5, 1.0, 7.0, 100.0] {
            h.observe(v);
        }
        let snap = h.snapshot();
        assert_eq!(
            snap.buckets,
            vec![(0.1, 2), (1.0, 4), (10.0, 5), (f64::INFINITY, 6)]
        );
        assert_eq!(snap.count, 6);
        assert!((snap.sum - 108.65).abs() < 1e-9, "sum {}", snap.sum);
    }

    #[test]
    fn histogram_puts_nan_in_the_inf_bucket_only() {
        let h = Histogram::new(&BOUNDS);
        h.observe(f64::NAN);
        let snap = h.snapshot();
        assert_eq!(snap.buckets.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(snap.buckets.first(), Some(&(0.1, 0)));
    }

    #[test]
    fn gauge_never_goes_below_zero() {
        let g = Gauge::new();
        g.inc();
        g.dec();
        g.dec();
        assert_eq!(g.get(), 0);
        g.set(5);
        g.dec();
        assert_eq!(g.get(), 4);
    }

    #[test]
    fn family_finds_existing_series_and_keeps_creation_order() {
        let f: Family<Counter, 2> = Family::new(["a", "b"], Counter::new);
        f.with(["x", "1"], Counter::inc);
        f.with(["y", "1"], Counter::inc);
        f.with(["x", "1"], Counter::inc);
        let mut seen = Vec::new();
        f.for_each(|s| seen.push((s.label_values.clone(), s.metric.get())));
        assert_eq!(
            seen,
            vec![
                ([Box::from("x"), Box::from("1")], 2),
                ([Box::from("y"), Box::from("1")], 1)
            ]
        );
    }

    #[test]
    fn family_is_bounded() {
        let f: Family<Counter, 1> = Family::new(["a"], Counter::new);
        for i in 0..MAX_SERIES_PER_FAMILY + 10 {
            f.with([&i.to_string()], Counter::inc);
        }
        let mut n = 0;
        f.for_each(|_| n += 1);
        assert_eq!(n, MAX_SERIES_PER_FAMILY);
    }

    #[test]
    fn counters_are_shared_across_threads() {
        let f: Family<Counter, 1> = Family::new(["a"], Counter::new);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        f.with(["k"], Counter::inc);
                    }
                });
            }
        });
        let mut total = 0;
        f.for_each(|s| total += s.metric.get());
        assert_eq!(total, 4000);
    }
}
