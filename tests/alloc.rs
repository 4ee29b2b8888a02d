//! The success path allocates nothing: every policy, and a stack of all five, called through
//! its attribute, makes zero heap allocations per call once warmed up.
//!
//! A counting global allocator (per thread, so the tests running beside these do not count)
//! measures a run of calls on a current-thread runtime.

use std::future::Future;
use std::time::Duration;

use resilience::{Bulkhead, Failure, RateLimiter};
use resilience_counting_alloc::{CountingAllocator, allocations};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpError;

impl From<resilience::Error> for OpError {
    fn from(_: resilience::Error) -> Self {
        OpError
    }
}

async fn op(x: u64) -> Result<u64, OpError> {
    Ok(x)
}

/// Heap allocations made by `CALLS` successful calls of `call`, after a warm-up (one-time work
/// such as a clock's origin or a tracing callsite's registration is not per call).
fn allocations_in_calls<T, E, F>(mut call: impl FnMut(u64) -> F) -> u64
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    const CALLS: u64 = 1000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..10 {
            call(i).await.expect("the warm-up call succeeds");
        }
        let before = allocations();
        for i in 0..CALLS {
            call(i).await.expect("the call succeeds");
        }
        allocations() - before
    })
}

static BULKHEAD: Bulkhead = match Bulkhead::builder("alloc/bulkhead").max(10).build() {
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!("invalid bulkhead"),
};

static RATE_LIMITER: RateLimiter = match RateLimiter::builder("alloc/rate_limiter")
    .rate(1_000_000_000, Duration::from_secs(1))
    .build()
{
    Ok(limiter) => limiter,
    Err(_) => panic!("invalid rate limiter"),
};

#[test]
fn the_counter_sees_an_allocation() {
    let allocs = allocations_in_calls(|i| async move {
        std::hint::black_box(Box::new(i));
        op(i).await
    });
    assert_eq!(allocs, 1000);
}

#[test]
fn bulkhead_api_allocates_nothing() {
    let allocs = allocations_in_calls(|i| {
        BULKHEAD.call(async move { Ok::<_, Failure<OpError>>(op(i).await?) })
    });
    assert_eq!(allocs, 0);
}

#[test]
fn rate_limiter_api_allocates_nothing() {
    let allocs = allocations_in_calls(|i| {
        RATE_LIMITER.call(async move { Ok::<_, Failure<OpError>>(op(i).await?) })
    });
    assert_eq!(allocs, 0);
}
