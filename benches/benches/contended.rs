//! Two threads sharing one policy: a circuit breaker (closed, and open: its rejections), a
//! bulkhead, a rate limiter; ours and the peers'. The baseline is two threads making bare calls.

use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{Bulkhead, CircuitBreaker, Failure, KeyedRateLimiter, RateLimiter, State};
use resilience_benches::{
    CountingAllocator, UNREACHABLE_RATE, bench_two_threads, failing_op, group, op,
};
use tower::{Layer, Service, ServiceExt, service_fn};

mod common;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

static BULKHEAD: Bulkhead = match Bulkhead::builder("bench/shared_bulkhead").max(10).build() {
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!("invalid bulkhead"),
};

static RATE_LIMITER: RateLimiter = match RateLimiter::builder("bench/shared_rate_limiter")
    .rate(UNREACHABLE_RATE, Duration::from_secs(1))
    .build()
{
    Ok(limiter) => limiter,
    Err(_) => panic!("invalid rate limiter"),
};

static BREAKER: CircuitBreaker =
    match CircuitBreaker::builder("bench/shared_circuit_breaker").build() {
        Ok(breaker) => breaker,
        Err(_) => panic!("invalid circuit breaker"),
    };

static KEYED_RATE_LIMITER: KeyedRateLimiter =
    match RateLimiter::builder("bench/shared_keyed_rate_limiter")
        .rate(UNREACHABLE_RATE, Duration::from_secs(1))
        .keyed()
        .check()
    {
        Ok(checked) => checked.build(),
        Err(_) => panic!("invalid rate limiter"),
    };

const HOUR: Duration = Duration::from_secs(3600);

/// Opened by one failure and held open for an hour: every benchmarked call is rejected.
static OPEN_BREAKER: CircuitBreaker = match CircuitBreaker::builder("bench/shared_open_breaker")
    .consecutive_failures(1)
    .open(HOUR)
    .build()
{
    Ok(breaker) => breaker,
    Err(_) => panic!("invalid circuit breaker"),
};

/// Calls a tower service once, as a tower user does: wait until ready, then call.
async fn tower_call<S: Service<u64>>(svc: &mut S, i: u64) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(i).await
}

fn bare(c: &mut Criterion) {
    let mut g = group(c, "two_threads_bare");
    bench_two_threads!(&mut g, "async_fn", |_unused = (), i| op(i).await);
    g.inner.finish();
}

fn circuit_breaker(c: &mut Criterion) {
    use failsafe::futures::CircuitBreaker as _;
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;

    let mut g = group(c, "two_threads_circuit_breaker");
    bench_two_threads!(&mut g, "ours_api", |_unused = (), i| BREAKER
        .call(async { Ok::<_, Failure<_>>(op(i).await?) })
        .await);
    bench_two_threads!(&mut g, "ours_attribute", |_unused = (), i| {
        resilience_benches::attributed::circuit_breaker(i).await
    });
    let tr = CircuitBreakerLayer::builder()
        .build()
        .expect("valid breaker")
        .layer(service_fn(op));
    bench_two_threads!(&mut g, "tower-resilience", |svc = tr.clone(), i| tower_call(
        &mut svc, i
    )
    .await);
    let recloser = recloser::AsyncRecloser::from(recloser::Recloser::custom().build());
    bench_two_threads!(&mut g, "recloser", |r = recloser.clone(), i| r.call(op(i)).await);
    let failsafe = failsafe::Config::new().build();
    bench_two_threads!(&mut g, "failsafe", |f = failsafe.clone(), i| f.call(op(i)).await);
    g.inner.finish();
}

fn open_breaker(c: &mut Criterion) {
    let recloser = recloser::AsyncRecloser::from(
        recloser::Recloser::custom()
            .closed_len(2)
            .open_wait(HOUR)
            .build(),
    );
    resilience_benches::runtime().block_on(async {
        for i in 0..4 {
            let _ = OPEN_BREAKER
                .call(async { Ok::<_, Failure<_>>(failing_op(i).await?) })
                .await;
            let _ = recloser.call(failing_op(i)).await;
        }
    });
    assert_eq!(OPEN_BREAKER.state(), State::Open);

    let mut g = group(c, "two_threads_open_breaker");
    bench_two_threads!(&mut g, "ours_api", |_unused = (), i| OPEN_BREAKER
        .call(async { Ok::<_, Failure<_>>(op(i).await?) })
        .await
        .is_err());
    bench_two_threads!(&mut g, "recloser", |r = recloser.clone(), i| r
        .call(op(i))
        .await
        .is_err());
    g.inner.finish();
}

