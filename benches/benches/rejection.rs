//! The rejection path of an open circuit breaker: the call is refused without running. Ours
//! and the peers', each opened by failures and held open for an hour.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{CircuitBreaker, Failure};
use resilience_benches::{
    CountingAllocator, OpError, bench_rejections, failing_op, group, op, runtime,
};
use tower::{Layer, Service, ServiceExt, service_fn};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const HOUR: Duration = Duration::from_secs(3600);

/// Set while the breakers are being opened.
static FAIL: AtomicBool = AtomicBool::new(true);

/// Fails while [`FAIL`] is set, so the breakers open; afterwards every call is rejected, and
/// would succeed if it ran.
async fn flaky(i: u64) -> Result<u64, OpError> {
    // Relaxed: one thread.
    if FAIL.load(Relaxed) {
        failing_op(i).await
    } else {
        op(i).await
    }
}

static BREAKER: CircuitBreaker = match CircuitBreaker::builder("bench/open_breaker")
    .consecutive_failures(2)
    .open(HOUR)
    .build()
{
    Ok(breaker) => breaker,
    Err(_) => panic!("invalid circuit breaker"),
};

/// [`flaky`] under our breaker's attribute, opened by two failures and held open for an hour.
#[resilience::circuit_breaker(failures = 2, open = 1h)]
async fn flaky_breaker(i: u64) -> Result<u64, OpError> {
    flaky(i).await
}

/// Calls a tower service once, as a tower user does: wait until ready, then call.
async fn tower_call<S: Service<u64>>(svc: &mut S, i: u64) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(i).await
}

fn open_breaker(c: &mut Criterion) {
    use failsafe::futures::CircuitBreaker as _;
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;

    let rt = runtime();
    let mut g = group(c, "open_breaker");

    let mut tr = CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(2)
        .minimum_number_of_calls(2)
        .wait_duration_in_open(HOUR)
        .build()
        .expect("valid breaker")
        .layer(service_fn(flaky));
    let recloser = recloser::AsyncRecloser::from(
        recloser::Recloser::custom()
            .closed_len(2)
            .open_wait(HOUR)
            .build(),
    );
    let failsafe = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            2,
            failsafe::backoff::constant(HOUR),
        ))
        .build();
    rt.block_on(async {
        for i in 0..4 {
            let _ = BREAKER
                .call(async { Ok::<_, Failure<_>>(flaky(i).await?) })
                .await;
            let _ = flaky_breaker(i).await;
            let _ = tower_call(&mut tr, i).await;
            let _ = recloser.call(flaky(i)).await;
            let _ = failsafe.call(flaky(i)).await;
        }
    });
    // Relaxed: one thread.
    FAIL.store(false, Relaxed);

    bench_rejections!(&mut g, &rt, "ours_api", |i| BREAKER
        .call(async { Ok::<_, Failure<_>>(flaky(i).await?) })
        .await);
    bench_rejections!(&mut g, &rt, "ours_attribute", |i| flaky_breaker(i).await);
    bench_rejections!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    bench_rejections!(&mut g, &rt, "recloser", |i| recloser.call(flaky(i)).await);
    bench_rejections!(&mut g, &rt, "failsafe", |i| failsafe.call(flaky(i)).await);
    g.inner.finish();
}

criterion_group! {
    name = benches;
    config = resilience_benches::criterion();
    targets = open_breaker
}
criterion_main!(benches);
