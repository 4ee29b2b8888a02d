//! The rate limiter's core: the Generic Cell Rate Algorithm (GCRA) in one atomic word.
//!
//! GCRA is the "virtual scheduling" form of the leaky bucket, defined for ATM networks in
//! ITU-T Recommendation I.371 (Traffic control and congestion control in B-ISDN), and described
//! by the ATM Forum's Traffic Management Specification 4.0 (af-tm-0056.000, 1996). It keeps a
//! single number, the *theoretical arrival time* (TAT): the time at which the limiter would be
//! back to empty if permits were handed out exactly at the rate. With an emission interval `T`
//! (`per / count`) and a burst of `b` permits, a request at time `t` conforms when
//!
//! ```text
//! max(TAT, t) + T - t <= b * T
//! ```
//!
//! and, if admitted, sets `TAT = max(TAT, t) + T`. An idle limiter therefore admits `b` permits
//! at once and then one every `T`. A request that does not conform would conform at
//! `max(TAT, t) + T - b * T`; the difference to `t` is its `retry_after`.
//!
//! The algorithm is apart from where the TAT lives: [`decision`] is the arithmetic, a pure
//! function of the TAT read, the time, the rate and the wait, which says what the TAT becomes;
//! this module is the local store, which keeps the TAT in one atomic word and writes what the
//! decision says with a compare-and-swap. A store elsewhere (a server shared by a fleet) runs
//! the same decision against its own copy of the TAT, and hands permits out in batches so a
//! call does not wait on it.
//!
//! The TAT lives in one `AtomicU64` updated with a compare-and-swap loop, as in governor's
//! `gcra.rs`; time is `u64` nanoseconds from [`crate::clock::Clock`]. We write it ourselves
//! rather than use governor because governor's clocks do not follow tokio's paused clock (so
//! tests could not run in virtual time), and it has neither a way to give a reservation back nor
//! a rate that can change at run time.
//!
//! # Reservations
//!
//! A caller allowed to wait takes the first permit that conforms within its wait: it advances
//! the TAT now (so later callers queue behind it) and sleeps until the permit's due time. If it
//! is cancelled before then, [`Gcra::give_back`] undoes its advance, but only while no later
//! caller has reserved after it: the later callers' due times are already fixed, and moving the
//! TAT back under them would let two permits fall on one instant, beyond the rate. Otherwise
//! the cancelled permit's time stays unused; the limiter errs towards admitting less, never
//! more.

mod decision;

use std::sync::atomic::Ordering::Relaxed;

use self::decision::{Rate, Step};
use crate::sync::{AtomicU64, loom_const};

/// The outcome of asking for a permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A permit conforms now; it is spent.
    Admitted,
    /// A permit conforms within the allowed wait; it is reserved and due at `reservation.due`.
    Reserved(Reservation),
    /// No permit conforms within the allowed wait; the next one conforms `retry_after`
    /// nanoseconds from now.
    Rejected {
        /// Nanoseconds until a permit conforms (as of the request).
        retry_after: u64,
    },
}

/// A permit taken ahead of its time; see [`Gcra::give_back`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reservation {
    /// The tick at which the permit conforms.
    pub(crate) due: u64,
    /// The TAT this reservation set.
    tat: u64,
    /// The TAT it would have had without this reservation.
    before: u64,
}

/// The GCRA state and configuration, all in atomics.
#[derive(Debug)]
pub(crate) struct Gcra {
    /// The theoretical arrival time, in ticks; 0 before the first permit (any tick is later).
    tat: AtomicU64,
    /// `T`: nanoseconds between two permits at the rate, at least 1.
    interval: AtomicU64,
    /// `b * T`: how far ahead of now the TAT may run, i.e. the whole burst.
    burst_span: AtomicU64,
}

impl Gcra {
    loom_const! {
        /// A limiter admitting `burst` (>= 1) permits at once and one every `interval` (>= 1)
        /// nanoseconds.
        pub(crate) const fn new(interval: u64, burst: u32) -> Self {
            Gcra {
                tat: AtomicU64::new(0),
                interval: AtomicU64::new(interval),
                burst_span: AtomicU64::new(interval.saturating_mul(burst as u64)),
            }
        }
    }

