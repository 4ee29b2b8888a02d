//! The closed-state windows of outcomes a breaker decides on: the last N calls (a ring of
//! outcome bits) or the last D of time (ten buckets of D/10).
//!
//! A window is a statistic: the breaker's decisions are serialised by the state word, not by
//! the window. What the windows do guarantee is that every outcome is counted exactly once, and
//! that the aggregate counts always equal what the bits and buckets hold.
//!
//! A count window's plain success (once the window holds `min_calls` calls) writes only to a
//! cache line the current thread owns ([`per_thread::Counter`]): no locked instruction, no line
//! shared with another thread. Failures, slow calls, every outcome while the window fills up to
//! `min_calls` (after it is emptied, or after a change of settings) and reads take a lock and
//! write the successes into the ring lazily (see [`CountWindow`]). A time window costs more: every record
//! reads the clock and changes its bucket with a compare-and-swap.
//! No tokio here: time arrives as `u64` ticks (nanoseconds), so the file can be model-checked.

use std::sync::PoisonError;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

#[cfg(resilience_loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(resilience_loom))]
use std::sync::{Mutex, MutexGuard};

use crate::per_thread;
use crate::sync::{AtomicU32, AtomicU64, loom_const, zeroed};

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
    /// Recorded.
    Yes,
    /// Not recorded: the outcome's time is already outside a time window (a call that finished
    /// before a concurrent one moved the window on).
    Expired,
    /// Not recorded: the outcome's bucket already holds [`MAX_BUCKET_CALLS`] calls.
    Full,
}

/// The size of a count window, packed in the window's shape word (see [`Window`]) so that a
/// call never mixes an old size with a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    size: u32,
}

const SIZE_BITS: u32 = 10;

// The largest window fits the size field.
const _: () = assert!(MAX_WINDOW_CALLS < 1 << SIZE_BITS);

impl Ring {
    /// A ring of `size` slots, clamped to `1..=MAX_WINDOW_CALLS` (the builder checks; the clamp
    /// keeps the core safe from a bad value).
    pub(crate) const fn new(size: u32) -> Ring {
        let size = if size == 0 {
            1
        } else if size > MAX_WINDOW_CALLS {
            MAX_WINDOW_CALLS
        } else {
            size
        };
        Ring { size }
    }
}

/// `min_calls` not reached since the window was emptied, or the settings changed since: every
/// outcome takes the lock, and the first one that finds the window at `min_calls` calls or
/// beyond checks for a trip and makes the window filled. (After a change of settings that is
/// the next outcome, so a lowered threshold or `min_calls` takes effect at the next call, a
/// success included.)
const FILLING: u32 = 0;
/// `min_calls` reached under the current settings: a plain success only counts itself (it can
/// only lower the rates).
const FILLED: u32 = 1;

/// The last `size` calls, as a ring of outcome bits: one plane of failure bits and one of slow
/// bits, `MAX_WINDOW_CALLS` bits each, so the window needs no allocation, is
/// `const`-constructible, and can take any size up to the maximum at run time. The size
/// ([`Ring`]) is passed in by the caller, which read it from the window's shape word.
///
/// Outcomes are numbered in the order they are counted: the window's *total* is the plain
/// successes counted so far ([`per_thread::Counter`], one cache line per thread) plus the
/// outcomes recorded under the lock (`Ledger::marked`). A plain success only adds 1 to its
/// thread's line: it has no slot and writes no bit. An outcome that needs bits (a failure, a
/// slow call, or any outcome while the window fills up to `min_calls`) takes the lock, takes
/// the number `total` as it reads it, and first writes into the ring the successes counted
/// since the ring was last written (clearing their slots, the whole ring if there are `size`
/// or more), then its own bits. Reads ([`tally`](Self::tally)) write the ring up to the total
/// the same way before counting. The aggregates change with the bits, under the lock, so they
/// always equal the planes' populations.
///
/// A success that races a locked outcome is counted before it (its add is in the sum) or
/// after it; either way exactly once, in the window's order of numbers.
#[derive(Debug)]
pub(crate) struct CountWindow {
    /// Plain successes counted without the lock: a running total, never reset.
    successes: per_thread::Counter,
    /// [`FILLING`] or [`FILLED`]; written under the lock, read by successes.
    phase: AtomicU32,
    ledger: Mutex<Ledger>,
}

/// What a count window changes under its lock. Positions (`written`, `base`, `origin`) are
/// numbers in the window's total (see [`CountWindow`]).
#[derive(Debug)]
struct Ledger {
    failure_plane: [u64; PLANE_WORDS],
    slow_plane: [u64; PLANE_WORDS],
    /// Bits set in `failure_plane`.
    failures: u64,
    /// Bits set in `slow_plane`.
    slow: u64,
    /// Outcomes recorded under the lock: a running total, never reset.
    marked: u64,
    /// The planes hold every outcome numbered below this.
    written: u64,
    /// The slot of outcome `written`.
    cursor: u32,
    /// The total at the last clear: the window holds the outcomes from here on.
    base: u64,
    /// The total at the last reset: the lifetime count starts here.
    origin: u64,
}

