//! Windows of one fixed shape, for the tests of the windows alone.

use std::ops::Deref;

use super::buckets::{Span, TimeWindow};
use super::count::CountWindow;
use super::ring::Ring;
use super::{Recorded, Tally};

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
