//! Behaviour of the rate limiter, in virtual time.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::time::Duration;

use resilience_runtime::{Error, ErrorKind, Failure, RateLimiter, RateLimiterBuilder};
use tokio::task::{JoinHandle, yield_now};
use tokio::time::{Instant, sleep, timeout};

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

fn limiter(builder: RateLimiterBuilder) -> &'static RateLimiter {
    Box::leak(Box::new(builder.build().unwrap()))
}

/// Calls through the limiter; the call returns when it ran, as time since `origin`.
async fn call(limiter: &RateLimiter, origin: Instant) -> Result<Duration, Failure<()>> {
    limiter.call(async move { Ok(origin.elapsed()) }).await
}

fn spawn_call(
    limiter: &'static RateLimiter,
    origin: Instant,
) -> JoinHandle<Result<Duration, Failure<()>>> {
    tokio::spawn(call(limiter, origin))
}

/// Runs every spawned task until it waits.
async fn settle() {
    for _ in 0..10 {
        yield_now().await;
    }
}

fn rate_limited(outcome: Result<Duration, Failure<()>>) -> Error {
    let rejection = *outcome.unwrap_err().rejection().unwrap();
    assert_eq!(rejection.kind(), ErrorKind::RateLimited);
    rejection
}

#[tokio::test(start_paused = true)]
async fn admits_the_burst_then_rejects_with_the_exact_retry_after() {
    let l = limiter(RateLimiter::builder("api").rate(10, SECOND));
    let origin = Instant::now();
    for _ in 0..10 {
        assert_eq!(call(l, origin).await.unwrap(), Duration::ZERO);
    }

    let rejection = rate_limited(call(l, origin).await);
    assert_eq!(rejection.retry_after(), Some(100 * MS));
    assert_eq!(rejection.policy(), "api");
    assert_eq!(origin.elapsed(), Duration::ZERO);

    sleep(30 * MS).await;
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(70 * MS)
    );
    let m = l.metrics();
    assert_eq!((m.calls, m.admitted, m.rejections), (12, 10, 2));
}

#[tokio::test(start_paused = true)]
async fn refills_at_the_rate_as_virtual_time_advances() {
    let l = limiter(RateLimiter::builder("api").rate(10, SECOND));
    let origin = Instant::now();
    for _ in 0..10 {
        call(l, origin).await.unwrap();
    }
    assert_eq!(l.available(), 0);

    sleep(100 * MS).await;
    assert_eq!(l.available(), 1);
    assert_eq!(call(l, origin).await.unwrap(), 100 * MS);
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(100 * MS)
    );

    sleep(350 * MS).await;
    assert_eq!(l.available(), 3);
    sleep(10 * SECOND).await;
    assert_eq!(l.available(), 10, "idle time refills at most the burst");
}

