use super::{Config, Core, Outcome, Permit, Rejected, Role};
use crate::circuit_breaker::State;
use crate::circuit_breaker::window::{Spec, Window};
use crate::circuit_breaker::word::Word;

const SECOND: u64 = 1_000_000_000;

#[test]
fn a_permit_is_its_two_words_without_padding() {
    use std::mem::size_of;
    // The fields fill the struct: no padding after the role for a move of an admission's
    // result to copy in pieces (see `Error`).
    assert_eq!(size_of::<Permit>(), size_of::<Word>() + size_of::<Role>());
    assert_eq!(size_of::<Permit>(), 2 * size_of::<u64>());
    assert_eq!(
        size_of::<Result<(Permit, u64), crate::Error>>(),
        size_of::<crate::Error>()
    );
}

fn config() -> Config {
    Config {
        threshold: 5000,
        consecutive_failures: 0,
        min_calls: 4,
        slow: 0,
        slow_threshold: 5000,
        open_initial: 10 * SECOND,
        open_max: 10 * SECOND,
        half_open: 2,
        critical: false,
        min_calls_given: true,
    }
}

fn count_core(config: Config, size: u32) -> Core {
    Core::new("core", config, Window::new(Spec::Calls(size)))
}

fn at(t: u64) -> impl FnMut() -> u64 {
    move || t
}

fn never() -> impl FnMut() -> u64 {
    || panic!("the clock must not be read here")
}

fn run(core: &Core, outcome: Outcome, t: u64) -> Result<Permit, Rejected> {
    let permit = core.acquire(at(t))?;
    core.complete(permit, outcome, false, at(t));
    Ok(permit)
}

#[test]
fn closed_count_window_success_reads_no_clock() {
    let core = count_core(config(), 10);
    for _ in 0..20 {
        let permit = core.acquire(never()).unwrap();
        core.complete(permit, Outcome::Success, false, never());
    }
    assert_eq!(core.snapshot(never()).successes, 20);
}

#[test]
fn trips_at_the_threshold_once_min_calls_are_in() {
    let core = count_core(config(), 10);
    run(&core, Outcome::Failure, 1).unwrap();
    run(&core, Outcome::Failure, 1).unwrap();
    run(&core, Outcome::Success, 1).unwrap();
    assert_eq!(core.state(), State::Closed);
    // The fourth call completes min_calls with 2 of 4 failed: 50% trips.
    run(&core, Outcome::Success, 1).unwrap();
    assert_eq!(core.state(), State::Open);
    assert_eq!(
        core.acquire(at(SECOND + 1)),
        Err(Rejected {
            retry_after: Some(9 * SECOND)
        })
    );
}

#[test]
fn open_turns_half_open_on_the_first_call_after_the_wait() {
    let core = count_core(
        Config {
            consecutive_failures: 1,
            ..config()
        },
        10,
    );
    run(&core, Outcome::Failure, 1).unwrap();
    assert_eq!(core.state(), State::Open);
    let probe = core.acquire(at(10 * SECOND + 1)).unwrap();
    assert_eq!(probe.role, Role::Probe);
    assert_eq!(core.state(), State::HalfOpen);
    let second = core.acquire(at(10 * SECOND + 1)).unwrap();
    assert_eq!(
        core.acquire(at(10 * SECOND + 1)),
        Err(Rejected { retry_after: None })
    );
    core.complete(probe, Outcome::Success, false, never());
    assert_eq!(core.state(), State::HalfOpen);
    core.complete(second, Outcome::Success, false, never());
    assert_eq!(core.state(), State::Closed);
}

#[test]
fn a_call_from_an_old_generation_does_not_record_into_the_new_window() {
    let core = count_core(config(), 10);
    let old = core.acquire(never()).unwrap();
    core.force(State::Closed, true);
    core.complete(old, Outcome::Failure, false, never());
    let s = core.snapshot(never());
    assert_eq!((s.window.calls, s.failures), (0, 1));
}

#[test]
fn a_neutral_probe_gives_its_slot_back() {
    let core = count_core(
        Config {
            consecutive_failures: 1,
            half_open: 1,
            ..config()
        },
        10,
    );
    run(&core, Outcome::Failure, 1).unwrap();
    let probe = core.acquire(at(11 * SECOND)).unwrap();
    assert!(core.acquire(at(11 * SECOND)).is_err());
    core.complete(probe, Outcome::Cancelled, false, never());
    assert_eq!(core.snapshot(never()).probes_in_flight, 0);
    let probe = core.acquire(at(11 * SECOND)).unwrap();
    core.complete(probe, Outcome::Ignored, false, never());
    let probe = core.acquire(at(11 * SECOND)).unwrap();
    core.complete(probe, Outcome::Success, false, never());
    assert_eq!(core.state(), State::Closed);
}

#[test]
fn a_failed_round_doubles_the_wait_up_to_the_cap() {
    let config = Config {
        consecutive_failures: 1,
        half_open: 1,
        open_max: 25 * SECOND,
        ..config()
    };
    let core = count_core(config, 10);
    run(&core, Outcome::Failure, 1).unwrap();
    let mut t = 1;
    for wait in [10, 20, 25, 25] {
        assert_eq!(
            core.acquire(at(t)),
            Err(Rejected {
                retry_after: Some(wait * SECOND)
            })
        );
        t += wait * SECOND;
        run(&core, Outcome::Failure, t).unwrap();
        assert_eq!(core.state(), State::Open);
    }
}

#[test]
fn time_window_trips_on_a_success_that_completes_min_calls() {
    let core = Core::new("core", config(), Window::new(Spec::Time(10 * SECOND)));
    for _ in 0..3 {
        run(&core, Outcome::Failure, SECOND).unwrap();
    }
    assert_eq!(core.state(), State::Closed);
    run(&core, Outcome::Success, 2 * SECOND).unwrap();
    assert_eq!(core.state(), State::Open);
}

#[test]
fn counters_add_up_across_states() {
    let core = count_core(
        Config {
            consecutive_failures: 2,
            half_open: 1,
            ..config()
        },
        10,
    );
    run(&core, Outcome::Success, 1).unwrap();
    run(&core, Outcome::Ignored, 1).unwrap();
    let cancelled = core.acquire(at(1)).unwrap();
    core.complete(cancelled, Outcome::Cancelled, false, never());
    run(&core, Outcome::Failure, 1).unwrap();
    run(&core, Outcome::Failure, 1).unwrap();
    assert!(run(&core, Outcome::Success, 2).is_err());
    run(&core, Outcome::Success, 20 * SECOND).unwrap();
    let s = core.snapshot(never());
    assert_eq!(s.state, State::Closed);
    assert_eq!(
        (
            s.successes,
            s.failures,
            s.ignored,
            s.rejections,
            s.cancelled
        ),
        (2, 2, 1, 1, 1)
    );
    core.reset();
    let s = core.snapshot(never());
    assert_eq!(
        (
            s.successes,
            s.failures,
            s.ignored,
            s.rejections,
            s.cancelled
        ),
        (0, 0, 0, 0, 0)
    );
}

/// After a change of window size, a success counted without the window's lock lands in the
/// new window: the window holds every call since the change.
#[test]
fn successes_after_a_change_of_window_size_are_counted_in_the_new_window() {
    let core = count_core(
        Config {
            min_calls: 2,
            ..config()
        },
        4,
    );
    core.set_window(Spec::Calls(6));
    for calls in 1..=5 {
        let permit = core.acquire(never()).unwrap();
        assert!(core.complete_closed_success(permit, never()));
        assert_eq!(core.snapshot(never()).window.calls, calls);
    }
}
