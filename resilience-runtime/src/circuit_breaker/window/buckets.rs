//! The time window: the last D of time, as ten buckets of D/10, each one packed word.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use super::{Recorded, Tally};
use crate::sync::{AtomicU64, loom_const, zeroed};

/// Number of buckets a time window is split into.
pub(crate) const BUCKETS: usize = 10;

/// One tenth of a time window, packed in one word so that a record, a recycle and a clear each
/// change the bucket's period and its counts together, with one compare-and-swap:
///
/// ```text
/// bits 48..64  the period's lap (period / BUCKETS), modulo 2^16
/// bits 32..48  slow calls
/// bits 16..32  failures
/// bits  0..16  calls
/// ```
///
/// A bucket holds at most [`MAX_BUCKET_CALLS`] calls; further outcomes of that period are not
/// recorded ([`Recorded::Full`]): the bucket's rates stay those of its first 65,535 calls, and
/// the counts never wrap into the next field.
///
/// Laps are compared modulo 2^16 (serial-number arithmetic, RFC 1982), which is exact while
/// every stamp the window compares is within 2^15 laps (32,768 window durations) of the head:
/// [`TimeWindow::advance`] keeps every bucket's stamp close to the head by restamping the
/// buckets time moves past, and ages them all before publishing a jump over a whole window, so
/// only a thread stalled for 32,768 window durations between two adjacent atomic operations
/// here could be misled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket(u64);

/// The most calls one bucket of a time window holds.
pub(crate) const MAX_BUCKET_CALLS: u64 = FIELD;

const FIELD: u64 = 0xFFFF;
const FAILURES_SHIFT: u32 = 16;
const SLOW_SHIFT: u32 = 32;
const LAP_SHIFT: u32 = 48;

impl Bucket {
    /// An empty bucket for the period whose lap is `lap`.
    const fn empty(lap: u16) -> Bucket {
        Bucket((lap as u64) << LAP_SHIFT)
    }

    const fn lap(self) -> u16 {
        (self.0 >> LAP_SHIFT) as u16
    }

    const fn calls(self) -> u64 {
        self.0 & FIELD
    }

    const fn failures(self) -> u64 {
        (self.0 >> FAILURES_SHIFT) & FIELD
    }

    const fn slow(self) -> u64 {
        (self.0 >> SLOW_SHIFT) & FIELD
    }

    /// This bucket with one more call; `None` when it is full. Failures and slow calls never
    /// exceed calls, so no field carries into the next.
    fn plus(self, failed: bool, slow: bool) -> Option<Bucket> {
        if self.calls() == MAX_BUCKET_CALLS {
            return None;
        }
        let delta = 1 | u64::from(failed) << FAILURES_SHIFT | u64::from(slow) << SLOW_SHIFT;
        Some(Bucket(self.0 + delta))
    }
}

/// The lap of a period, as stamped in its bucket.
#[inline]
const fn lap(period: u64) -> u16 {
    (period / BUCKETS as u64) as u16
}

/// Whether lap `a` is before lap `b`, modulo 2^16.
#[inline]
const fn before(a: u16, b: u16) -> bool {
    (b.wrapping_sub(a) as i16) > 0
}

/// The calls of the last `BUCKETS` bucket periods: a ring of buckets, each recycled when time
/// reaches the period it will hold next. Period `p` lives in bucket `p % BUCKETS`.
///
/// Recording is one compare-and-swap on the bucket in the common case (plus one load of the
/// head); reading the window sums the ten buckets whose stamp is that of a live period. There
/// is no aggregate beside the buckets, so the window's counts are always exactly what its
/// buckets hold, and a record lands whole in its own period or not at all.
///
/// The window covers between 9/10 and 10/10 of its duration, depending on how far into the
/// current bucket time is (the usual bucketed-window approximation, as in resilience4j).
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: [AtomicU64; BUCKETS],
    /// The newest period any call has reached (0: none yet).
    head: AtomicU64,
    /// Calls counted out of recycled or cleared buckets, so the lifetime total survives them.
    retired: AtomicU64,
}

/// The duration of a time window, in ticks: passed in by the caller, which read it from the
/// window's shape word (see [`Window`](super::Window)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(super) duration: u64,
}

impl Span {
    /// The most ticks a window lasts (73 years): the shape word holds 61 bits of it.
    const MAX: u64 = (1 << 61) - 1;

