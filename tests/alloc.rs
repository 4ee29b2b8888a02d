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
        .expect("a current-thread runtime builds");
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

#[resilience::circuit_breaker]
async fn breaker_guarded(x: u64) -> Result<u64, OpError> {
    op(x).await
}

#[resilience::retry]
async fn retried(x: u64) -> Result<u64, OpError> {
    op(x).await
}

#[resilience::timeout(1s)]
async fn time_limited(x: u64) -> Result<u64, OpError> {
    op(x).await
}

#[resilience::bulkhead(max = 10)]
async fn bulkheaded(x: u64) -> Result<u64, OpError> {
    op(x).await
}

#[resilience::rate_limiter(1000000000/s)]
async fn rate_limited(x: u64) -> Result<u64, OpError> {
    op(x).await
}

#[resilience::fallback(cached)]
#[resilience::retry]
#[resilience::circuit_breaker]
#[resilience::rate_limiter(1000000000/s)]
#[resilience::timeout(1s)]
#[resilience::bulkhead(max = 10)]
async fn fully_protected(x: u64) -> Result<u64, OpError> {
    op(x).await
}

fn cached(x: u64, _failure: Failure<OpError>) -> Result<u64, OpError> {
    Ok(x)
}

#[test]
fn the_counter_sees_an_allocation() {
    let allocs = allocations_in_calls(|i| async move {
        std::hint::black_box(Box::new(i));
        op(i).await
    });
    assert_eq!(allocs, 1000);
}

#[test]
fn closed_circuit_breaker_allocates_nothing() {
    assert_eq!(allocations_in_calls(breaker_guarded), 0);
}

resilience::policy! {
    /// Shared by a fleet: a probe gate set, as a fleet backend sets one.
    static FLEET_BREAKER: CircuitBreaker = circuit_breaker(shared = "alloc");
}

/// Lets every probe through: what matters is that one is set.
struct AnyProber;

impl resilience::circuit_breaker::fleet::ProbeGate for AnyProber {
    fn may_probe(&self, _: &'static str) -> bool {
        true
    }
}

#[resilience::circuit_breaker(FLEET_BREAKER)]
async fn fleet_guarded(x: u64) -> Result<u64, OpError> {
    op(x).await
}

/// A breaker shared by a fleet runs its closed path as a local one does: the gate is asked on
/// the not-closed path only.
#[test]
fn closed_shared_circuit_breaker_allocates_nothing() {
    static GATE: AnyProber = AnyProber;
    FLEET_BREAKER.gate_probes(&GATE);
    assert_eq!(allocations_in_calls(fleet_guarded), 0);
}

#[test]
fn first_try_retry_allocates_nothing() {
    assert_eq!(allocations_in_calls(retried), 0);
}

#[test]
fn timeout_of_a_call_that_completes_at_once_allocates_nothing() {
    assert_eq!(allocations_in_calls(time_limited), 0);
}

#[test]
fn bulkhead_with_a_free_slot_allocates_nothing() {
    assert_eq!(allocations_in_calls(bulkheaded), 0);
}

#[resilience::hedge(after = 1s)]
async fn hedged(x: u64) -> Result<u64, OpError> {
    op(x).await
}

/// Waits once before answering: the hedge's timer is made, and no hedge starts.
#[resilience::hedge(after = 1s)]
async fn hedged_after_a_wait(x: u64) -> Result<u64, OpError> {
    tokio::task::yield_now().await;
    op(x).await
}

#[resilience::bulkhead(max = 10, adaptive = gradient2)]
async fn adaptive_bulkheaded(x: u64) -> Result<u64, OpError> {
    op(x).await
}

#[test]
fn hedge_of_a_call_that_answers_in_time_allocates_nothing() {
    assert_eq!(allocations_in_calls(hedged), 0);
    assert_eq!(allocations_in_calls(hedged_after_a_wait), 0);
}

#[test]
fn adaptive_bulkhead_with_a_free_slot_allocates_nothing() {
    assert_eq!(allocations_in_calls(adaptive_bulkheaded), 0);
}

#[test]
fn rate_limiter_with_a_free_permit_allocates_nothing() {
    assert_eq!(allocations_in_calls(rate_limited), 0);
}

