use super::buckets::MAX_BUCKET_CALLS;
use super::count::CountWindow;
use super::fixed::{Count, Time};
use super::ring::Ring;
use super::{Active, Recorded, Spec, Tally, Window};

#[test]
fn count_window_holds_the_last_n_outcomes() {
    let w = Count::new(4);
    w.record(true, false, true);
    w.record(true, true, true);
    assert_eq!(
        w.tally(),
        Tally {
            calls: 2,
            failures: 2,
            slow: 1
        }
    );
    for _ in 0..2 {
        w.record(false, false, true);
    }
    assert_eq!(
        w.tally(),
        Tally {
            calls: 4,
            failures: 2,
            slow: 1
        }
    );
    // The fifth call overwrites the first failure, the sixth the slow failure.
    w.record(false, false, true);
    assert_eq!(
        w.tally(),
        Tally {
            calls: 4,
            failures: 1,
            slow: 1
        }
    );
    w.record(false, false, true);
    assert_eq!(
        w.tally(),
        Tally {
            calls: 4,
            failures: 0,
            slow: 0
        }
    );
    assert_eq!(w.lifetime_calls(), 6);
}

/// A success that saw the window filled just before a change of settings (which raised
/// `min_calls`) is counted without the lock and lands on the new `min_calls`; the next
/// locked outcome, beyond it, must still check for a trip.
#[test]
fn after_a_change_of_settings_the_next_outcome_at_or_beyond_min_calls_checks() {
    let w = CountWindow::new();
    let ring = Ring::new(10);
    let tally = |calls, failures| {
        Some(Tally {
            calls,
            failures,
            slow: 0,
        })
    };
    assert_eq!(w.record(ring, true, false, || 2), tally(1, 1));
    assert_eq!(w.record(ring, true, false, || 2), tally(2, 2));
    assert!(w.is_filled());
    w.count_success(); // 3 calls
    // A success reads "filled" here; then `min_calls` goes up to 5.
    w.settings_changed(|| {});
    assert!(!w.is_filled());
    assert_eq!(
        w.record(ring, false, false, || 5),
        None,
        "4 calls, below min_calls"
    );
    w.count_success(); // the racing success: 5 calls, counted without the lock
    assert_eq!(
        w.record(ring, false, false, || 5),
        tally(6, 2),
        "6 calls: the first locked outcome at or beyond min_calls checks"
    );
    assert!(w.is_filled());
    assert_eq!(
        w.record(ring, false, false, || 5),
        None,
        "filled: no more checks"
    );
    assert_eq!(w.tally(ring), tally(7, 2).unwrap());
}

#[test]
fn count_window_clear_empties_it_and_keeps_the_lifetime_total() {
    let w = Count::new(1000);
    for i in 0..1500 {
        w.record(i % 3 == 0, i % 5 == 0, true);
    }
    assert_eq!(w.tally().calls, 1000);
    w.clear(|| {});
    assert_eq!(w.tally(), Tally::default());
    assert_eq!(w.lifetime_calls(), 1500);
    w.record(true, false, true);
    assert_eq!(
        w.tally(),
        Tally {
            calls: 1,
            failures: 1,
            slow: 0
        }
    );
    w.reset(|| {});
    assert_eq!(w.lifetime_calls(), 0);
}

#[test]
fn count_window_aggregates_stay_exact_under_contention() {
    let w = Count::new(100);
    std::thread::scope(|s| {
        for t in 0..4 {
            let w = &w;
            s.spawn(move || {
                for i in 0..10_000 {
                    w.record((i + t) % 2 == 0, i % 7 == 0, true);
                }
            });
        }
    });
    let t = w.tally();
    let (failure_bits, failures, slow_bits, slow) = w.bits();
    assert_eq!(t.calls, 100);
    assert_eq!((t.failures, t.slow), (failures, slow));
    assert_eq!((failures, slow), (failure_bits, slow_bits));
    assert_eq!(w.lifetime_calls(), 40_000);
}