impl Ledger {
    const fn new() -> Ledger {
        Ledger {
            failure_plane: [0; PLANE_WORDS],
            slow_plane: [0; PLANE_WORDS],
            failures: 0,
            slow: 0,
            marked: 0,
            written: 0,
            cursor: 0,
            base: 0,
            origin: 0,
        }
    }

    /// Calls in the window of `ring`.
    fn calls(&self, ring: Ring) -> u64 {
        (self.written - self.base).min(u64::from(ring.size))
    }

    /// What the window of `ring` holds, as written so far.
    fn tally(&self, ring: Ring) -> Tally {
        let calls = self.calls(ring);
        Tally {
            calls,
            failures: self.failures.min(calls),
            slow: self.slow.min(calls),
        }
    }

    /// Writes the successes numbered `written..total` into the ring: their slots are cleared.
    /// A total below `written` (not expected: every sum is taken under the lock, and the cells
    /// only grow) changes nothing.
    fn catch_up(&mut self, ring: Ring, total: u64) {
        if total <= self.written {
            return;
        }
        let gap = total - self.written;
        let size = ring.size as usize;
        // A cursor written with another size (a call that read an older shape) wraps here.
        let cursor = self.cursor as usize % size;
        if gap >= size as u64 {
            // Every outcome the planes held is now older than the window.
            self.empty_planes();
        } else {
            let gap = gap as usize;
            let first = gap.min(size - cursor);
            self.clear_slots(cursor, cursor + first);
            self.clear_slots(0, gap - first);
        }
        self.cursor = ((cursor as u64 + gap % size as u64) % size as u64) as u32;
        self.written = total;
    }

    /// Clears slots `from..to` of both planes, counting the cleared bits out.
    fn clear_slots(&mut self, from: usize, to: usize) {
        let mut slot = from;
        while slot < to {
            let word = slot / 64;
            let low = slot % 64;
            let high = (to - word * 64).min(64);
            let mask = (u64::MAX >> (64 - high)) & (u64::MAX << low);
            self.failures -= u64::from((self.failure_plane[word] & mask).count_ones());
            self.failure_plane[word] &= !mask;
            self.slow -= u64::from((self.slow_plane[word] & mask).count_ones());
            self.slow_plane[word] &= !mask;
            slot = (word + 1) * 64;
        }
    }

    fn empty_planes(&mut self) {
        self.failure_plane = [0; PLANE_WORDS];
        self.slow_plane = [0; PLANE_WORDS];
        self.failures = 0;
        self.slow = 0;
    }

    /// Writes outcome `written` (the ring is written up to it) into its slot.
    fn push(&mut self, ring: Ring, failed: bool, slow: bool) {
        let slot = self.cursor as usize % ring.size as usize;
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        Self::put(
            &mut self.failure_plane[word],
            &mut self.failures,
            bit,
            failed,
        );
        Self::put(&mut self.slow_plane[word], &mut self.slow, bit, slow);
        self.cursor = ((slot + 1) % ring.size as usize) as u32;
        self.written += 1;
        self.marked += 1;
    }

    /// Sets `bit` of `word` to `value`, keeping `aggregate` equal to the plane's population.
    fn put(word: &mut u64, aggregate: &mut u64, bit: u64, value: bool) {
        let was = *word & bit != 0;
        if was != value {
            *word ^= bit;
            if value {
                *aggregate += 1;
            } else {
                *aggregate -= 1;
            }
        }
    }
}

impl CountWindow {
    loom_const! {
        /// An empty window.
        pub(crate) const fn new() -> Self {
            CountWindow {
                successes: per_thread::Counter::new(),
                phase: AtomicU32::new(FILLING),
                ledger: Mutex::new(Ledger::new()),
            }
        }
    }

