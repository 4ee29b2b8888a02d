//! The latencies of recent calls, and a percentile of them, for a hedge whose delay is
//! `after = p95`.
//!
//! A ring of the last [`RING`] calls' latencies in microseconds, written with one relaxed add
//! and one store; every [`EVERY`] records, the caller whose record completes the round works
//! the percentile out over the ring (a selection on a copy, on its own stack) and stores it, so
//! reading the delay is one relaxed load. No lock: a record that lands while the percentile is
//! worked out is read either old or new, and both are recent.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// How many calls' latencies are kept: the "recent calls" a percentile is of.
pub const RING: usize = 256;
/// How many calls must have completed before the percentile replaces the `initial` delay.
pub const MIN_SAMPLES: u64 = 100;
/// How often (in records) the percentile is worked out again.
const EVERY: u64 = 32;

#[derive(Debug)]
pub(crate) struct Latencies {
    ring: [AtomicU32; RING],
    /// Records made since the last reset.
    records: AtomicU64,
    /// The percentile over the ring, in nanoseconds; 0 until [`MIN_SAMPLES`] were recorded.
    estimate: AtomicU64,
}

impl Latencies {
    pub(crate) const fn new() -> Self {
        Latencies {
            ring: [const { AtomicU32::new(0) }; RING],
            records: AtomicU64::new(0),
            estimate: AtomicU64::new(0),
        }
    }

    /// Records one call's latency; every [`EVERY`] records, works the percentile `per_mille`
    /// out again.
    #[inline]
    pub(crate) fn record(&self, latency: Duration, per_mille: u32) {
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        // Relaxed (both): the ring is read as a sample; a slot read half-updated is a
        // latency of some recent call either way.
        let n = self.records.fetch_add(1, Relaxed);
        self.ring[(n % RING as u64) as usize].store(micros, Relaxed);
        let recorded = n + 1;
        if recorded >= MIN_SAMPLES && recorded.is_multiple_of(EVERY) {
            self.estimate(recorded, per_mille);
        }
    }

    #[cold]
    fn estimate(&self, recorded: u64, per_mille: u32) {
        let held = recorded.min(RING as u64) as usize;
        let mut copy = [0u32; RING];
        for (slot, value) in copy.iter_mut().zip(&self.ring).take(held) {
            *slot = value.load(Relaxed);
        }
        let sample = &mut copy[..held];
        let micros = percentile(sample, per_mille);
        // At least one microsecond, so 0 keeps meaning "not known yet".
        self.estimate
            .store(u64::from(micros).max(1) * 1_000, Relaxed);
    }

    /// The percentile of the recent calls, once [`MIN_SAMPLES`] completed.
    #[inline]
    pub(crate) fn get(&self) -> Option<Duration> {
        match self.estimate.load(Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// How many calls were recorded since the last reset.
    #[cfg(test)]
    pub(crate) fn recorded(&self) -> u64 {
        self.records.load(Relaxed)
    }

    /// Forgets every latency (a reset, or a new percentile).
    pub(crate) fn clear(&self) {
        self.records.store(0, Relaxed);
        self.estimate.store(0, Relaxed);
    }
}

/// The `per_mille`th per-mille of `sample` (`950`: the 95th percentile), by the nearest-rank
/// method: the smallest value with at least that share of the sample at or below it.
pub(crate) fn percentile(sample: &mut [u32], per_mille: u32) -> u32 {
    if sample.is_empty() {
        return 0;
    }
    let n = sample.len();
    let rank = (n * per_mille as usize).div_ceil(1000).clamp(1, n);
    *sample.select_nth_unstable(rank - 1).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 950), 95);
        assert_eq!(percentile(&mut v, 990), 99);
        assert_eq!(percentile(&mut v, 500), 50);
        assert_eq!(percentile(&mut v, 999), 100);
        assert_eq!(percentile(&mut [7], 950), 7);
        assert_eq!(percentile(&mut [], 950), 0);
    }

    #[test]
    fn unknown_until_enough_calls_then_the_percentile_of_the_last_ones() {
        let l = Latencies::new();
        for _ in 0..MIN_SAMPLES - 1 {
            l.record(Duration::from_millis(10), 950);
        }
        assert_eq!(l.get(), None, "fewer than MIN_SAMPLES calls");
        // Worked out at the first multiple of 32 records from MIN_SAMPLES on: the 128th.
        for _ in MIN_SAMPLES - 1..127 {
            l.record(Duration::from_millis(10), 950);
        }
        assert_eq!(l.get(), None, "127 records");
        l.record(Duration::from_millis(10), 950);
        assert_eq!(l.get(), Some(Duration::from_millis(10)), "the 128th record");
        // Enough calls, 4% of them slow: the 95th percentile is a fast one's.
        l.clear();
        for i in 0..RING as u64 {
            let ms = if i % 25 == 0 { 500 } else { 10 };
            l.record(Duration::from_millis(ms), 950);
        }
        assert_eq!(l.get(), Some(Duration::from_millis(10)));
        // The ring holds the last RING calls: once they are all slow, so is the percentile.
        for _ in 0..RING {
            l.record(Duration::from_millis(40), 950);
        }
        assert_eq!(l.get(), Some(Duration::from_millis(40)));
        assert_eq!(l.recorded(), 2 * RING as u64);
    }
}