/// The window against a list of the last `size` outcomes, with successes counted without
/// the lock between locked outcomes and reads at random, for sizes on and across word
/// boundaries, gaps shorter and longer than the window, and clears.
#[test]
fn count_window_holds_the_last_n_outcomes_whatever_is_counted_without_the_lock() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for size in [1, 2, 3, 63, 64, 65, 100, 129, 1000] {
        let w = Count::new(size);
        let mut model = std::collections::VecDeque::new();
        for _ in 0..20_000 {
            match random(100) {
                0 => {
                    w.clear(|| {});
                    model.clear();
                }
                1..=9 => {
                    let t = w.tally();
                    let failures = model.iter().filter(|(f, _)| *f).count() as u64;
                    let slow = model.iter().filter(|(_, s)| *s).count() as u64;
                    assert_eq!(
                        t,
                        Tally {
                            calls: model.len() as u64,
                            failures,
                            slow
                        },
                        "size {size}"
                    );
                }
                roll => {
                    // Runs of successes, some longer than the window.
                    let (failed, slow) = (roll % 7 == 0, roll % 11 == 0);
                    let times = if failed || slow {
                        1
                    } else {
                        1 + random(2 * u64::from(size))
                    };
                    for _ in 0..times {
                        w.record(failed, slow, true);
                        model.push_back((failed, slow));
                        if model.len() > size as usize {
                            model.pop_front();
                        }
                    }
                }
            }
            let (failure_bits, failures, slow_bits, slow) = w.bits();
            assert_eq!((failures, slow), (failure_bits, slow_bits), "size {size}");
        }
    }
}

const SECOND: u64 = 1_000_000_000;

#[test]
fn time_window_forgets_buckets_older_than_its_duration() {
    let w = Time::new(10 * SECOND);
    w.record(1, true, false);
    w.record(SECOND / 2, false, true);
    w.record(5 * SECOND, true, false);
    assert_eq!(
        w.tally(5 * SECOND),
        Tally {
            calls: 3,
            failures: 2,
            slow: 1
        }
    );
    // At 10s the bucket [0s, 1s) is recycled; [5s, 6s) stays.
    assert_eq!(
        w.tally(10 * SECOND),
        Tally {
            calls: 1,
            failures: 1,
            slow: 0
        }
    );
    assert_eq!(w.tally(15 * SECOND), Tally::default());
    assert_eq!(w.lifetime_calls(), 3);
}

#[test]
fn time_window_survives_a_long_idle_gap() {
    let w = Time::new(10 * SECOND);
    for i in 0..10 {
        w.record(i * SECOND + 1, true, false);
    }
    assert_eq!(w.tally(9 * SECOND + 1).calls, 10);
    assert_eq!(w.record(1000 * SECOND, false, false), Recorded::Yes);
    assert_eq!(
        w.tally(1000 * SECOND),
        Tally {
            calls: 1,
            failures: 0,
            slow: 0
        }
    );
    assert_eq!(w.lifetime_calls(), 11);
}

#[test]
fn time_window_drops_an_outcome_already_outside_it() {
    let w = Time::new(10 * SECOND);
    w.record(20 * SECOND, false, false);
    assert_eq!(w.record(SECOND, true, false), Recorded::Expired);
    assert_eq!(
        w.tally(20 * SECOND),
        Tally {
            calls: 1,
            failures: 0,
            slow: 0
        }
    );
}

#[test]
fn time_window_stops_counting_a_full_bucket_instead_of_wrapping() {
    let w = Time::new(10 * SECOND);
    for i in 0..MAX_BUCKET_CALLS {
        assert_eq!(w.record(1, i % 2 == 0, i % 4 == 0), Recorded::Yes);
    }
    assert_eq!(w.record(1, true, true), Recorded::Full);
    assert_eq!(
        w.tally(1),
        Tally {
            calls: MAX_BUCKET_CALLS,
            failures: MAX_BUCKET_CALLS.div_ceil(2),
            slow: MAX_BUCKET_CALLS.div_ceil(4)
        }
    );
    // The next bucket starts empty.
    assert_eq!(w.record(SECOND, true, false), Recorded::Yes);
    assert_eq!(w.tally(SECOND).calls, MAX_BUCKET_CALLS + 1);
    assert_eq!(w.lifetime_calls(), MAX_BUCKET_CALLS + 1);
}

