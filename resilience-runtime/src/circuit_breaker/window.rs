//! The closed-state windows of outcomes a breaker decides on: the last N calls (a ring of
//! outcome bits) or the last D of time (ten buckets of D/10).
//!
//! Every operation here is a handful of `Relaxed` atomics: a window is a statistic, and the
//! breaker's decisions are serialised by the state word, not by the window. What the atomics do
//! guarantee is that the aggregate counters always equal what the bits and buckets hold, because
//! an aggregate changes only by the amount that one read-modify-write observed flipping.
//! No tokio here: time arrives as `u64` ticks (nanoseconds), so the file can be model-checked.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

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
    /// Recorded.
    Yes,
    /// Not recorded: the outcome's time is already outside a time window (a call that finished
    /// before a concurrent one moved the window on).
    Expired,
    /// Not recorded: the outcome's bucket already holds [`MAX_BUCKET_CALLS`] calls.
    Full,
}

/// An aggregate that may be decremented before the matching increment lands (see
/// [`CountWindow::clear`]): it wraps, and reads clamp a transient negative to 0.
#[inline]
fn read_aggregate(a: &AtomicU64) -> u64 {
    (a.load(Relaxed) as i64).max(0) as u64
}

/// The size of a count window and the constant that turns a ring index into its slot, packed
/// in the window's shape word (see [`Window`]) so that a resize publishes both at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    size: u32,
    /// `ceil(2^42 / size)` modulo 2^42: turns `index % size` into two multiplications
    /// (Lemire's fastmod), because a division would cost more than the whole rest of the
    /// success path. 42 bits are enough for 32-bit indices and sizes below 2^10: the error
    /// `e = fastmod * size - 2^42 < size` keeps `e * index < 2^42` (Lemire, Kaser, Kurz:
    /// "Faster remainder by direct computation", 2019, theorem 1 with F = N + L = 32 + 10).
    fastmod: u64,
}

const FASTMOD_BITS: u32 = 42;
const FASTMOD_MASK: u64 = (1 << FASTMOD_BITS) - 1;
const SIZE_BITS: u32 = 10;

// The largest window fits the size field, and the fastmod bound above holds for it.
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
        let fastmod = (1u64 << FASTMOD_BITS).div_ceil(size as u64) & FASTMOD_MASK;
        Ring { size, fastmod }
    }

    /// `index % size`, for any 32-bit index: the low 42 bits of `fastmod * index`, times
    /// `size`, over 2^42. The product below 2^52 cannot overflow.
    #[inline]
    fn slot(self, index: u64) -> usize {
        let low = self.fastmod.wrapping_mul(index as u32 as u64) & FASTMOD_MASK;
        ((low * self.size as u64) >> FASTMOD_BITS) as usize
    }
}

/// The last `size` calls, as a ring of outcome bits: one plane of failure bits and one of slow
/// bits, `MAX_WINDOW_CALLS` bits each, so the window needs no allocation, is
/// `const`-constructible, and can take any size up to the maximum at run time. The size
/// ([`Ring`]) is passed in by the caller, which read it from the window's shape word.
///
/// A call takes the next slot with one `fetch_add` on the ring index, then sets or clears its
/// slot's bits. A bit is written only when it flips, and the aggregate only then: a success
/// that overwrites a success writes nothing but the index.
#[derive(Debug)]
pub(crate) struct CountWindow {
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
        /// An empty window.
        pub(crate) const fn new() -> Self {
            CountWindow {
                next: AtomicU64::new(0),
                folded: AtomicU64::new(0),
                failure_plane: zeroed(),
                slow_plane: zeroed(),
                failures: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            }
        }
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
    pub(crate) fn record(&self, ring: Ring, failed: bool, slow: bool, track_slow: bool) -> u64 {
        let index = self.next.fetch_add(1, Relaxed);
        let slot = ring.slot(index);
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        Self::put(&self.failure_plane[word], &self.failures, bit, failed);
        if track_slow {
            Self::put(&self.slow_plane[word], &self.slow, bit, slow);
        }
        (index + 1).min(ring.size as u64)
    }