fn bulkhead(c: &mut Criterion) {
    use tower_resilience::bulkhead::BulkheadLayer;

    let mut g = group(c, "two_threads_bulkhead");
    bench_two_threads!(&mut g, "ours_api", |_unused = (), i| BULKHEAD
        .call(async { Ok::<_, Failure<_>>(op(i).await?) })
        .await);
    let semaphore = tokio::sync::Semaphore::new(10);
    bench_two_threads!(&mut g, "tokio_semaphore", |_unused = (), i| {
        let _permit = semaphore.try_acquire().expect("a free permit");
        op(i).await
    });
    let tr = BulkheadLayer::builder()
        .max_concurrent_calls(10)
        .reject_when_full()
        .build()
        .expect("valid bulkhead")
        .layer(service_fn(op));
    bench_two_threads!(&mut g, "tower-resilience", |svc = tr.clone(), i| tower_call(
        &mut svc, i
    )
    .await);
    g.inner.finish();
}

fn rate_limiter(c: &mut Criterion) {
    use governor::Quota;
    use tower_resilience::ratelimiter::RateLimiterLayer;

    let mut g = group(c, "two_threads_rate_limiter");
    bench_two_threads!(&mut g, "ours_api", |_unused = (), i| RATE_LIMITER
        .call(async { Ok::<_, Failure<_>>(op(i).await?) })
        .await);
    let rate = NonZeroU32::new(UNREACHABLE_RATE).expect("non-zero rate");
    let governor = governor::RateLimiter::direct(Quota::per_second(rate));
    bench_two_threads!(&mut g, "governor_check", |_unused = (), i| match governor
        .check()
    {
        Ok(()) => op(i).await,
        Err(_) => Err(resilience_benches::OpError),
    });
    let tr = RateLimiterLayer::builder()
        .limit_for_period(UNREACHABLE_RATE as usize)
        .refresh_period(Duration::from_secs(1))
        .build()
        .expect("valid rate limiter")
        .layer(service_fn(op));
    bench_two_threads!(&mut g, "tower-resilience", |svc = tr.clone(), i| tower_call(
        &mut svc, i
    )
    .await);
    g.inner.finish();
}

/// Two threads on one keyed limiter: each on its own tenant (no state shared but the map),
/// and both on the same tenant (one child's state shared); ours and governor's `check_key`.
fn keyed_rate_limiter(c: &mut Criterion) {
    use governor::Quota;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    static THREAD: AtomicU64 = AtomicU64::new(0);
    let own_tenant = || format!("tenant-{}", THREAD.fetch_add(1, Relaxed) % 2);
    let mut g = group(c, "two_threads_keyed_rate_limiter");
    bench_two_threads!(&mut g, "ours_distinct_keys", |key = own_tenant(), i| {
        KEYED_RATE_LIMITER
            .call(key.as_str(), async { Ok::<_, Failure<_>>(op(i).await?) })
            .await
    });
    bench_two_threads!(&mut g, "ours_same_key", |_unused = (), i| {
        KEYED_RATE_LIMITER
            .call("shared-tenant", async { Ok::<_, Failure<_>>(op(i).await?) })
            .await
    });
    let rate = NonZeroU32::new(UNREACHABLE_RATE).expect("non-zero rate");
    let governor = governor::RateLimiter::keyed(Quota::per_second(rate));
    bench_two_threads!(&mut g, "governor_distinct_keys", |key = own_tenant(), i| {
        match governor.check_key(&key) {
            Ok(()) => op(i).await,
            Err(_) => Err(resilience_benches::OpError),
        }
    });
    let shared = String::from("shared-tenant");
    bench_two_threads!(&mut g, "governor_same_key", |_unused = (), i| {
        match governor.check_key(&shared) {
            Ok(()) => op(i).await,
            Err(_) => Err(resilience_benches::OpError),
        }
    });
    g.inner.finish();
}

fn stack(c: &mut Criterion) {
    let mut g = group(c, "two_threads_stack");
    bench_two_threads!(&mut g, "ours_attribute", |_unused = (), i| {
        resilience_benches::attributed::stack(i).await
    });
    let tr = common::tower_resilience_stack();
    bench_two_threads!(&mut g, "tower-resilience", |svc = tr.clone(), i| tower_call(
        &mut svc, i
    )
    .await);
    g.inner.finish();
}

criterion_group! {
    name = benches;
    config = resilience_benches::criterion();
    targets = bare, circuit_breaker, open_breaker, bulkhead, rate_limiter, keyed_rate_limiter,
        stack
}
criterion_main!(benches);
