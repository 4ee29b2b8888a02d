//! Test isolation: every kind resets to what it was built with, `registry::reset_all` resets
//! them all, and reading a policy never changes it, whichever runtime reads it.
//!
//! Its own test binary: `reset_all` resets every policy of the process, so its tests take
//! turns.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use resilience_runtime::{
    Backoff, Bulkhead, CircuitBreaker, Failure, RateLimiter, Retry, State, Timeout, registry,
};
use tokio::runtime::Runtime;
use tokio::time::advance;

macro_rules! built {
    ($builder:expr) => {
        match $builder.build() {
            Ok(p) => p,
            Err(_) => panic!("invalid policy"),
        }
    };
}

static BREAKER: CircuitBreaker = built!(
    CircuitBreaker::builder("reset/breaker")
        .consecutive_failures(1)
        .window_time(Duration::from_secs(10))
);
static RETRY: Retry = built!(Retry::builder("reset/retry").attempts(3));
static TIMEOUT: Timeout =
    built!(Timeout::builder("reset/timeout").duration(Duration::from_secs(1)));
static POOL: Bulkhead = built!(Bulkhead::builder("reset/pool").max(2));
static LIMITER: RateLimiter =
    built!(RateLimiter::builder("reset/limiter").rate(2, Duration::from_secs(1)));

static TURNS: Mutex<()> = Mutex::new(());

/// Registers the policies and takes this test's turn.
fn turn() -> MutexGuard<'static, ()> {
    registry::register(&BREAKER);
    registry::register(&RETRY);
    registry::register(&TIMEOUT);
    registry::register(&POOL);
    registry::register(&LIMITER);
    TURNS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A runtime of its own, with a paused clock: each test of a suite under
/// `#[tokio::test(start_paused = true)]` has one.
fn paused() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

async fn admit(limiter: &RateLimiter) {
    limiter
        .call(async { Ok::<_, Failure<()>>(()) })
        .await
        .unwrap();
}

#[test]
fn reading_a_policy_in_one_paused_runtime_does_not_freeze_it_for_another() {
    let _turn = turn();
    registry::reset_all();
    let (a, b) = (paused(), paused());
    // A test reads every policy an hour ahead, in its own paused clock ...
    a.block_on(async {
        advance(Duration::from_secs(3600)).await;
        let _ = registry::snapshot();
        let _ = (LIMITER.available(), BREAKER.metrics());
    });
    // ... and another test's limiter still counts from its own first call.
    b.block_on(async {
        admit(&LIMITER).await;
        admit(&LIMITER).await;
        assert_eq!(LIMITER.available(), 0);
        advance(Duration::from_millis(1050)).await;
        assert_eq!(LIMITER.available(), 2);
    });
}

#[test]
fn a_reset_gives_a_policy_a_fresh_time_origin_in_the_runtime_that_uses_it_next() {
    let _turn = turn();
    registry::reset_all();
    let (a, b) = (paused(), paused());
    // The limiter's origin is set in A, a minute ahead of B's clock.
    a.block_on(async {
        advance(Duration::from_secs(60)).await;
        admit(&LIMITER).await;
        BREAKER
            .call(async { Err::<(), _>(Failure::Error(())) })
            .await
            .unwrap_err();
        assert_eq!(BREAKER.state(), State::Open);
    });
    b.block_on(async {
        registry::reset("reset/limiter").unwrap();
        registry::reset("reset/breaker").unwrap();
        admit(&LIMITER).await;
        admit(&LIMITER).await;
        advance(Duration::from_millis(1050)).await;
        assert_eq!(LIMITER.available(), 2);
        // The breaker's time window counts from B's clock too.
        assert_eq!(BREAKER.state(), State::Closed);
        BREAKER
            .call(async { Ok::<_, Failure<()>>(()) })
            .await
            .unwrap();
        assert_eq!(BREAKER.metrics().window_calls, 1);
    });
}

#[test]
fn every_kind_resets_to_its_declared_settings_with_counters_at_zero() {
    let _turn = turn();
    registry::reset_all();
    let rt = paused();
    rt.block_on(async {
        registry::set("reset/breaker", "open", "5s").unwrap();
        registry::set("reset/retry", "attempts", "7").unwrap();
        RETRY
            .set_backoff(Backoff::fixed(Duration::from_millis(5)))
            .unwrap();
        registry::set("reset/timeout", "duration", "9s").unwrap();
        registry::set("reset/pool", "max", "5").unwrap();
        registry::set("reset/limiter", "rate", "1/m").unwrap();
        POOL.call(async { Ok::<_, Failure<()>>(()) }).await.unwrap();
        admit(&LIMITER).await;
        assert_eq!(LIMITER.available(), 0);
        BREAKER.force_open();

        registry::reset_all();

        let snapshot = registry::snapshot();
        let setting =
            |name: &str, key: &str| snapshot.get(name).unwrap().setting(key).map(str::to_owned);
        assert_eq!(setting("reset/breaker", "open").as_deref(), Some("30s"));
        assert_eq!(BREAKER.state(), State::Closed);
        let fresh: Retry = built!(Retry::builder("fresh").attempts(3));
        assert_eq!((RETRY.attempts(), RETRY.backoff()), (3, fresh.backoff()));
        assert_eq!(TIMEOUT.duration(), Duration::from_secs(1));
        assert_eq!(
            (POOL.max(), POOL.metrics().calls, POOL.metrics().completed),
            (2, 0, 0)
        );
        assert_eq!(setting("reset/limiter", "rate").as_deref(), Some("2/s"));
        assert_eq!(LIMITER.metrics().calls, 0);
        assert_eq!(LIMITER.available(), 2);
    });
}
