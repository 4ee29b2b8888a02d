//! The adaptive bulkhead through its runtime API, in virtual time: what is a sample and what
//! is not, how the limit moves, drops, events, bounds and settings.
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use resilience_runtime::bulkhead::adaptive::Algorithm;
use resilience_runtime::{Bulkhead, Error, ErrorKind, Failure};
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn adaptive(algorithm: Algorithm, max: u32, initial: u32) -> &'static Bulkhead {
    named("test/adaptive", algorithm, max, initial)
}

/// An adaptive bulkhead of its own name, for a test that reads its events (tests run at the
/// same time, and events are the process's).
fn named(name: &'static str, algorithm: Algorithm, max: u32, initial: u32) -> &'static Bulkhead {
    Box::leak(Box::new(
        Bulkhead::builder(name)
            .max(max)
            .queue(10_000)
            .adaptive(algorithm)
            .initial(initial)
            .build()
            .unwrap(),
    ))
}

/// What each call of the loop does: wait this long, then answer this.
#[derive(Clone, Copy)]
enum Outcome {
    Ok,
    TimedOut,
    CircuitOpen,
}

/// `callers` tasks calling through `bulkhead` until stopped, each call waiting `latency` ms
/// and ending with `outcome`.
fn load(
    bulkhead: &'static Bulkhead,
    callers: usize,
    latency: &'static AtomicU64,
    outcome: Outcome,
) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..callers {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(SeqCst) {
                let _ = bulkhead
                    .call(async {
                        sleep(ms(latency.load(SeqCst))).await;
                        match outcome {
                            Outcome::Ok => Ok::<(), Failure<()>>(()),
                            Outcome::TimedOut => Err(Failure::Rejected(Error::new(
                                ErrorKind::TimedOut,
                                "test/attempt",
                            ))),
                            Outcome::CircuitOpen => Err(Failure::Rejected(Error::new(
                                ErrorKind::CircuitOpen,
                                "test/breaker",
                            ))),
                        }
                    })
                    .await;
            }
        });
    }
    stop
}

#[tokio::test(start_paused = true)]
async fn calls_that_answer_at_once_are_no_samples() {
    let b = adaptive(Algorithm::Gradient2, 100, 20);
    for _ in 0..10_000 {
        b.call(async { Ok::<(), Failure<()>>(()) }).await.unwrap();
        tokio::time::advance(ms(1)).await;
    }
    assert_eq!(b.limit(), 20, "ten seconds of calls that never waited");
}

#[tokio::test(start_paused = true)]
async fn the_limit_ramps_while_nothing_queues_then_falls_with_the_latency() {
    static LATENCY: AtomicU64 = AtomicU64::new(100);
    let b = named("test/adaptive-events", Algorithm::Gradient2, 100, 10);
    let mut events = resilience_runtime::event::subscribe();
    let stop = load(b, 60, &LATENCY, Outcome::Ok);
    // A window opens at its first sample (the first call ends at 100 ms) and closes at the
    // first sample a second later: 10 until 1.1 s, then 20, 40, 80, 100.
    let mut seen = Vec::new();
    for _ in 0..5 {
        sleep(Duration::from_secs(1)).await;
        seen.push(b.limit());
    }
    assert_eq!(seen, [10, 20, 40, 80, 100]);
    // Ten windows in all at 100 ms settle the long-term RTT (Gradient2 averages its first ten
    // plainly), then three times the latency: the limit only falls.
    sleep(Duration::from_secs(6)).await;
    assert_eq!(b.limit(), 100);
    LATENCY.store(300, SeqCst);
    let mut slow = Vec::new();
    for _ in 0..10 {
        sleep(Duration::from_secs(1)).await;
        slow.push(b.limit());
    }
    assert!(slow.windows(2).all(|w| w[1] <= w[0]), "{slow:?}");
    assert!(slow[9] < 60, "{slow:?}");
    stop.store(true, SeqCst);
    let mut changes = Vec::new();
    while let Some(e) = events.try_recv() {
        if let (resilience_runtime::EventKind::LimitChanged { from, to }, "test/adaptive-events") =
            (e.what, e.policy)
        {
            changes.push((from, to));
        }
    }
    // Other tests' events share the channel and may push the oldest out: what arrived is a
    // chain of changes that ends at the limit now.
    assert!(changes.len() >= 2, "{changes:?}");
    assert!(changes.iter().all(|(from, to)| from != to));
    assert!(changes.windows(2).all(|w| w[0].1 == w[1].0), "{changes:?}");
    assert_eq!(changes.last().unwrap().1, b.limit());
    assert_eq!(b.metrics().max, b.limit());
}

