//! Behaviour of the retry policy, in virtual time.
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

mod common;

use std::time::Duration;

use resilience_runtime::{Backoff, Error, ErrorKind, Failure, Jitter, Retry, Timeout};
use tokio::time::Instant;

use common::events;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every test builds its policies here, so the event recorder is in place before any event.
fn builder(name: &'static str) -> resilience_runtime::RetryBuilder {
    events::install("test/events");
    Retry::builder(name)
}

fn retry(attempts: u32, backoff: Backoff) -> Retry {
    builder("test/retry")
        .attempts(attempts)
        .backoff(backoff)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ApiError {
    Unavailable(u32),
    NotFound,
}

impl ApiError {
    fn is_transient(&self) -> bool {
        matches!(self, ApiError::Unavailable(_))
    }
}

/// Runs `retry` over a call that fails with `failure(n)` on attempt `n` until attempt
/// `succeed_on` (if any); returns the outcome and the instant each attempt started.
async fn run(
    retry: &Retry,
    succeed_on: Option<u32>,
    failure: impl Fn(u32) -> Failure<ApiError>,
) -> (Result<u32, Failure<ApiError>>, Vec<Instant>) {
    let mut starts = Vec::new();
    let outcome = retry
        .call_when(
            || {
                starts.push(Instant::now());
                let n = starts.len() as u32;
                let outcome = if Some(n) == succeed_on {
                    Ok(n)
                } else {
                    Err(failure(n))
                };
                async move { outcome }
            },
            ApiError::is_transient,
        )
        .await;
    (outcome, starts)
}

fn gaps(starts: &[Instant]) -> Vec<Duration> {
    starts.windows(2).map(|w| w[1] - w[0]).collect()
}

fn unavailable(n: u32) -> Failure<ApiError> {
    Failure::Error(ApiError::Unavailable(n))
}

fn rejected(kind: ErrorKind) -> Failure<ApiError> {
    Failure::Rejected(Error::new(kind, "inner"))
}

#[tokio::test(start_paused = true)]
async fn attempts_count_the_first_call() {
    let (outcome, starts) = run(&retry(3, Backoff::fixed(ms(10))), None, unavailable).await;
    assert_eq!(starts.len(), 3);
    assert_eq!(outcome, Err(unavailable(3)));

    let (_, starts) = run(&retry(1, Backoff::fixed(ms(10))), None, unavailable).await;
    assert_eq!(starts.len(), 1, "one attempt means no retry");
}

#[tokio::test(start_paused = true)]
async fn default_policy_makes_three_attempts() {
    let retry = builder("test/retry").build().unwrap();
    let (outcome, starts) = run(&retry, None, unavailable).await;
    assert_eq!(starts.len(), 3);
    assert_eq!(outcome, Err(unavailable(3)));
}

#[tokio::test(start_paused = true)]
async fn success_after_a_failure_is_returned_after_one_delay() {
    let (outcome, starts) = run(&retry(5, Backoff::fixed(ms(40))), Some(2), unavailable).await;
    assert_eq!(outcome, Ok(2));
    assert_eq!(gaps(&starts), [ms(40)]);
}

#[tokio::test(start_paused = true)]
async fn success_at_the_first_try_does_not_wait() {
    let start = Instant::now();
    let (outcome, starts) = run(&retry(3, Backoff::fixed(ms(40))), Some(1), unavailable).await;
    assert_eq!(outcome, Ok(1));
    assert_eq!(starts.len(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn fixed_backoff_waits_the_same_delay_before_every_retry() {
    let (_, starts) = run(&retry(4, Backoff::fixed(ms(250))), None, unavailable).await;
    assert_eq!(gaps(&starts), [ms(250), ms(250), ms(250)]);
}

#[tokio::test(start_paused = true)]
async fn linear_backoff_grows_by_its_step_up_to_max() {
    let (_, starts) = run(
        &retry(6, Backoff::linear(ms(100), ms(350))),
        None,
        unavailable,
    )
    .await;
    assert_eq!(gaps(&starts), [ms(100), ms(200), ms(300), ms(350), ms(350)]);
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_doubles_up_to_max() {
    let (_, starts) = run(
        &retry(7, Backoff::exponential(ms(100), ms(1000))),
        None,
        unavailable,
    )
    .await;
    assert_eq!(
        gaps(&starts),
        [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_grows_by_its_factor() {
    let backoff = Backoff::exponential(ms(10), ms(10_000)).factor(3.0);
    let (_, starts) = run(&retry(5, backoff), None, unavailable).await;
    assert_eq!(gaps(&starts), [ms(10), ms(30), ms(90), ms(270)]);
}

#[tokio::test(start_paused = true)]
async fn when_returns_a_non_retryable_error_at_once() {
    let start = Instant::now();
    let (outcome, starts) = run(&retry(5, Backoff::fixed(ms(10))), None, |_| {
        Failure::Error(ApiError::NotFound)
    })
    .await;
    assert_eq!(outcome, Err(Failure::Error(ApiError::NotFound)));
    assert_eq!(starts.len(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn when_is_asked_after_every_attempt() {
    // Transient twice, then a permanent error: three attempts, the permanent error returned.
    let failure = |n| {
        if n < 3 {
            unavailable(n)
        } else {
            Failure::Error(ApiError::NotFound)
        }
    };
    let (outcome, starts) = run(&retry(5, Backoff::fixed(ms(10))), None, failure).await;
    assert_eq!(outcome, Err(Failure::Error(ApiError::NotFound)));
    assert_eq!(starts.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn call_retries_every_error_of_the_call() {
    let retry = retry(3, Backoff::fixed(ms(10)));
    let mut calls = 0;
    let outcome: Result<(), Failure<ApiError>> = retry
        .call(|| {
            calls += 1;
            async { Err(Failure::Error(ApiError::NotFound)) }
        })
        .await;
    assert_eq!(outcome, Err(Failure::Error(ApiError::NotFound)));
    assert_eq!(calls, 3);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_retried_like_a_failure() {
    let (outcome, starts) = run(&retry(3, Backoff::fixed(ms(10))), Some(3), |_| {
        rejected(ErrorKind::TimedOut)
    })
    .await;
    assert_eq!(outcome, Ok(3));
    assert_eq!(gaps(&starts), [ms(10), ms(10)]);
}

#[tokio::test(start_paused = true)]
async fn retry_over_a_per_attempt_timeout_runs_every_attempt_to_its_deadline() {
    let retry = retry(3, Backoff::fixed(ms(10)));
    let timeout = Timeout::builder("test/timeout")
        .duration(ms(50))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut calls = 0;
    let outcome: Result<(), Failure<ApiError>> = retry
        .call(|| {
            calls += 1;
            timeout.call(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
        })
        .await;
    assert_eq!(
        outcome,
        Err(Failure::Rejected(Error::new(
            ErrorKind::TimedOut,
            "test/timeout"
        )))
    );
    assert_eq!(calls, 3);
    assert_eq!(start.elapsed(), ms(50 + 10 + 50 + 10 + 50));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_attempt_waits_at_least_retry_after() {
    let limited = |after| {
        move |_| {
            Failure::Rejected(Error::new(ErrorKind::RateLimited, "limiter").with_retry_after(after))
        }
    };

    let (outcome, starts) = run(&retry(3, Backoff::fixed(ms(10))), Some(3), limited(ms(300))).await;
    assert_eq!(outcome, Ok(3));
    assert_eq!(
        gaps(&starts),
        [ms(300), ms(300)],
        "retry_after longer than the backoff wins"
    );

    let (_, starts) = run(&retry(3, Backoff::fixed(ms(10))), Some(3), limited(ms(4))).await;
    assert_eq!(
        gaps(&starts),
        [ms(10), ms(10)],
        "the backoff longer than retry_after wins"
    );

    let (_, starts) = run(&retry(2, Backoff::fixed(ms(10))), Some(2), |_| {
        rejected(ErrorKind::RateLimited)
    })
    .await;
    assert_eq!(
        gaps(&starts),
        [ms(10)],
        "without retry_after, the backoff alone"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_returned_at_once_without_retry() {
    let start = Instant::now();
    let (outcome, starts) = run(&retry(5, Backoff::fixed(ms(10))), None, |_| {
        rejected(ErrorKind::CircuitOpen)
    })
    .await;
    assert_eq!(outcome, Err(rejected(ErrorKind::CircuitOpen)));
    assert_eq!(starts.len(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_returned_at_once_without_retry() {
    let (outcome, starts) = run(&retry(5, Backoff::fixed(ms(10))), None, |_| {
        rejected(ErrorKind::BulkheadFull)
    })
    .await;
    assert_eq!(outcome, Err(rejected(ErrorKind::BulkheadFull)));
    assert_eq!(starts.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_after_failures_ends_the_retry_with_the_rejection() {
    let failure = |n| {
        if n < 2 {
            unavailable(n)
        } else {
            rejected(ErrorKind::CircuitOpen)
        }
    };
    let (outcome, starts) = run(&retry(5, Backoff::fixed(ms(10))), None, failure).await;
    assert_eq!(outcome, Err(rejected(ErrorKind::CircuitOpen)));
    assert_eq!(starts.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retry_returns_the_last_outcome_unchanged() {
    let (outcome, _) = run(&retry(4, Backoff::fixed(ms(10))), None, unavailable).await;
    assert_eq!(outcome, Err(Failure::Error(ApiError::Unavailable(4))));

    let timed_out = Error::new(ErrorKind::TimedOut, "inner");
    let failure = move |n| {
        if n < 3 {
            unavailable(n)
        } else {
            Failure::Rejected(timed_out)
        }
    };
    let (outcome, _) = run(&retry(3, Backoff::fixed(ms(10))), None, failure).await;
    assert_eq!(outcome, Err(Failure::Rejected(timed_out)));
}

/// Draws the first `retries` delays of one call, by hand through `start` / `next`.
fn delays(retry: &Retry, retries: u32) -> Vec<Duration> {
    let mut attempts = retry.start();
    let failed: Result<(), Failure<ApiError>> = Err(unavailable(0));
    (0..retries)
        .map(|_| attempts.next(&failed, |_| true).unwrap())
        .collect()
}

const DRAWS: usize = 2000;

#[tokio::test(start_paused = true)]
async fn full_jitter_stays_between_zero_and_the_backoff() {
    let retry = builder("t")
        .attempts(4)
        .backoff(Backoff::exponential(ms(100), ms(300)))
        .build()
        .unwrap();
    assert_eq!(
        retry.jitter(),
        Jitter::Full,
        "full jitter is the default on exponential backoff"
    );
    let bounds = [ms(100), ms(200), ms(300)];
    let mut all = Vec::new();
    for _ in 0..DRAWS {
        for (delay, bound) in delays(&retry, 3).into_iter().zip(bounds) {
            assert!(delay <= bound, "{delay:?} above {bound:?}");
            all.push((delay, bound));
        }
    }
    assert!(
        all.iter().any(|(d, b)| *d < *b / 10),
        "full jitter reaches down near zero"
    );
    assert!(
        all.iter().any(|(d, b)| *d > *b * 9 / 10),
        "full jitter reaches up near the backoff"
    );
}

#[tokio::test(start_paused = true)]
async fn equal_jitter_stays_between_half_the_backoff_and_the_backoff() {
    let retry = builder("t")
        .attempts(3)
        .backoff(Backoff::linear(ms(100), ms(1000)))
        .jitter(Jitter::Equal)
        .build()
        .unwrap();
    let mut lowest = ms(1000);
    for _ in 0..DRAWS {
        let d = delays(&retry, 2);
        assert!(ms(50) <= d[0] && d[0] <= ms(100), "{:?}", d[0]);
        assert!(ms(100) <= d[1] && d[1] <= ms(200), "{:?}", d[1]);
        lowest = lowest.min(d[0]);
    }
    assert!(
        lowest < ms(55),
        "equal jitter reaches down near half the backoff"
    );
}

#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_stays_between_initial_and_three_times_the_previous_delay() {
    let retry = builder("t")
        .attempts(8)
        .backoff(Backoff::exponential(ms(100), ms(2000)))
        .jitter(Jitter::Decorrelated)
        .build()
        .unwrap();
    let mut capped = false;
    for _ in 0..DRAWS {
        let mut previous = ms(100);
        for delay in delays(&retry, 7) {
            assert!(
                ms(100) <= delay && delay <= (previous * 3).min(ms(2000)),
                "{delay:?} after {previous:?}"
            );
            capped |= delay == ms(2000);
            previous = delay;
        }
    }
    assert!(capped, "decorrelated jitter reaches its max");
}

#[tokio::test(start_paused = true)]
async fn jitter_changes_the_delay_actually_waited() {
    let retry = builder("t")
        .attempts(2)
        .backoff(Backoff::fixed(ms(1000)))
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let mut attempts = retry.start();
    let failed: Result<(), Failure<ApiError>> = Err(unavailable(1));
    let delay = attempts.next(&failed, |_| true).unwrap();
    let start = Instant::now();
    attempts.wait(delay).await;
    // tokio's timer counts whole milliseconds: a wait ends at the first one at or after the delay.
    assert!(
        delay <= start.elapsed() && start.elapsed() < delay + ms(1),
        "{delay:?} waited {:?}",
        start.elapsed()
    );
    assert_eq!(attempts.attempt(), 2);
}

#[test]
fn a_first_try_success_needs_no_runtime() {
    let retry = retry(3, Backoff::fixed(ms(10)));
    let call = std::pin::pin!(retry.call(|| async { Ok::<_, Failure<ApiError>>(7) }));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(call.poll(&mut cx), std::task::Poll::Ready(Ok(7)));
}

#[test]
fn outside_a_runtime_a_failed_call_is_returned_instead_of_waiting() {
    let retry = retry(3, Backoff::fixed(ms(10)));
    let mut calls = 0;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    {
        let call = std::pin::pin!(retry.call(|| {
            calls += 1;
            async { Err::<(), _>(unavailable(1)) }
        }));
        assert_eq!(
            call.poll(&mut cx),
            std::task::Poll::Ready(Err(unavailable(1)))
        );
    }
    assert_eq!(calls, 1);
}

#[test]
fn invalid_configurations_are_errors_naming_the_option() {
    let field = |b: resilience_runtime::RetryBuilder| b.build().unwrap_err().field();
    let base = Retry::builder("t");
    assert_eq!(field(base.attempts(0)), "attempts");
    assert_eq!(
        field(base.backoff(Backoff::fixed(Duration::ZERO))),
        "backoff"
    );
    assert_eq!(
        field(base.backoff(Backoff::linear(Duration::ZERO, ms(10)))),
        "backoff"
    );
    assert_eq!(
        field(base.backoff(Backoff::linear(ms(20), ms(10)))),
        "backoff"
    );
    assert_eq!(
        field(base.backoff(Backoff::exponential(Duration::ZERO, ms(10)))),
        "backoff"
    );
    assert_eq!(
        field(base.backoff(Backoff::exponential(ms(20), ms(10)))),
        "backoff"
    );
    assert_eq!(
        field(base.backoff(Backoff::exponential(ms(1), ms(10)).factor(0.9))),
        "backoff"
    );
    assert_eq!(
        field(
            base.backoff(Backoff::fixed(ms(10)))
                .jitter(Jitter::Decorrelated)
        ),
        "jitter"
    );
    assert_eq!(
        field(
            base.backoff(Backoff::linear(ms(10), ms(20)))
                .jitter(Jitter::Decorrelated)
        ),
        "jitter"
    );

    let err = base.attempts(0).build().unwrap_err();
    assert_eq!(err.policy(), "t");
    assert!(err.to_string().contains("attempts = 3"), "{err}");
}

#[test]
fn a_policy_can_be_a_static() {
    static RETRY: Retry = match Retry::builder("static")
        .attempts(5)
        .backoff(Backoff::fixed(Duration::from_millis(1)))
        .build()
    {
        Ok(r) => r,
        Err(_) => panic!("invalid"),
    };
    assert_eq!(RETRY.attempts(), 5);
    assert_eq!(RETRY.backoff(), Backoff::fixed(ms(1)));
    assert_eq!(
        RETRY.jitter(),
        Jitter::None,
        "no jitter by default on fixed backoff"
    );
    assert_eq!(RETRY.name(), "static");
}

#[tokio::test(start_paused = true)]
async fn every_attempt_retry_and_the_giving_up_is_an_event() {
    let retry = builder("test/events")
        .attempts(3)
        .backoff(Backoff::fixed(ms(10)))
        .build()
        .unwrap();
    let (outcome, _) = run(&retry, None, unavailable).await;
    assert_eq!(outcome, Err(unavailable(3)));
    // Each as `event field=value ...`.
    let events: Vec<String> = events::take()
        .into_iter()
        .map(|e| format!("{}{}", e.str("event"), e.others))
        .collect();
    assert_eq!(
        events,
        [
            "attempt what=Attempt { attempt: 1 }",
            "retry attempt=1 delay=10ms",
            "attempt what=Attempt { attempt: 2 }",
            "retry attempt=2 delay=10ms",
            "attempt what=Attempt { attempt: 3 }",
            "gave_up what=GaveUp { attempts: 3 }",
        ]
    );
}
