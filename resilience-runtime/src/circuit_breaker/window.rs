//! The closed-state windows of outcomes a breaker decides on: the last N calls (a ring of
//! outcome bits) or the last D of time (ten buckets of D/10).
//!
//! Every operation here is a handful of `Relaxed` atomics: a window is a statistic, and the
//! breaker's decisions are serialised by the state word, not by the window. What the atomics do
//! guarantee is that the aggregate counters always equal what the bits and buckets hold, because
//! an aggregate changes only by the amount that one read-modify-write observed flipping.
//! No tokio here: time arrives as `u64` ticks (nanoseconds), so the file can be model-checked.

use std::sync::atomic::Ordering::Relaxed;

use crate::sync::{AtomicU64, loom_const, zeroed};

/// The most calls a count window can hold.
pub const MAX_WINDOW_CALLS: u32 = 1000;

const PLANE_WORDS: usize = (MAX_WINDOW_CALLS as usize).div_ceil(64);

/// Number of buckets a time window is split into.
pub(crate) const BUCKETS: usize = 10;

/// What a window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Calls recorded in the window.
    pub(crate) calls: u64,
    /// Of which failures.
    pub(crate) failures: u64,
    /// Of which slow (slow successes and slow failures alike).
    pub(crate) slow: u64,
}

/// Where a recorded outcome landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Recorded; the window held this many calls right after it.
    Yes { calls: u64 },
    /// Not recorded: the outcome's time is already outside a time window (a call that finished
    /// before a concurrent one moved the window on).
    Expired,
}

/// An aggregate that may be decremented before the matching increment lands (see
/// [`CountWindow::clear`]): it wraps, and reads clamp a transient negative to 0.
#[inline]
fn read_aggregate(a: &AtomicU64) -> u64 {
    (a.load(Relaxed) as i64).max(0) as u64
}

/// The last `size` calls, as a ring of outcome bits: one plane of failure bits and one of slow
/// bits, `MAX_WINDOW_CALLS` bits each, so the window needs no allocation and is
/// `const`-constructible.
///
/// A call takes the next slot with one `fetch_add` on the ring index, then sets or clears its
/// slot's bits. A bit is written only when it flips, and the aggregate only then: a success
/// that overwrites a success writes nothing but the index.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u32,
    /// `u64::MAX / size + 1`: turns `index % size` into two multiplications (Lemire's fastmod),
    /// because a division would cost more than the whole rest of the success path.
    fastmod: u64,
    /// Calls recorded since the last clear. The slot is computed from its low 32 bits, so once
    /// every 2^32 calls one round of the ring is reordered; the aggregates stay exact.
    next: AtomicU64,
    /// Calls recorded before the last clear, so the lifetime total survives clears.
    folded: AtomicU64,
    failure_plane: [AtomicU64; PLANE_WORDS],
    slow_plane: [AtomicU64; PLANE_WORDS],
    failures: AtomicU64,
    slow: AtomicU64,
}

impl CountWindow {
    loom_const! {
        /// A window of the last `size` calls; `size` is in `1..=MAX_WINDOW_CALLS` (the builder
        /// checks, and clamps here keep the core safe from a bad value).
        pub(crate) const fn new(size: u32) -> Self {
            let size = if size == 0 {
                1
            } else if size > MAX_WINDOW_CALLS {
                MAX_WINDOW_CALLS
            } else {
                size
            };
            CountWindow {
                size,
                fastmod: (u64::MAX / size as u64).wrapping_add(1),
                next: AtomicU64::new(0),
                folded: AtomicU64::new(0),
                failure_plane: zeroed(),
                slow_plane: zeroed(),
                failures: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            }
        }
    }

    /// `index % size`, for any 32-bit index (Lemire, Kaser, Kurz: "Faster remainder by direct
    /// computation", 2019).
    #[inline]
    fn slot(&self, index: u64) -> usize {
        let low = self.fastmod.wrapping_mul(index as u32 as u64);
        ((low as u128 * self.size as u128) >> 64) as usize
    }