#[tokio::test(start_paused = true)]
async fn burst_smaller_than_the_count_spaces_calls_from_the_start() {
    let l = limiter(RateLimiter::builder("api").rate(10, SECOND).burst(2));
    let origin = Instant::now();
    assert_eq!(l.available(), 2);
    call(l, origin).await.unwrap();
    call(l, origin).await.unwrap();
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(100 * MS)
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_caller_is_admitted_at_exactly_the_due_time() {
    let l = limiter(
        RateLimiter::builder("api")
            .rate(10, SECOND)
            .burst(1)
            .wait(250 * MS),
    );
    let origin = Instant::now();
    assert_eq!(call(l, origin).await.unwrap(), Duration::ZERO);
    let second = spawn_call(l, origin);
    let third = spawn_call(l, origin);
    settle().await;
    assert_eq!(l.metrics().waiting, 2);

    // The fourth permit is due at 300ms, beyond the wait of 250ms.
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(300 * MS)
    );

    assert_eq!(second.await.unwrap().unwrap(), 100 * MS);
    assert_eq!(third.await.unwrap().unwrap(), 200 * MS);
    let m = l.metrics();
    assert_eq!((m.calls, m.admitted, m.rejections, m.waiting), (4, 3, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiter_gives_back_its_reservation() {
    let l = limiter(
        RateLimiter::builder("api")
            .rate(10, SECOND)
            .burst(1)
            .wait(SECOND),
    );
    let origin = Instant::now();
    call(l, origin).await.unwrap();

    // Reserves the permit due at 100ms, then is cancelled at 50ms.
    assert!(timeout(50 * MS, call(l, origin)).await.is_err());

    // The next caller gets that permit, without waiting another interval.
    assert_eq!(call(l, origin).await.unwrap(), 100 * MS);
    let m = l.metrics();
    assert_eq!((m.calls, m.admitted, m.cancelled, m.waiting), (3, 2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiter_with_callers_behind_it_leaves_its_permit_unused() {
    let l = limiter(
        RateLimiter::builder("api")
            .rate(10, SECOND)
            .burst(1)
            .wait(SECOND),
    );
    let origin = Instant::now();
    call(l, origin).await.unwrap();
    let cancelled = spawn_call(l, origin); // due at 100ms
    settle().await;
    let behind = spawn_call(l, origin); // due at 200ms
    settle().await;

    cancelled.abort();
    settle().await;

    // Giving the 100ms permit to a newcomer now would put two permits at 200ms.
    assert_eq!(call(l, origin).await.unwrap(), 300 * MS);
    assert_eq!(behind.await.unwrap().unwrap(), 200 * MS);
    assert_eq!(l.metrics().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn granted_permit_is_spent_even_if_the_call_is_cancelled() {
    let l = limiter(RateLimiter::builder("api").rate(1, SECOND));
    let slow = l.call(async {
        sleep(10 * SECOND).await;
        Ok::<(), Failure<()>>(())
    });
    assert!(timeout(100 * MS, slow).await.is_err());

    assert_eq!(l.available(), 0);
    assert_eq!(
        rate_limited(call(l, Instant::now()).await).retry_after(),
        Some(900 * MS)
    );
    let m = l.metrics();
    assert_eq!((m.admitted, m.cancelled), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn rate_with_a_fractional_interval_never_exceeds_the_rate() {
    // 3 per second: permits 333_333_334ns apart (rounded up).
    let l = limiter(RateLimiter::builder("api").rate(3, SECOND).burst(1));
    let origin = Instant::now();
    call(l, origin).await.unwrap();
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(Duration::from_nanos(333_333_334))
    );
}

#[test]
fn config_errors_name_the_option_and_the_fix() {
    let cases = [
        (RateLimiter::builder("api"), "rate", "is required"),
        (
            RateLimiter::builder("api").rate(0, SECOND),
            "rate",
            "must allow at least 1 call",
        ),
        (
            RateLimiter::builder("api").rate(10, Duration::ZERO),
            "rate",
            "needs a period of more than 0",
        ),
        (
            RateLimiter::builder("api").rate(10, SECOND).burst(0),
            "burst",
            "must be at least 1: write burst = 10",
        ),
    ];
    for (builder, field, message) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!((err.policy(), err.field()), ("api", field));
        assert!(err.message().starts_with(message), "{err}");
    }
}

#[test]
fn defaults_burst_the_rate_count_and_reject_at_once() {
    let l = RateLimiter::builder("api")
        .rate(100, SECOND)
        .build()
        .unwrap();
    assert_eq!(
        (l.burst(), l.wait(), l.name()),
        (100, Duration::ZERO, "api")
    );
}

#[test]
fn rate_limiter_can_be_a_static() {
    static API: RateLimiter = match RateLimiter::builder("api").rate(100, SECOND).build() {
        Ok(l) => l,
        Err(_) => panic!("invalid rate limiter"),
    };
    assert_eq!(API.burst(), 100);
}

#[tokio::test(start_paused = true)]
async fn raising_the_rate_after_lowering_it_drops_the_wait_built_at_the_lower_rate() {
    let l = limiter(RateLimiter::builder("api").rate(1000, SECOND));
    let origin = Instant::now();
    l.set_rate(1, Duration::from_secs(60), 1).unwrap();
    call(l, origin).await.unwrap();
    sleep(SECOND).await;
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(Duration::from_secs(59))
    );
    l.set_rate(1000, SECOND, 1000).unwrap();
    // The call made at the lower rate is one permit of the new burst, not a minute's wait.
    assert_eq!(call(l, origin).await.unwrap(), SECOND);
    assert_eq!(l.available(), 998);
    sleep(5 * SECOND).await;
    assert_eq!(l.available(), 1000);
}

#[tokio::test(start_paused = true)]
async fn lowering_the_rate_charges_the_permits_out_at_the_new_spacing_up_to_one_burst() {
    let l = limiter(RateLimiter::builder("api").rate(10, SECOND));
    let origin = Instant::now();
    for _ in 0..4 {
        call(l, origin).await.unwrap();
    }
    l.set_rate(1, SECOND, 10).unwrap();
    assert_eq!(l.available(), 6);
    l.set_rate(1, SECOND, 2).unwrap();
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(SECOND)
    );
}

#[tokio::test(start_paused = true)]
async fn changed_rate_applies_from_the_next_call() {
    let l = limiter(RateLimiter::builder("api").rate(10, SECOND).burst(1));
    let origin = Instant::now();
    call(l, origin).await.unwrap();
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(100 * MS)
    );

    l.set_rate(1, SECOND, 1).unwrap();
    // The permit granted at 0 counts as one of the new rate: the next comes a second after it.
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(SECOND)
    );
    sleep(SECOND).await;
    assert_eq!(call(l, origin).await.unwrap(), SECOND);
    assert_eq!(
        rate_limited(call(l, origin).await).retry_after(),
        Some(SECOND)
    );

    l.set_rate(100, SECOND, 5).unwrap();
    // The one permit out is respaced at 10ms: four are free at once.
    assert_eq!((l.burst(), l.available()), (5, 4));
    sleep(10 * MS).await;
    assert_eq!(l.available(), 5);
    assert_eq!(l.set_rate(0, SECOND, 5).unwrap_err().field(), "rate");
    assert_eq!(l.set_rate(10, SECOND, 0).unwrap_err().field(), "burst");
    assert_eq!(l.burst(), 5);
}
