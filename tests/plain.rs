//! Plain (non-async) functions under the attributes, in real time on threads of their own:
//! the same policies and state as async callers, waits that park the thread.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{ApiError, Calls};
use resilience::registry;
use resilience::{
    ErrorKind, Failure, State, bulkhead, circuit_breaker, fallback, rate_limiter, retry,
};

resilience::policy! {
    /// One breaker for a plain and an async caller.
    static INVENTORY: CircuitBreaker = circuit_breaker(failures = 2, open = 30s);
}

#[circuit_breaker(INVENTORY)]
fn reserve_blocking(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

#[circuit_breaker(INVENTORY)]
async fn reserve(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(2) }
}

#[test]
fn a_plain_and_an_async_caller_share_one_breaker() {
    INVENTORY.reset();
    assert_eq!(reserve_blocking(false), Ok(1));
    assert_eq!(reserve_blocking(true), Err(ApiError::Down));
    assert_eq!(reserve_blocking(true), Err(ApiError::Down));
    assert_eq!(INVENTORY.state(), State::Open);
    // The async caller sees the state the plain one left.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let e = rt.block_on(reserve(false)).unwrap_err();
    assert_eq!(e.rejection(), Some(ErrorKind::CircuitOpen));
    let e = reserve_blocking(false).unwrap_err();
    assert_eq!(e.rejection(), Some(ErrorKind::CircuitOpen));
    let snapshot = registry::snapshot();
    let entry = snapshot.get("INVENTORY").unwrap();
    assert_eq!(
        (entry.calls(), entry.failures(), entry.rejections()),
        (Some(5), Some(2), Some(2))
    );
}

static FLAKY_CALLS: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(20ms))]
fn flaky_blocking() -> Result<u32, ApiError> {
    if !FLAKY_CALLS.hit().is_multiple_of(3) {
        Err(ApiError::Down)
    } else {
        Ok(3)
    }
}

#[test]
fn a_retry_waits_between_attempts_by_parking_the_thread() {
    let before = FLAKY_CALLS.get();
    assert_eq!(before % 3, 0);
    let started = Instant::now();
    assert_eq!(flaky_blocking(), Ok(3));
    assert_eq!(FLAKY_CALLS.get(), before + 3);
    // Two waits of 20ms each happened (a lower bound: a wait never ends early).
    assert!(started.elapsed() >= Duration::from_millis(40));
    let retries = registry::snapshot()
        .get("plain::flaky_blocking/retry")
        .unwrap()
        .retries();
    assert_eq!(retries, Some(2));
}

#[bulkhead(max = 1, queue = 1, wait = 10s)]
fn exclusive(hold: &Barrier, release: &Barrier) -> Result<(), ApiError> {
    hold.wait();
    release.wait();
    Ok(())
}

#[test]
fn a_bulkhead_queues_a_plain_caller_until_the_slot_is_free() {
    let (hold, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let first = {
        let (hold, release) = (Arc::clone(&hold), Arc::clone(&release));
        std::thread::spawn(move || exclusive(&hold, &release))
    };
    hold.wait(); // the first call holds the slot
    let second = {
        let (hold, release) = (Arc::clone(&hold), Arc::clone(&release));
        std::thread::spawn(move || exclusive(&hold, &release))
    };
    // The second waits in the queue; a third finds the queue full.
    let entry = || {
        registry::snapshot()
            .get("plain::exclusive/bulkhead")
            .unwrap()
            .clone()
    };
    while entry().queued() != Some(1) {
        std::thread::yield_now();
    }
    let third = exclusive(&Barrier::new(1), &Barrier::new(1)).unwrap_err();
    assert_eq!(third.rejection(), Some(ErrorKind::BulkheadFull));
    release.wait(); // the first ends; the second takes the slot
    hold.wait();
    release.wait();
    assert_eq!(first.join().unwrap(), Ok(()));
    assert_eq!(second.join().unwrap(), Ok(()));
}

#[rate_limiter(1/s)]
fn limited() -> Result<(), ApiError> {
    Ok(())
}

fn cached_answer(failure: Failure<ApiError>) -> Result<&'static str, ApiError> {
    match failure.rejection().map(|r| r.kind()) {
        Some(ErrorKind::RateLimited) => Ok("cached"),
        _ => Err(ApiError::Permanent),
    }
}

#[fallback(cached_answer)]
#[rate_limiter(1/s)]
fn answer() -> Result<&'static str, ApiError> {
    Ok("fresh")
}

#[test]
fn a_rate_limiter_rejects_and_a_fallback_answers_in_a_plain_fn() {
    assert_eq!(limited(), Ok(()));
    assert_eq!(
        limited().unwrap_err().rejection(),
        Some(ErrorKind::RateLimited)
    );
    assert_eq!(answer(), Ok("fresh"));
    assert_eq!(answer(), Ok("cached"));
}

/// A method with a receiver, keyed by an argument.
struct Client {
    calls: AtomicU32,
}

impl Client {
    #[rate_limiter(1/s, key = tenant, max_keys = 100)]
    fn fetch(&self, tenant: &str) -> Result<u32, ApiError> {
        let _ = tenant;
        Ok(self.calls.fetch_add(1, Relaxed) + 1)
    }
}

#[test]
fn methods_and_keyed_policies_work_on_plain_fns() {
    let client = Client {
        calls: AtomicU32::new(0),
    };
    assert_eq!(client.fetch("acme"), Ok(1));
    assert_eq!(client.fetch("globex"), Ok(2), "each tenant its own permit");
    let e = client.fetch("acme").unwrap_err();
    assert_eq!(e.rejection(), Some(ErrorKind::RateLimited));
}

static POOL_CALLS: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(20ms))]
fn flaky_in_pool() -> Result<u32, ApiError> {
    if !POOL_CALLS.hit().is_multiple_of(3) {
        Err(ApiError::Down)
    } else {
        Ok(3)
    }
}

#[test]
fn plain_calls_run_in_spawn_blocking() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let n = rt.block_on(async { tokio::task::spawn_blocking(flaky_in_pool).await.unwrap() });
    assert_eq!(n, Ok(3));
}

#[circuit_breaker(threshold = 50%)]
fn plain_lookup() -> Result<u32, ApiError> {
    Ok(4)
}

#[circuit_breaker(threshold = 50%)]
async fn async_handler_calling_a_plain_fn() -> Result<u32, ApiError> {
    plain_lookup()
}

#[circuit_breaker(threshold = 50%)]
fn plain_calling_plain() -> Result<u32, ApiError> {
    plain_lookup().map(|n| n + 1)
}

/// Debug builds catch a plain function called from an annotated async function's body.
#[cfg(debug_assertions)]
#[tokio::test]
#[should_panic(
    expected = "a plain function protected by resilience was called from the body of an annotated async function"
)]
async fn debug_builds_catch_a_plain_fn_called_from_an_async_body() {
    let _ = async_handler_calling_a_plain_fn().await;
}

#[test]
fn a_plain_fn_may_call_another() {
    assert_eq!(plain_calling_plain(), Ok(5));
}
