//! The lifetime counters, and the snapshot that reads them with the window.

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use super::{Core, Outcome, Snapshot};
use crate::circuit_breaker::State;
use crate::circuit_breaker::word::Word;
use crate::per_thread;
use crate::sync::AtomicU64;
use crate::sync::loom_const;

/// Lifetime counters. `Relaxed`: each is an independent statistic. Successes recorded in the
/// window are not counted here but derived from the window's lifetime total, so a success
/// writes no counter.
#[derive(Debug)]
pub(super) struct Counters {
    /// Successes not recorded in the window (probes, disabled state, stale generation).
    pub(super) successes_unwindowed: AtomicU64,
    /// Failures recorded in the window.
    pub(super) failures_windowed: AtomicU64,
    /// Failures not recorded in the window.
    pub(super) failures_unwindowed: AtomicU64,
    pub(super) ignored: AtomicU64,
    /// Per thread: an open breaker's rejection writes no shared line. A running total; a reset
    /// moves `rejections_before` up to it instead of zeroing it.
    pub(super) rejections: per_thread::Counter,
    pub(super) rejections_before: AtomicU64,
    pub(super) cancelled: AtomicU64,
    pub(super) slow: AtomicU64,
}

impl Counters {
    loom_const! {
        pub(super) const fn new() -> Self {
            Counters {
                successes_unwindowed: AtomicU64::new(0),
                failures_windowed: AtomicU64::new(0),
                failures_unwindowed: AtomicU64::new(0),
                ignored: AtomicU64::new(0),
                rejections: per_thread::Counter::new(),
                rejections_before: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            }
        }
    }

    pub(super) fn reset(&self) {
        for c in [
            &self.successes_unwindowed,
            &self.failures_windowed,
            &self.failures_unwindowed,
            &self.ignored,
            &self.cancelled,
            &self.slow,
        ] {
            c.store(0, Relaxed);
        }
        self.rejections_before.store(self.rejections.sum(), Relaxed);
    }

    fn rejections(&self) -> u64 {
        // Saturating: a read racing a reset may see the new base with an older sum.
        self.rejections
            .sum()
            .saturating_sub(self.rejections_before.load(Relaxed))
    }
}

impl Core {
    #[inline]
    pub(super) fn count_unwindowed(&self, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.counters.successes_unwindowed.fetch_add(1, Relaxed),
            Outcome::Failure => self.counters.failures_unwindowed.fetch_add(1, Relaxed),
            Outcome::Ignored | Outcome::Cancelled => return,
        };
    }

    /// The counters and the window's rates. Reads the clock (`now`) for a time window only.
    pub(crate) fn snapshot(&self, now: impl FnMut() -> u64) -> Snapshot {
        let word = Word(self.word.0.load(Acquire));
        let (window, lifetime) = (self.window.tally(now), self.window.lifetime_calls());
        let c = &self.counters;
        let failures_windowed = c.failures_windowed.load(Relaxed);
        Snapshot {
            state: word.state(),
            successes: lifetime.saturating_sub(failures_windowed)
                + c.successes_unwindowed.load(Relaxed),
            failures: failures_windowed + c.failures_unwindowed.load(Relaxed),
            ignored: c.ignored.load(Relaxed),
            rejections: c.rejections(),
            cancelled: c.cancelled.load(Relaxed),
            slow: c.slow.load(Relaxed),
            window,
            min_calls: self.settings.min_calls.load(Relaxed),
            slow_tracked: self.slow() != 0,
            probes_in_flight: if word.state() == State::HalfOpen {
                word.in_flight()
            } else {
                0
            },
        }
    }
}
