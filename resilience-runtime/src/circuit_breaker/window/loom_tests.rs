//! Model checks of the windows' aggregates (`--cfg resilience_loom`; see `.ci/run`).

use loom::sync::Arc;
use loom::thread;

use super::count::CountWindow;
use super::fixed::{Count, Time};
use super::{Active, Recorded, Spec, Tally, Window};

/// The window's aggregates equal its bits.
fn assert_consistent(w: &CountWindow) {
    let (failure_bits, failures, slow_bits, slow) = w.bits();
    assert_eq!((failures, slow), (failure_bits, slow_bits));
}

#[test]
fn loom_count_window_aggregates_equal_its_bits_when_records_race_a_clear() {
    loom::model(|| {
        let w = Arc::new(Count::new(4));
        let recorders: Vec<_> = [(true, true), (true, false)]
            .into_iter()
            .map(|(failed, slow)| {
                let w = w.clone();
                thread::spawn(move || {
                    w.record(failed, slow, true);
                })
            })
            .collect();
        w.clear(|| {});
        for t in recorders {
            t.join().expect("no panic");
        }
        assert_consistent(&w);
        assert_eq!(w.lifetime_calls(), 2);
        let t = w.tally();
        assert!(t.failures <= t.calls && t.slow <= t.calls);
    });
}

/// A success counted without the lock racing a failure (locked) and a read: each is
/// counted once, in one order or the other, and the window of 2 holds both.
#[test]
fn loom_a_success_counted_without_the_lock_and_a_racing_failure_are_each_counted_once() {
    loom::model(|| {
        let w = Arc::new(Count::new(2));
        // Fills the window (min_calls 1): later plain successes skip the lock.
        w.record(false, false, true);
        assert!(w.is_filled());
        let success = {
            let w = w.clone();
            thread::spawn(move || w.count_success())
        };
        let failure = {
            let w = w.clone();
            thread::spawn(move || {
                w.record(true, false, true);
            })
        };
        let seen = w.tally();
        assert!(seen.calls >= 1 && seen.failures <= 1, "{seen:?}");
        success.join().expect("no panic");
        failure.join().expect("no panic");
        assert_eq!(
            w.tally(),
            Tally {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        assert_consistent(&w);
        assert_eq!(w.lifetime_calls(), 3);
    });
}

/// A clear racing a success counted without the lock: the success is in the emptied
/// window or before it, and in the lifetime total either way.
#[test]
fn loom_a_clear_racing_a_success_counted_without_the_lock_keeps_it_once() {
    loom::model(|| {
        let w = Arc::new(Count::new(4));
        w.record(true, false, true);
        let success = {
            let w = w.clone();
            thread::spawn(move || w.count_success())
        };
        w.clear(|| {});
        success.join().expect("no panic");
        let t = w.tally();
        assert!(t.calls <= 1 && t.failures == 0, "{t:?}");
        assert_consistent(&w);
        assert_eq!(w.lifetime_calls(), 2);
    });
}

/// A change of shape racing records: whichever window each record lands in, every
/// window's aggregates equal its bits, none is set beyond the size it was written with,
/// and no record is lost from the lifetime total.
#[test]
fn loom_a_resize_racing_records_keeps_every_window_equal_to_its_contents() {
    loom::model(|| {
        let w = Arc::new(Window::new(Spec::Calls(4)));
        let recorder = {
            let w = w.clone();
            thread::spawn(move || {
                for failed in [true, true] {
                    match w.active() {
                        Active::Count(c, ring) => c.record(ring, failed, failed, || 1),
                        Active::Time(..) => unreachable!(),
                    };
                }
            })
        };
        assert!(w.reshape(Spec::Calls(2)));
        recorder.join().expect("no panic");
        for c in &w.count {
            assert_consistent(c);
        }
        // The new window (slot 1) of size 2 holds nothing beyond its two slots.
        assert_eq!(w.count[1].failure_word() & !0b11, 0);
        assert_eq!(w.lifetime_calls(), 2);
        assert_eq!(w.spec(), Spec::Calls(2));
        let t = w.tally(|| 0);
        assert!(t.failures <= t.calls && t.calls <= 2, "{t:?}");
    });
}

/// Every call recorded is in a live bucket or retired, exactly once.
#[test]
fn loom_time_window_loses_no_record_when_a_record_races_a_recycle() {
    loom::model(|| {
        // Buckets of 1 tick: ticks 1 and 11 fall in the same bucket, ten periods apart.
        let w = Arc::new(Time::new(10));
        let old = {
            let w = w.clone();
            thread::spawn(move || w.record(1, true, false))
        };
        let new = w.record(11, false, true);
        let old = old.join().expect("no panic");
        assert_eq!(new, Recorded::Yes);
        let recorded = 1 + u64::from(old == Recorded::Yes);
        assert_eq!(w.lifetime_calls(), recorded);
    });
}

/// The tear this file once had: a call recording at tick 1, preempted between its check
/// of the bucket's period and its increments while another call recycled that bucket for
/// tick 11, left its failure in the new period. A record is now one CAS of the bucket's
/// period and counts together, so it lands whole in its own period (and is retired with
/// it) or not at all.
#[test]
fn loom_time_window_holds_no_part_of_a_record_from_an_expired_period() {
    loom::model(|| {
        let w = Arc::new(Time::new(10));
        let old = {
            let w = w.clone();
            thread::spawn(move || w.record(1, true, false))
        };
        w.record(11, false, true);
        old.join().expect("no panic");
        let t = w.tally(11);
        assert_eq!(
            t,
            Tally {
                calls: 1,
                failures: 0,
                slow: 1
            }
        );
    });
}

/// A clear racing records loses none of them from the lifetime total, and leaves each
/// record whole in the window or retired.
#[test]
fn loom_time_window_clear_racing_records_keeps_every_record_whole() {
    loom::model(|| {
        let w = Arc::new(Time::new(10));
        let recorder = {
            let w = w.clone();
            thread::spawn(move || w.record(1, true, true))
        };
        w.clear();
        assert_eq!(recorder.join().expect("no panic"), Recorded::Yes);
        assert_eq!(w.lifetime_calls(), 1);
        let t = w.tally(1);
        assert!(
            t == Tally::default()
                || t == Tally {
                    calls: 1,
                    failures: 1,
                    slow: 1
                },
            "{t:?}"
        );
    });
}
