//! Stacks of attributes: the top attribute is the outermost layer, and inside the stack each
//! rejection keeps its kind.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ApiError, Calls};
use resilience::{
    ErrorKind, Failure, bulkhead, circuit_breaker, fallback, rate_limiter, retry, timeout,
};
use std::time::Duration;
use tokio::time::{Instant, sleep};

static OUTSIDE: Calls = Calls::new();

#[retry(attempts = 5, backoff = fixed(10ms))]
#[circuit_breaker(failures = 2, open = 30s)]
async fn retry_outside_breaker() -> Result<u32, ApiError> {
    OUTSIDE.hit();
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn retry_above_a_breaker_stops_when_the_circuit_opens() {
    let err = retry_outside_breaker().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::CircuitOpen));
    assert_eq!(
        OUTSIDE.get(),
        2,
        "the third attempt was rejected and ended the retry"
    );
}

static INSIDE: Calls = Calls::new();

#[circuit_breaker(failures = 2, open = 30s)]
#[retry(attempts = 3, backoff = fixed(10ms))]
async fn retry_inside_breaker() -> Result<u32, ApiError> {
    INSIDE.hit();
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn retry_below_a_breaker_counts_one_failure_per_call() {
    assert_eq!(retry_inside_breaker().await, Err(ApiError::Down));
    assert_eq!(retry_inside_breaker().await, Err(ApiError::Down));
    assert_eq!(INSIDE.get(), 6);
    let err = retry_inside_breaker().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::CircuitOpen));
    assert_eq!(INSIDE.get(), 6);
}

static PER_ATTEMPT: Calls = Calls::new();

#[timeout(250ms, name = "total")]
#[retry(attempts = 5, backoff = fixed(10ms))]
#[timeout(100ms, name = "per_attempt")]
async fn total_and_per_attempt() -> Result<u32, ApiError> {
    PER_ATTEMPT.hit();
    sleep(Duration::from_secs(1)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn total_timeout_above_retry_bounds_every_attempt_together() {
    let start = Instant::now();
    let err = total_and_per_attempt().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(err.policy(), Some("total"));
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    // 0-100 attempt 1 times out, 110-210 attempt 2, 220-250 attempt 3 cut by the total.
    assert_eq!(PER_ATTEMPT.get(), 3);
}

static TIMED_OUT: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(10ms))]
#[timeout(100ms)]
async fn slow_twice() -> Result<u32, ApiError> {
    if TIMED_OUT.hit() <= 2 {
        sleep(Duration::from_secs(1)).await;
    }
    Ok(7)
}

#[tokio::test(start_paused = true)]
async fn timeouts_below_a_retry_are_retried() {
    let start = Instant::now();
    assert_eq!(slow_twice().await, Ok(7));
    assert_eq!(TIMED_OUT.get(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 10 + 100 + 10));
}

static LIMITED: Calls = Calls::new();

#[retry(attempts = 2, backoff = fixed(1ms))]
#[rate_limiter(1/s)]
async fn limited() -> Result<u32, ApiError> {
    Ok(LIMITED.hit())
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_below_a_retry_is_waited_out() {
    assert_eq!(limited().await, Ok(1));
    let start = Instant::now();
    assert_eq!(limited().await, Ok(2));
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_millis(1100),
        "waited {:?}",
        start.elapsed()
    );
}

