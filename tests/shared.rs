//! Shared policies declared with `policy!`: one state for every function that names them.

#![allow(clippy::unwrap_used)]

mod common;

use common::ApiError;
use resilience::{ErrorKind, bulkhead, circuit_breaker, rate_limiter, retry, timeout};
use std::time::Duration;
use tokio::time::sleep;

resilience::policy! {
    /// The payment provider.
    pub static PAYMENTS: CircuitBreaker = circuit_breaker(failures = 2, open = 30s);
    static SLOTS: Bulkhead = bulkhead(max = 1);
    static RATE: RateLimiter = rate_limiter(1/s);
    static SHORT: Timeout = timeout(50ms);
    static TWICE: Retry = retry(attempts = 2, backoff = fixed(10ms));
}

#[circuit_breaker(PAYMENTS)]
async fn charge() -> Result<u32, ApiError> {
    Err(ApiError::Down)
}

#[circuit_breaker(PAYMENTS, ignore = ApiError::is_permanent)]
async fn refund() -> Result<u32, ApiError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opened_by_one_function_rejects_the_other() {
    assert_eq!(refund().await, Ok(1));
    assert_eq!(charge().await, Err(ApiError::Down));
    assert_eq!(charge().await, Err(ApiError::Down));
    let err = refund().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::CircuitOpen));
    assert_eq!(err.policy(), Some("PAYMENTS"));
    assert_eq!(PAYMENTS.name(), "PAYMENTS");
}

#[bulkhead(SLOTS)]
async fn long() -> Result<u32, ApiError> {
    sleep(Duration::from_secs(1)).await;
    Ok(1)
}

#[bulkhead(SLOTS)]
async fn short() -> Result<u32, ApiError> {
    Ok(2)
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_slot_held_by_one_function_is_missing_for_the_other() {
    let (first, second) = tokio::join!(long(), async {
        sleep(Duration::from_millis(1)).await;
        short().await
    });
    assert_eq!(first, Ok(1));
    assert_eq!(
        second.unwrap_err().rejection(),
        Some(ErrorKind::BulkheadFull)
    );
    assert_eq!(short().await, Ok(2));
}

#[rate_limiter(RATE)]
async fn send_a() -> Result<u32, ApiError> {
    Ok(1)
}

#[rate_limiter(RATE)]
async fn send_b() -> Result<u32, ApiError> {
    Ok(2)
}

#[tokio::test(start_paused = true)]
async fn a_rate_spent_by_one_function_limits_the_other() {
    assert_eq!(send_a().await, Ok(1));
    assert_eq!(
        send_b().await.unwrap_err().rejection(),
        Some(ErrorKind::RateLimited)
    );
    sleep(Duration::from_secs(1)).await;
    assert_eq!(send_b().await, Ok(2));
}

#[retry(TWICE, when = ApiError::is_transient)]
#[timeout(SHORT)]
async fn shared_retry_and_timeout() -> Result<u32, ApiError> {
    sleep(Duration::from_secs(1)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn shared_retries_and_timeouts_apply_like_inline_ones() {
    let start = tokio::time::Instant::now();
    let err = shared_retry_and_timeout().await.unwrap_err();
    assert_eq!(err.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(err.policy(), Some("SHORT"));
    assert_eq!(start.elapsed(), Duration::from_millis(50 + 10 + 50));
}
