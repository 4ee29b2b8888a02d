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

    /// Back to closed with an empty window and every counter at zero.
    pub(crate) fn reset(&self) {
        self.consecutive.0.store(0, Relaxed);
        self.window.reset();
        self.counters.reset();
        self.force(State::Closed, false);
    }
}