#[test]
fn time_window_forgets_its_buckets_after_an_idle_gap_of_any_number_of_laps() {
    // Buckets of one tick: a lap is ten ticks, and stamps hold laps modulo 2^16. Gaps of
    // 2^16 laps (the stamp comes round to the same value) and of 2^15 + 5 laps (an old
    // stamp that compares as newer) must forget the old calls like any other gap.
    for gap in [1 << 16, (1 << 15) + 5, 1 << 15, 3 << 16, 2, 3] {
        let w = Time::new(10);
        for t in 0..10 {
            w.record(t, true, true);
        }
        assert_eq!(w.tally(9).calls, 10);
        let later = 5 + 10 * gap;
        assert_eq!(w.record(later, false, false), Recorded::Yes, "gap {gap}");
        assert_eq!(
            w.tally(later),
            Tally {
                calls: 1,
                failures: 0,
                slow: 0
            },
            "gap {gap}"
        );
        assert_eq!(w.lifetime_calls(), 11, "gap {gap}");
    }
}

#[test]
fn time_window_counts_every_racing_record() {
    let w = Time::new(10 * SECOND);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let w = &w;
            s.spawn(move || {
                for i in 0..10_000u64 {
                    // Two buckets, so records race recycles as well as each other.
                    let now = if i < 5_000 { 1 } else { SECOND };
                    w.record(now, (i + t) % 2 == 0, i % 5 == 0);
                }
            });
        }
    });
    assert_eq!(
        w.tally(SECOND),
        Tally {
            calls: 40_000,
            failures: 20_000,
            slow: 8_000
        }
    );
    assert_eq!(w.tally(10 * SECOND).calls, 20_000);
    assert_eq!(w.lifetime_calls(), 40_000);
}

#[test]
fn time_window_clear_keeps_the_lifetime_total() {
    let w = Time::new(10 * SECOND);
    w.record(1, true, true);
    w.record(2, false, false);
    w.clear();
    assert_eq!(w.tally(3), Tally::default());
    assert_eq!(w.lifetime_calls(), 2);
    w.reset();
    assert_eq!(w.lifetime_calls(), 0);
}

/// A cleared window keeps its buckets' stamps; after an idle gap of any number of laps, it
/// still records (a breaker that closed, then saw no call for 2^15 window durations or more).
#[test]
fn time_window_cleared_then_idle_for_any_number_of_laps_records_again() {
    for gap in [1 << 16, (1 << 15) + 5, 1 << 15, 3 << 16, 2, 3] {
        let w = Time::new(10);
        for t in 0..10 {
            w.record(t, true, true);
        }
        w.clear();
        let later = 5 + 10 * gap;
        assert_eq!(w.record(later, true, false), Recorded::Yes, "gap {gap}");
        assert_eq!(
            w.tally(later),
            Tally {
                calls: 1,
                failures: 1,
                slow: 0
            },
            "gap {gap}"
        );
        assert_eq!(w.lifetime_calls(), 11, "gap {gap}");
    }
}

/// A call that read the clock before an idle gap ended, and records after a later call jumped
/// the window over it, still counts while its time is inside the window: the jump restamps
/// the buckets of the window's live periods for them.
#[test]
fn time_window_counts_a_late_call_inside_it_after_an_idle_gap() {
    let w = Time::new(10 * SECOND);
    w.record(SECOND, true, false);
    // After an idle gap of about ten windows, the next call moves the window to [91s, 101s).
    assert_eq!(w.record(100 * SECOND, false, false), Recorded::Yes);
    // Calls that read the clock at 95s and at 91s finish now.
    assert_eq!(w.record(95 * SECOND, true, false), Recorded::Yes);
    assert_eq!(w.record(91 * SECOND, true, true), Recorded::Yes);
    assert_eq!(
        w.tally(100 * SECOND),
        Tally {
            calls: 3,
            failures: 2,
            slow: 1
        }
    );
    // A call before 91s is outside it.
    assert_eq!(w.record(90 * SECOND - 1, true, false), Recorded::Expired);
    assert_eq!(w.lifetime_calls(), 4);
}