    /// The ledger. Nothing under the lock can panic halfway through a change (no user code,
    /// arithmetic on counts the lock keeps consistent), so a poisoned lock's data is sound.
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every outcome counted so far (see the type's docs), for a holder of the lock.
    fn total(&self, ledger: &Ledger) -> u64 {
        self.successes.sum().wrapping_add(ledger.marked)
    }

    /// Whether the window holds `min_calls` calls, so that a plain success may be counted with
    /// [`count_success`](Self::count_success) instead of [`record`](Self::record).
    #[inline]
    pub(crate) fn is_filled(&self) -> bool {
        // Relaxed: a stale "filling" only sends a success through the lock; a stale "filled"
        // (a success racing a clear) counts it without a trip check it could only have
        // needed if it completed `min_calls`, and the next locked outcome of a filling window
        // checks at `min_calls` or beyond (see `record`).
        self.phase.load(Relaxed) == FILLED
    }

    /// Counts a success that is neither slow nor failed, in a filled window: one add to a cache
    /// line the current thread owns.
    #[inline]
    pub(crate) fn count_success(&self) {
        self.successes.add(1);
    }

    /// Records one outcome after every outcome counted so far, overwriting the call `size`
    /// calls before it. Returns what the window holds with it when the breaker must check for
    /// a trip: always for a failure or a slow call; for a success, when it brings the window to
    /// `min_calls` calls, or finds it there or beyond while filling (see [`FILLING`]). The
    /// tally is read under the same lock as the record, so of two outcomes recorded at once the
    /// later one's tally holds both.
    ///
    /// `min_calls` is read under the lock: a change of settings stores the new value before it
    /// takes the lock to mark the window filling, so an outcome never marks the window filled
    /// by a value older than that mark.
    #[cfg(test)]
    pub(crate) fn record(
        &self,
        ring: Ring,
        failed: bool,
        slow: bool,
        min_calls: impl FnOnce() -> u32,
    ) -> Option<Tally> {
        self.record_then(ring, failed, slow, min_calls, || {})
    }

    /// [`record`](Self::record), running `filled` under the lock when the window becomes
    /// filled (the breaker's fast lane, see [`Window::fast_lane`]).
    #[inline(never)]
    pub(crate) fn record_then(
        &self,
        ring: Ring,
        failed: bool,
        slow: bool,
        min_calls: impl FnOnce() -> u32,
        filled: impl FnOnce(),
    ) -> Option<Tally> {
        let mut ledger = self.lock();
        let total = self.total(&ledger);
        ledger.catch_up(ring, total);
        ledger.push(ring, failed, slow);
        let calls = ledger.calls(ring);
        let min_calls = u64::from(min_calls());
        let phase = self.phase.load(Relaxed);
        let completes = calls == min_calls || (phase == FILLING && calls >= min_calls);
        if phase != FILLED && calls >= min_calls {
            self.phase.store(FILLED, Relaxed);
            filled();
        }
        (failed || slow || completes).then(|| ledger.tally(ring))
    }

    /// What the window holds now: every outcome counted before this call, and maybe some
    /// counted while it runs.
    pub(crate) fn tally(&self, ring: Ring) -> Tally {
        let mut ledger = self.lock();
        let total = self.total(&ledger);
        ledger.catch_up(ring, total);
        ledger.tally(ring)
    }

    /// Calls ever recorded (across clears).
    pub(crate) fn lifetime_calls(&self) -> u64 {
        let ledger = self.lock();
        self.total(&ledger).max(ledger.written) - ledger.origin
    }

    /// The settings changed: the window fills again, so the next outcome checks for a trip
    /// under them (see [`FILLING`]).
    /// `filling` runs under the lock, after the window is marked filling.
    pub(crate) fn settings_changed(&self, filling: impl FnOnce()) {
        let _ledger = self.lock();
        self.phase.store(FILLING, Relaxed);
        filling();
    }

    /// Empties the window. A success counted concurrently without the lock lands in the
    /// emptied window or before it, whole; so does a locked outcome (it takes the lock before
    /// or after). `filling` runs under the lock, after the window is marked filling.
    pub(crate) fn clear(&self, filling: impl FnOnce()) {
        self.empty(false, filling);
    }

    /// Empties the window and forgets the lifetime total; `filling` as for
    /// [`clear`](Self::clear).
    pub(crate) fn reset(&self, filling: impl FnOnce()) {
        self.empty(true, filling);
    }

    fn empty(&self, forget_lifetime: bool, filling: impl FnOnce()) {
        let mut ledger = self.lock();
        let total = self.total(&ledger).max(ledger.written);
        ledger.empty_planes();
        ledger.written = total;
        ledger.base = total;
        ledger.cursor = 0;
        if forget_lifetime {
            ledger.origin = total;
        }
        self.phase.store(FILLING, Relaxed);
        filling();
    }
}

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
/// window's shape word (see [`Window`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    duration: u64,
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
    /// [`Window`]); the calls it held are retired.
    fn renew(&self) {
        for bucket in &self.buckets {
            self.retired
                .fetch_add(Bucket(bucket.swap(0, Relaxed)).calls(), Relaxed);
        }
        self.head.store(0, Relaxed);
    }
}

/// The shape of a window, as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spec {
    /// The last N calls.
    Calls(u32),
    /// The last D of time, in ticks.
    Time(u64),
}

