//! The half-open round: tallying probes, and closing or re-opening when the round decides.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use super::{Core, Outcome, reaches};
use crate::circuit_breaker::State;
use crate::circuit_breaker::word::Word;

/// What a round of probes has decided so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pending,
    Close,
    Reopen,
}

impl Core {
    fn verdict(&self, w: Word) -> Verdict {
        let s = &self.settings;
        let probes = s.half_open.load(Relaxed) as u64;
        // Failed probes reach the threshold even if every remaining one succeeds: re-open now.
        let failures = if s.consecutive_failures.load(Relaxed) != 0 {
            w.failed() > 0
        } else {
            reaches(w.failed() as u64, probes, s.threshold.load(Relaxed))
        };
        let slow =
            self.slow() != 0 && reaches(w.slow() as u64, probes, s.slow_threshold.load(Relaxed));
        if failures || slow {
            Verdict::Reopen
        } else if (w.succeeded() + w.failed()) as u64 >= probes {
            Verdict::Close
        } else {
            Verdict::Pending
        }
    }

    /// A probe ended: tally it, and close or re-open the breaker when the round has decided.
    pub(super) fn complete_probe(
        &self,
        generation: u32,
        outcome: Outcome,
        slow: bool,
        now: &mut impl FnMut() -> u64,
    ) {
        // Acquire: see `state`.
        let mut word = Word(self.word.0.load(Acquire));
        loop {
            if word.state() != State::HalfOpen || word.generation() != generation {
                return; // The round this probe belonged to is over.
            }
            let next = match outcome {
                // Neutral: the slot goes back, another probe may take it.
                Outcome::Ignored | Outcome::Cancelled => {
                    word.with_taken(word.taken().saturating_sub(1))
                }
                Outcome::Success | Outcome::Failure => {
                    let mut w = if outcome == Outcome::Failure {
                        word.with_failed(word.failed() + 1)
                    } else {
                        word.with_succeeded(word.succeeded() + 1)
                    };
                    if slow {
                        w = w.with_slow(w.slow() + 1);
                    }
                    match self.verdict(w) {
                        Verdict::Pending => w,
                        Verdict::Close => {
                            // Fresh before anyone can see the closed state.
                            self.clear_window();
                            word.transition(State::Closed)
                        }
                        Verdict::Reopen => word.transition(State::Open),
                    }
                }
            };
            // AcqRel: tallies and the verdict change in one step, so exactly one probe decides.
            match self
                .word
                .0
                .compare_exchange_weak(word.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => {
                    match next.state() {
                        State::Open => {
                            let max = self.settings.open_max.load(Relaxed);
                            let wait = self.open_wait.load(Relaxed).saturating_mul(2).min(max);
                            self.publish_open(next, wait, now());
                            self.transitioned(State::HalfOpen, State::Open);
                        }
                        State::Closed => self.transitioned(State::HalfOpen, State::Closed),
                        _ => {}
                    }
                    return;
                }
                Err(seen) => word = Word(seen),
            }
        }
    }
}