    /// Changes the rate: one permit every `interval` (>= 1) nanoseconds, `burst` (>= 1) at once,
    /// from tick `now()` (read only if the limiter has handed out a permit).
    ///
    /// The TAT is rebased so the new rate applies from now. The limiter's debt (`TAT - now`,
    /// the permits handed out that have not yet refilled, at the old interval) is kept as a
    /// number of permits and respaced at the new interval, up to one full new burst: the
    /// limiter is as full as it was, in permits, and refills at the new rate. Raising the rate
    /// thus drops the wait built up at the lower one; lowering it charges the permits already
    /// out at the new spacing, at most a whole burst. Reservations keep their due times (a
    /// caller already waiting is not moved), and one made before the change can no longer be
    /// given back (its TAT is gone), which errs towards admitting less.
    pub(crate) fn set_rate(&self, interval: u64, burst: u32, now: impl FnOnce() -> u64) {
        let burst_span = interval.saturating_mul(u64::from(burst));
        // Relaxed (all): see `acquire`; a racing caller may decide once with a mix of the old
        // and new values, which errs by at most that one decision.
        let old_interval = self.interval.swap(interval, Relaxed);
        let old_span = self.burst_span.swap(burst_span, Relaxed);
        if (old_interval, old_span) == (interval, burst_span) || self.tat.load(Relaxed) == 0 {
            return;
        }
        let now = now();
        let new = Rate {
            interval,
            burst_span,
        };
        let mut tat = self.tat.load(Relaxed);
        while tat > now {
            let rebased = decision::rebase(tat, now, old_interval, new);
            // Relaxed: as in `acquire`; a caller that took a permit meanwhile is rebased with
            // the rest on the next turn.
            match self
                .tat
                .compare_exchange_weak(tat, rebased, Relaxed, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => tat = actual,
            }
        }
    }

    /// Forgets every permit handed out: the limiter is idle, as built. Reservations keep their
    /// due times and can no longer be given back.
    pub(crate) fn reset(&self) {
        // Relaxed: the TAT is the whole state (see `acquire`).
        self.tat.store(0, Relaxed);
    }

    /// How many permits an idle limiter admits at once.
    pub(crate) fn burst(&self) -> u32 {
        // Relaxed (both): a snapshot of the configuration.
        let span = self.burst_span.load(Relaxed) / self.interval.load(Relaxed);
        u32::try_from(span).unwrap_or(u32::MAX)
    }

    /// Asks for a permit at tick `now`, accepting to wait up to `max_wait` nanoseconds.
    #[inline]
    pub(crate) fn acquire(&self, now: u64, max_wait: u64) -> Decision {
        // Relaxed (both): configuration, published with nothing; a caller that races with a
        // change of rate decides with either the old or the new rate.
        let rate = Rate {
            interval: self.interval.load(Relaxed),
            burst_span: self.burst_span.load(Relaxed),
        };
        // Relaxed: the TAT is the whole state and publishes nothing; the CAS below makes every
        // decision on the latest value.
        let mut tat = self.tat.load(Relaxed);
        loop {
            let (next, due, before) = match decision::decide(rate, tat, now, max_wait) {
                Step::Take { next, due, before } => (next, due, before),
                Step::Reject { retry_after } => return Decision::Rejected { retry_after },
            };
            // Relaxed: as above; on failure, the fresh TAT is the next attempt's read.
            match self.tat.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                Ok(_) if due <= now => return Decision::Admitted,
                Ok(_) => {
                    return Decision::Reserved(Reservation {
                        due,
                        tat: next,
                        before,
                    });
                }
                Err(actual) => tat = actual,
            }
        }
    }

    /// Gives back a reservation whose caller will not use it, at tick `now`. Returns whether the
    /// permit is free again: only when it is not yet due (a due permit is spent) and no caller
    /// reserved after it (see the module docs).
    pub(crate) fn give_back(&self, reservation: Reservation, now: u64) -> bool {
        if now >= reservation.due {
            return false;
        }
        // Relaxed: as in `acquire`. Succeeds only if the TAT is still the one this reservation
        // set, so no later reservation is moved.
        self.tat
            .compare_exchange(reservation.tat, reservation.before, Relaxed, Relaxed)
            .is_ok()
    }

    /// How many permits would be admitted at once at tick `now`.
    pub(crate) fn available(&self, now: u64) -> u32 {
        // Relaxed (all): a snapshot.
        let rate = Rate {
            interval: self.interval.load(Relaxed),
            burst_span: self.burst_span.load(Relaxed),
        };
        decision::available(rate, self.tat.load(Relaxed), now)
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests;

#[cfg(all(test, resilience_loom))]
mod loom_tests;
