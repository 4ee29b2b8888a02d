//! The ring of outcome bits a count window holds (see [`CountWindow`](super::count::CountWindow)),
//! and its size: plain data, changed under the window's lock.

use super::{MAX_WINDOW_CALLS, Tally};

const PLANE_WORDS: usize = (MAX_WINDOW_CALLS as usize).div_ceil(64);

/// The size of a count window, packed in the window's shape word (see [`Window`](super::Window)) so that a
/// call never mixes an old size with a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    pub(super) size: u32,
}

pub(super) const SIZE_BITS: u32 = 10;

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

/// What a count window changes under its lock. Positions (`written`, `base`, `origin`) are
/// numbers in the window's total (see [`CountWindow`](super::count::CountWindow)).
#[derive(Debug)]
pub(super) struct Ledger {
    pub(super) failure_plane: [u64; PLANE_WORDS],
    pub(super) slow_plane: [u64; PLANE_WORDS],
    /// Bits set in `failure_plane`.
    pub(super) failures: u64,
    /// Bits set in `slow_plane`.
    pub(super) slow: u64,
    /// Outcomes recorded under the lock: a running total, never reset.
    pub(super) marked: u64,
    /// The planes hold every outcome numbered below this.
    pub(super) written: u64,
    /// The slot of outcome `written`.
    pub(super) cursor: u32,
    /// The total at the last clear: the window holds the outcomes from here on.
    pub(super) base: u64,
    /// The total at the last reset: the lifetime count starts here.
    pub(super) origin: u64,
}

impl Ledger {
    pub(super) const fn new() -> Ledger {
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
    pub(super) fn calls(&self, ring: Ring) -> u64 {
        (self.written - self.base).min(u64::from(ring.size))
    }

    /// What the window of `ring` holds, as written so far.
    pub(super) fn tally(&self, ring: Ring) -> Tally {
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
    pub(super) fn catch_up(&mut self, ring: Ring, total: u64) {
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

    pub(super) fn empty_planes(&mut self) {
        self.failure_plane = [0; PLANE_WORDS];
        self.slow_plane = [0; PLANE_WORDS];
        self.failures = 0;
        self.slow = 0;
    }

    /// Writes outcome `written` (the ring is written up to it) into its slot.
    pub(super) fn push(&mut self, ring: Ring, failed: bool, slow: bool) {
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
