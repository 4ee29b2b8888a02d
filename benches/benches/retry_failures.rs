//! The retry path with failures: every call fails twice and succeeds on its third attempt,
//! with a fixed 1ms backoff, in virtual time (a paused runtime: the sleeps complete at once, the
//! clock jumps). The baseline is the same loop written by hand with `tokio::time::sleep`.
//!
//! This process pauses a clock, after which every read of tokio's clock takes tokio's test-util
//! slow path (runtime handle, clock lock); so this binary is kept apart from the others.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{Backoff, Failure, Jitter, Retry};
use resilience_benches::{CountingAllocator, OpError, bench_calls, group, paused_runtime};
use tower::{Layer, Service, ServiceExt, service_fn};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const BACKOFF: Duration = Duration::from_millis(1);

static RETRY: Retry = match Retry::builder("bench/retry_failures")
    .attempts(3)
    .backoff(Backoff::fixed(BACKOFF))
    .jitter(Jitter::None)
    .build()
{
    Ok(retry) => retry,
    Err(_) => panic!("invalid retry"),
};

/// Fails on two attempts out of three: called three times per call, it fails, fails, succeeds.
async fn flaky(attempts: &AtomicU64, x: u64) -> Result<u64, OpError> {
    // Relaxed: a counter on one thread.
    if attempts.fetch_add(1, Relaxed) % 3 == 2 {
        Ok(x)
    } else {
        Err(OpError)
    }
}

static ATTRIBUTE: AtomicU64 = AtomicU64::new(0);

/// [`flaky`] under our retry's attribute: 3 attempts, 1ms apart.
#[resilience::retry(attempts = 3, backoff = fixed(1ms))]
async fn flaky_retried(x: u64) -> Result<u64, OpError> {
    flaky(&ATTRIBUTE, x).await
}

/// Calls a tower service once, as a tower user does: wait until ready, then call.
async fn tower_call<S: Service<u64>>(svc: &mut S, i: u64) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(i).await
}

fn retry_failures(c: &mut Criterion) {
    use backon::{ConstantBuilder, Retryable};
    use tower_resilience::retry::RetryLayer;

    let rt = paused_runtime();
    let mut g = group(c, "retry_two_failures");

    static HAND: AtomicU64 = AtomicU64::new(0);
    bench_calls!(&mut g, &rt, "hand_loop", |i| async {
        let mut attempt = 1;
        loop {
            match flaky(&HAND, i).await {
                Err(_) if attempt < 3 => {
                    attempt += 1;
                    tokio::time::sleep(BACKOFF).await;
                }
                outcome => break outcome,
            }
        }
    }
    .await);

    static OURS: AtomicU64 = AtomicU64::new(0);
    bench_calls!(&mut g, &rt, "ours_api", |i| RETRY
        .call(|| async move { Ok::<_, Failure<_>>(flaky(&OURS, i).await?) })
        .await);
    bench_calls!(&mut g, &rt, "ours_attribute", |i| flaky_retried(i).await);

    static BACKON: AtomicU64 = AtomicU64::new(0);
    let backoff = ConstantBuilder::default()
        .with_delay(BACKOFF)
        .with_max_times(2);
    bench_calls!(&mut g, &rt, "backon", |i| (|| flaky(&BACKON, i))
        .retry(backoff)
        .await);

    static TOWER: AtomicU64 = AtomicU64::new(0);
    let mut tr = RetryLayer::<u64, u64, OpError>::builder()
        .max_attempts(3)
        .fixed_backoff(BACKOFF)
        .build()
        .layer(service_fn(|i| flaky(&TOWER, i)));
    bench_calls!(&mut g, &rt, "tower-resilience", |i| tower_call(&mut tr, i)
        .await);
    g.inner.finish();
}

criterion_group! {
    name = benches;
    config = resilience_benches::criterion();
    targets = retry_failures
}
criterion_main!(benches);