#[tokio::test(start_paused = true)]
async fn timeouts_inside_back_the_limit_off_and_rejections_below_are_no_samples() {
    static SHORT: AtomicU64 = AtomicU64::new(150);
    let timed_out = adaptive(Algorithm::Gradient2, 100, 50);
    let stop = load(timed_out, 60, &SHORT, Outcome::TimedOut);
    sleep(Duration::from_millis(5_500)).await;
    stop.store(true, SeqCst);
    // 0.9 a window, rounded down by the algorithm's own arithmetic: 45, 40, 36, 32, 29.
    assert!(timed_out.limit() <= 33, "{}", timed_out.limit());

    let rejected = adaptive(Algorithm::Aimd, 100, 50);
    let stop = load(rejected, 60, &SHORT, Outcome::CircuitOpen);
    sleep(Duration::from_secs(5)).await;
    stop.store(true, SeqCst);
    assert_eq!(
        rejected.limit(),
        50,
        "a breaker's rejections say nothing of latency"
    );
}

#[tokio::test(start_paused = true)]
async fn aimd_adds_one_per_busy_window() {
    static LATENCY: AtomicU64 = AtomicU64::new(200);
    let b = adaptive(Algorithm::Aimd, 100, 10);
    let stop = load(b, 30, &LATENCY, Outcome::Ok);
    sleep(Duration::from_millis(5_100)).await;
    stop.store(true, SeqCst);
    // Windows from 0.2 s closing at 1.2, 2.2, 3.2 and 4.2 s: four of them, one each.
    assert_eq!(b.limit(), 14);
}

#[tokio::test(start_paused = true)]
async fn a_call_cancelled_while_it_waits_counts_its_time_but_is_no_drop() {
    static LONG: AtomicU64 = AtomicU64::new(10_000);
    let b = adaptive(Algorithm::Aimd, 100, 40);
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..40 {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(SeqCst) {
                // Cut from outside after 200 ms: cancelled, not timed out inside.
                let _ = tokio::time::timeout(
                    ms(200),
                    b.call(async {
                        sleep(ms(LONG.load(SeqCst))).await;
                        Ok::<(), Failure<()>>(())
                    }),
                )
                .await;
            }
        });
    }
    sleep(Duration::from_millis(3_100)).await;
    stop.store(true, SeqCst);
    // Busy windows without a drop (from 0.2 s, closing at 1.2 and 2.2 s): AIMD adds one each.
    assert_eq!(b.limit(), 42);
    assert!(b.metrics().cancelled > 0);
}

#[test]
fn bounds_are_checked_and_settings_change_by_builder() {
    let field = |b: resilience_runtime::BulkheadBuilder| b.build().unwrap_err().field();
    let base = Bulkhead::builder("test/bounds").max(10);
    assert_eq!(field(base.min(2)), "min");
    assert_eq!(field(base.initial(2)), "initial");
    assert_eq!(field(base.adaptive(Algorithm::Aimd).min(0)), "min");
    assert_eq!(field(base.adaptive(Algorithm::Aimd).min(11)), "min");
    assert_eq!(
        field(base.adaptive(Algorithm::Aimd).min(3).initial(2)),
        "initial"
    );
    assert_eq!(field(base.adaptive(Algorithm::Aimd).initial(11)), "initial");
    // The bounds themselves are valid.
    let b = base
        .adaptive(Algorithm::Aimd)
        .min(10)
        .initial(10)
        .build()
        .unwrap();
    assert_eq!((b.min(), b.limit()), (10, 10), "min = max = initial");
    let b = base
        .adaptive(Algorithm::Aimd)
        .min(3)
        .initial(3)
        .build()
        .unwrap();
    assert_eq!(b.limit(), 3, "initial = min");
    let slots = resilience_runtime::MAX_BULKHEAD_SLOTS;
    assert!(Bulkhead::builder("test/bounds").max(slots).build().is_ok());
    assert_eq!(
        field(Bulkhead::builder("test/bounds").max(slots + 1)),
        "max"
    );
    // A change's error names this bulkhead, whatever its builder's name.
    let e = b
        .reconfigure(Bulkhead::builder("another").max(0))
        .unwrap_err();
    assert_eq!((e.policy(), e.field()), ("test/bounds", "max"));
    // The default initial, 20, within the bounds.
    let b = base.adaptive(Algorithm::Gradient2).build().unwrap();
    assert_eq!(
        (b.limit(), b.max(), b.min(), b.initial()),
        (10, 10, 1, Some(10))
    );
    let b = Bulkhead::builder("test/bounds")
        .max(100)
        .adaptive(Algorithm::Gradient2)
        .min(30)
        .build()
        .unwrap();
    assert_eq!((b.limit(), b.min(), b.initial()), (30, 30, Some(30)));
    let b = Bulkhead::builder("test/bounds")
        .max(100)
        .adaptive(Algorithm::Gradient2)
        .build()
        .unwrap();
    assert_eq!((b.limit(), b.max()), (20, 100));
    // Unchanged bounds keep the limit; new ones start it over; fixed again is max.
    b.reconfigure(b.settings().queue(5)).unwrap();
    assert_eq!(b.limit(), 20);
    b.reconfigure(b.settings().initial(7)).unwrap();
    assert_eq!((b.limit(), b.initial()), (7, Some(7)));
    b.reconfigure(b.settings().fixed()).unwrap();
    assert_eq!(
        (b.adaptive(), b.limit(), b.max(), b.min(), b.initial()),
        (None, 100, 100, 1, None)
    );
    b.reset();
    assert_eq!((b.adaptive(), b.limit()), (Some(Algorithm::Gradient2), 20));
    assert_eq!(Algorithm::from_name(" aimd "), Some(Algorithm::Aimd));
    assert_eq!(
        Algorithm::from_name("gradient2"),
        Some(Algorithm::Gradient2)
    );
    assert_eq!(Algorithm::from_name("vegas"), None);
    assert_eq!(
        (Algorithm::Aimd.as_str(), Algorithm::Gradient2.as_str()),
        ("aimd", "gradient2")
    );
}

