//! Transitions: publishing an open wait, announcing a transition, and the manual ones.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use super::Core;
use crate::circuit_breaker::State;
use crate::circuit_breaker::word::Word;
use crate::event::{EventKind, PolicyKind, emit};

impl Core {
    /// The winner of a transition to open publishes the wait it starts.
    pub(super) fn publish_open(&self, word: Word, wait: u64, now: u64) {
        self.open_wait.store(wait, Relaxed);
        self.open_deadline.store(now.saturating_add(wait), Relaxed);
        // Release: publishes the wait and deadline above to whoever reads this generation.
        self.open_generation.store(word.generation(), Release);
    }

    pub(super) fn clear_window(&self) {
        self.consecutive.0.store(0, Relaxed);
        self.window.clear();
    }

    pub(super) fn transitioned(&self, from: State, to: State) {
        emit(
            &self.name,
            PolicyKind::CircuitBreaker,
            EventKind::StateTransition { from, to },
        );
    }

    /// Sets the state by hand. `fresh` empties the window first (and moves to a new generation
    /// even if the state does not change, so calls in flight do not record into it).
    pub(crate) fn force(&self, to: State, fresh: bool) {
        if fresh {
            self.clear_window();
        }
        // AcqRel: a manual transition is ordered with every automatic one by this one word.
        let result = self.word.0.fetch_update(AcqRel, Acquire, |w| {
            let w = Word(w);
            (fresh || w.state() != to).then(|| w.transition(to).0)
        });
        if let Ok(previous) = result {
            let from = Word(previous).state();
            if from != to {
                self.transitioned(from, to);
            }
        }
    }

    /// Opens the breaker until tick `until`, as if it had tripped itself: an open state learned
    /// from elsewhere (a fleet's shared state). Acts on the automatic states only (closed,
    /// open, half-open): a state set by hand stays. An open breaker keeps the later of its
    /// own deadline and `until`; one opening at this very instant keeps the wait it is
    /// publishing. Returns whether the breaker is open until `until` or later.
    pub(crate) fn adopt_open(&self, until: u64, now: u64) -> bool {
        if until <= now {
            return false;
        }
        // Acquire: see `state`.
        let mut word = Word(self.word.0.load(Acquire));
        loop {
            let from = word.state();
            let deadline = match from {
                State::Closed | State::HalfOpen => until,
                State::Open => {
                    // Acquire: pairs with the opener's Release (see `publish_open`).
                    if self.open_generation.load(Acquire) != word.generation() {
                        // Opening at this instant: its opener publishes its own wait, which
                        // a second publication could interleave with. It keeps it.
                        return false;
                    }
                    if self.open_deadline.load(Relaxed) >= until {
                        return true;
                    }
                    until
                }
                _ => return false,
            };
            let next = word.transition(State::Open);
            // AcqRel: as every automatic transition, one CAS on the word.
            match self
                .word
                .0
                .compare_exchange(word.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => {
                    // The wait it would have started itself stays the base of the next one.
                    self.open_deadline.store(deadline, Relaxed);
                    // Release: publishes the deadline (see `publish_open`).
                    self.open_generation.store(next.generation(), Release);
                    if from != State::Open {
                        self.transitioned(from, State::Open);
                    }
                    return true;
                }
                Err(seen) => word = Word(seen),
            }
        }
    }

    /// Closes the breaker, with an empty window, as a fleet's probe decided elsewhere: from
    /// the automatic states only (open, half-open); a state set by hand stays. Returns whether
    /// the breaker is closed.
    pub(crate) fn adopt_closed(&self) -> bool {
        // Acquire: see `state`.
        let mut word = Word(self.word.0.load(Acquire));
        loop {
            let from = word.state();
            match from {
                State::Closed => return true,
                State::Open | State::HalfOpen => {}
                _ => return false,
            }
            // Fresh before anyone can see the closed state.
            self.clear_window();
            let next = word.transition(State::Closed);
            // AcqRel: as every automatic transition, one CAS on the word.
            match self
                .word
                .0
                .compare_exchange(word.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => {
                    self.transitioned(from, State::Closed);
                    return true;
                }
                Err(seen) => word = Word(seen),
            }
        }
    }

    /// Back to closed with an empty window and every counter at zero.
    pub(crate) fn reset(&self) {
        self.consecutive.0.store(0, Relaxed);
        self.window.reset();
        self.counters.reset();
        self.force(State::Closed, false);
    }
}