    pub(crate) const fn new(duration: u64) -> Span {
        Span {
            duration: if duration > Span::MAX {
                Span::MAX
            } else {
                duration
            },
        }
    }

    /// A tenth of the window, at least 1 tick.
    #[inline]
    const fn bucket_len(self) -> u64 {
        let len = self.duration / BUCKETS as u64;
        if len == 0 { 1 } else { len }
    }

    #[inline]
    const fn period(self, now: u64) -> u64 {
        now / self.bucket_len() + 1
    }
}

impl TimeWindow {
    loom_const! {
        /// An empty window.
        pub(crate) const fn new() -> Self {
            TimeWindow {
                buckets: zeroed(),
                head: AtomicU64::new(0),
                retired: AtomicU64::new(0),
            }
        }
    }

    #[inline]
    fn bucket(&self, period: u64) -> &AtomicU64 {
        &self.buckets[(period % BUCKETS as u64) as usize]
    }

    /// Restamps the bucket of `period` empty for it, unless it is already there or beyond;
    /// the calls it held are retired.
    fn recycle(&self, period: u64) {
        let bucket = self.bucket(period);
        let lap = lap(period);
        let mut seen = Bucket(bucket.load(Relaxed));
        while before(seen.lap(), lap) {
            match bucket.compare_exchange_weak(seen.0, Bucket::empty(lap).0, Relaxed, Relaxed) {
                Ok(_) => {
                    self.retired.fetch_add(seen.calls(), Relaxed);
                    return;
                }
                Err(now) => seen = Bucket(now),
            }
        }
    }

    /// Moves the head to `period` if it is behind, and returns the head. Once per bucket
    /// period one call gets past the first load.
    #[inline]
    fn advance(&self, period: u64) -> u64 {
        let head = self.head.load(Relaxed);
        if head >= period {
            return head;
        }
        self.advance_slow(period)
    }

    #[cold]
    fn advance_slow(&self, period: u64) -> u64 {
        loop {
            // Acquire: pairs with the Release of `age_all` and of records, see `age_all`.
            let head = self.head.load(Acquire);
            if head >= period {
                return head;
            }
            if period - head >= BUCKETS as u64 && !self.age_all(head, period) {
                continue;
            }
            let head = self.head.fetch_max(period, AcqRel);
            if head < period {
                // The periods between the old head and now, at most the last ten of them.
                let first = (head + 1).max(period.saturating_sub(BUCKETS as u64 - 1));
                for p in first..=period {
                    self.recycle(p);
                }
            }
            return head.max(period);
        }
    }

    /// Before the head jumps from `head` over a whole window to `period`, stamps every bucket
    /// two laps before `period`'s (older than any period live at `period`) and retires its
    /// calls. Without it, a bucket last written 2^15 laps or more before the jump would compare
    /// as newer, or as the same period. Gives up (false) as soon as the head moves: a bucket
    /// written after a head move may hold a live record, and the caller starts over.
    ///
    /// Acquire on the bucket, then on the head: a record or a restamp that moved the head
    /// before writing the bucket (Release) is seen here with its head move, so it is never
    /// aged; one written after the load fails the CAS.
    #[cold]
    fn age_all(&self, head: u64, period: u64) -> bool {
        let old = Bucket::empty(lap(period).wrapping_sub(2));
        for bucket in &self.buckets {
            let mut seen = Bucket(bucket.load(Acquire));
            loop {
                if self.head.load(Acquire) != head {
                    return false;
                }
                if seen.lap() == old.lap() && seen.calls() == 0 {
                    break;
                }
                match bucket.compare_exchange(seen.0, old.0, AcqRel, Acquire) {
                    Ok(_) => {
                        self.retired.fetch_add(seen.calls(), Relaxed);
                        break;
                    }
                    Err(now) => seen = Bucket(now),
                }
            }
        }
        true
    }

