//! Model checks of the state machine (`--cfg resilience_loom`; see `.ci/run`): every
//! interleaving of a few concurrent calls, including stale reads of the `Relaxed` atomics.

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use loom::sync::Arc;
use loom::thread;

use super::{Config, Core, Outcome, Permit, Rejected, Role};
use crate::circuit_breaker::State;
use crate::circuit_breaker::window::{Spec, Window};
use crate::circuit_breaker::word::Word;

/// The open wait, in ticks.
const WAIT: u64 = 10;

/// Trips at a failure rate of `threshold` (hundredths of a percent) over at least
/// `min_calls` calls; one probe.
fn rate(threshold: u32, min_calls: u32) -> Config {
    Config {
        threshold,
        consecutive_failures: 0,
        min_calls,
        ..consecutive(1)
    }
}

fn consecutive(half_open: u32) -> Config {
    Config {
        threshold: 5000,
        consecutive_failures: 1,
        min_calls: 1,
        slow: 0,
        slow_threshold: 5000,
        open_initial: WAIT,
        open_max: 4 * WAIT,
        half_open,
        critical: false,
        min_calls_given: true,
    }
}

fn breaker(config: Config) -> Arc<Core> {
    Arc::new(Core::new("loom", config, Window::new(Spec::Calls(4))))
}

fn word(core: &Core) -> Word {
    Word(core.word.0.load(Acquire))
}

fn at(t: u64) -> impl FnMut() -> u64 {
    move || t
}

/// One call of a closed breaker at tick 1, completed with `outcome`.
fn record(core: &Core, outcome: Outcome) {
    let permit = core.acquire(at(1)).expect("closed");
    core.complete(permit, outcome, false, at(1));
}

/// Trips the breaker at tick 1: it is open (generation 1) until tick `1 + WAIT`.
fn trip(core: &Core) {
    let permit = core.acquire(at(1)).expect("a closed breaker admits");
    core.complete(permit, Outcome::Failure, false, at(1));
    assert_eq!(core.state(), State::Open);
}

