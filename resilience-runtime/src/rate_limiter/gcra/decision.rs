//! The GCRA's arithmetic, apart from where its state lives: pure functions of the theoretical
//! arrival time (TAT) read, the time, the rate and the wait. The local store (the atomic word
//! in [`super`]) and a store elsewhere run the same decisions.

/// The rate a GCRA runs at, in ticks (nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    /// `T`: ticks between two permits at the rate, at least 1.
    pub(crate) interval: u64,
    /// `b * T`: how far ahead of now the TAT may run, i.e. the whole burst.
    pub(crate) burst_span: u64,
}

/// What one request gets, given the TAT it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The permit conforms within the wait: the TAT becomes `next` (if it is still the one
    /// read), and the permit is due at tick `due` (now or earlier: admitted at once).
    Take {
        /// The TAT after this permit.
        next: u64,
        /// The tick at which the permit conforms.
        due: u64,
        /// The TAT this permit started from (`max(TAT, now)`), to give it back.
        before: u64,
    },
    /// No permit conforms within the wait; the next one conforms `retry_after` ticks from
    /// now.
    Reject {
        /// Ticks until a permit conforms.
        retry_after: u64,
    },
}

/// A request at tick `now` that may wait up to `max_wait` ticks, with the TAT at `tat`: it
/// conforms when `max(TAT, now) + T - now <= b * T + max_wait`.
#[inline(always)]
pub(crate) fn decide(rate: Rate, tat: u64, now: u64, max_wait: u64) -> Step {
    let before = tat.max(now);
    let next = before.saturating_add(rate.interval);
    let due = next.saturating_sub(rate.burst_span);
    if due > now.saturating_add(max_wait) {
        Step::Reject {
            retry_after: due - now,
        }
    } else {
        Step::Take { next, due, before }
    }
}

/// The TAT, at tick `now`, of a limiter that ran at `old_interval` and now runs at `new`: its
/// debt (`TAT - now`: the permits handed out that have not yet refilled) kept as a number of
/// permits, respaced at the new interval, at most one full new burst.
pub(crate) fn rebase(tat: u64, now: u64, old_interval: u64, new: Rate) -> u64 {
    let owed = u128::from(tat.saturating_sub(now));
    let debt = owed * u128::from(new.interval) / u128::from(old_interval.max(1));
    let debt = u64::try_from(debt).unwrap_or(u64::MAX).min(new.burst_span);
    now.saturating_add(debt)
}

/// How many permits would be admitted at once at tick `now`.
pub(crate) fn available(rate: Rate, tat: u64, now: u64) -> u32 {
    let tat = tat.max(now);
    // Room left in the burst, in ticks: at most `burst_span`, so the quotient fits a u32.
    let room = now.saturating_add(rate.burst_span).saturating_sub(tat);
    u32::try_from(room / rate.interval.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        interval: 10,
        burst_span: 30,
    };

    #[test]
    fn an_idle_limiter_takes_the_burst_and_the_next_permit_waits_an_interval() {
        // Idle: the TAT is in the past.
        assert_eq!(
            decide(RATE, 0, 100, 0),
            Step::Take {
                next: 110,
                due: 80,
                before: 100
            }
        );
        // The burst is out: TAT = now + 3T; the next permit conforms T later.
        assert_eq!(decide(RATE, 130, 100, 0), Step::Reject { retry_after: 10 });
        // Waiting exactly that long takes it, reserved for then.
        assert_eq!(
            decide(RATE, 130, 100, 10),
            Step::Take {
                next: 140,
                due: 110,
                before: 130
            }
        );
    }

    #[test]
    fn the_last_permit_of_the_burst_conforms_exactly_at_the_bound() {
        // TAT = now + 2T: one permit left, due now (not later).
        assert_eq!(
            decide(RATE, 120, 100, 0),
            Step::Take {
                next: 130,
                due: 100,
                before: 120
            }
        );
    }

    #[test]
    fn a_rebase_respaces_the_debt_and_caps_it_at_one_burst() {
        // 2 permits owed at T = 10 → 2 permits at T = 5.
        let faster = Rate {
            interval: 5,
            burst_span: 15,
        };
        assert_eq!(rebase(120, 100, 10, faster), 110);
        // 3 permits owed at T = 10 → at T = 20, capped at the new burst of 40.
        let slower = Rate {
            interval: 20,
            burst_span: 40,
        };
        assert_eq!(rebase(130, 100, 10, slower), 140);
        // Nothing owed: the TAT is now.
        assert_eq!(rebase(90, 100, 10, slower), 100);
    }

    #[test]
    fn available_counts_whole_permits_of_room_in_the_burst() {
        assert_eq!(available(RATE, 0, 100), 3);
        assert_eq!(available(RATE, 110, 100), 2);
        assert_eq!(available(RATE, 115, 100), 1);
        assert_eq!(available(RATE, 130, 100), 0);
    }
}