/// Time that moves on in steps shorter than the window (so never in a jump over it) for
/// 2^16 laps, with no call in between: the bucket of the one old call is restamped as time
/// passes it, so its call never shows again, not even when its period's stamp comes round
/// to the same value modulo 2^16; and a call in that bucket later counts once.
#[test]
fn time_window_never_shows_an_old_call_again_as_time_runs_through_every_lap() {
    // Buckets of one tick: a lap is ten ticks.
    let w = Time::new(10);
    w.record(3, true, true);
    assert_eq!(w.tally(9).calls, 1);
    let same_stamp = 3 + 10 * (1 << 16);
    for now in (16..=same_stamp + 10).step_by(7) {
        assert_eq!(w.tally(now), Tally::default(), "at {now}");
    }
    let later = same_stamp + 20;
    assert_eq!(w.record(later, true, false), Recorded::Yes);
    assert_eq!(
        w.tally(later),
        Tally {
            calls: 1,
            failures: 1,
            slow: 0
        }
    );
    assert_eq!(w.lifetime_calls(), 2);
}

/// The window at 9.5s of a 10s window is [0s, 10s): a call that read the clock at 0.5s and
/// records then counts, in the window's oldest bucket, until time reaches 10s.
#[test]
fn time_window_counts_a_late_call_in_its_oldest_bucket() {
    let w = Time::new(10 * SECOND);
    w.record(9 * SECOND + SECOND / 2, false, false);
    assert_eq!(w.record(SECOND / 2, true, false), Recorded::Yes);
    assert_eq!(
        w.tally(9 * SECOND + SECOND / 2),
        Tally {
            calls: 2,
            failures: 1,
            slow: 0
        }
    );
    assert_eq!(
        w.tally(10 * SECOND),
        Tally {
            calls: 1,
            failures: 0,
            slow: 0
        }
    );
    assert_eq!(w.record(SECOND / 2, true, false), Recorded::Expired);
    assert_eq!(w.lifetime_calls(), 2);
}

/// A clear keeps the buckets' stamps whole: a window cleared in the last lap before its
/// stamps come round (2^16 laps, and 2^15 where they change sign) records and counts again
/// once time moves into the next lap.
#[test]
fn time_window_cleared_as_its_stamps_come_round_records_again() {
    for turn in [1u64 << 16, 1 << 15] {
        // Buckets of one tick: the periods of lap `turn - 1` are the ticks before `10 * turn`.
        let w = Time::new(10);
        let next_lap = 10 * turn;
        for now in next_lap - 11..next_lap - 1 {
            w.record(now, true, true);
        }
        assert_eq!(w.tally(next_lap - 2).calls, 10, "turn {turn}");
        w.clear();
        let later = next_lap + 2;
        assert_eq!(w.record(later, true, false), Recorded::Yes, "turn {turn}");
        assert_eq!(
            w.tally(later),
            Tally {
                calls: 1,
                failures: 1,
                slow: 0
            },
            "turn {turn}"
        );
        assert_eq!(w.lifetime_calls(), 11, "turn {turn}");
    }
}

/// What the window that records holds now.
fn tally_of(w: &Window, now: u64) -> Tally {
    w.tally(|| now)
}

/// Records one outcome at `now` into the window that records.
fn record_into(w: &Window, now: u64, failed: bool) {
    match w.active() {
        Active::Count(c, ring) => {
            c.record(ring, failed, false, || 1);
        }
        Active::Time(t, span) => {
            t.record(span, now, failed, false);
        }
    }
}

/// A change of shape starts a fresh, empty window, also when it goes back to a shape (and so
/// to a window) used before; the lifetime total keeps every call.
#[test]
fn a_change_of_shape_starts_an_empty_window_even_back_to_an_earlier_shape() {
    for (first, second) in [
        (Spec::Time(10 * SECOND), Spec::Time(20 * SECOND)),
        (Spec::Calls(4), Spec::Calls(2)),
        (Spec::Calls(4), Spec::Time(10 * SECOND)),
    ] {
        let w = Window::new(first);
        record_into(&w, 1, true);
        record_into(&w, 1, false);
        assert_eq!(tally_of(&w, 1).calls, 2, "{first:?}");
        assert!(
            !w.reshape(first),
            "{first:?}: the same shape changes nothing"
        );
        assert_eq!(tally_of(&w, 1).calls, 2, "{first:?}");
        assert!(w.reshape(second), "{first:?} to {second:?}");
        assert_eq!(w.spec(), second);
        assert_eq!(tally_of(&w, 1), Tally::default(), "{second:?}");
        record_into(&w, 1, true);
        assert!(w.reshape(first), "{second:?} back to {first:?}");
        assert_eq!(w.spec(), first);
        assert_eq!(tally_of(&w, 1), Tally::default(), "back to {first:?}");
        record_into(&w, 1, true);
        assert_eq!(
            tally_of(&w, 1),
            Tally {
                calls: 1,
                failures: 1,
                slow: 0
            },
            "back to {first:?}"
        );
        assert_eq!(w.lifetime_calls(), 4, "{first:?}");
    }
}