/// One call per outcome, each on its own thread, all at tick 1: each is admitted or
/// rejected, and an admitted one completes with its outcome.
fn calls_at_once(core: &Arc<Core>, outcomes: [Outcome; 2]) {
    let threads: Vec<_> = outcomes
        .into_iter()
        .map(|outcome| {
            let core = core.clone();
            thread::spawn(move || {
                if let Ok(permit) = core.acquire(at(1)) {
                    core.complete(permit, outcome, false, at(1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no panic");
    }
}

/// Trips the breaker and turns it half-open with `probes` probe slots taken.
fn half_open_with(core: &Core, probes: u32) -> Vec<Permit> {
    trip(core);
    (0..probes)
        .map(|_| core.acquire(at(1 + WAIT)).expect("a probe slot is free"))
        .collect()
}

#[test]
fn loom_concurrent_failures_trip_the_breaker_exactly_once() {
    loom::model(|| {
        let core = breaker(consecutive(1));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let core = core.clone();
                thread::spawn(move || match core.acquire(at(1)) {
                    Ok(permit) => core.complete(permit, Outcome::Failure, false, at(1)),
                    Err(rejected) => assert_eq!(rejected.retry_after, Some(WAIT)),
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        let w = word(&core);
        assert_eq!((w.state(), w.generation()), (State::Open, 1));
        assert_eq!(core.open_generation.load(Acquire), 1);
        assert_eq!(core.open_deadline.load(Relaxed), 1 + WAIT);
        let s = core.snapshot(at(1));
        assert_eq!(s.failures + s.rejections, 2);
    });
}

#[test]
fn loom_a_rate_reaching_the_threshold_trips_even_when_its_calls_race() {
    loom::model(|| {
        // Both calls must fail for the rate (100% of 2) to trip.
        let core = breaker(rate(10_000, 2));
        // Neither can be rejected: one failure cannot trip before `min_calls`.
        calls_at_once(&core, [Outcome::Failure, Outcome::Failure]);
        assert_eq!(core.state(), State::Open);
    });
}

/// The success that completes `min_calls` checks for a trip as a failure does: racing a
/// failure, whichever records second sees a rate of 50% over 2 calls and trips.
#[test]
fn loom_the_success_completing_min_calls_trips_when_it_races_a_failure() {
    loom::model(|| {
        let core = breaker(rate(5000, 2));
        calls_at_once(&core, [Outcome::Failure, Outcome::Success]);
        assert_eq!(core.state(), State::Open);
        let s = core.snapshot(at(1));
        // Both were admitted: neither call alone reaches `min_calls`.
        assert_eq!((s.successes, s.failures, s.rejections), (1, 1, 0));
    });
}

/// Once the window holds `min_calls`, successes skip its lock. A failure racing such a
/// success counts it or not (either order is a valid history), and trips if the rate it
/// then reads reaches the threshold: with 25%, both [S F] and [S S F] trip.
#[test]
fn loom_a_success_without_the_lock_racing_a_failure_is_counted_once_and_the_failure_trips() {
    loom::model(|| {
        let core = breaker(rate(2500, 1));
        let first = core.acquire(at(1)).expect("closed");
        core.complete(first, Outcome::Success, false, at(1));
        // The success may come after the trip, and be rejected.
        calls_at_once(&core, [Outcome::Failure, Outcome::Success]);
        assert_eq!(core.state(), State::Open);
        let s = core.snapshot(at(1));
        assert_eq!(s.failures, 1);
        assert_eq!(s.successes + s.rejections, 2);
    });
}

/// A plain success of a filled window skips its lock (the fast lane); a change of settings
/// closes the lane, so some success after it checks for a trip under the new threshold,
/// whichever way it races the change.
#[test]
fn loom_a_change_of_settings_racing_a_plain_success_closes_the_fast_lane() {
    loom::model(|| {
        let core = breaker(rate(5000, 2));
        for outcome in [
            Outcome::Success,
            Outcome::Success,
            Outcome::Success,
            Outcome::Failure,
        ] {
            record(&core, outcome);
        }
        assert_eq!(core.state(), State::Closed); // 25% failed, below 50%
        let success = |core: &Core| {
            if let Ok(permit) = core.acquire(at(1)) {
                assert!(core.complete_closed_success(permit, at(1)));
            }
        };
        let changer = {
            let core = core.clone();
            thread::spawn(move || {
                core.set_config(Config {
                    threshold: 2500,
                    ..rate(5000, 2)
                })
            })
        };
        let racer = {
            let core = core.clone();
            thread::spawn(move || success(&core))
        };
        changer.join().expect("no panic");
        racer.join().expect("no panic");
        success(&core);
        // The window still holds one failure in 4: at the new threshold of 25%.
        assert_eq!(core.state(), State::Open);
    });
}

/// The lane opens when the window becomes filled, only if consecutive failures are not
/// counted; turning them on races that opening, and whichever way it goes, the lane is
/// closed once both are done.
#[test]
fn loom_turning_on_consecutive_failures_racing_the_filling_success_leaves_the_lane_closed() {
    loom::model(|| {
        let core = breaker(rate(5000, 4));
        for _ in 0..3 {
            record(&core, Outcome::Success);
        }
        assert!(core.window.fast_lane().is_none()); // 3 of `min_calls` 4
        let changer = {
            let core = core.clone();
            thread::spawn(move || {
                core.set_config(Config {
                    consecutive_failures: 2,
                    ..rate(5000, 4)
                });
            })
        };
        let filler = {
            let core = core.clone();
            thread::spawn(move || record(&core, Outcome::Success))
        };
        changer.join().expect("no panic");
        filler.join().expect("no panic");
        assert!(core.window.fast_lane().is_none());
    });
}

#[test]
fn loom_a_caller_that_sees_the_breaker_open_sees_its_deadline() {
    loom::model(|| {
        let core = breaker(consecutive(1));
        let tripper = {
            let core = core.clone();
            thread::spawn(move || trip(&core))
        };
        // Tick 5 is inside the wait: whatever this call sees, it must not turn the breaker
        // half-open (as it would if it read the open state but not its deadline).
        match core.acquire(at(5)) {
            Ok(permit) => {
                assert_eq!(permit.role, Role::Closed);
                core.complete(permit, Outcome::Success, false, at(5));
            }
            // The deadline is published (1 + WAIT - 5), or not yet (the whole wait).
            Err(rejected) => assert!(
                matches!(rejected.retry_after, Some(r) if r == WAIT - 4 || r == WAIT),
                "{rejected:?}"
            ),
        }
        tripper.join().expect("no panic");
        assert_eq!(core.state(), State::Open);
    });
}

#[test]
fn loom_half_open_admits_exactly_the_probe_limit() {
    loom::model(|| {
        let core = breaker(consecutive(2));
        trip(&core);
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let core = core.clone();
                thread::spawn(move || core.acquire(at(1 + WAIT)))
            })
            .collect();
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("no panic"))
            .collect();
        let probes = results
            .iter()
            .filter(|r| matches!(r, Ok(p) if p.role == Role::Probe))
            .count();
        assert_eq!(probes, 2, "{results:?}");
        assert!(results.contains(&Err(Rejected { retry_after: None })));
        let w = word(&core);
        // One transition from open: generation 1 was the trip.
        assert_eq!(
            (w.state(), w.generation(), w.taken()),
            (State::HalfOpen, 2, 2)
        );
    });
}

#[test]
fn loom_concurrent_probe_successes_close_the_breaker_exactly_once() {
    loom::model(|| {
        let core = breaker(consecutive(2));
        let probes = half_open_with(&core, 2);
        let threads: Vec<_> = probes
            .into_iter()
            .map(|probe| {
                let core = core.clone();
                thread::spawn(move || core.complete(probe, Outcome::Success, false, at(1 + WAIT)))
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        let w = word(&core);
        assert_eq!((w.state(), w.generation()), (State::Closed, 3));
        assert_eq!(core.snapshot(at(1 + WAIT)).successes, 2);
    });
}

#[test]
fn loom_a_failed_probe_racing_a_successful_one_reopens_once_with_the_doubled_wait() {
    loom::model(|| {
        let core = breaker(consecutive(2));
        let probes = half_open_with(&core, 2);
        let threads: Vec<_> = probes
            .into_iter()
            .zip([Outcome::Success, Outcome::Failure])
            .map(|(probe, outcome)| {
                let core = core.clone();
                thread::spawn(move || core.complete(probe, outcome, false, at(1 + WAIT)))
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        let w = word(&core);
        assert_eq!((w.state(), w.generation()), (State::Open, 3));
        assert_eq!(core.open_generation.load(Acquire), 3);
        assert_eq!(core.open_wait.load(Relaxed), 2 * WAIT);
        assert_eq!(core.open_deadline.load(Relaxed), 1 + 3 * WAIT);
    });
}

#[test]
fn loom_a_cancelled_probe_frees_its_slot_and_never_more_than_the_limit_run() {
    loom::model(|| {
        let core = breaker(consecutive(1));
        let probe = half_open_with(&core, 1).remove(0);
        let canceller = {
            let core = core.clone();
            thread::spawn(move || core.complete(probe, Outcome::Cancelled, false, at(1)))
        };
        let newcomer = core.acquire(at(1 + WAIT));
        canceller.join().expect("no panic");
        let w = word(&core);
        assert_eq!(w.state(), State::HalfOpen);
        match newcomer {
            // It took the freed slot: one probe in flight, as before.
            Ok(permit) => {
                assert_eq!(permit.role, Role::Probe);
                assert_eq!((w.taken(), w.in_flight()), (1, 1));
            }
            // It came before the slot was freed.
            Err(rejected) => {
                assert_eq!(rejected.retry_after, None);
                assert_eq!((w.taken(), w.in_flight()), (0, 0));
            }
        }
        assert_eq!(core.snapshot(at(1)).cancelled, 1);
    });
}

#[test]
fn loom_a_late_failure_from_the_closed_state_does_not_disturb_the_probe_round() {
    loom::model(|| {
        let core = breaker(consecutive(1));
        // Admitted while closed, still running when another call trips the breaker.
        let late = core.acquire(at(1)).expect("closed");
        trip(&core);
        let finisher = {
            let core = core.clone();
            thread::spawn(move || core.complete(late, Outcome::Failure, false, at(1 + WAIT)))
        };
        let probe = core.acquire(at(1 + WAIT)).expect("the wait is over");
        finisher.join().expect("no panic");
        assert_eq!(probe.role, Role::Probe);
        let w = word(&core);
        assert_eq!(
            (w.state(), w.generation(), w.taken()),
            (State::HalfOpen, 2, 1)
        );
        assert_eq!(core.snapshot(at(1 + WAIT)).failures, 2);
    });
}
