//! Each attribute alone, on real annotated functions, in virtual time.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ApiError, Calls};
use resilience::{
    ErrorKind, Failure, bulkhead, circuit_breaker, fallback, rate_limiter, retry, timeout,
};
use std::time::Duration;
use tokio::time::{Instant, sleep};

#[timeout(100ms)]
async fn sleeps(d: Duration) -> Result<u32, ApiError> {
    sleep(d).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn timeout_cancels_a_slow_call_at_its_duration() {
    let start = Instant::now();
    let err = sleeps(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(err.policy(), Some("attributes::sleeps/timeout"));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(sleeps(Duration::from_millis(99)).await, Ok(1));
}

static FLAKY: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(100ms))]
async fn flaky(fail_times: u32) -> Result<u32, ApiError> {
    let n = FLAKY.hit();
    if n <= fail_times {
        Err(ApiError::Down)
    } else {
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn retry_runs_again_after_its_backoff_until_success() {
    let start = Instant::now();
    assert_eq!(flaky(2).await, Ok(3));
    assert_eq!(FLAKY.get(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}

static EXHAUSTED: Calls = Calls::new();

#[retry(attempts = 4, backoff = linear(10ms, max = 1s))]
async fn always_down() -> Result<u32, ApiError> {
    EXHAUSTED.hit();
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn retry_returns_the_last_error_when_attempts_run_out() {
    let start = Instant::now();
    assert_eq!(always_down().await, Err(ApiError::Down));
    assert_eq!(EXHAUSTED.get(), 4);
    assert_eq!(start.elapsed(), Duration::from_millis(10 + 20 + 30));
}

static PERMANENT: Calls = Calls::new();

#[retry(attempts = 5, backoff = fixed(10ms), when = ApiError::is_transient)]
async fn permanent() -> Result<u32, ApiError> {
    PERMANENT.hit();
    Err(ApiError::Permanent)
}

#[tokio::test(start_paused = true)]
async fn retry_stops_at_an_error_its_predicate_rejects() {
    assert_eq!(permanent().await, Err(ApiError::Permanent));
    assert_eq!(PERMANENT.get(), 1);
}

static BREAKER: Calls = Calls::new();

#[circuit_breaker(failures = 2, open = 30s)]
async fn breaker(ok: bool) -> Result<u32, ApiError> {
    BREAKER.hit();
    if ok { Ok(1) } else { Err(ApiError::Down) }
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_opens_after_consecutive_failures_and_rejects_without_calling() {
    assert_eq!(breaker(false).await, Err(ApiError::Down));
    assert_eq!(breaker(false).await, Err(ApiError::Down));
    let err = breaker(true).await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::CircuitOpen));
    assert_eq!(err.policy(), Some("attributes::breaker/circuit_breaker"));
    assert_eq!(BREAKER.get(), 2);
}

static IGNORING: Calls = Calls::new();

#[circuit_breaker(failures = 2, ignore = ApiError::is_permanent, name = "ignoring")]
async fn ignoring() -> Result<u32, ApiError> {
    IGNORING.hit();
    Err(ApiError::Permanent)
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_does_not_count_ignored_errors() {
    for _ in 0..5 {
        assert_eq!(ignoring().await, Err(ApiError::Permanent));
    }
    assert_eq!(IGNORING.get(), 5);
}

static PRICING: Calls = Calls::new();
static CACHED_QUOTES: Calls = Calls::new();

/// What the cache serves after a failed call.
const STALE: u32 = 7;
/// What the cache serves while the breaker is open.
const SERVED_OPEN: u32 = 8;

fn cached_quote(_fail: bool, failure: Failure<ApiError>) -> Result<u32, ApiError> {
    CACHED_QUOTES.hit();
    match failure {
        Failure::Rejected(e) if e.kind() == ErrorKind::CircuitOpen => Ok(SERVED_OPEN),
        _ => Ok(STALE),
    }
}

#[circuit_breaker(threshold = 50%, open = 30s, fallback = cached_quote)]
async fn quote(fail: bool) -> Result<u32, ApiError> {
    PRICING.hit();
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

#[tokio::test(start_paused = true)]
async fn breaker_with_fallback_opens_at_half_failures_serves_the_fallback_then_probes_after_open() {
    // Closed: the default min_calls (20) calls, every other one failing: 50% trips it.
    for i in 0..20 {
        let fail = i % 2 == 1;
        let expected = if fail { STALE } else { 1 };
        assert_eq!(quote(fail).await, Ok(expected), "call {i}");
    }
    assert_eq!((PRICING.get(), CACHED_QUOTES.get()), (20, 10));

    // Open: the fallback serves every call and the body is not called, for all of 30s.
    for _ in 0..5 {
        assert_eq!(quote(false).await, Ok(SERVED_OPEN));
    }
    tokio::time::advance(Duration::from_secs(30) - Duration::from_millis(1)).await;
    assert_eq!(quote(false).await, Ok(SERVED_OPEN));
    assert_eq!((PRICING.get(), CACHED_QUOTES.get()), (20, 16));

    // After 30s, half-open: the probe reaches the body.
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(quote(false).await, Ok(1));
    assert_eq!((PRICING.get(), CACHED_QUOTES.get()), (21, 16));
}

#[bulkhead(max = 1)]
async fn one_at_a_time(d: Duration) -> Result<u32, ApiError> {
    sleep(d).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn bulkhead_rejects_a_call_beyond_its_max_at_once() {
    let (first, second) = tokio::join!(one_at_a_time(Duration::from_secs(1)), async {
        sleep(Duration::from_millis(1)).await;
        let start = Instant::now();
        let result = one_at_a_time(Duration::ZERO).await;
        (result, start.elapsed())
    });
    assert_eq!(first, Ok(1));
    assert_eq!(
        second.0.unwrap_err().rejection(),
        Some(ErrorKind::BulkheadFull)
    );
    assert_eq!(second.1, Duration::ZERO);
    assert_eq!(one_at_a_time(Duration::ZERO).await, Ok(1));
}

#[rate_limiter(2/s)]
async fn limited() -> Result<u32, ApiError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn rate_limiter_rejects_beyond_its_burst_with_a_retry_after() {
    assert_eq!(limited().await, Ok(1));
    assert_eq!(limited().await, Ok(1));
    let err = limited().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::RateLimited));
    let ApiError::Rejected(e) = err else {
        unreachable!()
    };
    assert!(e.retry_after().is_some());
}

#[rate_limiter(1/s, wait = 2s)]
async fn patient() -> Result<u32, ApiError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn rate_limiter_with_wait_waits_for_the_next_permit() {
    let start = Instant::now();
    assert_eq!(patient().await, Ok(1));
    assert_eq!(patient().await, Ok(1));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[rate_limiter(2/ms, wait = 1ms)]
async fn per_millisecond() -> Result<u32, ApiError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_rate_per_millisecond_spaces_calls_half_a_millisecond_apart() {
    let start = Instant::now();
    for _ in 0..4 {
        assert_eq!(per_millisecond().await, Ok(1));
    }
    // A burst of two at once, then one every 500 µs.
    assert_eq!(start.elapsed(), Duration::from_micros(1000));
}

fn cached(id: String, _d: Duration, failure: Failure<ApiError>) -> Result<String, ApiError> {
    Ok(format!(
        "cached {id} after {:?}",
        failure.rejection().map(|r| r.kind())
    ))
}

async fn cached_async(
    id: String,
    _permanent: bool,
    failure: Failure<ApiError>,
) -> Result<String, ApiError> {
    sleep(Duration::from_millis(5)).await;
    match failure {
        Failure::Error(ApiError::Permanent) => Err(ApiError::Permanent),
        _ => Ok(format!("async {id}")),
    }
}

#[fallback(cached)]
#[timeout(10ms)]
async fn with_sync_fallback(id: String, d: Duration) -> Result<String, ApiError> {
    sleep(d).await;
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn fallback_serves_a_sync_function_with_the_arguments_and_the_failure() {
    assert_eq!(
        with_sync_fallback("a".into(), Duration::ZERO).await,
        Ok("a".into())
    );
    assert_eq!(
        with_sync_fallback("b".into(), Duration::from_secs(1)).await,
        Ok("cached b after Some(TimedOut)".into())
    );
}

#[timeout(1s, fallback = cached_async)]
async fn with_async_fallback(id: String, permanent: bool) -> Result<String, ApiError> {
    if permanent {
        Err(ApiError::Permanent)
    } else {
        Err(ApiError::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn fallback_option_serves_an_async_function_that_may_pass_the_error_on() {
    assert_eq!(
        with_async_fallback("x".into(), false).await,
        Ok("async x".into())
    );
    assert_eq!(
        with_async_fallback("x".into(), true).await,
        Err(ApiError::Permanent)
    );
}

#[timeout(10ms)]
async fn io_call() -> std::io::Result<u32> {
    sleep(Duration::from_secs(1)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn io_result_functions_receive_rejections_as_io_errors() {
    let err = io_call().await.unwrap_err();
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<resilience::Error>());
    assert_eq!(inner.map(|e| e.kind()), Some(ErrorKind::TimedOut));
}

// Closures in place of a function's path.

static CLOSURE_WHEN: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(10ms), when = |e: &ApiError| e.is_transient())]
async fn retried_while_a_closure_says_so(error: ApiError) -> Result<u32, ApiError> {
    CLOSURE_WHEN.hit();
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn a_closure_decides_what_a_retry_retries() {
    assert_eq!(
        retried_while_a_closure_says_so(ApiError::Down).await,
        Err(ApiError::Down)
    );
    assert_eq!(CLOSURE_WHEN.get(), 3);
    assert_eq!(
        retried_while_a_closure_says_so(ApiError::Permanent).await,
        Err(ApiError::Permanent)
    );
    assert_eq!(CLOSURE_WHEN.get(), 4, "a permanent error is not retried");
}

#[circuit_breaker(failures = 2, open = 30s, ignore = |e| matches!(e, ApiError::Permanent))]
async fn closure_ignored(error: ApiError) -> Result<u32, ApiError> {
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn a_closure_tells_a_breaker_which_errors_to_ignore() {
    for _ in 0..5 {
        assert_eq!(
            closure_ignored(ApiError::Permanent).await,
            Err(ApiError::Permanent)
        );
    }
    closure_ignored(ApiError::Down).await.unwrap_err();
    let err = closure_ignored(ApiError::Down).await.unwrap_err();
    assert_eq!(err, ApiError::Down, "only the second failure opens it");
    let err = closure_ignored(ApiError::Down).await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::CircuitOpen));
}

#[fallback(|id: u32, failure: Failure<ApiError>| -> Result<u32, ApiError> {
    match failure {
        Failure::Rejected(_) => Ok(id * 10),
        Failure::Error(e) => Err(e),
    }
})]
#[timeout(10ms)]
async fn served_by_a_closure(id: u32) -> Result<u32, ApiError> {
    sleep(Duration::from_secs(1)).await;
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn a_closure_serves_as_a_fallback() {
    assert_eq!(served_by_a_closure(4).await, Ok(40));
}

// Retry decisions beyond the error: results, a server's hint, timeouts that must not rerun.

#[derive(Debug, Clone, PartialEq)]
struct Job {
    done: bool,
}

static POLLS: Calls = Calls::new();

#[retry(attempts = 5, backoff = fixed(100ms), when_ok = |job: &Job| !job.done)]
async fn poll_job(ready_after: u32) -> Result<Job, ApiError> {
    let n = POLLS.hit();
    Ok(Job {
        done: n >= ready_after,
    })
}

#[tokio::test(start_paused = true)]
async fn an_ok_value_that_means_not_yet_is_retried_and_the_last_one_returned() {
    let start = Instant::now();
    assert_eq!(poll_job(3).await, Ok(Job { done: true }));
    assert_eq!(POLLS.get(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(
        poll_job(100).await,
        Ok(Job { done: false }),
        "when the attempts run out, the last value is returned"
    );
    assert_eq!(POLLS.get(), 8);
}

#[derive(Debug)]
enum HttpError {
    TooBusy { retry_after: Duration },
    Rejected,
}

impl From<resilience::Error> for HttpError {
    fn from(_: resilience::Error) -> Self {
        HttpError::Rejected
    }
}

impl HttpError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::TooBusy { retry_after } => Some(*retry_after),
            HttpError::Rejected => None,
        }
    }
}

static BUSY: Calls = Calls::new();

#[retry(attempts = 2, backoff = fixed(10ms), retry_after = HttpError::retry_after)]
async fn busy_server() -> Result<u32, HttpError> {
    if BUSY.hit() == 1 {
        return Err(HttpError::TooBusy {
            retry_after: Duration::from_secs(3),
        });
    }
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_servers_retry_after_sets_the_least_delay_before_the_next_attempt() {
    let start = Instant::now();
    assert!(matches!(busy_server().await, Ok(1)));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

static NOT_IDEMPOTENT: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(10ms), retry_timeouts = false)]
#[timeout(100ms)]
async fn charge_once() -> Result<u32, ApiError> {
    NOT_IDEMPOTENT.hit();
    sleep(Duration::from_secs(1)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_timeout_below_a_retry_is_not_retried_when_told_so() {
    let err = charge_once().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(NOT_IDEMPOTENT.get(), 1);
}
