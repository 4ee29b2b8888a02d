//! Admission: whether a call may run, and in which role.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use super::{Core, Permit, Rejected, Role};
use crate::circuit_breaker::State;
use crate::circuit_breaker::word::Word;

impl Core {
    /// Decides whether a call may run. Reads the clock (`now`) only in the open state.
    #[cfg(test)]
    #[inline]
    pub(crate) fn acquire(&self, now: impl FnMut() -> u64) -> Result<Permit, Rejected> {
        self.acquire_gated(now, || true)
    }

    /// [`acquire`](Self::acquire), where a call may be a probe only if `may_probe` says so
    /// (asked only when the call would be one): a fleet's elected prober. A call refused is
    /// rejected as when every probe slot is taken, and leaves the state as it was.
    #[inline]
    pub(crate) fn acquire_gated(
        &self,
        now: impl FnMut() -> u64,
        may_probe: impl FnMut() -> bool,
    ) -> Result<Permit, Rejected> {
        // Acquire: see `state`.
        let word = Word(self.word.0.load(Acquire));
        if word.is_closed() {
            return Ok(Permit {
                word,
                role: Role::Closed,
            });
        }
        self.acquire_not_closed(word, now, may_probe)
    }

    fn acquire_not_closed(
        &self,
        mut word: Word,
        mut now: impl FnMut() -> u64,
        mut may_probe: impl FnMut() -> bool,
    ) -> Result<Permit, Rejected> {
        loop {
            let generation = word.generation();
            let role = match word.state() {
                State::Closed => Role::Closed,
                State::MetricsOnly => Role::MetricsOnly,
                State::Disabled => Role::Disabled,
                State::ForcedOpen => return Err(self.reject(None)),
                State::Open => {
                    // Acquire: pairs with the opener's Release, making its deadline visible.
                    if self.open_generation.load(Acquire) != generation {
                        // The opener has not published its deadline yet: the wait just began.
                        return Err(self.reject(Some(self.open_wait.load(Relaxed))));
                    }
                    let deadline = self.open_deadline.load(Relaxed);
                    let t = now();
                    if t < deadline {
                        return Err(self.reject(Some(deadline - t)));
                    }
                    // The wait is over: this call turns the breaker half-open and is its first
                    // probe, if it may probe at all.
                    if !may_probe() {
                        return Err(self.reject(None));
                    }
                    let next = word.transition(State::HalfOpen).with_taken(1);
                    // AcqRel: one winner per open state; it publishes the half-open round.
                    match self
                        .word
                        .0
                        .compare_exchange(word.0, next.0, AcqRel, Acquire)
                    {
                        Ok(_) => {
                            self.transitioned(State::Open, State::HalfOpen);
                            return Ok(Permit {
                                word: next,
                                role: Role::Probe,
                            });
                        }
                        Err(seen) => {
                            word = Word(seen);
                            continue;
                        }
                    }
                }
                State::HalfOpen => {
                    if word.taken() >= self.settings.half_open.load(Relaxed) || !may_probe() {
                        return Err(self.reject(None));
                    }
                    let next = word.with_taken(word.taken() + 1);
                    // AcqRel: taking a slot is one CAS against completions and transitions.
                    match self
                        .word
                        .0
                        .compare_exchange_weak(word.0, next.0, AcqRel, Acquire)
                    {
                        Ok(_) => {
                            return Ok(Permit {
                                word: next,
                                role: Role::Probe,
                            });
                        }
                        Err(seen) => {
                            word = Word(seen);
                            continue;
                        }
                    }
                }
            };
            return Ok(Permit { word, role });
        }
    }

    #[cold]
    fn reject(&self, retry_after: Option<u64>) -> Rejected {
        self.counters.rejections.add(1);
        Rejected { retry_after }
    }
}
