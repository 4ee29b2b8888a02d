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

use std::sync::atomic::Ordering::Relaxed;

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
        let mut tat = self.tat.load(Relaxed);
        while tat > now {
            let debt = u128::from(tat - now) * u128::from(interval) / u128::from(old_interval);
            let debt = u64::try_from(debt).unwrap_or(u64::MAX).min(burst_span);
            // Relaxed: as in `acquire`; a caller that took a permit meanwhile is rebased with
            // the rest on the next turn.
            match self
                .tat
                .compare_exchange_weak(tat, now.saturating_add(debt), Relaxed, Relaxed)
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
        let interval = self.interval.load(Relaxed);
        let burst_span = self.burst_span.load(Relaxed);
        // Relaxed: the TAT is the whole state and publishes nothing; the CAS below makes every
        // decision on the latest value.
        let mut tat = self.tat.load(Relaxed);
        loop {
            let before = tat.max(now);
            let next = before.saturating_add(interval);
            // The tick at which this permit conforms.
            let due = next.saturating_sub(burst_span);
            if due > now.saturating_add(max_wait) {
                return Decision::Rejected {
                    retry_after: due - now,
                };
            }
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
        let interval = self.interval.load(Relaxed);
        let burst_span = self.burst_span.load(Relaxed);
        let tat = self.tat.load(Relaxed).max(now);
        // Room left in the burst, in ticks: at most `burst_span`, so the quotient fits a u32.
        let room = now.saturating_add(burst_span).saturating_sub(tat);
        u32::try_from(room / interval).unwrap_or(u32::MAX)
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn reserved(decision: Decision) -> Reservation {
        match decision {
            Decision::Reserved(r) => r,
            other => panic!("expected a reservation, got {other:?}"),
        }
    }

    #[test]
    fn idle_limiter_admits_the_burst_then_rejects_until_the_next_interval() {
        let gcra = Gcra::new(100 * MS, 3);
        let now = 1;
        for _ in 0..3 {
            assert_eq!(gcra.acquire(now, 0), Decision::Admitted);
        }
        assert_eq!(
            gcra.acquire(now, 0),
            Decision::Rejected {
                retry_after: 100 * MS
            }
        );
        assert_eq!(
            gcra.acquire(now + 40 * MS, 0),
            Decision::Rejected {
                retry_after: 60 * MS
            }
        );
        assert_eq!(gcra.acquire(now + 100 * MS, 0), Decision::Admitted);
    }

    #[test]
    fn rejection_does_not_change_the_state() {
        let gcra = Gcra::new(10 * MS, 1);
        assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
        for _ in 0..5 {
            assert_eq!(
                gcra.acquire(1, 0),
                Decision::Rejected {
                    retry_after: 10 * MS
                }
            );
        }
        assert_eq!(gcra.acquire(1 + 10 * MS, 0), Decision::Admitted);
    }

    #[test]
    fn idle_time_refills_at_most_the_burst() {
        let gcra = Gcra::new(10 * MS, 2);
        assert_eq!(gcra.available(1), 2);
        assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
        assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
        assert_eq!(gcra.available(1), 0);
        assert_eq!(gcra.available(1 + 10 * MS), 1);
        assert_eq!(gcra.available(1 + 1_000 * MS), 2);
    }

    #[test]
    fn waiting_caller_reserves_the_next_permits_in_turn() {
        let gcra = Gcra::new(10 * MS, 1);
        assert_eq!(gcra.acquire(1, 25 * MS), Decision::Admitted);
        assert_eq!(reserved(gcra.acquire(1, 25 * MS)).due, 1 + 10 * MS);
        assert_eq!(reserved(gcra.acquire(1, 25 * MS)).due, 1 + 20 * MS);
        assert_eq!(
            gcra.acquire(1, 25 * MS),
            Decision::Rejected {
                retry_after: 30 * MS
            }
        );
    }

    #[test]
    fn last_reservation_given_back_goes_to_the_next_caller() {
        let gcra = Gcra::new(10 * MS, 1);
        assert_eq!(gcra.acquire(1, 50 * MS), Decision::Admitted);
        let r = reserved(gcra.acquire(1, 50 * MS));
        assert!(gcra.give_back(r, 1 + 5 * MS));
        assert_eq!(reserved(gcra.acquire(1 + 5 * MS, 50 * MS)).due, r.due);
    }

    #[test]
    fn reservation_with_later_ones_behind_it_is_not_given_back() {
        let gcra = Gcra::new(10 * MS, 1);
        assert_eq!(gcra.acquire(1, 50 * MS), Decision::Admitted);
        let first = reserved(gcra.acquire(1, 50 * MS));
        let second = reserved(gcra.acquire(1, 50 * MS));
        assert!(!gcra.give_back(first, 2));
        assert_eq!(reserved(gcra.acquire(2, 50 * MS)).due, second.due + 10 * MS);
    }

    #[test]
    fn due_reservation_is_spent() {
        let gcra = Gcra::new(10 * MS, 1);
        assert_eq!(gcra.acquire(1, 50 * MS), Decision::Admitted);
        let r = reserved(gcra.acquire(1, 50 * MS));
        assert!(!gcra.give_back(r, r.due));
        assert_eq!(
            gcra.acquire(r.due, 0),
            Decision::Rejected {
                retry_after: 10 * MS
            }
        );
    }

    #[test]
    fn raising_the_rate_respaces_the_permits_out_and_drops_the_old_wait() {
        // 1 a minute, one call: the next permit is a minute away.
        let gcra = Gcra::new(60_000 * MS, 1);
        assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
        let now = 1 + 5_000 * MS;
        // 1000 a second, burst 1000: the one permit out counts as one of the new burst.
        gcra.set_rate(MS, 1000, || now);
        assert_eq!(gcra.available(now), 999);
        assert_eq!(gcra.acquire(now, 0), Decision::Admitted);
    }

    #[test]
    fn lowering_the_rate_charges_the_permits_out_up_to_one_burst() {
        let gcra = Gcra::new(10 * MS, 10);
        for _ in 0..4 {
            assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
        }
        // 4 permits out, respaced at one a second with a burst of 10: 6 left ...
        gcra.set_rate(1_000 * MS, 10, || 1);
        assert_eq!(gcra.available(1), 6);
        // ... and at a burst of 2, the limiter is full, its next permit one interval away.
        gcra.set_rate(1_000 * MS, 2, || 1);
        assert_eq!(
            gcra.acquire(1, 0),
            Decision::Rejected {
                retry_after: 1_000 * MS
            }
        );
        // The same rate again changes nothing.
        gcra.set_rate(1_000 * MS, 2, || unreachable!("no rebase"));
    }

    #[test]
    fn extreme_configuration_saturates_instead_of_overflowing() {
        let gcra = Gcra::new(u64::MAX / 2, u32::MAX);
        assert_eq!(gcra.acquire(1, u64::MAX), Decision::Admitted);
        assert_eq!(gcra.available(u64::MAX), 0);
        let tiny = Gcra::new(1, 1);
        assert_eq!(tiny.acquire(u64::MAX, u64::MAX), Decision::Admitted);
    }
}

/// Model checks of the TAT word (`--cfg resilience_loom`; see `.ci/run`).
#[cfg(all(test, resilience_loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    const T: u64 = 10;

    #[test]
    fn loom_racing_callers_get_exactly_the_burst() {
        loom::model(|| {
            let gcra = Arc::new(Gcra::new(T, 2));
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let gcra = gcra.clone();
                    thread::spawn(move || gcra.acquire(1, 0))
                })
                .collect();
            let decisions: Vec<_> = threads
                .into_iter()
                .map(|t| t.join().expect("no panic"))
                .collect();
            let admitted = decisions
                .iter()
                .filter(|&&d| d == Decision::Admitted)
                .count();
            assert_eq!(admitted, 2, "{decisions:?}");
            assert!(decisions.contains(&Decision::Rejected { retry_after: T }));
            assert_eq!(gcra.available(1), 0);
        });
    }

    #[test]
    fn loom_a_reservation_given_back_during_a_new_one_never_doubles_a_permit() {
        loom::model(|| {
            let gcra = Arc::new(Gcra::new(T, 1));
            assert_eq!(gcra.acquire(1, 0), Decision::Admitted);
            let Decision::Reserved(first) = gcra.acquire(1, 5 * T) else {
                panic!("the next permit is within the wait");
            };
            let giver = {
                let gcra = gcra.clone();
                thread::spawn(move || gcra.give_back(first, 2))
            };
            let Decision::Reserved(second) = gcra.acquire(2, 5 * T) else {
                panic!("a permit is within the wait");
            };
            let given_back = giver.join().expect("no panic");
            if given_back {
                // The newcomer came after the give-back and took the freed permit.
                assert_eq!(second.due, first.due);
            } else {
                // The newcomer queued behind the first reservation, which stays spent.
                assert_eq!(second.due, first.due + T);
            }
            // The next permit is spaced after the last one handed out.
            assert_eq!(
                gcra.acquire(2, 0),
                Decision::Rejected {
                    retry_after: second.due + T - 2
                }
            );
        });
    }
}
