//! Latency histogram with fixed log-linear buckets (the HDR histogram idea): recording is one
//! array increment, memory is constant, and every reported value is within 0.4 % of the truth.

use std::time::Duration;

/// Values below `1 << SUB_BITS` nanoseconds get one bucket each; above, each power of two is
/// split into `1 << (SUB_BITS - 1)` buckets, so a bucket is at most 1/128 of its value wide.
const SUB_BITS: u32 = 8;
const SUB_COUNT: u64 = 1 << SUB_BITS;
const HALF_SUB_COUNT: u64 = SUB_COUNT / 2;
/// Latencies are clamped to about 18 minutes; nothing in a benchmark run takes longer.
const MAX_TRACKED_NANOS: u64 = (1 << 40) - 1;
const BUCKETS: usize = bucket_index(MAX_TRACKED_NANOS) + 1;

/// Counts of latencies per bucket, plus the exact extremes.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    min_nanos: u64,
    max_nanos: u64,
    sum_nanos: u128,
}

const fn bucket_index(nanos: u64) -> usize {
    if nanos < SUB_COUNT {
        return nanos as usize;
    }
    let msb = 63 - nanos.leading_zeros();
    let shift = msb + 1 - SUB_BITS;
    let mantissa = nanos >> shift;
    (shift as u64 * HALF_SUB_COUNT + mantissa) as usize
}

/// The largest value that falls into bucket `index`, so percentiles never flatter the server.
fn bucket_upper_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB_COUNT {
        return index;
    }
    let shift = index / HALF_SUB_COUNT - 1;
    let mantissa = index - shift * HALF_SUB_COUNT;
    ((mantissa + 1) << shift) - 1
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            min_nanos: u64::MAX,
            max_nanos: 0,
            sum_nanos: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos())
            .unwrap_or(MAX_TRACKED_NANOS)
            .min(MAX_TRACKED_NANOS);
        if let Some(count) = self.counts.get_mut(bucket_index(nanos)) {
            *count += 1;
        }
        self.total += 1;
        self.min_nanos = self.min_nanos.min(nanos);
        self.max_nanos = self.max_nanos.max(nanos);
        self.sum_nanos += u128::from(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min_nanos = self.min_nanos.min(other.min_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
        self.sum_nanos += other.sum_nanos;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latency below or at which `quantile` (0.0..=1.0) of the recorded requests fall.
    pub fn quantile(&self, quantile: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bound = bucket_upper_bound(index).clamp(self.min_nanos, self.max_nanos);
                return Duration::from_nanos(bound);
            }
        }
        self.max()
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_nanos)
    }

    pub fn mean(&self) -> Duration {
        match self.total {
            0 => Duration::ZERO,
            n => Duration::from_nanos(u64::try_from(self.sum_nanos / u128::from(n)).unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        for nanos in (0..5_000_000u64).step_by(7).chain([MAX_TRACKED_NANOS]) {
            let index = bucket_index(nanos);
            assert!(
                bucket_upper_bound(index) >= nanos,
                "{nanos} above its bucket"
            );
            if index > 0 {
                assert!(
                    bucket_upper_bound(index - 1) < nanos,
                    "{nanos} below its bucket"
                );
            }
            let width = bucket_upper_bound(index) - nanos;
            assert!(
                width * 128 <= nanos.max(128),
                "bucket of {nanos} is {width} wide"
            );
        }
        assert_eq!(bucket_index(MAX_TRACKED_NANOS), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::default();
        for micros in 1..=1000u64 {
            h.record(Duration::from_micros(micros));
        }
        let p50 = h.quantile(0.5).as_micros();
        let p99 = h.quantile(0.99).as_micros();
        assert!((500..=504).contains(&p50), "p50 {p50}");
        assert!((990..=998).contains(&p99), "p99 {p99}");
        assert_eq!(h.max(), Duration::from_micros(1000));
        assert_eq!(h.quantile(1.0), Duration::from_micros(1000));
        assert_eq!(h.count(), 1000);
        assert_eq!(h.mean().as_nanos(), 500_500);
    }

    #[test]
    fn merging_adds_counts_and_extremes() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.max(), Duration::from_millis(3));
        let lowest = a.quantile(0.0).as_nanos();
        assert!((10_000..=10_080).contains(&lowest), "lowest {lowest}");
    }

    #[test]
    fn empty_and_huge_values_do_not_panic() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.99), Duration::ZERO);
        h.record(Duration::from_secs(1_000_000));
        assert_eq!(h.max(), Duration::from_nanos(MAX_TRACKED_NANOS));
    }
}
