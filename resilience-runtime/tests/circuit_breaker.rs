//! Behaviour of the circuit breaker, in virtual time.

#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{
    CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerMetrics, Classification, Error, ErrorKind,
    Failure, State,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use common::events;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Boom;

type Outcome = Result<u32, Failure<Boom>>;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Every test builds its breakers here (or installs the recorder itself before its first
/// call), so the event recorder is in place before any test emits an event: an event site that
/// another test's call reaches first while the recorder is being installed is registered with no
/// subscriber yet, and `tracing` then never sends the recorder that site's events.
fn breaker(
    configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
) -> CircuitBreaker {
    events::install("events");
    configure(CircuitBreaker::builder("test")).build().unwrap()
}

async fn succeed(b: &CircuitBreaker) -> Outcome {
    b.call(async { Ok(1) }).await
}

async fn fail(b: &CircuitBreaker) -> Outcome {
    b.call(async { Err(Failure::Error(Boom)) }).await
}

/// Calls that fail (`F`) or succeed (`S`), in order.
async fn run(b: &CircuitBreaker, calls: &str) {
    for c in calls.chars() {
        let _ = if c == 'F' {
            fail(b).await
        } else {
            succeed(b).await
        };
    }
}

/// A call that takes `d` (of virtual time) and succeeds.
async fn take(b: &CircuitBreaker, d: Duration) -> Outcome {
    b.call(async move {
        tokio::time::sleep(d).await;
        Ok(1)
    })
    .await
}

fn rejection(outcome: Outcome) -> Error {
    match outcome {
        Err(Failure::Rejected(e)) => e,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// (successes, failures, ignored, rejections, cancelled), checking that they add up to `calls`.
fn counts(m: &CircuitBreakerMetrics) -> (u64, u64, u64, u64, u64) {
    assert_eq!(
        m.calls,
        m.successes + m.failures + m.ignored + m.rejections + m.cancelled
    );
    (
        m.successes,
        m.failures,
        m.ignored,
        m.rejections,
        m.cancelled,
    )
}

/// Trips a `consecutive_failures(1)` breaker, or any breaker whose next failure trips it.
async fn trip(b: &CircuitBreaker) {
    fail(b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
}

/// A call held in flight until the sender answers it.
fn hold(b: &Arc<CircuitBreaker>) -> (JoinHandle<Outcome>, oneshot::Sender<Outcome>) {
    let (tx, rx) = oneshot::channel();
    let b = Arc::clone(b);
    let task = tokio::spawn(async move { b.call(async move { rx.await.unwrap() }).await });
    (task, tx)
}

/// Lets spawned tasks run until they wait.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

// ---- closed: when it trips ----

#[tokio::test(start_paused = true)]
async fn stays_closed_below_min_calls() {
    let b = breaker(|b| b.window_calls(10).min_calls(5));
    for _ in 0..4 {
        fail(&b).await.unwrap_err();
    }
    let m = b.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!(m.failure_rate, None);
    assert_eq!(m.window_calls, 4);
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_default_min_calls_follows_a_smaller_count_window() {
    let b = breaker(|b| b.window_calls(3));
    for _ in 0..3 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.state(), State::Open);
    // Still the default: it follows the window as it changes.
    b.set_window_calls(50).unwrap();
    b.set_window_calls(2).unwrap();
    let expected = CircuitBreaker::builder("test").window_calls(2);
    assert_eq!(b.settings(), expected.threshold(50.0));
}

#[test]
fn min_calls_above_a_count_window_is_an_error_stating_both() {
    let message = |b: CircuitBreakerBuilder| {
        let e = b.build().unwrap_err();
        assert_eq!(e.field(), "min_calls");
        e.to_string()
    };
    // Above the default window of 100, as above an explicit one.
    assert_eq!(
        message(CircuitBreaker::builder("cb").min_calls(200)),
        "invalid `min_calls` for policy `cb`: min_calls = 200 is more than the window of 100 calls, so the breaker could never trip; make it at most 100"
    );
    assert_eq!(
        message(CircuitBreaker::builder("cb").window_calls(10).min_calls(20)),
        "invalid `min_calls` for policy `cb`: min_calls = 20 is more than the window of 10 calls, so the breaker could never trip; make it at most 10"
    );
    // A time window holds any number of calls.
    let time = CircuitBreaker::builder("cb")
        .window_time(secs(60))
        .min_calls(200);
    assert!(time.build().is_ok());
    // At run time, a window below a given min_calls is refused too; nothing changes.
    let b = breaker(|b| b.window_calls(50).min_calls(30));
    let before = b.settings();
    let e = b.set_window_calls(20).unwrap_err();
    assert_eq!(
        e.message(),
        "min_calls = 30 is more than the window of 20 calls, so the breaker could never trip; make it at most 20"
    );
    assert_eq!(b.set_min_calls(51).unwrap_err().field(), "min_calls");
    assert_eq!(b.settings(), before);
    b.set_min_calls(20).unwrap();
    b.set_window_calls(20).unwrap();
    let expected = CircuitBreaker::builder("test")
        .window_calls(20)
        .min_calls(20);
    assert_eq!(b.settings(), expected.threshold(50.0));
}

#[tokio::test(start_paused = true)]
async fn trips_when_the_failure_rate_reaches_the_threshold() {
    let b = breaker(|b| b.threshold(50.0).window_calls(10).min_calls(4));
    succeed(&b).await.unwrap();
    fail(&b).await.unwrap_err();
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().failure_rate, Some(50.0));
}

#[tokio::test(start_paused = true)]
async fn a_success_that_completes_min_calls_can_trip() {
    let b = breaker(|b| b.threshold(50.0).window_calls(10).min_calls(4));
    for _ in 0..3 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.state(), State::Closed);
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn count_window_slides_old_failures_out() {
    let b = breaker(|b| b.threshold(75.0).window_calls(4).min_calls(4));
    run(&b, "FFSSS").await;
    // The first failure has left the window: [F S S S].
    assert_eq!(b.metrics().failure_rate, Some(25.0));
    fail(&b).await.unwrap_err(); // [S S S F]
    fail(&b).await.unwrap_err(); // [S S F F]
    assert_eq!(b.state(), State::Closed);
    fail(&b).await.unwrap_err(); // [S F F F]: 75%
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_on_failures_within_it() {
    let b = breaker(|b| b.window_time(secs(10)).min_calls(4).threshold(50.0));
    for _ in 0..2 {
        fail(&b).await.unwrap_err();
        succeed(&b).await.unwrap();
        tokio::time::advance(secs(2)).await;
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_buckets_expire() {
    let b = breaker(|b| b.window_time(secs(10)).min_calls(4).threshold(50.0));
    for _ in 0..3 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.metrics().window_calls, 3);
    tokio::time::advance(secs(11)).await;
    assert_eq!(b.metrics().window_calls, 0);
    // Had the old failures stayed, 4 of 7 would trip; alone, 1 of 4 does not.
    fail(&b).await.unwrap_err();
    for _ in 0..3 {
        succeed(&b).await.unwrap();
    }
    let m = b.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!(m.failure_rate, Some(25.0));
}

#[tokio::test(start_paused = true)]
async fn time_window_slides_one_bucket_at_a_time() {
    let b = breaker(|b| b.window_time(secs(10)).min_calls(1));
    succeed(&b).await.unwrap(); // in bucket [0s, 1s)
    tokio::time::advance(secs(5)).await;
    succeed(&b).await.unwrap(); // in bucket [5s, 6s)
    tokio::time::advance(Duration::from_millis(5500)).await; // 10.5s: the first bucket is gone
    assert_eq!(b.metrics().window_calls, 1);
    tokio::time::advance(secs(5)).await; // 15.5s: so is the second
    assert_eq!(b.metrics().window_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_trip_and_a_success_ends_the_run() {
    // min_calls (20 by default) does not apply to a run of consecutive failures.
    let b = breaker(|b| b.consecutive_failures(3));
    run(&b, "FFSFF").await;
    assert_eq!(b.state(), State::Closed);
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_at_the_slow_threshold() {
    let b = breaker(|b| {
        b.slow(secs(1))
            .slow_threshold(50.0)
            .window_calls(10)
            .min_calls(4)
    });
    take(&b, secs(2)).await.unwrap();
    take(&b, Duration::from_millis(10)).await.unwrap();
    take(&b, secs(1)).await.unwrap(); // exactly `slow` is slow
    assert_eq!(b.state(), State::Closed);
    take(&b, Duration::from_millis(999)).await.unwrap();
    let m = b.metrics();
    assert_eq!(m.state, State::Open);
    assert_eq!((m.successes, m.failures, m.slow), (4, 0, 2));
    assert_eq!((m.failure_rate, m.slow_rate), (Some(0.0), Some(50.0)));
}

#[tokio::test(start_paused = true)]
async fn slow_calls_do_not_trip_below_the_slow_threshold() {
    let b = breaker(|b| {
        b.slow(secs(1))
            .slow_threshold(80.0)
            .window_calls(4)
            .min_calls(4)
    });
    for d in [2, 2, 2, 0] {
        take(&b, secs(d)).await.unwrap();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().slow_rate, Some(75.0));
}

// ---- open ----

#[tokio::test(start_paused = true)]
async fn open_rejects_with_the_remaining_wait_as_retry_after() {
    let b = breaker(|b| b.consecutive_failures(1).open(secs(30)));
    trip(&b).await;
    tokio::time::advance(secs(10)).await;
    let ran = AtomicBool::new(false);
    let e = rejection(
        b.call(async {
            ran.store(true, Ordering::Relaxed);
            Ok(1)
        })
        .await,
    );
    assert!(!ran.load(Ordering::Relaxed), "a rejected call must not run");
    assert_eq!(e.kind(), ErrorKind::CircuitOpen);
    assert_eq!(e.policy(), "test");
    assert_eq!(e.retry_after(), Some(secs(20)));
    assert_eq!(counts(&b.metrics()), (0, 1, 0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn turns_half_open_lazily_on_the_first_call_after_the_wait() {
    let b = breaker(|b| b.consecutive_failures(1).open(secs(30)).half_open(2));
    trip(&b).await;
    tokio::time::advance(secs(29)).await;
    assert_eq!(rejection(succeed(&b).await).retry_after(), Some(secs(1)));
    tokio::time::advance(secs(1)).await;
    // No timer: the state changes only when a call arrives.
    assert_eq!(b.state(), State::Open);
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen);
}

// ---- half-open ----

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_probe_limit_and_rejects_the_rest() {
    let b = Arc::new(breaker(|b| {
        b.consecutive_failures(1).open(secs(5)).half_open(2)
    }));
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    let (first, first_tx) = hold(&b);
    let (second, second_tx) = hold(&b);
    settle().await;
    let m = b.metrics();
    assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 2));
    let e = rejection(succeed(&b).await);
    assert_eq!((e.kind(), e.retry_after()), (ErrorKind::CircuitOpen, None));

    first_tx.send(Ok(1)).unwrap();
    second_tx.send(Ok(2)).unwrap();
    assert_eq!(first.await.unwrap(), Ok(1));
    assert_eq!(second.await.unwrap(), Ok(2));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(counts(&b.metrics()), (2, 1, 0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn successful_probes_close_the_breaker_with_a_fresh_window() {
    let b = breaker(|b| {
        b.threshold(50.0)
            .window_calls(10)
            .min_calls(2)
            .half_open(3)
            .open(secs(5))
    });
    fail(&b).await.unwrap_err();
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(secs(5)).await;
    for _ in 0..2 {
        succeed(&b).await.unwrap();
        assert_eq!(b.state(), State::HalfOpen);
    }
    succeed(&b).await.unwrap();
    let m = b.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!((m.window_calls, m.failure_rate), (0, None));
}

#[tokio::test(start_paused = true)]
async fn probes_below_the_threshold_close_the_breaker() {
    let b = breaker(|b| b.threshold(50.0).min_calls(1).half_open(4).open(secs(5)));
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    run(&b, "FSSS").await;
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_reopens_early_once_the_outcome_is_certain() {
    let b = Arc::new(breaker(|b| {
        b.threshold(50.0).min_calls(1).half_open(4).open(secs(5))
    }));
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    // Two probes stay in flight while two others fail: 2 of 4 is already 50%.
    let (slow_a, tx_a) = hold(&b);
    let (slow_b, tx_b) = hold(&b);
    settle().await;
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::HalfOpen);
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejection(succeed(&b).await).retry_after(), Some(secs(5)));
    // The probes still in flight belong to the finished round: they change nothing.
    tx_a.send(Ok(1)).unwrap();
    tx_b.send(Ok(1)).unwrap();
    slow_a.await.unwrap().unwrap();
    slow_b.await.unwrap().unwrap();
    assert_eq!(b.state(), State::Open);
    assert_eq!(counts(&b.metrics()), (2, 3, 0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn in_consecutive_mode_one_failed_probe_reopens() {
    let b = breaker(|b| b.consecutive_failures(2).half_open(3).open(secs(5)));
    fail(&b).await.unwrap_err();
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    succeed(&b).await.unwrap();
    succeed(&b).await.unwrap();
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(secs(10)).await;
    for _ in 0..3 {
        succeed(&b).await.unwrap();
    }
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_probes_reopen_the_breaker() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .slow(secs(1))
            .slow_threshold(50.0)
            .half_open(2)
            .open(secs(5))
    });
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    take(&b, secs(1)).await.unwrap();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_open_wait_doubles_up_to_its_cap_and_resets_after_closing() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .half_open(1)
            .open_exponential(secs(10), secs(25))
    });
    trip(&b).await;
    for wait in [10, 20, 25, 25] {
        assert_eq!(rejection(succeed(&b).await).retry_after(), Some(secs(wait)));
        tokio::time::advance(secs(wait)).await;
        fail(&b).await.unwrap_err(); // the probe fails: open again, for longer
        assert_eq!(b.state(), State::Open);
    }
    tokio::time::advance(secs(25)).await;
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    trip(&b).await;
    assert_eq!(rejection(succeed(&b).await).retry_after(), Some(secs(10)));
}

// ---- what counts ----

#[tokio::test(start_paused = true)]
async fn ignored_errors_are_neither_success_nor_failure() {
    let b = breaker(|b| b.window_calls(10).min_calls(2));
    let ignore = |_: &Boom| Classification::Ignored;
    for _ in 0..5 {
        let e = b
            .call_classified(async { Err::<u32, _>(Failure::Error(Boom)) }, ignore)
            .await;
        assert_eq!(
            e,
            Err(Failure::Error(Boom)),
            "the error passes through unchanged"
        );
    }
    let m = b.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!((m.window_calls, m.failure_rate), (0, None));
    assert_eq!(counts(&m), (0, 0, 5, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_error_classified_as_success_counts_as_one() {
    let b = breaker(|b| b.consecutive_failures(1));
    let r = b
        .call_classified(async { Err::<u32, _>(Failure::Error(Boom)) }, |_| {
            Classification::Success
        })
        .await;
    assert_eq!(r, Err(Failure::Error(Boom)));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(counts(&b.metrics()), (1, 0, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_ignored_probe_frees_its_slot() {
    let b = breaker(|b| b.consecutive_failures(1).half_open(1).open(secs(5)));
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    let ignore = |_: &Boom| Classification::Ignored;
    b.call_classified(async { Err::<u32, _>(Failure::Error(Boom)) }, ignore)
        .await
        .unwrap_err();
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_inner_timeout_counts_as_a_failure() {
    let b = breaker(|b| b.consecutive_failures(2));
    let timed_out = Error::new(ErrorKind::TimedOut, "inner/timeout");
    for _ in 0..2 {
        let r: Outcome = b
            .call(async move { Err(Failure::Rejected(timed_out)) })
            .await;
        assert_eq!(r, Err(Failure::Rejected(timed_out)));
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(counts(&b.metrics()), (0, 2, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn inner_throttling_rejections_are_neutral() {
    let b = breaker(|b| b.consecutive_failures(1));
    for kind in [
        ErrorKind::BulkheadFull,
        ErrorKind::RateLimited,
        ErrorKind::CircuitOpen,
    ] {
        let inner = Error::new(kind, "inner");
        let r: Outcome = b.call(async move { Err(Failure::Rejected(inner)) }).await;
        assert_eq!(r, Err(Failure::Rejected(inner)));
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(counts(&b.metrics()), (0, 0, 3, 0, 0));
}

// ---- cancellation and panics ----

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot_and_counts_as_cancelled() {
    let b = breaker(|b| b.consecutive_failures(1).half_open(1).open(secs(5)));
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    let pending = b.call(std::future::pending::<Outcome>());
    assert!(tokio::time::timeout(secs(1), pending).await.is_err());
    let m = b.metrics();
    assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 0));
    assert_eq!(counts(&m), (0, 1, 0, 0, 1));
    // The freed slot takes the next call, whose success closes the breaker.
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_is_neutral_when_closed() {
    let b = breaker(|b| b.consecutive_failures(1));
    tokio::select! {
        _ = b.call(std::future::pending::<Outcome>()) => unreachable!(),
        _ = tokio::time::sleep(secs(1)) => {}
    }
    let m = b.metrics();
    assert_eq!((m.state, m.window_calls), (State::Closed, 0));
    assert_eq!(counts(&m), (0, 0, 0, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_counts_as_a_failure_and_the_panic_propagates() {
    let b = Arc::new(breaker(|b| b.consecutive_failures(1)));
    let task = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.call(async { panic!("the call panics") }).await as Outcome })
    };
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
    assert_eq!(counts(&b.metrics()), (0, 1, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_probe_frees_its_slot_and_reopens() {
    let b = Arc::new(breaker(|b| {
        b.threshold(50.0).min_calls(1).half_open(2).open(secs(5))
    }));
    trip(&b).await;
    tokio::time::advance(secs(5)).await;
    let (held, tx) = hold(&b);
    settle().await;
    let task = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.call(async { panic!("the probe panics") }).await as Outcome })
    };
    assert!(task.await.unwrap_err().is_panic());
    // 1 failed of 2 probes is 50%: certain, so open again at once.
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().probes_in_flight, 0);
    tx.send(Ok(1)).unwrap();
    held.await.unwrap().unwrap();
    assert_eq!(counts(&b.metrics()), (1, 2, 0, 0, 0));
}

// ---- by hand ----

#[tokio::test(start_paused = true)]
async fn force_open_rejects_until_closed_by_hand() {
    let b = breaker(|b| b.open(secs(1)));
    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    tokio::time::advance(secs(3600)).await;
    let e = rejection(succeed(&b).await);
    assert_eq!((e.kind(), e.retry_after()), (ErrorKind::CircuitOpen, None));
    assert_eq!(b.state(), State::ForcedOpen);
    b.close();
    assert_eq!(b.state(), State::Closed);
    succeed(&b).await.unwrap();
    assert_eq!(counts(&b.metrics()), (1, 0, 0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn disabled_lets_every_call_through_and_records_nothing() {
    let b = breaker(|b| b.consecutive_failures(1));
    b.disable();
    for _ in 0..5 {
        fail(&b).await.unwrap_err();
    }
    let m = b.metrics();
    assert_eq!((m.state, m.window_calls), (State::Disabled, 0));
    assert_eq!(counts(&m), (0, 5, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn metrics_only_records_but_never_opens() {
    let b = breaker(|b| b.window_calls(4).min_calls(4));
    b.metrics_only();
    for _ in 0..6 {
        fail(&b).await.unwrap_err();
    }
    let m = b.metrics();
    assert_eq!(m.state, State::MetricsOnly);
    assert_eq!((m.window_calls, m.failure_rate), (4, Some(100.0)));
    b.close();
    assert_eq!((b.state(), b.metrics().window_calls), (State::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn close_empties_the_window_and_keeps_the_counters() {
    let b = breaker(|b| b.consecutive_failures(1));
    trip(&b).await;
    b.close();
    let m = b.metrics();
    assert_eq!((m.state, m.window_calls), (State::Closed, 0));
    assert_eq!(counts(&m), (0, 1, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn reset_closes_and_clears_every_counter() {
    let b = breaker(|b| b.consecutive_failures(2));
    succeed(&b).await.unwrap();
    fail(&b).await.unwrap_err();
    fail(&b).await.unwrap_err();
    rejection(succeed(&b).await);
    b.reset();
    let m = b.metrics();
    assert_eq!((m.state, m.window_calls), (State::Closed, 0));
    assert_eq!(counts(&m), (0, 0, 0, 0, 0));
    fail(&b).await.unwrap_err();
    assert_eq!(
        b.state(),
        State::Closed,
        "the run of failures starts again from zero"
    );
}

// ---- counters ----

#[tokio::test(start_paused = true)]
async fn counters_add_up_across_every_kind_of_outcome() {
    let b = breaker(|b| {
        b.consecutive_failures(3)
            .half_open(1)
            .open(secs(5))
            .slow(secs(1))
    });
    take(&b, secs(2)).await.unwrap(); // a slow success
    b.call_classified(async { Err::<u32, _>(Failure::Error(Boom)) }, |_| {
        Classification::Ignored
    })
    .await
    .unwrap_err();
    let _ = tokio::time::timeout(secs(1), b.call(std::future::pending::<Outcome>())).await;
    for _ in 0..3 {
        fail(&b).await.unwrap_err();
    }
    rejection(succeed(&b).await);
    rejection(succeed(&b).await);
    tokio::time::advance(secs(5)).await;
    succeed(&b).await.unwrap(); // the probe closes it
    let m = b.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!(counts(&m), (2, 3, 1, 2, 1));
    assert_eq!((m.calls, m.slow), (9, 1));
}

// ---- concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_admits_at_most_the_probe_limit_under_contention() {
    const TASKS: u32 = 200;
    const PROBES: u32 = 5;
    // A 1 ns wait: the breaker is ready for probes as soon as it has opened, in real time.
    let b = Arc::new(breaker(|b| {
        b.consecutive_failures(1)
            .half_open(PROBES)
            .open(Duration::from_nanos(1))
    }));
    for _round in 0..20 {
        trip(&b).await;
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let admitted = Arc::new(AtomicU32::new(0));
        let rejected = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (b, gate, admitted, rejected) =
                    (b.clone(), gate.clone(), admitted.clone(), rejected.clone());
                tokio::spawn(async move {
                    let r: Outcome = b
                        .call(async {
                            admitted.fetch_add(1, Ordering::SeqCst);
                            gate.acquire().await.unwrap().forget();
                            Ok(1)
                        })
                        .await;
                    if r.is_err() {
                        rejected.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        while admitted.load(Ordering::SeqCst) + rejected.load(Ordering::SeqCst) < TASKS {
            tokio::task::yield_now().await;
        }
        assert_eq!(admitted.load(Ordering::SeqCst), PROBES);
        assert_eq!(b.metrics().probes_in_flight, PROBES);
        gate.add_permits(TASKS as usize);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(b.state(), State::Closed);
    }
    let m = b.metrics();
    assert_eq!(
        counts(&m),
        (20 * PROBES as u64, 20, 0, 20 * (TASKS - PROBES) as u64, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_stay_exact_under_contention() {
    let b = Arc::new(breaker(|b| b.window_calls(100)));
    b.metrics_only();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let b = b.clone();
            tokio::spawn(async move {
                for i in 0..2_000u32 {
                    let _ = if (i + t) % 3 == 0 {
                        fail(&b).await
                    } else {
                        succeed(&b).await
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let m = b.metrics();
    assert_eq!(m.calls, 16_000);
    assert_eq!(
        m.failures,
        (0..8u32)
            .map(|t| (0..2_000u32).filter(|i| (i + t) % 3 == 0).count() as u64)
            .sum()
    );
    assert_eq!(m.window_calls, 100);
}

// ---- building ----

static SHARED: CircuitBreaker = match CircuitBreaker::builder("shared")
    .threshold(25.0)
    .window_calls(50)
    .build()
{
    Ok(b) => b,
    Err(_) => panic!("invalid circuit breaker"),
};

#[tokio::test(start_paused = true)]
async fn a_breaker_can_be_a_static() {
    events::install("events");
    succeed(&SHARED).await.unwrap();
    assert_eq!(
        (SHARED.name(), SHARED.state(), SHARED.is_critical()),
        ("shared", State::Closed, false)
    );
    assert!(breaker(|b| b.critical(true)).is_critical());
}

#[test]
fn invalid_configurations_name_the_field_and_the_fix() {
    let err = |configure: fn(CircuitBreakerBuilder) -> CircuitBreakerBuilder| {
        let e = configure(CircuitBreaker::builder("cb"))
            .build()
            .unwrap_err();
        assert_eq!(e.policy(), "cb");
        assert!(
            e.message().contains("write") || e.message().contains("add"),
            "no fix in: {e}"
        );
        e.field()
    };
    assert_eq!(err(|b| b.threshold(0.0)), "threshold");
    assert_eq!(err(|b| b.threshold(100.5)), "threshold");
    assert_eq!(err(|b| b.threshold(f64::NAN)), "threshold");
    assert_eq!(
        err(|b| b.slow(secs(1)).slow_threshold(0.0)),
        "slow_threshold"
    );
    assert_eq!(
        err(|b| b.slow(secs(1)).slow_threshold(101.0)),
        "slow_threshold"
    );
    assert_eq!(err(|b| b.slow_threshold(50.0)), "slow_threshold");
    assert_eq!(err(|b| b.slow(Duration::ZERO)), "slow");
    assert_eq!(err(|b| b.window_calls(0)), "window");
    assert_eq!(err(|b| b.window_calls(1001)), "window");
    assert_eq!(err(|b| b.window_time(Duration::ZERO)), "window");
    assert_eq!(err(|b| b.half_open(0)), "half_open");
    assert_eq!(err(|b| b.half_open(1001)), "half_open");
    assert_eq!(err(|b| b.open(Duration::ZERO)), "open");
    assert_eq!(err(|b| b.open_exponential(Duration::ZERO, secs(1))), "open");
    assert_eq!(err(|b| b.open_exponential(secs(10), secs(5))), "open");
    assert_eq!(err(|b| b.consecutive_failures(0)), "failures");
    assert_eq!(
        err(|b| b.threshold(50.0).consecutive_failures(5)),
        "failures"
    );
    assert_eq!(err(|b| b.min_calls(0)), "min_calls");

    let e = CircuitBreaker::builder("cb")
        .threshold(50.0)
        .consecutive_failures(5)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid `failures` for policy `cb`: cannot be combined with `threshold`: write either \
         threshold = 50% (a failure rate) or failures = 5 (consecutive failures), not both"
    );
    assert!(
        CircuitBreaker::builder("cb")
            .window_calls(resilience_runtime::circuit_breaker::MAX_WINDOW_CALLS)
            .build()
            .is_ok()
    );
}

// ---- events ----

/// The events of the breaker named `events`, as `event` or, for a transition, `from->to`.
fn recorded() -> Vec<String> {
    events::take()
        .into_iter()
        .map(|e| match e.str("event") {
            "state_transition" => format!("{}->{}", e.str("from"), e.str("to")),
            other => other.to_owned(),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_decision_is_an_event() {
    events::install("events");
    let b = Arc::new(
        CircuitBreaker::builder("events")
            .consecutive_failures(1)
            .half_open(2)
            .open(secs(5))
            .slow(secs(1))
            .slow_threshold(60.0)
            .build()
            .unwrap(),
    );

    fail(&b).await.unwrap_err();
    rejection(succeed(&b).await);
    assert_eq!(recorded(), ["failure", "closed->open", "rejected"]);

    tokio::time::advance(secs(5)).await;
    take(&b, secs(2)).await.unwrap();
    succeed(&b).await.unwrap();
    let round = [
        "open->half_open",
        "slow",
        "success",
        "success",
        "half_open->closed",
    ];
    assert_eq!(recorded(), round);

    let _ = tokio::time::timeout(secs(1), b.call(std::future::pending::<Outcome>())).await;
    b.call_classified(async { Err::<u32, _>(Failure::Error(Boom)) }, |_| {
        Classification::Ignored
    })
    .await
    .unwrap_err();
    assert_eq!(recorded(), ["cancelled", "ignored"]);

    let task = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.call(async { panic!("the call panics") }).await as Outcome })
    };
    assert!(task.await.unwrap_err().is_panic());
    b.force_open();
    b.close();
    let manual = [
        "panicked",
        "closed->open",
        "open->forced_open",
        "forced_open->closed",
    ];
    assert_eq!(recorded(), manual);
}

// ---- changing the window at run time ----

#[tokio::test(start_paused = true)]
async fn a_resized_count_window_starts_empty_and_trips_at_its_new_size() {
    let b = breaker(|b| b.window_calls(10).min_calls(10).threshold(50.0));
    run(&b, "FFFFSSSS").await;
    // A window below the given min_calls is refused: min_calls goes first.
    assert_eq!(b.set_window_calls(4).unwrap_err().field(), "min_calls");
    b.set_min_calls(4).unwrap();
    b.set_window_calls(4).unwrap();
    let m = b.metrics();
    assert_eq!((m.state, m.window_calls), (State::Closed, 0));
    // The fourth call decides.
    run(&b, "SFS").await;
    assert_eq!(b.state(), State::Closed);
    run(&b, "F").await;
    assert_eq!(b.state(), State::Open);
    // The counters span both windows.
    assert_eq!(counts(&b.metrics()), (6, 6, 0, 0, 0));
    let now = CircuitBreaker::builder("test")
        .window_calls(4)
        .min_calls(4)
        .threshold(50.0);
    assert_eq!(b.settings(), now);
}

#[tokio::test(start_paused = true)]
async fn a_count_window_grown_at_run_time_holds_more_calls() {
    let b = breaker(|b| b.window_calls(2).min_calls(2).threshold(50.0));
    run(&b, "S").await;
    b.set_window_calls(6).unwrap();
    b.set_min_calls(6).unwrap();
    run(&b, "FFSSS").await;
    assert_eq!((b.state(), b.metrics().window_calls), (State::Closed, 5));
    run(&b, "F").await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_change_to_a_time_window_forgets_calls_as_time_passes() {
    let b = breaker(|b| b.window_calls(100).min_calls(4).threshold(50.0));
    run(&b, "FFS").await;
    b.set_window_time(secs(10)).unwrap();
    assert_eq!(b.metrics().window_calls, 0);
    run(&b, "FFS").await;
    assert_eq!(b.metrics().window_calls, 3);
    tokio::time::advance(secs(11)).await;
    assert_eq!(b.metrics().window_calls, 0);
    // Alone, 1 failure of 4 does not trip; the 3 before the pause would have.
    run(&b, "FSSS").await;
    let m = b.metrics();
    assert_eq!((m.state, m.failure_rate), (State::Closed, Some(25.0)));
    // And back to a count window, again empty.
    b.set_window_calls(4).unwrap();
    assert_eq!(b.metrics().window_calls, 0);
    run(&b, "FFSS").await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stays_open_across_a_window_change() {
    let b = breaker(|b| b.consecutive_failures(1).open(secs(30)).half_open(1));
    trip(&b).await;
    tokio::time::advance(secs(10)).await;
    b.set_window_time(secs(60)).unwrap();
    assert_eq!(b.state(), State::Open);
    let e = rejection(succeed(&b).await);
    assert_eq!(e.retry_after(), Some(secs(20)));
    // The deadline is the one it had: the probe at 30s closes it.
    tokio::time::advance(secs(20)).await;
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_across_a_window_change_is_counted_but_not_recorded() {
    let b = Arc::new(breaker(|b| b.window_calls(4).min_calls(1).threshold(50.0)));
    let (call, answer) = hold(&b);
    settle().await;
    b.set_window_calls(2).unwrap();
    answer.send(Err(Failure::Error(Boom))).unwrap();
    call.await.unwrap().unwrap_err();
    let m = b.metrics();
    // The late failure neither trips the breaker nor enters the new window.
    assert_eq!((m.state, m.window_calls, m.failures), (State::Closed, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn invalid_windows_are_rejected_naming_window_and_nothing_changes() {
    let b = breaker(|b| b.window_calls(10));
    succeed(&b).await.unwrap();
    let before = b.settings();
    for result in [
        b.set_window_calls(0),
        b.set_window_calls(resilience_runtime::circuit_breaker::MAX_WINDOW_CALLS + 1),
        b.set_window_time(Duration::ZERO),
    ] {
        assert_eq!(result.unwrap_err().field(), "window");
    }
    assert_eq!((b.settings(), b.metrics().window_calls), (before, 1));
    // Setting the window it has changes nothing, not even the calls it holds.
    b.set_window_calls(10).unwrap();
    b.set_threshold(25.0).unwrap();
    assert_eq!(b.metrics().window_calls, 1);
}

// ---- the plain success's shortcut follows changes of settings ----

#[tokio::test(start_paused = true)]
async fn consecutive_failures_turned_on_at_run_time_are_runs_that_a_success_ends() {
    // Filled with successes, a breaker counts a plain success with one add and nothing else:
    // turning on `consecutive_failures` must make successes end runs again.
    let b = breaker(|b| b.threshold(50.0).window_calls(10).min_calls(5));
    run(&b, "SSSSSSSSSS").await;
    b.set_consecutive_failures(3).unwrap();
    run(&b, "FFSFF").await; // 4 of the last 10 failed (below 50%), and no run of 3
    assert_eq!(b.state(), State::Closed);
    fail(&b).await.unwrap_err(); // the run of 3
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_lowered_threshold_applies_from_the_next_success_after_the_window_filled() {
    let b = breaker(|b| b.threshold(50.0).window_calls(20).min_calls(5));
    run(&b, "FSSSSSSSSS").await; // filled, 10% failed
    b.set_threshold(5.0).unwrap();
    assert_eq!(b.state(), State::Closed);
    succeed(&b).await.unwrap(); // 1 of 11 failed: above the new threshold
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_call_admitted_before_slow_calls_were_tracked_is_not_timed() {
    let b = Arc::new(breaker(|b| b.window_calls(10).min_calls(10)));
    let (early, tx) = hold(&b);
    settle().await;
    b.set_slow(Some(secs(1))).unwrap();
    tokio::time::advance(secs(2)).await;
    tx.send(Ok(1)).unwrap();
    early.await.unwrap().unwrap();
    assert_eq!(b.metrics().slow, 0);
    // Admitted after the change, the same call is timed, and slow.
    let (late, tx) = hold(&b);
    settle().await;
    tokio::time::advance(secs(2)).await;
    tx.send(Ok(1)).unwrap();
    late.await.unwrap().unwrap();
    assert_eq!(b.metrics().slow, 1);
}
