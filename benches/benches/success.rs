//! Per-call overhead on the success path, one thread: a bare call, each policy alone (ours
//! through the runtime API and through its attribute, and the peers doing the same job), and a
//! stack of all five.

use std::num::NonZeroU32;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::bulkhead::adaptive::Algorithm;
use resilience::{
    Backoff, Bulkhead, CircuitBreaker, Failure, Hedge, KeyedRateLimiter, RateLimiter, Retry,
    RetryBudget, Timeout,
};
use resilience_benches::{
    CountingAllocator, OpError, UNREACHABLE_RATE, attributed, bench_calls, group, op, runtime,
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

mod common;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

static BULKHEAD: Bulkhead = match Bulkhead::builder("bench/bulkhead").max(10).build() {
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!("invalid bulkhead"),
};

/// The attribute's `#[bulkhead(adaptive = gradient2, max = 100)]` through the runtime API: the
/// limit starts at 20 (the default `initial`) and goes up to 100.
static ADAPTIVE_BULKHEAD: Bulkhead = match Bulkhead::builder("bench/adaptive_bulkhead")
    .max(100)
    .adaptive(Algorithm::Gradient2)
    .build()
{
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!("invalid bulkhead"),
};

static HEDGE: Hedge = match Hedge::builder("bench/hedge")
    .after(Duration::from_secs(1))
    .build()
{
    Ok(hedge) => hedge,
    Err(_) => panic!("invalid hedge"),
};

static RATE_LIMITER: RateLimiter = match RateLimiter::builder("bench/rate_limiter")
    .rate(UNREACHABLE_RATE, Duration::from_secs(1))
    .build()
{
    Ok(limiter) => limiter,
    Err(_) => panic!("invalid rate limiter"),
};

static KEYED_RATE_LIMITER: KeyedRateLimiter = match RateLimiter::builder("bench/keyed")
    .rate(UNREACHABLE_RATE, Duration::from_secs(1))
    .keyed()
    .check()
{
    Ok(checked) => checked.build(),
    Err(_) => panic!("invalid rate limiter"),
};

static BREAKER: CircuitBreaker = match CircuitBreaker::builder("bench/circuit_breaker").build() {
    Ok(breaker) => breaker,
    Err(_) => panic!("invalid circuit breaker"),
};

/// The same breaker, shared by a fleet: declared `shared`, with a probe gate set as a fleet
/// backend sets one (asked on the not-closed path only).
static SHARED_BREAKER: CircuitBreaker =
    match CircuitBreaker::builder("bench/shared_circuit_breaker")
        .shared("bench")
        .build()
    {
        Ok(breaker) => breaker,
        Err(_) => panic!("invalid circuit breaker"),
    };

struct AnyProber;

impl resilience::circuit_breaker::fleet::ProbeGate for AnyProber {
    fn may_probe(&self, _: &'static str) -> bool {
        true
    }
}

static RETRY: Retry = match Retry::builder("bench/retry")
    .attempts(3)
    .backoff(Backoff::exponential(
        Duration::from_millis(100),
        Duration::from_secs(10),
    ))
    .build()
{
    Ok(retry) => retry,
    Err(_) => panic!("invalid retry"),
};

static BUDGET: RetryBudget = match RetryBudget::builder("bench/retry_budget").build() {
    Ok(budget) => budget,
    Err(_) => panic!("invalid retry budget"),
};

static RETRY_WITH_BUDGET: Retry = match Retry::builder("bench/retry_with_budget")
    .attempts(3)
    .backoff(Backoff::exponential(
        Duration::from_millis(100),
        Duration::from_secs(10),
    ))
    .budget(&BUDGET)
    .build()
{
    Ok(retry) => retry,
    Err(_) => panic!("invalid retry"),
};

static TIMEOUT: Timeout = match Timeout::builder("bench/timeout")
    .duration(Duration::from_secs(1))
    .build()
{
    Ok(timeout) => timeout,
    Err(_) => panic!("invalid timeout"),
};

/// Calls a tower service once, as a tower user does: wait until ready, then call.
async fn tower_call<S: Service<u64>>(svc: &mut S, i: u64) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(i).await
}

fn bare(c: &mut Criterion) {
    let rt = runtime();
    let mut g = group(c, "bare");
    bench_calls!(&mut g, &rt, "async_fn", |i| op(i).await);
    // A reference, not a peer: what one uncontended atomic read-modify-write (a `lock`-prefixed
    // instruction) costs on this machine, the unit most of our success paths are made of.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    bench_calls!(&mut g, &rt, "one_atomic_add", |i| {
        // Relaxed: a counter, publishing nothing.
        COUNTER.fetch_add(1, Relaxed);
        op(i).await
    });
    let mut svc = service_fn(op);
    bench_calls!(&mut g, &rt, "tower_service_fn", |i| tower_call(&mut svc, i)
        .await);
    g.inner.finish();
}

