//! The hedge through its runtime API, in virtual time: when attempts start, which one wins,
//! what is cancelled and counted, failures, the budget, the percentile delay, and settings.
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use resilience_runtime::hedge::{After, MIN_SAMPLES};
use resilience_runtime::{Failure, Hedge, RetryBudget};
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn hedge(after: u64, max: u32) -> Hedge {
    Hedge::builder("test/hedge")
        .after(ms(after))
        .max(max)
        .build()
        .unwrap()
}

/// Attempt `n` (from 0) takes `latencies[n]` ms, then answers `Ok(n)`, or `Err(n)` when its
/// latency is odd. Counts attempts started and attempts dropped before they answered.
struct Dependency {
    latencies: Vec<u64>,
    started: AtomicU32,
    dropped: Arc<AtomicU32>,
}

struct Dropped(Arc<AtomicU32>, bool);

impl Drop for Dropped {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, SeqCst);
        }
    }
}

impl Dependency {
    fn new(latencies: &[u64]) -> Self {
        Dependency {
            latencies: latencies.to_vec(),
            started: AtomicU32::new(0),
            dropped: Arc::new(AtomicU32::new(0)),
        }
    }

    fn attempt(&self) -> impl Future<Output = Result<u32, Failure<u32>>> + use<> {
        let n = self.started.fetch_add(1, SeqCst);
        let latency = self.latencies[n as usize];
        let guard = Dropped(self.dropped.clone(), false);
        async move {
            // The whole guard, not only its flag, belongs to the attempt.
            let mut guard = guard;
            sleep(ms(latency)).await;
            guard.1 = true;
            if latency % 2 == 1 {
                Err(Failure::Error(n))
            } else {
                Ok(n)
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_answers_in_time_is_not_hedged() {
    let h = hedge(50, 1);
    let dep = Dependency::new(&[20]);
    assert_eq!(h.call(|| dep.attempt()).await.unwrap(), 0);
    assert_eq!(dep.started.load(SeqCst), 1);
    let m = h.metrics();
    assert_eq!((m.calls, m.hedges, m.wins, m.cancelled), (1, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_is_hedged_after_the_delay_and_the_first_success_wins() {
    let h = hedge(50, 1);
    let dep = Dependency::new(&[1000, 20]);
    let t = Instant::now();
    assert_eq!(h.call(|| dep.attempt()).await.unwrap(), 1);
    assert_eq!(t.elapsed(), ms(70));
    assert_eq!(
        dep.dropped.load(SeqCst),
        1,
        "the slow first attempt was dropped"
    );
    let m = h.metrics();
    assert_eq!((m.calls, m.hedges, m.wins, m.cancelled), (1, 1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn hedges_start_one_delay_apart_up_to_max() {
    let h = hedge(30, 2);
    // All slow: attempts at 0, 30 and 60 ms; the third answers first, at 60 + 100.
    let dep = Dependency::new(&[1000, 1000, 100, 0]);
    let t = Instant::now();
    assert_eq!(h.call(|| dep.attempt()).await.unwrap(), 2);
    assert_eq!(t.elapsed(), ms(160));
    assert_eq!(dep.started.load(SeqCst), 3, "no more than max hedges");
    assert_eq!(dep.dropped.load(SeqCst), 2);
    let m = h.metrics();
    assert_eq!((m.hedges, m.wins, m.cancelled), (2, 1, 2));
    // The first attempt can win after hedges started: not a hedge's win.
    let dep = Dependency::new(&[40, 1000]);
    assert_eq!(h.call(|| dep.attempt()).await.unwrap(), 0);
    let m = h.metrics();
    assert_eq!((m.calls, m.hedges, m.wins, m.cancelled), (2, 3, 1, 3));
}

#[tokio::test(start_paused = true)]
async fn a_failure_alone_ends_the_call_and_beside_others_waits_for_them() {
    let h = hedge(30, 2);
    // Alone: the failure at 11 ms is the call's, no hedge.
    let dep = Dependency::new(&[11]);
    assert!(matches!(
        h.call(|| dep.attempt()).await,
        Err(Failure::Error(0))
    ));
    assert_eq!(dep.started.load(SeqCst), 1);
    // The first fails at 51 ms while the hedge (from 30) runs; the hedge answers at 130; the
    // second hedge (from 60) is cancelled.
    let dep = Dependency::new(&[51, 100, 1000]);
    let t = Instant::now();
    assert_eq!(h.call(|| dep.attempt()).await.unwrap(), 1);
    assert_eq!(t.elapsed(), ms(130));
    assert_eq!(dep.dropped.load(SeqCst), 1);
    // Every attempt fails: the last failure.
    let dep = Dependency::new(&[101, 51, 11]);
    let t = Instant::now();
    assert!(matches!(
        h.call(|| dep.attempt()).await,
        Err(Failure::Error(0))
    ));
    assert_eq!(t.elapsed(), ms(101));
    assert_eq!(dep.started.load(SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_cancels_every_attempt_running() {
    let h = hedge(10, 3);
    let dep = Dependency::new(&[1000, 1000, 1000, 1000]);
    let _ = tokio::time::timeout(ms(25), h.call(|| dep.attempt())).await;
    assert_eq!(dep.started.load(SeqCst), 3);
    assert_eq!(dep.dropped.load(SeqCst), 3);
    assert_eq!(h.metrics().cancelled, 3);
}

#[tokio::test(start_paused = true)]
async fn a_refused_hedge_is_skipped_and_the_call_goes_on() {
    // No floor and no ratio: the budget refuses every hedge.
    static NONE: RetryBudget = match RetryBudget::builder("test/hedge-budget")
        .ratio(0.0001)
        .min(0, Duration::from_secs(1))
        .build()
    {
        Ok(b) => b,
        Err(_) => panic!("invalid budget"),
    };
    let h = Hedge::builder("test/budgeted")
        .after(ms(10))
        .max(3)
        .budget(&NONE)
        .build()
        .unwrap();
    let dep = Dependency::new(&[100]);
    let t = Instant::now();
    assert_eq!(h.call(|| dep.attempt()).await.unwrap(), 0);
    assert_eq!(t.elapsed(), ms(100), "the first attempt answered, unhedged");
    let m = h.metrics();
    assert_eq!(
        (m.hedges, m.skipped),
        (0, 1),
        "one refusal stops the call's hedging"
    );
    assert_eq!(NONE.metrics().deposits, 1);
    assert_eq!(NONE.metrics().refused, 1);
}

#[tokio::test(start_paused = true)]
async fn a_percentile_delay_starts_at_initial_and_hedged_calls_record_at_least_it() {
    let h = Hedge::builder("test/p95")
        .after_percentile(950)
        .initial(ms(200))
        .build()
        .unwrap();
    assert_eq!(h.delay(), ms(200));
    let calls = MIN_SAMPLES as usize + 28; // 128: the percentile is worked out
    let dep = Dependency::new(&vec![40; calls]);
    for _ in 0..calls {
        h.call(|| dep.attempt()).await.unwrap();
    }
    assert_eq!(h.delay(), ms(40));
    assert_eq!(h.metrics().delay, ms(40));
    // 32 calls whose first attempt hangs and whose hedge takes 10 ms: each records 50 ms
    // (from the call's start), so the percentile rises to it rather than falling to 10.
    let mut latencies = Vec::new();
    for _ in 0..32 {
        latencies.extend([10_000, 10]);
    }
    let dep = Dependency::new(&latencies);
    for _ in 0..32 {
        h.call(|| dep.attempt()).await.unwrap();
    }
    assert_eq!(h.delay(), ms(50));
    // Failures are not recorded: 128 fast failures leave it.
    let dep = Dependency::new(&vec![1; 128]);
    for _ in 0..128 {
        let _ = h.call(|| dep.attempt()).await;
    }
    assert_eq!(h.delay(), ms(50));
}

#[tokio::test]
async fn settings_change_together_and_reset_brings_back_the_declared_ones() {
    static BUDGET: RetryBudget = match RetryBudget::builder("test/settings-budget").build() {
        Ok(b) => b,
        Err(_) => panic!("invalid budget"),
    };
    let h = hedge(50, 1);
    assert_eq!(
        (h.after(), h.initial(), h.max()),
        (After::Fixed(ms(50)), None, 1)
    );
    h.reconfigure(h.settings().after_percentile(990).max(3))
        .unwrap();
    assert_eq!(h.after(), After::Percentile(990));
    assert_eq!(
        h.initial(),
        Some(resilience_runtime::hedge::DEFAULT_INITIAL)
    );
    assert_eq!(h.max(), 3);
    let e = h.reconfigure(h.settings().max(11)).unwrap_err();
    assert_eq!(e.field(), "max");
    let e = h.reconfigure(h.settings().budget(&BUDGET)).unwrap_err();
    assert_eq!(e.field(), "budget");
    assert_eq!(h.max(), 3, "nothing changed");
    // A change names this hedge in its error, whatever name its builder was made with.
    let e = h
        .reconfigure(Hedge::builder("another").after(Duration::ZERO))
        .unwrap_err();
    assert_eq!((e.policy(), e.field()), ("test/hedge", "after"));
    h.reset();
    assert_eq!((h.after(), h.max()), (After::Fixed(ms(50)), 1));
    for (bad, field) in [
        (Hedge::builder("b").build(), "after"),
        (Hedge::builder("b").after(Duration::ZERO).build(), "after"),
        (Hedge::builder("b").after_percentile(499).build(), "after"),
        (Hedge::builder("b").after_percentile(1000).build(), "after"),
        (
            Hedge::builder("b").after(ms(5)).initial(ms(5)).build(),
            "initial",
        ),
        (
            Hedge::builder("b")
                .after_percentile(950)
                .initial(Duration::ZERO)
                .build(),
            "initial",
        ),
        (Hedge::builder("b").after(ms(5)).max(0).build(), "max"),
    ] {
        assert_eq!(bad.unwrap_err().field(), field);
    }
    assert!(Hedge::builder("b").after_percentile(500).build().is_ok());
    assert!(
        Hedge::builder("b")
            .after_percentile(999)
            .max(10)
            .build()
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_percentile_forgets_the_latencies_and_the_same_one_keeps_them() {
    static BUDGET: RetryBudget = match RetryBudget::builder("test/kept-budget").build() {
        Ok(b) => b,
        Err(_) => panic!("invalid budget"),
    };
    let h = Hedge::builder("test/kept")
        .after_percentile(950)
        .initial(ms(200))
        .budget(&BUDGET)
        .build()
        .unwrap();
    assert_eq!(h.name(), "test/kept");
    assert!(std::ptr::eq(h.budget().unwrap(), &BUDGET));
    assert_eq!(
        h.settings(),
        h.settings(),
        "settings compare equal, budget included"
    );
    static OTHER: RetryBudget = match RetryBudget::builder("test/other-budget").build() {
        Ok(b) => b,
        Err(_) => panic!("invalid budget"),
    };
    assert_ne!(
        h.settings(),
        h.settings().budget(&OTHER),
        "budgets compare by identity"
    );
    let dep = Dependency::new(&[40; 128]);
    for _ in 0..128 {
        h.call(|| dep.attempt()).await.unwrap();
    }
    assert_eq!(h.delay(), ms(40));
    h.reconfigure(h.settings().max(2)).unwrap();
    assert_eq!(
        h.delay(),
        ms(40),
        "the same percentile keeps what it learnt"
    );
    h.reconfigure(h.settings().after_percentile(990)).unwrap();
    assert_eq!(h.delay(), ms(200), "a new one starts from initial");
}

#[tokio::test(start_paused = true)]
async fn calls_that_answer_at_once_are_not_recorded_and_a_percentile_hedge_can_turn_fixed() {
    let h = Hedge::builder("test/cache-above")
        .after_percentile(950)
        .initial(ms(80))
        .build()
        .unwrap();
    // Cache hits: 1,000 calls that never wait.
    for _ in 0..1000 {
        h.call(|| async { Ok::<_, Failure<()>>(1) }).await.unwrap();
    }
    assert_eq!(
        h.delay(),
        ms(80),
        "no hit was recorded; the initial delay stands"
    );
    // `settings().after(..)` makes it a fixed-delay hedge (the initial delay goes with it).
    h.reconfigure(h.settings().after(ms(30))).unwrap();
    assert_eq!((h.after(), h.initial()), (After::Fixed(ms(30)), None));
}
