//! One closed circuit breaker shared by OS threads: once its count window holds `min_calls`
//! calls, each thread counts its successes on its own cache line, and the window still holds
//! the last N outcomes of all of them. Invariants only, never timings.

#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::sync::{Arc, Barrier};

use resilience_runtime::{CircuitBreaker, CircuitBreakerBuilder, Failure, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Boom;

fn breaker(
    configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
) -> Arc<CircuitBreaker> {
    Arc::new(
        configure(CircuitBreaker::builder("threads"))
            .build()
            .unwrap(),
    )
}

/// Runs `calls` through `b` on a new OS thread (with its own current-thread runtime), in
/// order: `F` fails, anything else succeeds. Returns when the thread has ended.
fn on_a_thread(b: &Arc<CircuitBreaker>, calls: &'static str) {
    let b = Arc::clone(b);
    std::thread::spawn(move || block_on(async { run(&b, calls).await }))
        .join()
        .unwrap();
}

fn block_on<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(fut)
}

async fn run(b: &CircuitBreaker, calls: &str) {
    for c in calls.chars() {
        let _ = b
            .call(async move {
                if c == 'F' {
                    Err(Failure::Error(Boom))
                } else {
                    Ok(())
                }
            })
            .await;
    }
}

#[test]
fn successes_on_other_threads_age_failures_out_of_the_window() {
    // min_calls 5: the first thread fills the window, so every later success is counted
    // without the window's lock, on the counting thread's own cache line.
    let b = breaker(|b| b.window_calls(10).min_calls(5).threshold(60.0));
    on_a_thread(&b, "SSSSS");
    on_a_thread(&b, "FFFFF"); // 5 of 10: 50%, below the threshold
    assert_eq!(b.metrics().failure_rate, Some(50.0));
    on_a_thread(&b, "SSSSSS"); // [F F F F S S S S S S]: the first failure is out
    assert_eq!(b.metrics().failure_rate, Some(40.0));
    on_a_thread(&b, "SSSS");
    let m = b.metrics();
    assert_eq!(b.state(), State::Closed);
    assert_eq!((m.window_calls, m.failure_rate), (10, Some(0.0)));
    assert_eq!((m.calls, m.successes, m.failures), (20, 15, 5));
}

#[test]
fn failures_on_another_thread_still_count_after_successes_counted_without_the_lock() {
    let b = breaker(|b| b.window_calls(10).min_calls(2).threshold(50.0));
    on_a_thread(&b, "SSSSSSSS");
    on_a_thread(&b, "FFFF"); // [S S S S S S F F F F]: 40%
    assert_eq!(b.state(), State::Closed);
    on_a_thread(&b, "F"); // [S S S S S F F F F F]: 50% trips
    assert_eq!(b.state(), State::Open);
}

#[test]
fn the_success_that_completes_min_calls_trips_the_breaker() {
    // 5 failures, then 5 successes: 50% at the tenth call, the first one the rate counts at.
    let b = breaker(|b| b.window_calls(10).min_calls(10).threshold(50.0));
    block_on(async {
        run(&b, "FFFFFSSSS").await;
        assert_eq!(b.state(), State::Closed);
        run(&b, "S").await;
    });
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().failure_rate, Some(50.0));
}

#[test]
fn the_success_that_completes_min_calls_trips_the_breaker_from_another_thread() {
    let b = breaker(|b| b.window_calls(10).min_calls(10).threshold(50.0));
    on_a_thread(&b, "FFFFF");
    on_a_thread(&b, "SSSS");
    assert_eq!(b.state(), State::Closed);
    on_a_thread(&b, "S");
    assert_eq!(b.state(), State::Open);
}

/// `threads` OS threads, started together, each making `calls` calls through `b`, every tenth
/// of which fails; returns once they have all ended.
fn hammer(b: &Arc<CircuitBreaker>, threads: u64, calls: u64) {
    let start = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (b, start) = (Arc::clone(b), Arc::clone(&start));
            std::thread::spawn(move || {
                block_on(async {
                    start.wait();
                    for i in 0..calls {
                        let _ = b
                            .call(async move {
                                if i % 10 == 9 {
                                    Err(Failure::Error(Boom))
                                } else {
                                    Ok(())
                                }
                            })
                            .await;
                    }
                });
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn two_threads_hammering_one_breaker_keep_exact_totals() {
    const THREADS: u64 = 2;
    const CALLS: u64 = 20_000;
    // Every tenth call of each thread fails; 100% never trips, so every call is admitted.
    let b = breaker(|b| b.window_calls(100).threshold(100.0));
    hammer(&b, THREADS, CALLS);
    let m = b.metrics();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(m.calls, THREADS * CALLS);
    assert_eq!(m.successes + m.failures, m.calls);
    assert_eq!(m.failures, THREADS * CALLS / 10);
    assert_eq!(m.window_calls, 100);
    // The window is the last 100 outcomes in an order that keeps each thread's own order, so
    // it holds a run of each thread's calls: a tenth of them failed, give or take one each.
    let rate = m.failure_rate.unwrap();
    assert!((9.0..=11.0).contains(&rate), "failure rate {rate}");
}

#[test]
fn more_threads_than_stripes_coming_and_going_keep_exact_totals() {
    // 24 threads at once (more than the 16 that own a counter cell; the rest share one), in
    // three rounds, so cells change hands between exiting and new threads while counting.
    const THREADS: u64 = 24;
    const ROUNDS: u64 = 3;
    const CALLS: u64 = 2_000;
    let b = breaker(|b| b.window_calls(100).threshold(100.0));
    for _ in 0..ROUNDS {
        hammer(&b, THREADS, CALLS);
    }
    let m = b.metrics();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(m.calls, THREADS * CALLS * ROUNDS);
    assert_eq!(m.successes + m.failures, m.calls);
    assert_eq!(m.failures, THREADS * CALLS * ROUNDS / 10);
    assert_eq!(m.window_calls, 100);
}