    pub(crate) fn tally(&self, ring: Ring) -> Tally {
        let calls = self.next.load(Relaxed).min(ring.size as u64);
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
    /// The most ticks a window lasts (146 years): the shape word holds 62 bits of it.
    const MAX: u64 = (1 << 62) - 1;

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
const SHAPE_VALUE_SHIFT: u32 = 2;
const SHAPE_FASTMOD_SHIFT: u32 = SHAPE_VALUE_SHIFT + SIZE_BITS;

// A count shape's fields fill at most the word.
const _: () = assert!(SHAPE_FASTMOD_SHIFT + FASTMOD_BITS <= 64);

/// The shape word of `spec`, recording into the windows of `slot`:
///
/// ```text
/// bit  0      kind: 0 count, 1 time
/// bit  1      slot: which of the two windows of that kind records
/// count: bits 2..12 the size, bits 12..54 its fastmod constant (see `Ring`)
/// time:  bits 2..64 the duration in ticks
/// ```
const fn encode(spec: Spec, slot: u64) -> u64 {
    let slot = (slot & 1) << SHAPE_SLOT_SHIFT;
    match spec {
        Spec::Calls(n) => {
            let ring = Ring::new(n);
            slot | (ring.size as u64) << SHAPE_VALUE_SHIFT | ring.fastmod << SHAPE_FASTMOD_SHIFT
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
/// Two windows of each kind cost 2 × 288 + 2 × 96 bytes, against 288 for the one window a
/// breaker of a fixed shape would need: the price of changing shape without a lock on the
/// calls' path and without allocating.
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
                fastmod: shape >> SHAPE_FASTMOD_SHIFT,
            };
            Active::Count(&self.count[slot], ring)
        } else {
            let span = Span {
                duration: shape >> SHAPE_VALUE_SHIFT,
            };
            Active::Time(&self.time[slot], span)
        }
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
            Active::Count(w, _) => w.clear(),
            Active::Time(w, _) => w.clear(),
        }
    }

    /// Empties every window and forgets the lifetime total.
    pub(crate) fn reset(&self) {
        self.count.iter().for_each(CountWindow::reset);
        self.time.iter().for_each(TimeWindow::reset);
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
                Spec::Calls(_) => self.count[slot as usize].clear(),
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

        pub(super) fn record(&self, failed: bool, slow: bool, track_slow: bool) -> u64 {
            self.0.record(self.1, failed, slow, track_slow)
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
    fn fastmod_matches_the_remainder() {
        for size in 1..=MAX_WINDOW_CALLS {
            let ring = Ring::new(size);
            let top = (u32::MAX as u64 - 3000)..=u32::MAX as u64;
            let spread = (0..64).map(|k| (u32::MAX as u64 / 64) * k + 1);
            for i in (0..3000u64).chain(top).chain(spread) {
                assert_eq!(
                    ring.slot(i),
                    (i as u32 % size) as usize,
                    "size {size}, index {i}"
                );
            }
        }
    }

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

    #[test]
    fn count_window_clear_empties_it_and_keeps_the_lifetime_total() {
        let w = Count::new(1000);
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

    fn ones(plane: &[AtomicU64]) -> u64 {
        plane
            .iter()
            .map(|w| u64::from(w.load(Relaxed).count_ones()))
            .sum()
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
                            Active::Count(c, ring) => c.record(ring, failed, failed, true),
                            Active::Time(..) => unreachable!(),
                        };
                    }
                })
            };
            assert!(w.reshape(Spec::Calls(2)));
            recorder.join().expect("no panic");
            for c in &w.count {
                assert_eq!(c.failures.load(Relaxed), ones(&c.failure_plane));
                assert_eq!(c.slow.load(Relaxed), ones(&c.slow_plane));
            }
            // The new window (slot 1) of size 2 holds nothing beyond its two slots.
            assert_eq!(w.count[1].failure_plane[0].load(Relaxed) & !0b11, 0);
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