    /// Sets the slot's bit in `plane` to `value`, keeping `aggregate` equal to the plane's
    /// population. The first load skips the write when the bit already has the value.
    #[inline]
    fn put(plane: &AtomicU64, aggregate: &AtomicU64, bit: u64, value: bool) {
        if (plane.load(Relaxed) & bit != 0) == value {
            return;
        }
        if value {
            // Only the call that flipped the bit (seen in the returned old value) counts it.
            if plane.fetch_or(bit, Relaxed) & bit == 0 {
                aggregate.fetch_add(1, Relaxed);
            }
        } else if plane.fetch_and(!bit, Relaxed) & bit != 0 {
            aggregate.fetch_sub(1, Relaxed);
        }
    }

    /// Records one outcome in the next slot, overwriting the call `size` calls ago.
    /// `track_slow` is false when the breaker has no `slow` setting: the slow plane is then all
    /// zeros and is not even read.
    #[inline]
    pub(crate) fn record(&self, failed: bool, slow: bool, track_slow: bool) -> u64 {
        let index = self.next.fetch_add(1, Relaxed);
        let slot = self.slot(index);
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        Self::put(&self.failure_plane[word], &self.failures, bit, failed);
        if track_slow {
            Self::put(&self.slow_plane[word], &self.slow, bit, slow);
        }
        (index + 1).min(self.size as u64)
    }

    pub(crate) fn tally(&self) -> Tally {
        let calls = self.next.load(Relaxed).min(self.size as u64);
        Tally {
            calls,
            failures: read_aggregate(&self.failures).min(calls),
            slow: read_aggregate(&self.slow).min(calls),
        }
    }

    /// Calls ever recorded (across clears).
    pub(crate) fn lifetime_calls(&self) -> u64 {
        self.folded.load(Relaxed) + self.next.load(Relaxed)
    }

    /// Empties the window. A call recording concurrently may land in the emptied window; the
    /// aggregates stay equal to the bits because every bit is taken out with `swap` and counted
    /// out by exactly the number of bits it held.
    pub(crate) fn clear(&self) {
        let recorded = self.next.swap(0, Relaxed);
        self.folded.fetch_add(recorded, Relaxed);
        for (plane, aggregate) in [
            (&self.failure_plane, &self.failures),
            (&self.slow_plane, &self.slow),
        ] {
            for word in plane {
                let bits = word.swap(0, Relaxed).count_ones() as u64;
                if bits != 0 {
                    aggregate.fetch_sub(bits, Relaxed);
                }
            }
        }
    }

    /// Empties the window and forgets the lifetime total.
    pub(crate) fn reset(&self) {
        self.clear();
        self.folded.store(0, Relaxed);
    }
}

/// One tenth of a time window.
#[derive(Debug)]
struct Bucket {
    /// Which bucket period (`tick / bucket_len + 1`; 0 = never used) the counts belong to.
    period: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Bucket {
    loom_const! {
        const fn new() -> Self {
            Bucket {
                period: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            }
        }
    }

    #[cfg(not(resilience_loom))]
    const fn ring() -> [Bucket; BUCKETS] {
        [const { Bucket::new() }; BUCKETS]
    }

    #[cfg(resilience_loom)]
    fn ring() -> [Bucket; BUCKETS] {
        std::array::from_fn(|_| Bucket::new())
    }
}

/// The calls of the last `BUCKETS` bucket periods: a ring of buckets, each recycled when time
/// reaches the period it will hold next. Aggregates over the live buckets are kept beside them,
/// so reading the window is three loads, not a sum.
///
/// The window covers between 9/10 and 10/10 of its duration, depending on how far into the
/// current bucket time is (the usual bucketed-window approximation, as in resilience4j).
#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_len: u64,
    buckets: [Bucket; BUCKETS],
    /// The newest period any call has reached; buckets older than it by `BUCKETS` are recycled.
    head: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
    /// Calls counted out of recycled buckets, so the lifetime total survives recycling.
    retired: AtomicU64,
}