/// The window's shape as read by a call: which window records, and its ring or span.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Active<'a> {
    Count(&'a CountWindow, Ring),
    Time(&'a TimeWindow, Span),
}

const SHAPE_TIME: u64 = 1;
const SHAPE_SLOT_SHIFT: u32 = 1;
/// The fast lane (see [`Window::fast_lane`]).
const SHAPE_FAST: u64 = 1 << 2;
const SHAPE_VALUE_SHIFT: u32 = 3;

/// The shape word of `spec`, recording into the windows of `slot`, fast lane closed:
///
/// ```text
/// bit  0      kind: 0 count, 1 time
/// bit  1      slot: which of the two windows of that kind records
/// bit  2      fast lane: the count window of `slot` is filled, and the breaker counts no
///             consecutive failures
/// count: bits 3..13 the size
/// time:  bits 3..64 the duration in ticks
/// ```
const fn encode(spec: Spec, slot: u64) -> u64 {
    let slot = (slot & 1) << SHAPE_SLOT_SHIFT;
    match spec {
        Spec::Calls(n) => {
            let ring = Ring::new(n);
            slot | (ring.size as u64) << SHAPE_VALUE_SHIFT
        }
        Spec::Time(d) => SHAPE_TIME | slot | Span::new(d).duration << SHAPE_VALUE_SHIFT,
    }
}

/// The windows of a breaker and the one shape word that says which of them records, and with
/// what size or duration, so that the shape can change at run time.
///
/// A call reads the shape word once (`Relaxed`, beside the state word it already reads) and
/// records into the window it names with the ring or span it names, so a call never mixes an
/// old size with a new one. A change of shape empties the window of the other slot, then
/// publishes a shape naming it: a new shape starts a fresh window, and a call that read the
/// old shape records into the old window, which nobody reads any more; it is emptied before
/// it is used again, one change later. Only a call stalled between its read of the shape and
/// its record across two changes of shape could write into a window in use with an old size.
///
/// Two windows of each kind cost 2 × 2560 + 2 × 96 bytes, against 2560 for the one window a
/// breaker of a fixed shape would need: the price of changing shape without a lock on the
/// calls' path and without allocating. Most of a count window's 2560 bytes are its successes'
/// 17 cells of 128 bytes (see [`per_thread::Counter`]), so that threads never share a line.
#[derive(Debug)]
pub(crate) struct Window {
    shape: AtomicU64,
    count: [CountWindow; 2],
    time: [TimeWindow; 2],
}

impl Window {
    loom_const! {
        /// A window of shape `spec` (values clamped as [`Ring::new`] and [`Span::new`] do).
        pub(crate) const fn new(spec: Spec) -> Self {
            Window {
                shape: AtomicU64::new(encode(spec, 0)),
                count: [CountWindow::new(), CountWindow::new()],
                time: [TimeWindow::new(), TimeWindow::new()],
            }
        }
    }

    /// The window that records now, with its shape.
    #[inline]
    pub(crate) fn active(&self) -> Active<'_> {
        // Relaxed: a call admitted after a change of shape saw the change's bump of the state
        // word's generation (Acquire), which comes after the shape's store. Any other call is
        // a late one, and either window is then fine for it (see the type's docs).
        let shape = self.shape.load(Relaxed);
        let slot = ((shape >> SHAPE_SLOT_SHIFT) & 1) as usize;
        if shape & SHAPE_TIME == 0 {
            let ring = Ring {
                size: ((shape >> SHAPE_VALUE_SHIFT) & ((1 << SIZE_BITS) - 1)) as u32,
            };
            Active::Count(&self.count[slot], ring)
        } else {
            let span = Span {
                duration: shape >> SHAPE_VALUE_SHIFT,
            };
            Active::Time(&self.time[slot], span)
        }
    }

    /// The count window a plain success of a closed call is counted into with one add, when
    /// the fast lane is open: the window that records is a count window holding `min_calls`
    /// (filled) and the breaker counts no consecutive failures (so a success has no run to
    /// end). One load of the shape word, instead of the shape, then the window's phase, then
    /// the setting.
    ///
    /// The lane opens only under the window's lock, when it becomes filled (and the setting,
    /// read under that lock, is 0; see [`CountWindow::record_then`]), and closes under the
    /// same lock whenever the window is marked filling (emptied, or the settings changed:
    /// every change of settings marks the windows filling after its stores). So an open lane
    /// says what the window's phase says, read with the same staleness ([`CountWindow::is_filled`]).
    #[inline]
    pub(crate) fn fast_lane(&self) -> Option<&CountWindow> {
        // Relaxed: as `is_filled` (see there) and `active`.
        let shape = self.shape.load(Relaxed);
        (shape & (SHAPE_TIME | SHAPE_FAST) == SHAPE_FAST)
            .then(|| &self.count[((shape >> SHAPE_SLOT_SHIFT) & 1) as usize])
    }

    /// The slot of the count window `w` (one of this window's two).
    fn slot_of(&self, w: &CountWindow) -> u64 {
        u64::from(std::ptr::eq(w, &self.count[1]))
    }

    /// Opens the fast lane for `w`, if it is the count window that records.
    pub(crate) fn open_lane(&self, w: &CountWindow) {
        let slot = self.slot_of(w);
        // Relaxed: the lane mirrors the window's phase, both written under its lock.
        let _ = self.shape.fetch_update(Relaxed, Relaxed, |s| {
            (s & SHAPE_TIME == 0 && (s >> SHAPE_SLOT_SHIFT) & 1 == slot).then_some(s | SHAPE_FAST)
        });
    }

    /// Closes the fast lane if the count window of `slot` records.
    fn close_lane(&self, slot: u64) {
        let _ = self.shape.fetch_update(Relaxed, Relaxed, |s| {
            (s & SHAPE_FAST != 0 && (s >> SHAPE_SLOT_SHIFT) & 1 == slot).then_some(s & !SHAPE_FAST)
        });
    }

    /// The shape now.
    pub(crate) fn spec(&self) -> Spec {
        self.spec_of(self.shape.load(Relaxed))
    }

    /// What the window holds now. Reads the clock (`now`) for a time window only.
    pub(crate) fn tally(&self, now: impl FnOnce() -> u64) -> Tally {
        match self.active() {
            Active::Count(w, ring) => w.tally(ring),
            Active::Time(w, span) => w.tally(span, now()),
        }
    }

    /// Calls ever recorded, in every shape the window has had.
    pub(crate) fn lifetime_calls(&self) -> u64 {
        let count: u64 = self.count.iter().map(CountWindow::lifetime_calls).sum();
        let time: u64 = self.time.iter().map(TimeWindow::lifetime_calls).sum();
        count + time
    }

    /// Empties the window that records. A call recording concurrently may land in the emptied
    /// window, whole.
    pub(crate) fn clear(&self) {
        match self.active() {
            Active::Count(w, _) => w.clear(|| self.close_lane(self.slot_of(w))),
            Active::Time(w, _) => w.clear(),
        }
    }

    /// Empties every window and forgets the lifetime total.
    pub(crate) fn reset(&self) {
        for w in &self.count {
            w.reset(|| self.close_lane(self.slot_of(w)));
        }
        self.time.iter().for_each(TimeWindow::reset);
    }

    /// The breaker's settings changed: a count window's success may trip it again (see
    /// [`CountWindow::settings_changed`]).
    pub(crate) fn settings_changed(&self) {
        for w in &self.count {
            w.settings_changed(|| self.close_lane(self.slot_of(w)));
        }
    }

    /// Changes the shape to `spec`: a fresh, empty window of that shape records from now on.
    /// Returns false when the shape already was `spec` (nothing changes). Concurrent changes
    /// each publish in turn; the last one stays.
    pub(crate) fn reshape(&self, spec: Spec) -> bool {
        let spec = spec.clamped();
        let mut seen = self.shape.load(Acquire);
        loop {
            if self.spec_of(seen) == spec {
                return false;
            }
            let slot = ((seen >> SHAPE_SLOT_SHIFT) & 1) ^ 1;
            match spec {
                Spec::Calls(_) => {
                    self.count[slot as usize].clear(|| self.close_lane(slot));
                }
                Spec::Time(_) => self.time[slot as usize].renew(),
            }
            // AcqRel: one change publishes at a time; a change that lost starts over from
            // the shape that won, emptying the other slot again.
            match self
                .shape
                .compare_exchange(seen, encode(spec, slot), AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
    }

    fn spec_of(&self, shape: u64) -> Spec {
        if shape & SHAPE_TIME == 0 {
            Spec::Calls(((shape >> SHAPE_VALUE_SHIFT) & ((1 << SIZE_BITS) - 1)) as u32)
        } else {
            Spec::Time(shape >> SHAPE_VALUE_SHIFT)
        }
    }
}

impl Spec {
    /// The spec as a window holds it: sizes and durations clamped to what it can hold.
    pub(crate) const fn clamped(self) -> Spec {
        match self {
            Spec::Calls(n) => Spec::Calls(Ring::new(n).size),
            Spec::Time(d) => Spec::Time(Span::new(d).duration),
        }
    }
}

#[cfg(test)]
impl CountWindow {
    /// The planes' populations and the aggregates, read together: (failure bits, failures,
    /// slow bits, slow).
    fn bits(&self) -> (u64, u64, u64, u64) {
        let l = self.lock();
        let ones = |plane: &[u64]| plane.iter().map(|w| u64::from(w.count_ones())).sum();
        (
            ones(&l.failure_plane),
            l.failures,
            ones(&l.slow_plane),
            l.slow,
        )
    }

    /// The failure bits of the first 64 slots.
    #[cfg(resilience_loom)]
    fn failure_word(&self) -> u64 {
        self.lock().failure_plane[0]
    }
}

/// Windows of one fixed shape, for the tests of the windows alone.
#[cfg(test)]
mod fixed {
    use std::ops::Deref;

    use super::*;

    pub(super) struct Count(CountWindow, Ring);

    impl Count {
        pub(super) fn new(size: u32) -> Self {
            Count(CountWindow::new(), Ring::new(size))
        }

        /// Records as the breaker does with `min_calls = 1`: the first outcome takes the lock,
        /// and plain successes after it are counted without. (Slow bits are always written:
        /// `_track_slow` is kept so the call sites read as the breaker's.)
        pub(super) fn record(&self, failed: bool, slow: bool, _track_slow: bool) {
            if !(failed || slow) && self.0.is_filled() {
                self.0.count_success();
            } else {
                self.0.record(self.1, failed, slow, || 1);
            }
        }

        pub(super) fn tally(&self) -> Tally {
            self.0.tally(self.1)
        }
    }

    impl Deref for Count {
        type Target = CountWindow;
        fn deref(&self) -> &CountWindow {
            &self.0
        }
    }

    pub(super) struct Time(TimeWindow, Span);

    impl Time {
        pub(super) fn new(duration: u64) -> Self {
            Time(TimeWindow::new(), Span::new(duration))
        }

        pub(super) fn record(&self, now: u64, failed: bool, slow: bool) -> Recorded {
            self.0.record(self.1, now, failed, slow)
        }

        pub(super) fn tally(&self, now: u64) -> Tally {
            self.0.tally(self.1, now)
        }
    }

    impl Deref for Time {
        type Target = TimeWindow;
        fn deref(&self) -> &TimeWindow {
            &self.0
        }
    }
}

#[cfg(all(test, not(resilience_loom)))]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::fixed::{Count, Time};
    use super::*;

    #[test]
    fn count_window_holds_the_last_n_outcomes() {
        let w = Count::new(4);
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

    /// A success that saw the window filled just before a change of settings (which raised
    /// `min_calls`) is counted without the lock and lands on the new `min_calls`; the next
    /// locked outcome, beyond it, must still check for a trip.
    #[test]
    fn after_a_change_of_settings_the_next_outcome_at_or_beyond_min_calls_checks() {
        let w = CountWindow::new();
        let ring = Ring::new(10);
        let tally = |calls, failures| {
            Some(Tally {
                calls,
                failures,
                slow: 0,
            })
        };
        assert_eq!(w.record(ring, true, false, || 2), tally(1, 1));
        assert_eq!(w.record(ring, true, false, || 2), tally(2, 2));
        assert!(w.is_filled());
        w.count_success(); // 3 calls
        // A success reads "filled" here; then `min_calls` goes up to 5.
        w.settings_changed(|| {});
        assert!(!w.is_filled());
        assert_eq!(
            w.record(ring, false, false, || 5),
            None,
            "4 calls, below min_calls"
        );
        w.count_success(); // the racing success: 5 calls, counted without the lock
        assert_eq!(
            w.record(ring, false, false, || 5),
            tally(6, 2),
            "6 calls: the first locked outcome at or beyond min_calls checks"
        );
        assert!(w.is_filled());
        assert_eq!(
            w.record(ring, false, false, || 5),
            None,
            "filled: no more checks"
        );
        assert_eq!(w.tally(ring), tally(7, 2).unwrap());
    }

    #[test]
    fn count_window_clear_empties_it_and_keeps_the_lifetime_total() {
        let w = Count::new(1000);
        for i in 0..1500 {
            w.record(i % 3 == 0, i % 5 == 0, true);
        }
        assert_eq!(w.tally().calls, 1000);
        w.clear(|| {});
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
        w.reset(|| {});
        assert_eq!(w.lifetime_calls(), 0);
    }

    #[test]
    fn count_window_aggregates_stay_exact_under_contention() {
        let w = Count::new(100);
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
        let t = w.tally();
        let (failure_bits, failures, slow_bits, slow) = w.bits();
        assert_eq!(t.calls, 100);
        assert_eq!((t.failures, t.slow), (failures, slow));
        assert_eq!((failures, slow), (failure_bits, slow_bits));
        assert_eq!(w.lifetime_calls(), 40_000);
    }

    /// The window against a list of the last `size` outcomes, with successes counted without
    /// the lock between locked outcomes and reads at random, for sizes on and across word
    /// boundaries, gaps shorter and longer than the window, and clears.
    #[test]
    fn count_window_holds_the_last_n_outcomes_whatever_is_counted_without_the_lock() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut random = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for size in [1, 2, 3, 63, 64, 65, 100, 129, 1000] {
            let w = Count::new(size);
            let mut model = std::collections::VecDeque::new();
            for _ in 0..20_000 {
                match random(100) {
                    0 => {
                        w.clear(|| {});
                        model.clear();
                    }
                    1..=9 => {
                        let t = w.tally();
                        let failures = model.iter().filter(|(f, _)| *f).count() as u64;
                        let slow = model.iter().filter(|(_, s)| *s).count() as u64;
                        assert_eq!(
                            t,
                            Tally {
                                calls: model.len() as u64,
                                failures,
                                slow
                            },
                            "size {size}"
                        );
                    }
                    roll => {
                        // Runs of successes, some longer than the window.
                        let (failed, slow) = (roll % 7 == 0, roll % 11 == 0);
                        let times = if failed || slow {
                            1
                        } else {
                            1 + random(2 * u64::from(size))
                        };
                        for _ in 0..times {
                            w.record(failed, slow, true);
                            model.push_back((failed, slow));
                            if model.len() > size as usize {
                                model.pop_front();
                            }
                        }
                    }
                }
                let (failure_bits, failures, slow_bits, slow) = w.bits();
                assert_eq!((failures, slow), (failure_bits, slow_bits), "size {size}");
            }
        }
    }

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn time_window_forgets_buckets_older_than_its_duration() {
        let w = Time::new(10 * SECOND);
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
        let w = Time::new(10 * SECOND);
        for i in 0..10 {
            w.record(i * SECOND + 1, true, false);
        }
        assert_eq!(w.tally(9 * SECOND + 1).calls, 10);
        assert_eq!(w.record(1000 * SECOND, false, false), Recorded::Yes);
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
        let w = Time::new(10 * SECOND);
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
    fn time_window_stops_counting_a_full_bucket_instead_of_wrapping() {
        let w = Time::new(10 * SECOND);
        for i in 0..MAX_BUCKET_CALLS {
            assert_eq!(w.record(1, i % 2 == 0, i % 4 == 0), Recorded::Yes);
        }
        assert_eq!(w.record(1, true, true), Recorded::Full);
        assert_eq!(
            w.tally(1),
            Tally {
                calls: MAX_BUCKET_CALLS,
                failures: MAX_BUCKET_CALLS.div_ceil(2),
                slow: MAX_BUCKET_CALLS.div_ceil(4)
            }
        );
        // The next bucket starts empty.
        assert_eq!(w.record(SECOND, true, false), Recorded::Yes);
        assert_eq!(w.tally(SECOND).calls, MAX_BUCKET_CALLS + 1);
        assert_eq!(w.lifetime_calls(), MAX_BUCKET_CALLS + 1);
    }

    #[test]
    fn time_window_forgets_its_buckets_after_an_idle_gap_of_any_number_of_laps() {
        // Buckets of one tick: a lap is ten ticks, and stamps hold laps modulo 2^16. Gaps of
        // 2^16 laps (the stamp comes round to the same value) and of 2^15 + 5 laps (an old
        // stamp that compares as newer) must forget the old calls like any other gap.
        for gap in [1 << 16, (1 << 15) + 5, 1 << 15, 3 << 16, 2, 3] {
            let w = Time::new(10);
            for t in 0..10 {
                w.record(t, true, true);
            }
            assert_eq!(w.tally(9).calls, 10);
            let later = 5 + 10 * gap;
            assert_eq!(w.record(later, false, false), Recorded::Yes, "gap {gap}");
            assert_eq!(
                w.tally(later),
                Tally {
                    calls: 1,
                    failures: 0,
                    slow: 0
                },
                "gap {gap}"
            );
            assert_eq!(w.lifetime_calls(), 11, "gap {gap}");
        }
    }

    #[test]
    fn time_window_counts_every_racing_record() {
        let w = Time::new(10 * SECOND);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000u64 {
                        // Two buckets, so records race recycles as well as each other.
                        let now = if i < 5_000 { 1 } else { SECOND };
                        w.record(now, (i + t) % 2 == 0, i % 5 == 0);
                    }
                });
            }
        });
        assert_eq!(
            w.tally(SECOND),
            Tally {
                calls: 40_000,
                failures: 20_000,
                slow: 8_000
            }
        );
        assert_eq!(w.tally(10 * SECOND).calls, 20_000);
        assert_eq!(w.lifetime_calls(), 40_000);
    }

    #[test]
    fn time_window_clear_keeps_the_lifetime_total() {
        let w = Time::new(10 * SECOND);
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

    use super::fixed::{Count, Time};
    use super::*;

    /// The window's aggregates equal its bits.
    fn assert_consistent(w: &CountWindow) {
        let (failure_bits, failures, slow_bits, slow) = w.bits();
        assert_eq!((failures, slow), (failure_bits, slow_bits));
    }

    #[test]
    fn loom_count_window_aggregates_equal_its_bits_when_records_race_a_clear() {
        loom::model(|| {
            let w = Arc::new(Count::new(4));
            let recorders: Vec<_> = [(true, true), (true, false)]
                .into_iter()
                .map(|(failed, slow)| {
                    let w = w.clone();
                    thread::spawn(move || {
                        w.record(failed, slow, true);
                    })
                })
                .collect();
            w.clear(|| {});
            for t in recorders {
                t.join().expect("no panic");
            }
            assert_consistent(&w);
            assert_eq!(w.lifetime_calls(), 2);
            let t = w.tally();
            assert!(t.failures <= t.calls && t.slow <= t.calls);
        });
    }

    /// A success counted without the lock racing a failure (locked) and a read: each is
    /// counted once, in one order or the other, and the window of 2 holds both.
    #[test]
    fn loom_a_success_counted_without_the_lock_and_a_racing_failure_are_each_counted_once() {
        loom::model(|| {
            let w = Arc::new(Count::new(2));
            // Fills the window (min_calls 1): later plain successes skip the lock.
            w.record(false, false, true);
            assert!(w.is_filled());
            let success = {
                let w = w.clone();
                thread::spawn(move || w.count_success())
            };
            let failure = {
                let w = w.clone();
                thread::spawn(move || {
                    w.record(true, false, true);
                })
            };
            let seen = w.tally();
            assert!(seen.calls >= 1 && seen.failures <= 1, "{seen:?}");
            success.join().expect("no panic");
            failure.join().expect("no panic");
            assert_eq!(
                w.tally(),
                Tally {
                    calls: 2,
                    failures: 1,
                    slow: 0
                }
            );
            assert_consistent(&w);
            assert_eq!(w.lifetime_calls(), 3);
        });
    }

    /// A clear racing a success counted without the lock: the success is in the emptied
    /// window or before it, and in the lifetime total either way.
    #[test]
    fn loom_a_clear_racing_a_success_counted_without_the_lock_keeps_it_once() {
        loom::model(|| {
            let w = Arc::new(Count::new(4));
            w.record(true, false, true);
            let success = {
                let w = w.clone();
                thread::spawn(move || w.count_success())
            };
            w.clear(|| {});
            success.join().expect("no panic");
            let t = w.tally();
            assert!(t.calls <= 1 && t.failures == 0, "{t:?}");
            assert_consistent(&w);
            assert_eq!(w.lifetime_calls(), 2);
        });
    }

    /// A change of shape racing records: whichever window each record lands in, every
    /// window's aggregates equal its bits, none is set beyond the size it was written with,
    /// and no record is lost from the lifetime total.
    #[test]
    fn loom_a_resize_racing_records_keeps_every_window_equal_to_its_contents() {
        loom::model(|| {
            let w = Arc::new(Window::new(Spec::Calls(4)));
            let recorder = {
                let w = w.clone();
                thread::spawn(move || {
                    for failed in [true, true] {
                        match w.active() {
                            Active::Count(c, ring) => c.record(ring, failed, failed, || 1),
                            Active::Time(..) => unreachable!(),
                        };
                    }
                })
            };
            assert!(w.reshape(Spec::Calls(2)));
            recorder.join().expect("no panic");
            for c in &w.count {
                assert_consistent(c);
            }
            // The new window (slot 1) of size 2 holds nothing beyond its two slots.
            assert_eq!(w.count[1].failure_word() & !0b11, 0);
            assert_eq!(w.lifetime_calls(), 2);
            assert_eq!(w.spec(), Spec::Calls(2));
            let t = w.tally(|| 0);
            assert!(t.failures <= t.calls && t.calls <= 2, "{t:?}");
        });
    }

    /// Every call recorded is in a live bucket or retired, exactly once.
    #[test]
    fn loom_time_window_loses_no_record_when_a_record_races_a_recycle() {
        loom::model(|| {
            // Buckets of 1 tick: ticks 1 and 11 fall in the same bucket, ten periods apart.
            let w = Arc::new(Time::new(10));
            let old = {
                let w = w.clone();
                thread::spawn(move || w.record(1, true, false))
            };
            let new = w.record(11, false, true);
            let old = old.join().expect("no panic");
            assert_eq!(new, Recorded::Yes);
            let recorded = 1 + u64::from(old == Recorded::Yes);
            assert_eq!(w.lifetime_calls(), recorded);
        });
    }

    /// The tear this file once had: a call recording at tick 1, preempted between its check
    /// of the bucket's period and its increments while another call recycled that bucket for
    /// tick 11, left its failure in the new period. A record is now one CAS of the bucket's
    /// period and counts together, so it lands whole in its own period (and is retired with
    /// it) or not at all.
    #[test]
    fn loom_time_window_holds_no_part_of_a_record_from_an_expired_period() {
        loom::model(|| {
            let w = Arc::new(Time::new(10));
            let old = {
                let w = w.clone();
                thread::spawn(move || w.record(1, true, false))
            };
            w.record(11, false, true);
            old.join().expect("no panic");
            let t = w.tally(11);
            assert_eq!(
                t,
                Tally {
                    calls: 1,
                    failures: 0,
                    slow: 1
                }
            );
        });
    }

    /// A clear racing records loses none of them from the lifetime total, and leaves each
    /// record whole in the window or retired.
    #[test]
    fn loom_time_window_clear_racing_records_keeps_every_record_whole() {
        loom::model(|| {
            let w = Arc::new(Time::new(10));
            let recorder = {
                let w = w.clone();
                thread::spawn(move || w.record(1, true, true))
            };
            w.clear();
            assert_eq!(recorder.join().expect("no panic"), Recorded::Yes);
            assert_eq!(w.lifetime_calls(), 1);
            let t = w.tally(1);
            assert!(
                t == Tally::default()
                    || t == Tally {
                        calls: 1,
                        failures: 1,
                        slow: 1
                    },
                "{t:?}"
            );
        });
    }
}
