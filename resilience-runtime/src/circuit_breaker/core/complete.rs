//! Completion: recording how an admitted call ended, and tripping a closed breaker.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use super::{Core, Outcome, Permit, Role, reaches};
use crate::circuit_breaker::State;
use crate::circuit_breaker::window::{Active, Recorded, Tally};
use crate::circuit_breaker::word::Word;

/// What a completed call's trip check reads.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// What the count window held right after the call's record, read under its lock.
    Tallied(Tally),
    /// The window as it is now (a time window: its buckets are read at the check's time).
    ReadWindow,
}

impl Core {
    /// Records how an admitted call ended. `slow` only counts for a success or a failure.
    /// Reads the clock (`now`) only for a time window, or to start an open wait.
    #[inline]
    pub(crate) fn complete(
        &self,
        permit: Permit,
        outcome: Outcome,
        slow: bool,
        mut now: impl FnMut() -> u64,
    ) {
        let recorded = matches!(outcome, Outcome::Success | Outcome::Failure);
        if recorded && matches!(permit.role, Role::Closed | Role::MetricsOnly) {
            if slow {
                self.counters.slow.fetch_add(1, Relaxed);
            }
            self.complete_closed(permit, outcome == Outcome::Failure, slow, &mut now);
        } else {
            self.complete_other(permit, outcome, slow && recorded, &mut now);
        }
    }

    /// The success of a call admitted closed when slow calls are not tracked (`slow` was 0
    /// when read by the caller): the path nearly every call takes, with the outcome and the
    /// slowness known, so nothing tests them again. Same effect as
    /// `complete(permit, Outcome::Success, false, now)` with slow calls untracked.
    /// `false`: the permit is not a closed one; nothing was done, call [`complete`](Self::complete).
    #[inline]
    pub(crate) fn complete_closed_success(
        &self,
        permit: Permit,
        mut now: impl FnMut() -> u64,
    ) -> bool {
        if permit.role != Role::Closed {
            return false;
        }
        // Inline, the common case of `complete_closed`: the same generation, no run of
        // consecutive failures to end, and a count window that holds `min_calls`.
        // Acquire: see `complete_closed`.
        if Word(self.word.0.load(Acquire)) == permit.word
            && let Some(w) = self.window.fast_lane()
        {
            w.count_success();
            return true;
        }
        self.complete_closed(permit, false, false, &mut now);
        true
    }

    /// Every completion but a closed call's success or failure.
    #[inline(never)]
    fn complete_other(
        &self,
        permit: Permit,
        outcome: Outcome,
        slow: bool,
        now: &mut impl FnMut() -> u64,
    ) {
        if slow {
            self.counters.slow.fetch_add(1, Relaxed);
        }
        match outcome {
            Outcome::Ignored => {
                self.counters.ignored.fetch_add(1, Relaxed);
            }
            Outcome::Cancelled => {
                self.counters.cancelled.fetch_add(1, Relaxed);
            }
            Outcome::Success | Outcome::Failure => {}
        }
        match permit.role {
            Role::Probe => {
                self.count_unwindowed(outcome);
                self.complete_probe(permit.generation(), outcome, slow, now);
            }
            Role::Disabled => self.count_unwindowed(outcome),
            // A closed call ignored or cancelled: counted above, nothing to record.
            Role::Closed | Role::MetricsOnly => {}
        }
    }

    /// A success or failure of a call admitted closed (or metrics-only).
    #[inline]
    fn complete_closed(
        &self,
        permit: Permit,
        failed: bool,
        slow: bool,
        now: &mut impl FnMut() -> u64,
    ) {
        // Acquire: see `state`. A closed or metrics-only word holds no tallies, so any change
        // is a transition: the breaker moved on without this call.
        let word = Word(self.word.0.load(Acquire));
        if word != permit.word {
            self.count_unwindowed(if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            });
            return;
        }
        let consecutive_limit = self.settings.consecutive_failures.load(Relaxed);
        let mut consecutive = 0;
        if consecutive_limit != 0 {
            // Relaxed: a counter of its own; a success only writes it when there is a run to end.
            if failed {
                consecutive = self.consecutive.0.fetch_add(1, Relaxed) + 1;
            } else if self.consecutive.0.load(Relaxed) != 0 {
                self.consecutive.0.store(0, Relaxed);
            }
        }
        let check = match self.window.active() {
            Active::Count(w, ring) => {
                if failed || slow || !w.is_filled() {
                    // Under the window's lock. A success checks when it completes `min_calls`.
                    w.record_then(
                        ring,
                        failed,
                        slow,
                        || self.settings.min_calls.load(Relaxed),
                        // Under the window's lock, after any change of settings' stores.
                        || {
                            if self.settings.consecutive_failures.load(Relaxed) == 0 {
                                self.window.open_lane(w);
                            }
                        },
                    )
                    .map(Check::Tallied)
                } else {
                    // Once the window holds `min_calls`, a plain success only lowers the rates:
                    // it adds 1 on a cache line this thread owns, and checks nothing.
                    w.count_success();
                    None
                }
            }
            Active::Time(w, span) => match w.record(span, now(), failed, slow) {
                // Buckets expire, so any call may be the one that completes `min_calls`.
                Recorded::Yes => Some(Check::ReadWindow),
                // Too late for the window, or its bucket is full: counted beside it.
                Recorded::Expired | Recorded::Full => {
                    self.count_unwindowed(if failed {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    });
                    return;
                }
            },
        };
        if failed {
            self.counters.failures_windowed.fetch_add(1, Relaxed);
        }
        if let Some(check) = check
            && permit.role == Role::Closed
        {
            self.check_trip(word, check, consecutive, consecutive_limit, now);
        }
    }

    /// Trips the breaker if the window (or the run of consecutive failures) says so.
    #[inline(never)]
    fn check_trip(
        &self,
        word: Word,
        check: Check,
        consecutive: u32,
        consecutive_limit: u32,
        now: &mut impl FnMut() -> u64,
    ) {
        let s = &self.settings;
        let tally = match check {
            // Read by the record, under the window's lock, which every outcome that can raise
            // a rate also takes (failures, slow calls, and successes while the window fills
            // to `min_calls`): of two calls recording at once, the later to take the lock
            // reads both outcomes, so a rate the two reach together trips. (This replaces a
            // SeqCst fence that the count window needed when its records were lock-free
            // atomics.)
            Check::Tallied(tally) => tally,
            Check::ReadWindow => match self.window.active() {
                Active::Count(w, ring) => w.tally(ring),
                Active::Time(w, span) => w.tally(span, now()),
            },
        };
        let ready = tally.calls >= s.min_calls.load(Relaxed) as u64;
        let failures = if consecutive_limit != 0 {
            consecutive >= consecutive_limit
        } else {
            ready && reaches(tally.failures, tally.calls, s.threshold.load(Relaxed))
        };
        let slow = self.slow() != 0
            && ready
            && reaches(tally.slow, tally.calls, s.slow_threshold.load(Relaxed));
        if !(failures || slow) {
            return;
        }
        let next = word.transition(State::Open);
        // AcqRel: only one call trips a given closed state; a stale word (another generation)
        // fails here, so a late failure cannot re-trip a breaker that moved on.
        if self
            .word
            .0
            .compare_exchange(word.0, next.0, AcqRel, Relaxed)
            .is_ok()
        {
            let wait = s.open_initial.load(Relaxed);
            self.publish_open(next, wait, now());
            self.transitioned(State::Closed, State::Open);
        }
    }
}
