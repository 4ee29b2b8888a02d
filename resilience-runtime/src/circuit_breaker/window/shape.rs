//! The breaker's windows, two of each kind, and the shape word that says which of them
//! records, with what size or duration, and whether the fast lane is open.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use super::Tally;
use super::buckets::{Span, TimeWindow};
use super::count::CountWindow;
use super::ring::{Ring, SIZE_BITS};
use crate::sync::{AtomicU64, loom_const};

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
/// 17 cells of 128 bytes (see [`per_thread::Counter`](crate::per_thread::Counter)), so that threads never share a line.
#[derive(Debug)]
pub(crate) struct Window {
    shape: AtomicU64,
    pub(super) count: [CountWindow; 2],
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