    /// Records one outcome at time `now`: one compare-and-swap of its bucket, which either
    /// adds to the bucket's period or, for a bucket still holding an older period, retires
    /// that period's calls and starts the bucket afresh with this outcome.
    pub(crate) fn record(&self, span: Span, now: u64, failed: bool, slow: bool) -> Recorded {
        let period = span.period(now);
        if self.advance(period) >= period + BUCKETS as u64 {
            // A concurrent call moved the window past `now` already: this outcome is history.
            return Recorded::Expired;
        }
        let bucket = self.bucket(period);
        let lap = lap(period);
        let mut seen = Bucket(bucket.load(Relaxed));
        loop {
            let base = if seen.lap() == lap {
                seen
            } else if before(seen.lap(), lap) {
                Bucket::empty(lap)
            } else {
                // The bucket already holds a later period: this outcome is history.
                return Recorded::Expired;
            };
            let Some(next) = base.plus(failed, slow) else {
                return Recorded::Full;
            };
            // Release: see `age_all`.
            match bucket.compare_exchange_weak(seen.0, next.0, Release, Relaxed) {
                Ok(_) => {
                    if seen.lap() != lap {
                        self.retired.fetch_add(seen.calls(), Relaxed);
                    }
                    return Recorded::Yes;
                }
                Err(now) => seen = Bucket(now),
            }
        }
    }

    /// The window's counts at time `now` (or at a later time a concurrent call reached): the
    /// sum of the buckets stamped with the last `BUCKETS` periods.
    pub(crate) fn tally(&self, span: Span, now: u64) -> Tally {
        let period = span.period(now);
        let head = self.advance(period).max(period);
        let mut tally = Tally::default();
        for age in 0..(BUCKETS as u64).min(head) {
            let period = head - age;
            let bucket = Bucket(self.bucket(period).load(Relaxed));
            if bucket.lap() == lap(period) {
                tally.calls += bucket.calls();
                tally.failures += bucket.failures();
                tally.slow += bucket.slow();
            }
        }
        tally
    }

    /// Calls ever recorded (across recycling and clears).
    pub(crate) fn lifetime_calls(&self) -> u64 {
        let live: u64 = self
            .buckets
            .iter()
            .map(|b| Bucket(b.load(Relaxed)).calls())
            .sum();
        self.retired.load(Relaxed) + live
    }

    /// Empties the window: every bucket keeps its stamp and loses its counts, in one RMW, and
    /// the calls it held are retired.
    pub(crate) fn clear(&self) {
        for bucket in &self.buckets {
            let seen = Bucket(bucket.fetch_and(!(u64::MAX >> (64 - LAP_SHIFT)), Relaxed));
            self.retired.fetch_add(seen.calls(), Relaxed);
        }
    }

    /// Empties the window and forgets the lifetime total.
    pub(crate) fn reset(&self) {
        self.clear();
        self.retired.store(0, Relaxed);
    }

    /// Empties the window and forgets its periods, for a new [`Span`]: periods of another
    /// span mean other times. Only for a window no call records into (the inactive one of
    /// [`Window`](super::Window)); the calls it held are retired.
    pub(super) fn renew(&self) {
        for bucket in &self.buckets {
            self.retired
                .fetch_add(Bucket(bucket.swap(0, Relaxed)).calls(), Relaxed);
        }
        self.head.store(0, Relaxed);
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    /// Laps are ordered modulo 2^16: a lap is before the 2^15 - 1 laps after it (across the
    /// wrap too), and neither before itself nor before any lap behind it.
    #[test]
    fn a_lap_is_before_the_half_of_the_laps_after_it_across_the_wrap() {
        for a in [0u16, 1, 9, 0x7FFF, 0x8000, 0xFFF0, u16::MAX] {
            assert!(!before(a, a), "{a}");
            for ahead in [1u16, 2, 10, 0x7FFE, 0x7FFF] {
                let b = a.wrapping_add(ahead);
                assert!(before(a, b), "{a} before {b}");
                assert!(!before(b, a), "{b} not before {a}");
            }
        }
        assert!(before(u16::MAX, 0));
        assert!(!before(0, u16::MAX));
    }

    /// A call moves the head to a new period and, before it recycles that period's bucket,
    /// another call records there (the head already says the period is live). The recycle,
    /// coming late, finds the bucket holding its period and keeps the record.
    #[test]
    fn a_late_recycle_keeps_a_record_already_in_its_period() {
        let w = TimeWindow::new();
        let span = Span::new(10);
        assert_eq!(w.record(span, 0, false, false), Recorded::Yes);
        // The first call: past `fetch_max` in `advance_slow`, not yet recycling.
        assert_eq!(w.head.fetch_max(span.period(2), AcqRel), span.period(0));
        // The second call records at the new period.
        assert_eq!(w.record(span, 2, true, false), Recorded::Yes);
        // The first call goes on.
        for p in span.period(0) + 1..=span.period(2) {
            w.recycle(p);
        }
        assert_eq!(
            w.tally(span, 2),
            Tally {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.lifetime_calls(), 2);
    }
}