fn circuit_breaker(c: &mut Criterion) {
    use failsafe::futures::CircuitBreaker as _;
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;

    let rt = runtime();
    let mut g = group(c, "circuit_breaker");
    bench_calls!(&mut g, &rt, "ours_api", |i| BREAKER
        .call(async { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    static GATE: AnyProber = AnyProber;
    SHARED_BREAKER.gate_probes(&GATE);
    bench_calls!(&mut g, &rt, "ours_api_shared", |i| SHARED_BREAKER
        .call(async { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| {
        attributed::circuit_breaker(i).await
    });
    let mut tr = CircuitBreakerLayer::builder()
        .build()
        .expect("valid breaker")
        .layer(service_fn(op));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    let recloser = recloser::AsyncRecloser::from(recloser::Recloser::custom().build());
    bench_calls!(&mut g, &rt, "recloser", |i| recloser.call(op(i)).await);
    let failsafe = failsafe::Config::new().build();
    bench_calls!(&mut g, &rt, "failsafe", |i| failsafe.call(op(i)).await);
    let mut ours_layer = resilience::tower::layer(&BREAKER).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "ours_tower_layer", |i| tower_call(
        &mut ours_layer,
        i
    )
    .await);
    g.inner.finish();
}

/// What a time window, or slow-call tracking, costs on top of the default breaker.
fn circuit_breaker_options(c: &mut Criterion) {
    let rt = runtime();
    let mut g = group(c, "circuit_breaker_options");
    bench_calls!(&mut g, &rt, "ours_time_window", |i| {
        attributed::circuit_breaker_time_window(i).await
    });
    bench_calls!(&mut g, &rt, "ours_slow_calls", |i| {
        attributed::circuit_breaker_slow_calls(i).await
    });
    g.inner.finish();
}

fn retry(c: &mut Criterion) {
    use backon::{ExponentialBuilder, Retryable};
    use tower_resilience::retry::RetryLayer;

    let rt = runtime();
    let mut g = group(c, "retry");
    bench_calls!(&mut g, &rt, "ours_api", |i| RETRY
        .call(|| async move { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| attributed::retry(i)
        .await);
    let mut tr = RetryLayer::<u64, u64, OpError>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(100))
        .build()
        .layer(service_fn(op));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    bench_calls!(&mut g, &rt, "backon", |i| (|| op(i))
        .retry(ExponentialBuilder::default())
        .await);
    let mut ours_layer = resilience::tower::layer(&RETRY).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "ours_tower_layer", |i| tower_call(
        &mut ours_layer,
        i
    )
    .await);
    g.inner.finish();
}

/// A first-try success under a retry with a budget: the deposit is the whole difference
/// from `retry`. tower's `TpsBudget`, deposited after the same call, is the peer.
fn retry_budget(c: &mut Criterion) {
    use tower::retry::budget::{Budget, TpsBudget};

    let rt = runtime();
    let mut g = group(c, "retry_budget");
    bench_calls!(&mut g, &rt, "ours_api", |i| RETRY_WITH_BUDGET
        .call(|| async move { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| {
        attributed::retry_with_budget(i).await
    });
    let tps = TpsBudget::new(Duration::from_secs(10), 10, 0.2);
    bench_calls!(&mut g, &rt, "tower_tps_budget", |i| {
        let outcome = op(i).await;
        tps.deposit();
        outcome
    });
    g.inner.finish();
}

fn timeout(c: &mut Criterion) {
    use tower_resilience::timelimiter::TimeLimiterLayer;

    let rt = runtime();
    let mut g = group(c, "timeout");
    bench_calls!(&mut g, &rt, "ours_api", |i| TIMEOUT
        .call(async { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| attributed::timeout(i)
        .await);
    bench_calls!(&mut g, &rt, "tokio_timeout", |i| tokio::time::timeout(
        Duration::from_secs(1),
        op(i)
    )
    .await);
    let mut tower_timeout = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .service(service_fn(op));
    bench_calls!(&mut g, &rt, "tower_timeout", |i| tower_call(
        &mut tower_timeout,
        i
    )
    .await);
    let mut tr = TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(1))
        .build()
        .layer(service_fn(op));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    let mut ours_layer = resilience::tower::layer(&TIMEOUT).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "ours_tower_layer", |i| tower_call(
        &mut ours_layer,
        i
    )
    .await);
    g.inner.finish();
}

fn bulkhead(c: &mut Criterion) {
    use tower_resilience::bulkhead::BulkheadLayer;

    let rt = runtime();
    let mut g = group(c, "bulkhead");
    bench_calls!(&mut g, &rt, "ours_api", |i| BULKHEAD
        .call(async { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| attributed::bulkhead(i)
        .await);
    let semaphore = tokio::sync::Semaphore::new(10);
    bench_calls!(&mut g, &rt, "tokio_semaphore", |i| {
        let _permit = semaphore.try_acquire().expect("a free permit");
        op(i).await
    });
    let mut limit = ServiceBuilder::new()
        .concurrency_limit(10)
        .service(service_fn(op));
    bench_calls!(&mut g, &rt, "tower_concurrency_limit", |i| tower_call(
        &mut limit, i
    )
    .await);
    let mut tr = BulkheadLayer::builder()
        .max_concurrent_calls(10)
        .reject_when_full()
        .build()
        .expect("valid bulkhead")
        .layer(service_fn(op));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    let mut ours_layer = resilience::tower::layer(&BULKHEAD).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "ours_tower_layer", |i| tower_call(
        &mut ours_layer,
        i
    )
    .await);
    g.inner.finish();
}

/// An adaptive limit on the success path of a call that answers at once. Ours (Gradient2, from
/// 20 up to 100) reads tokio's clock when the call takes its slot and when it ends; the sample,
/// under the 100 µs threshold, is then dropped before any of the window's atomics: what a fast
/// call costs. The peers, with the same bounds: tower-resilience's `AdaptiveLimiterLayer` with
/// Vegas (its delay-based algorithm; it has no Gradient2), which takes every sample, and
/// congestion-limiter's windowed `Gradient` (averaged windows, as Netflix's `WindowedLimit`
/// around Gradient2), which drops samples under 1 µs as ours drops them under 100 µs.
fn adaptive_bulkhead(c: &mut Criterion) {
    use congestion_limiter::aggregation::Average;
    use congestion_limiter::limiter::{DefaultLimiter, Limiter, Outcome};
    use congestion_limiter::limits::{Gradient, Windowed};
    use tower_resilience::adaptive::{AdaptiveLimiterLayer, Vegas};

    let rt = runtime();
    let mut g = group(c, "adaptive_bulkhead");
    bench_calls!(&mut g, &rt, "ours_api", |i| ADAPTIVE_BULKHEAD
        .call(async { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| {
        attributed::adaptive_bulkhead(i).await
    });
    let vegas = Vegas::builder()
        .initial_limit(20)
        .min_limit(1)
        .max_limit(100)
        .build()
        .expect("valid Vegas");
    let mut tr = AdaptiveLimiterLayer::new(vegas).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    let limiter = DefaultLimiter::new(Windowed::new(
        Gradient::new(20, 1..=100),
        Average::default(),
    ));
    bench_calls!(&mut g, &rt, "congestion-limiter", |i| {
        let token = limiter.try_acquire().await.expect("a free slot");
        let outcome = op(i).await;
        limiter.release(token, Some(Outcome::Success)).await;
        outcome
    });
    let mut ours_layer = resilience::tower::layer(&ADAPTIVE_BULKHEAD).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "ours_tower_layer", |i| tower_call(
        &mut ours_layer,
        i
    )
    .await);
    g.inner.finish();
}

/// A hedged call whose first attempt answers at once, so no hedge starts. Ours waits 1 s before
/// a hedge and makes no timer until a call is pending. tower's `Hedge` hedges after a percentile
/// of the latencies it records: seeded with 100 latencies of 1 s (and rotating its histogram
/// hourly), its p95 is 1 s, so each call arms a second request delayed by 1 s that never runs.
/// tower-resilience's `HedgeLayer`: 1 s, two attempts (one hedge, as our `max = 1`).
fn hedge(c: &mut Criterion) {
    use tower_resilience::hedge::HedgeLayer;

    /// Every request may be hedged.
    #[derive(Clone)]
    struct AnyRequest;

    impl tower::hedge::Policy<u64> for AnyRequest {
        fn clone_request(&self, req: &u64) -> Option<u64> {
            Some(*req)
        }

        fn can_retry(&self, _: &u64) -> bool {
            true
        }
    }

    let rt = runtime();
    let mut g = group(c, "hedge");
    bench_calls!(&mut g, &rt, "ours_api", |i| HEDGE
        .call(|| async move { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| attributed::hedge(i)
        .await);
    // At least 10 latencies recorded before it hedges at all; 100 of 1000 ms seeded.
    let mut tower_hedge = tower::hedge::Hedge::new_with_mock_latencies::<u64>(
        service_fn(op),
        AnyRequest,
        10,
        0.95,
        Duration::from_secs(3600),
        &[1000; 100],
    );
    bench_calls!(&mut g, &rt, "tower_hedge", |i| tower_call(
        &mut tower_hedge,
        i
    )
    .await);
    let mut tr = HedgeLayer::builder()
        .delay(Duration::from_secs(1))
        .max_hedged_attempts(2)
        .build()
        .layer(service_fn(op));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    // Boxed, as the retry layer's: the future holds the request for a hedge.
    let mut ours_layer = resilience::tower::layer(&HEDGE).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "ours_tower_layer", |i| tower_call(
        &mut ours_layer,
        i
    )
    .await);
    g.inner.finish();
}

fn rate_limiter(c: &mut Criterion) {
    use governor::Quota;
    use tower_resilience::ratelimiter::RateLimiterLayer;

    let rt = runtime();
    let mut g = group(c, "rate_limiter");
    bench_calls!(&mut g, &rt, "ours_api", |i| RATE_LIMITER
        .call(async { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| attributed::rate_limiter(
        i
    )
    .await);
    let rate = NonZeroU32::new(UNREACHABLE_RATE).expect("non-zero rate");
    let governor = governor::RateLimiter::direct(Quota::per_second(rate));
    bench_calls!(&mut g, &rt, "governor_check", |i| match governor.check() {
        Ok(()) => op(i).await,
        Err(_) => Err(OpError),
    });
    // The other half of the target: one read of tokio's clock, which our limiter needs and
    // governor (reading its own quanta clock) does not.
    bench_calls!(&mut g, &rt, "tokio_instant_now", |i| {
        std::hint::black_box(tokio::time::Instant::now());
        op(i).await
    });
    let mut tr = RateLimiterLayer::builder()
        .limit_for_period(UNREACHABLE_RATE as usize)
        .refresh_period(Duration::from_secs(1))
        .build()
        .expect("valid rate limiter")
        .layer(service_fn(op));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    let mut ours_layer = resilience::tower::layer(&RATE_LIMITER).layer(service_fn(op));
    bench_calls!(&mut g, &rt, "ours_tower_layer", |i| tower_call(
        &mut ours_layer,
        i
    )
    .await);
    g.inner.finish();
}

/// A rate limiter per key, on a key whose child exists: ours (through the runtime API and the
/// attribute) and governor's keyed limiter (`check_key`, its own `DashMap` store), each over
/// 1,000 tenants' keys, cycled. The unkeyed rows of `rate_limiter` are the baseline.
fn keyed_rate_limiter(c: &mut Criterion) {
    use governor::Quota;

    let rt = runtime();
    let mut g = group(c, "keyed_rate_limiter");
    let tenants: Vec<String> = (0..1000).map(|t| format!("tenant-{t}")).collect();
    let key = |i: u64| tenants[(i % 1000) as usize].as_str();
    // Every tenant's child made before anything is measured (the allocation count included):
    // the rows are of keys whose child exists.
    rt.block_on(async {
        for i in 0..1000 {
            let _ = KEYED_RATE_LIMITER
                .call(key(i), async { Ok::<_, Failure<OpError>>(op(i).await?) })
                .await;
            let _ = attributed::keyed_rate_limiter(key(i), i).await;
        }
    });
    bench_calls!(&mut g, &rt, "ours_api", |i| KEYED_RATE_LIMITER
        .call(key(i), async { Ok::<_, Failure<OpError>>(op(i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| {
        attributed::keyed_rate_limiter(key(i), i).await
    });
    let rate = NonZeroU32::new(UNREACHABLE_RATE).expect("non-zero rate");
    let governor = governor::RateLimiter::keyed(Quota::per_second(rate));
    // Its keys made first too, as ours are.
    for tenant in &tenants {
        let _ = governor.check_key(tenant);
    }
    bench_calls!(&mut g, &rt, "governor_check_key", |i| match governor
        .check_key(&tenants[(i % 1000) as usize])
    {
        Ok(()) => op(i).await,
        Err(_) => Err(OpError),
    });
    g.inner.finish();
}

/// All five, in the recommended order: retry, circuit breaker, rate limiter, timeout, bulkhead.
/// The peers' stack is tower-resilience's five layers in the same order.
fn stack(c: &mut Criterion) {
    let rt = runtime();
    let mut g = group(c, "stack");
    bench_calls!(&mut g, &rt, "ours_api", |i| RETRY
        .call(|| BREAKER.call(RATE_LIMITER.call(
            TIMEOUT.call(BULKHEAD.call(async move { Ok::<_, Failure<OpError>>(op(i).await?) }))
        )))
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| attributed::stack(i)
        .await);
    let mut tr = common::tower_resilience_stack();
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    g.inner.finish();
}

criterion_group! {
    name = benches;
    config = resilience_benches::criterion();
    targets = bare, circuit_breaker, circuit_breaker_options, retry, retry_budget, timeout, bulkhead,
        adaptive_bulkhead, hedge, rate_limiter, keyed_rate_limiter, stack
}
criterion_main!(benches);