#[test]
fn stack_of_all_five_under_a_fallback_allocates_nothing() {
    assert_eq!(allocations_in_calls(fully_protected), 0);
}

// The same through the runtime API, for the policies whose attribute is a thin wrapper.

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

// Keyed families: a call under a key whose child exists allocates nothing, and a child costs a
// bounded, documented number of bytes.

#[resilience::rate_limiter(1000000000/s, key = tenant)]
async fn per_tenant(tenant: &str, x: u64) -> Result<u64, OpError> {
    op(x).await
}

#[test]
fn a_call_under_a_key_whose_child_exists_allocates_nothing() {
    let tenants = ["acme", "globex", "initech"];
    // The warm-up calls make the three children; the counted calls find them.
    assert_eq!(
        allocations_in_calls(|i| per_tenant(tenants[(i % 3) as usize], i)),
        0
    );
}

/// Bytes held per child of a family of `P`, measured over 10,000 keys (`u64`, so the key
/// itself adds 8 bytes and no text): the child, the map's entry, the key's name for reports.
fn bytes_per_key<P: resilience::keyed::Keyable>(family: resilience::KeyedBuilder<P>) -> i64
where
    resilience::KeyedBuilder<P>: Build<P>,
{
    const KEYS: u64 = 10_000;
    let family = family.max_keys(KEYS as usize + 1).build_family();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
    rt.block_on(async {
        // The map's first table and the clock, made once.
        let _ = family.child(&u64::MAX);
        // Held, so no sweep evicts them (a child never called is at rest).
        let mut held = Vec::with_capacity(KEYS as usize);
        let before = resilience_counting_alloc::live_bytes();
        for key in 0..KEYS {
            held.push(family.child(&key).expect("room for every key"));
        }
        let bytes = (resilience_counting_alloc::live_bytes() - before) / KEYS as i64;
        assert!(family.metrics().keys >= KEYS as usize);
        bytes
    })
}

/// The kind's `build`, for [`bytes_per_key`].
trait Build<P: resilience::keyed::Keyable> {
    fn build_family(self) -> resilience::Keyed<P>;
}

macro_rules! build {
    ($($kind:ident),*) => {$(
        impl Build<resilience::$kind> for resilience::KeyedBuilder<resilience::$kind> {
            fn build_family(self) -> resilience::Keyed<resilience::$kind> {
                self.build().expect("valid settings")
            }
        }
    )*};
}
build!(RateLimiter, Bulkhead, CircuitBreaker);

#[test]
fn memory_per_key_is_bounded() {
    let limiter = bytes_per_key(
        RateLimiter::builder("alloc/keyed_limiter")
            .rate(100, Duration::from_secs(1))
            .keyed(),
    );
    let bulkhead = bytes_per_key(Bulkhead::builder("alloc/keyed_bulkhead").max(10).keyed());
    let breaker = bytes_per_key(resilience::CircuitBreaker::builder("alloc/keyed_breaker").keyed());
    eprintln!("bytes per key: rate limiter {limiter}, bulkhead {bulkhead}, breaker {breaker}");
    // The figures `keyed`'s docs give (about 2.9 KB, 270 B and 8.6 KB), with room for the
    // map's growth steps: a child's size is a `size_of` and its map entry, not its traffic.
    assert!(limiter < 4_000, "{limiter} bytes per rate limiter key");
    assert!(bulkhead < 1_000, "{bulkhead} bytes per bulkhead key");
    assert!(breaker < 12_000, "{breaker} bytes per breaker key");
}

#[resilience::circuit_breaker(threshold = 50%)]
fn plain_guarded(x: u64) -> Result<u64, OpError> {
    Ok(x)
}

/// A plain function's call runs on the calling thread with a waker made once per thread.
#[test]
fn plain_circuit_breaker_allocates_nothing() {
    for i in 0..10 {
        plain_guarded(i).expect("the warm-up call succeeds");
    }
    let before = allocations();
    for i in 0..1000 {
        plain_guarded(i).expect("the call succeeds");
    }
    assert_eq!(allocations() - before, 0);
}