impl TimeWindow {
    loom_const! {
        /// A window of the last `duration` ticks, in buckets of a tenth of it (at least 1 tick).
        pub(crate) const fn new(duration: u64) -> Self {
            let bucket_len = duration / BUCKETS as u64;
            TimeWindow {
                bucket_len: if bucket_len == 0 { 1 } else { bucket_len },
                buckets: Bucket::ring(),
                head: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                slow: AtomicU64::new(0),
                retired: AtomicU64::new(0),
            }
        }
    }

    #[inline]
    fn period(&self, now: u64) -> u64 {
        now / self.bucket_len + 1
    }

    /// Takes a bucket's counts out of the window, for reuse by `period`. Only the thread whose
    /// CAS moves the bucket's period forward empties it, so a bucket is emptied once per period.
    fn recycle(&self, bucket: &Bucket, period: u64) {
        let mut current = bucket.period.load(Relaxed);
        while current < period {
            match bucket
                .period
                .compare_exchange_weak(current, period, Relaxed, Relaxed)
            {
                Ok(_) => {
                    let calls = bucket.calls.swap(0, Relaxed);
                    let failures = bucket.failures.swap(0, Relaxed);
                    let slow = bucket.slow.swap(0, Relaxed);
                    self.retired.fetch_add(calls, Relaxed);
                    self.calls.fetch_sub(calls, Relaxed);
                    self.failures.fetch_sub(failures, Relaxed);
                    self.slow.fetch_sub(slow, Relaxed);
                    return;
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Moves the window to `now`: recycles every bucket that time has moved past (at most all
    /// ten, however long the breaker sat idle).
    fn advance(&self, now: u64) -> u64 {
        let period = self.period(now);
        let head = self.head.fetch_max(period, Relaxed);
        if head < period {
            // The periods between the old head and now, at most the last ten of them.
            let first = (head + 1).max(period.saturating_sub(BUCKETS as u64 - 1));
            for p in first..=period {
                self.recycle(&self.buckets[(p % BUCKETS as u64) as usize], p);
            }
        }
        period
    }

    /// Records one outcome at time `now`.
    pub(crate) fn record(&self, now: u64, failed: bool, slow: bool) -> Recorded {
        let period = self.advance(now);
        let bucket = &self.buckets[(period % BUCKETS as u64) as usize];
        // Another call may have moved the head to this period and not yet recycled the bucket.
        self.recycle(bucket, period);
        if bucket.period.load(Relaxed) != period {
            // A concurrent call moved the window past `now` already: this outcome is history.
            return Recorded::Expired;
        }
        bucket.calls.fetch_add(1, Relaxed);
        let calls = self.calls.fetch_add(1, Relaxed).wrapping_add(1);
        if failed {
            bucket.failures.fetch_add(1, Relaxed);
            self.failures.fetch_add(1, Relaxed);
        }
        if slow {
            bucket.slow.fetch_add(1, Relaxed);
            self.slow.fetch_add(1, Relaxed);
        }
        Recorded::Yes {
            calls: (calls as i64).max(0) as u64,
        }
    }

    /// The window's counts at time `now`.
    pub(crate) fn tally(&self, now: u64) -> Tally {
        self.advance(now);
        let calls = read_aggregate(&self.calls);
        Tally {
            calls,
            failures: read_aggregate(&self.failures).min(calls),
            slow: read_aggregate(&self.slow).min(calls),
        }
    }

    /// Calls ever recorded (across recycling and clears).
    pub(crate) fn lifetime_calls(&self) -> u64 {
        let live: u64 = self.buckets.iter().map(|b| b.calls.load(Relaxed)).sum();
        self.retired.load(Relaxed) + live
    }

    /// Empties the window: every bucket is counted out as if recycled.
    pub(crate) fn clear(&self) {
        for bucket in &self.buckets {
            let calls = bucket.calls.swap(0, Relaxed);
            let failures = bucket.failures.swap(0, Relaxed);
            let slow = bucket.slow.swap(0, Relaxed);
            self.retired.fetch_add(calls, Relaxed);
            self.calls.fetch_sub(calls, Relaxed);
            self.failures.fetch_sub(failures, Relaxed);
            self.slow.fetch_sub(slow, Relaxed);
        }
    }

    /// Empties the window and forgets the lifetime total.
    pub(crate) fn reset(&self) {
        self.clear();
        self.retired.store(0, Relaxed);
    }
}

/// The window a breaker was built with.
#[derive(Debug)]
pub(crate) enum Window {
    /// The last N calls.
    Count(CountWindow),
    /// The last D of time.
    Time(TimeWindow),
}

#[cfg(all(test, not(resilience_loom)))]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn fastmod_matches_the_remainder() {
        for size in [1, 2, 3, 7, 64, 100, 999, 1000] {
            let w = CountWindow::new(size);
            for i in (0..5000u64).chain([u32::MAX as u64 - 3, u32::MAX as u64]) {
                assert_eq!(
                    w.slot(i),
                    (i as u32 % size) as usize,
                    "size {size}, index {i}"
                );
            }
        }
    }

    #[test]
    fn count_window_holds_the_last_n_outcomes() {
        let w = CountWindow::new(4);
        w.record(true, false, true);
        w.record(true, true, true);
        assert_eq!(
            w.tally(),
            Tally {
                calls: 2,
                failures: 2,
                slow: 1
            }
        );
        for _ in 0..2 {
            w.record(false, false, true);
        }
        assert_eq!(
            w.tally(),
            Tally {
                calls: 4,
                failures: 2,
                slow: 1
            }
        );
        // The fifth call overwrites the first failure, the sixth the slow failure.
        w.record(false, false, true);
        assert_eq!(
            w.tally(),
            Tally {
                calls: 4,
                failures: 1,
                slow: 1
            }
        );
        w.record(false, false, true);
        assert_eq!(
            w.tally(),
            Tally {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.lifetime_calls(), 6);
    }

    #[test]
    fn count_window_clear_empties_it_and_keeps_the_lifetime_total() {
        let w = CountWindow::new(1000);
        for i in 0..1500 {
            w.record(i % 3 == 0, i % 5 == 0, true);
        }
        assert_eq!(w.tally().calls, 1000);
        w.clear();
        assert_eq!(w.tally(), Tally::default());
        assert_eq!(w.lifetime_calls(), 1500);
        w.record(true, false, true);
        assert_eq!(
            w.tally(),
            Tally {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        w.reset();
        assert_eq!(w.lifetime_calls(), 0);
    }

    #[test]
    fn count_window_aggregates_stay_exact_under_contention() {
        let w = CountWindow::new(100);
        std::thread::scope(|s| {
            for t in 0..4 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000 {
                        w.record((i + t) % 2 == 0, i % 7 == 0, true);
                    }
                });
            }
        });
        let ones = |plane: &[AtomicU64]| {
            plane
                .iter()
                .map(|b| b.load(Relaxed).count_ones() as u64)
                .sum::<u64>()
        };
        let t = w.tally();
        assert_eq!(t.calls, 100);
        assert_eq!(t.failures, ones(&w.failure_plane));
        assert_eq!(t.slow, ones(&w.slow_plane));
        assert_eq!(w.lifetime_calls(), 40_000);
    }

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn time_window_forgets_buckets_older_than_its_duration() {
        let w = TimeWindow::new(10 * SECOND);
        w.record(1, true, false);
        w.record(SECOND / 2, false, true);
        w.record(5 * SECOND, true, false);
        assert_eq!(
            w.tally(5 * SECOND),
            Tally {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 10s the bucket [0s, 1s) is recycled; [5s, 6s) stays.
        assert_eq!(
            w.tally(10 * SECOND),
            Tally {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.tally(15 * SECOND), Tally::default());
        assert_eq!(w.lifetime_calls(), 3);
    }

    #[test]
    fn time_window_survives_a_long_idle_gap() {
        let w = TimeWindow::new(10 * SECOND);
        for i in 0..10 {
            w.record(i * SECOND + 1, true, false);
        }
        assert_eq!(w.tally(9 * SECOND + 1).calls, 10);
        assert_eq!(
            w.record(1000 * SECOND, false, false),
            Recorded::Yes { calls: 1 }
        );
        assert_eq!(
            w.tally(1000 * SECOND),
            Tally {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.lifetime_calls(), 11);
    }

    #[test]
    fn time_window_drops_an_outcome_already_outside_it() {
        let w = TimeWindow::new(10 * SECOND);
        w.record(20 * SECOND, false, false);
        assert_eq!(w.record(SECOND, true, false), Recorded::Expired);
        assert_eq!(
            w.tally(20 * SECOND),
            Tally {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_clear_keeps_the_lifetime_total() {
        let w = TimeWindow::new(10 * SECOND);
        w.record(1, true, true);
        w.record(2, false, false);
        w.clear();
        assert_eq!(w.tally(3), Tally::default());
        assert_eq!(w.lifetime_calls(), 2);
        w.reset();
        assert_eq!(w.lifetime_calls(), 0);
    }
}

/// Model checks of the windows' aggregates (`--cfg resilience_loom`; see `.ci/run`).
#[cfg(all(test, resilience_loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    fn ones(plane: &[AtomicU64]) -> u64 {
        plane
            .iter()
            .map(|w| u64::from(w.load(Relaxed).count_ones()))
            .sum()
    }

    #[test]
    fn loom_count_window_aggregates_equal_its_bits_when_records_race_a_clear() {
        loom::model(|| {
            let w = Arc::new(CountWindow::new(4));
            let recorders: Vec<_> = [(true, true), (true, false)]
                .into_iter()
                .map(|(failed, slow)| {
                    let w = w.clone();
                    thread::spawn(move || {
                        w.record(failed, slow, true);
                    })
                })
                .collect();
            w.clear();
            for t in recorders {
                t.join().expect("no panic");
            }
            assert_eq!(w.failures.load(Relaxed), ones(&w.failure_plane));
            assert_eq!(w.slow.load(Relaxed), ones(&w.slow_plane));
            assert_eq!(w.lifetime_calls(), 2);
            let t = w.tally();
            assert!(t.failures <= t.calls && t.slow <= t.calls);
        });
    }

    #[test]
    fn loom_time_window_aggregates_equal_its_buckets_when_a_record_races_a_recycle() {
        loom::model(|| {
            // Buckets of 1 tick: ticks 1 and 11 fall in the same bucket, ten periods apart.
            let w = Arc::new(TimeWindow::new(10));
            let old = {
                let w = w.clone();
                thread::spawn(move || w.record(1, true, false))
            };
            let new = w.record(11, false, true);
            let old = old.join().expect("no panic");
            assert!(matches!(new, Recorded::Yes { .. }));
            let sum = |f: fn(&Bucket) -> &AtomicU64| -> u64 {
                w.buckets.iter().map(|b| f(b).load(Relaxed)).sum()
            };
            assert_eq!(w.calls.load(Relaxed), sum(|b| &b.calls));
            assert_eq!(w.failures.load(Relaxed), sum(|b| &b.failures));
            assert_eq!(w.slow.load(Relaxed), sum(|b| &b.slow));
            let recorded = 1 + u64::from(matches!(old, Recorded::Yes { .. }));
            assert_eq!(w.lifetime_calls(), recorded);
        });
    }

    /// Known limitation, found by this test: a call recording at tick 1 that is preempted
    /// between its check of the bucket's period and its increments, while another call
    /// recycles that bucket for tick 11, leaves part of its record (its failure, say) in the
    /// new period and has the rest counted out: the window at tick 11 then holds a failure that
    /// is not its own. It takes a thread stalled for a whole window duration between its clock
    /// read and its record; fixing it needs the period and the counts of a bucket in one word.
    #[test]
    #[ignore = "known limitation: a record stalled across a whole window can tear across a recycle"]
    fn loom_time_window_holds_no_part_of_a_record_from_an_expired_period() {
        loom::model(|| {
            let w = Arc::new(TimeWindow::new(10));
            let old = {
                let w = w.clone();
                thread::spawn(move || w.record(1, true, false))
            };
            w.record(11, false, true);
            old.join().expect("no panic");
            let t = w.tally(11);
            assert!(
                t == Tally {
                    calls: 1,
                    failures: 0,
                    slow: 1
                } || t
                    == Tally {
                        calls: 2,
                        failures: 1,
                        slow: 1
                    },
                "{t:?}"
            );
        });
    }
}