/// The count window that records, and its ring.
fn recording(w: &Window) -> (&CountWindow, Ring) {
    match w.active() {
        Active::Count(c, ring) => (c, ring),
        Active::Time(..) => unreachable!("a count window records"),
    }
}

/// Records a success into `c` as the breaker does (`min_calls` 1), opening the fast lane
/// when it fills the window.
fn fill(w: &Window, c: &CountWindow, ring: Ring) {
    c.record_then(ring, false, false, || 1, || w.open_lane(c));
}

/// Once the window that records holds `min_calls`, its plain successes take the fast lane
/// (no lock); a late call (admitted before a change of shape) that fills the old window
/// leaves the new window's lane closed, so the new window still checks its first calls.
#[test]
fn the_fast_lane_opens_only_for_the_window_that_records() {
    let w = Window::new(Spec::Calls(4));
    let (old, old_ring) = recording(&w);
    assert!(w.reshape(Spec::Calls(2)));
    fill(&w, old, old_ring);
    assert!(w.fast_lane().is_none(), "the old window filled");
    let (new, ring) = recording(&w);
    fill(&w, new, ring);
    assert!(w.fast_lane().is_some_and(|lane| std::ptr::eq(lane, new)));
}

/// Emptying the window, resetting it or changing the settings closes the fast lane, for the
/// window of either slot: the next successes take the lock again until the window holds
/// `min_calls`, under the new settings.
#[test]
fn emptying_the_window_or_changing_the_settings_closes_the_fast_lane() {
    let closes = [
        ("clear", Window::clear as fn(&Window)),
        ("reset", Window::reset),
        ("settings_changed", Window::settings_changed),
    ];
    for reshaped in [false, true] {
        for (name, close) in closes {
            let w = Window::new(Spec::Calls(4));
            if reshaped {
                assert!(w.reshape(Spec::Calls(3)));
            }
            let (c, ring) = recording(&w);
            fill(&w, c, ring);
            assert!(w.fast_lane().is_some(), "{name}, reshaped {reshaped}");
            close(&w);
            assert!(w.fast_lane().is_none(), "{name}, reshaped {reshaped}");
            assert!(!c.is_filled(), "{name}, reshaped {reshaped}");
        }
    }
}

/// A call that read the shape before a change records into the window it read, which the
/// change leaves alone: the new shape records into the other window, emptied for it, so the
/// late call is in neither the new window nor the next one.
#[test]
fn a_late_call_records_into_the_window_it_read_never_into_the_new_one() {
    let w = Window::new(Spec::Calls(4));
    assert!(w.reshape(Spec::Calls(3)));
    let (late, late_ring) = recording(&w);
    assert!(w.reshape(Spec::Calls(2)));
    late.record(late_ring, true, false, || 1);
    assert_eq!(tally_of(&w, 0), Tally::default());
    record_into(&w, 0, false);
    assert_eq!(
        tally_of(&w, 0),
        Tally {
            calls: 1,
            failures: 0,
            slow: 0
        }
    );
}

/// A time window longer than the shape word holds (73 years) is the longest it holds, not a
/// duration cut to its low bits; one that fits is kept to the tick.
#[test]
fn a_time_window_beyond_what_the_shape_holds_is_the_longest_it_holds() {
    const LONGEST: u64 = (1 << 61) - 1;
    for (asked, held) in [
        (u64::MAX, LONGEST),
        (LONGEST + 1, LONGEST),
        (LONGEST, LONGEST),
        (LONGEST - 1, LONGEST - 1),
        (60 * SECOND, 60 * SECOND),
    ] {
        assert_eq!(Spec::Time(asked).clamped(), Spec::Time(held), "{asked}");
        assert_eq!(
            Window::new(Spec::Time(asked)).spec(),
            Spec::Time(held),
            "{asked}"
        );
    }
}