/// One call at a time through an AIMD bulkhead starting at 2: each window is busy (1 in flight
/// of 2), so each one closed adds one.
async fn one_at_a_time(latency: u64, calls: usize) -> &'static Bulkhead {
    let b = adaptive(Algorithm::Aimd, 10, 2);
    for _ in 0..calls {
        b.call(async {
            sleep(ms(latency)).await;
            Ok::<(), Failure<()>>(())
        })
        .await
        .unwrap();
    }
    b
}

#[tokio::test(start_paused = true)]
async fn a_window_closes_at_ten_samples_and_a_second() {
    // 200 ms calls: the window opens at the first (0.2 s); the tenth (2.0 s) closes it.
    assert_eq!(one_at_a_time(200, 9).await.limit(), 2);
    assert_eq!(one_at_a_time(200, 10).await.limit(), 3);
    // 100 ms calls: ten samples by 1.0 s, but the window is a second old only at 1.1 s.
    assert_eq!(one_at_a_time(100, 10).await.limit(), 2);
    assert_eq!(one_at_a_time(100, 11).await.limit(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_waits_no_time_is_no_sample() {
    let b = adaptive(Algorithm::Aimd, 10, 2);
    for _ in 0..100 {
        // Pending once, but no time passes: under 100 µs.
        b.call(async {
            tokio::task::yield_now().await;
            Ok::<(), Failure<()>>(())
        })
        .await
        .unwrap();
        tokio::time::advance(ms(50)).await;
    }
    assert_eq!(b.limit(), 2, "five seconds of calls, no sample");
}

#[tokio::test(start_paused = true)]
async fn new_bounds_move_the_learnt_limit_into_them() {
    static LATENCY: AtomicU64 = AtomicU64::new(100);
    // No initial given: 20 by default, which follows the bounds.
    let b = adaptive(Algorithm::Aimd, 200, 20);
    let b2 = Box::leak(Box::new(
        Bulkhead::builder("test/bounds-moved")
            .max(200)
            .queue(10_000)
            .adaptive(Algorithm::Aimd)
            .build()
            .unwrap(),
    ));
    let _ = b;
    let stop = load(b2, 30, &LATENCY, Outcome::Ok);
    sleep(Duration::from_millis(5_100)).await;
    stop.store(true, SeqCst);
    let learnt = b2.limit();
    assert_eq!(learnt, 24, "20 and one per busy window");
    // A lower max alone is valid (the default initial follows it) and caps the limit.
    b2.set_max(10).unwrap();
    assert_eq!((b2.limit(), b2.max(), b2.initial()), (10, 10, Some(10)));
    // A higher one lets it grow from where it is, not from initial.
    b2.set_max(400).unwrap();
    assert_eq!(b2.limit(), 10);
    b2.reconfigure(b2.settings().min(15)).unwrap();
    assert_eq!(b2.limit(), 15, "a higher min lifts it");
}

#[tokio::test(start_paused = true)]
async fn a_reset_starts_the_learnt_limit_over_from_initial() {
    static LATENCY: AtomicU64 = AtomicU64::new(200);
    let b = named("test/reset-learnt", Algorithm::Aimd, 100, 10);
    let stop = load(b, 30, &LATENCY, Outcome::Ok);
    sleep(Duration::from_millis(3_100)).await;
    stop.store(true, SeqCst);
    assert!(b.limit() > 10, "it learnt: {}", b.limit());
    b.reset();
    assert_eq!(b.limit(), 10);
}