static FULL: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(10ms))]
#[bulkhead(max = 1)]
async fn crowded(d: Duration) -> Result<u32, ApiError> {
    FULL.hit();
    sleep(d).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_below_a_retry_is_returned_at_once() {
    let (first, second) = tokio::join!(crowded(Duration::from_secs(1)), async {
        sleep(Duration::from_millis(1)).await;
        let start = Instant::now();
        (crowded(Duration::ZERO).await, start.elapsed())
    });
    assert_eq!(first, Ok(1));
    assert_eq!(
        second.0.unwrap_err().rejection(),
        Some(ErrorKind::BulkheadFull)
    );
    assert_eq!(second.1, Duration::ZERO);
    assert_eq!(FULL.get(), 1);
}

static FALLBACKS_OUTSIDE: Calls = Calls::new();
static BODY_OUTSIDE: Calls = Calls::new();

fn counted_fallback_outside(_failure: Failure<ApiError>) -> Result<u32, ApiError> {
    FALLBACKS_OUTSIDE.hit();
    Ok(0)
}

#[fallback(counted_fallback_outside)]
#[retry(attempts = 3, backoff = fixed(10ms))]
async fn fallback_above_retry() -> Result<u32, ApiError> {
    BODY_OUTSIDE.hit();
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_fallback_above_a_retry_serves_only_after_every_attempt() {
    assert_eq!(fallback_above_retry().await, Ok(0));
    assert_eq!((BODY_OUTSIDE.get(), FALLBACKS_OUTSIDE.get()), (3, 1));
}

static FALLBACKS_INSIDE: Calls = Calls::new();
static BODY_INSIDE: Calls = Calls::new();

fn counted_fallback_inside(_failure: Failure<ApiError>) -> Result<u32, ApiError> {
    FALLBACKS_INSIDE.hit();
    Ok(0)
}

#[retry(attempts = 3, backoff = fixed(10ms))]
#[fallback(counted_fallback_inside)]
async fn fallback_below_retry() -> Result<u32, ApiError> {
    BODY_INSIDE.hit();
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_fallback_below_a_retry_turns_the_first_failure_into_success() {
    assert_eq!(fallback_below_retry().await, Ok(0));
    assert_eq!((BODY_INSIDE.get(), FALLBACKS_INSIDE.get()), (1, 1));
}

fn open_circuit_fallback(_ok: bool, failure: Failure<ApiError>) -> Result<u32, ApiError> {
    match failure.rejection().map(|r| r.kind()) {
        Some(ErrorKind::CircuitOpen) => Ok(99),
        _ => failure.error().cloned().map_or(Ok(0), Err),
    }
}

#[circuit_breaker(failures = 1, open = 30s, fallback = open_circuit_fallback)]
async fn breaker_with_fallback(ok: bool) -> Result<u32, ApiError> {
    if ok { Ok(1) } else { Err(ApiError::Down) }
}

#[tokio::test(start_paused = true)]
async fn fallback_option_on_a_breaker_serves_when_the_circuit_is_open() {
    assert_eq!(breaker_with_fallback(false).await, Err(ApiError::Down));
    assert_eq!(breaker_with_fallback(true).await, Ok(99));
}

// Every spelling that names one of our attributes stacks in the order written.

mod spellings {
    use super::{ApiError, Calls};
    use std::time::Duration;
    use tokio::time::sleep;

    /// A crate that re-exports the framework, as an application's `infra` module would.
    pub mod infra {
        pub use resilience;
    }

    use resilience as res;

    pub static RENAMED_CRATE: Calls = Calls::new();

    #[res::retry(attempts = 3, backoff = fixed(10ms))]
    #[res::timeout(50ms)]
    pub async fn through_a_renamed_crate() -> Result<u32, ApiError> {
        RENAMED_CRATE.hit();
        sleep(Duration::from_secs(1)).await;
        Ok(1)
    }

    pub static RE_EXPORTED: Calls = Calls::new();

    #[infra::resilience::retry(attempts = 3, backoff = fixed(10ms), crate = infra::resilience)]
    #[infra::resilience::timeout(50ms)]
    pub async fn through_a_re_export() -> Result<u32, ApiError> {
        RE_EXPORTED.hit();
        sleep(Duration::from_secs(1)).await;
        Ok(1)
    }
}

#[tokio::test(start_paused = true)]
async fn a_stack_through_a_renamed_crate_keeps_the_order_written() {
    let err = spellings::through_a_renamed_crate().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(
        spellings::RENAMED_CRATE.get(),
        3,
        "the retry is the outer layer and retried each timed-out attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stack_through_a_re_export_keeps_the_order_written() {
    let err = spellings::through_a_re_export().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(spellings::RE_EXPORTED.get(), 3);
}

// A rejection that crossed a function boundary, in an error type that says it holds one.

mod nested {
    use super::Calls;

    #[derive(Debug, Clone, PartialEq)]
    pub enum PayError {
        Down,
        Rejected(resilience::Error),
    }

    impl From<resilience::Error> for PayError {
        fn from(e: resilience::Error) -> Self {
            PayError::Rejected(e)
        }
    }

    resilience::as_rejection!(PayError::Rejected);

    pub static INNER: Calls = Calls::new();
    pub static OUTER: Calls = Calls::new();

    #[resilience::circuit_breaker(failures = 2, open = 30s)]
    pub async fn inner() -> Result<u32, PayError> {
        INNER.hit();
        Err(PayError::Down)
    }

    #[resilience::retry(attempts = 5, backoff = fixed(1s))]
    pub async fn outer() -> Result<u32, PayError> {
        OUTER.hit();
        inner().await
    }
}

#[tokio::test(start_paused = true)]
async fn an_inner_functions_open_circuit_ends_an_outer_retry_at_once() {
    let start = Instant::now();
    let err = nested::outer().await.unwrap_err();
    assert!(
        matches!(err, nested::PayError::Rejected(r) if r.kind() == ErrorKind::CircuitOpen),
        "{err:?}"
    );
    assert_eq!(
        nested::INNER.get(),
        2,
        "the breaker opened after two failures"
    );
    assert_eq!(
        nested::OUTER.get(),
        3,
        "the third attempt met the open circuit and was not retried"
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "two backoffs, no more"
    );
}
