//! The count window: the ring of the last N outcomes under a lock, and the plain successes
//! counted without it.

use std::sync::PoisonError;
use std::sync::atomic::Ordering::Relaxed;

#[cfg(resilience_loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(resilience_loom))]
use std::sync::{Mutex, MutexGuard};

use super::Tally;
use super::ring::{Ledger, Ring};
use crate::per_thread;
use crate::sync::{AtomicU32, loom_const};

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
    /// filled (the breaker's fast lane, see [`Window::fast_lane`](super::Window::fast_lane)).
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

#[cfg(test)]
impl CountWindow {
    /// The planes' populations and the aggregates, read together: (failure bits, failures,
    /// slow bits, slow).
    pub(super) fn bits(&self) -> (u64, u64, u64, u64) {
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
    pub(super) fn failure_word(&self) -> u64 {
        self.lock().failure_plane[0]
    }
}
