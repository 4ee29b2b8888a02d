//! Fleet-wide rate limits against a real `redis-server` on a loopback port, in real time
//! (Redis's clock decides). Each test starts its own server; without `redis-server` each says
//! SKIPPED and passes.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::RedisServer;
use resilience_redis::{Mode, RedisStore, StoreOptions};
use resilience_runtime::{ErrorKind, Failure, RateLimiter, State};

macro_rules! limiter {
    ($name:literal, $count:expr, $burst:expr) => {{
        static L: RateLimiter = match RateLimiter::builder($name)
            .rate($count, Duration::from_secs(1))
            .burst($burst)
            .build()
        {
            Ok(l) => l,
            Err(_) => panic!("invalid limiter"),
        };
        &L
    }};
}

/// Calls through `limiter` as fast as they come back for `run`, on one task: the permits
/// granted.
async fn hammer(limiter: &'static RateLimiter, run: Duration) -> u64 {
    let started = Instant::now();
    let mut granted = 0;
    while started.elapsed() < run {
        match limiter.call(async { Ok::<_, Failure<()>>(()) }).await {
            Ok(()) => granted += 1,
            Err(Failure::Rejected(r)) => assert_eq!(r.kind(), ErrorKind::RateLimited),
            Err(Failure::Error(())) => unreachable!("the call itself never fails"),
        }
        tokio::task::yield_now().await;
    }
    granted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_hold_the_fleet_rate_together() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // Two limiters with their own local state, as two replicas have: one shared name.
    let a = limiter!("replica_a", 200, 20);
    let b = limiter!("replica_b", 200, 20);
    let store = RedisStore::connect(&redis.url(), StoreOptions::default())
        .await
        .unwrap();
    store.share(a, "partner-api");
    store.share(b, "partner-api");
    let started = Instant::now();
    let run = Duration::from_millis(2500);
    let (ga, gb) = tokio::join!(tokio::spawn(hammer(a, run)), tokio::spawn(hammer(b, run)));
    let elapsed = started.elapsed().as_secs_f64();
    let granted = (ga.unwrap() + gb.unwrap()) as f64;
    // The fleet's rate over the run, plus one burst at the start.
    let expected = 200.0 * elapsed + 20.0;
    let ratio = granted / expected;
    eprintln!("granted {granted} in {elapsed:.2}s against {expected:.0}: {ratio:.3}x");
    assert!(
        (0.9..=1.02).contains(&ratio),
        "{ratio:.3}x the fleet's rate"
    );
    // Each replica alone would have granted as much as both together did.
    assert_eq!(a.metrics().store_fallbacks + b.metrics().store_fallbacks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leasing_asks_redis_once_per_batch_at_80_percent_demand() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let limiter = limiter!("leasing", 1000, 40);
    let store = RedisStore::connect(&redis.url(), StoreOptions::default())
        .await
        .unwrap();
    store.share(limiter, "leasing");
    let scripts_before = redis.calls_of("evalsha") + redis.calls_of("eval");
    // 800 calls a second: 4 every 5ms, for 2 seconds.
    let granted = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..400 {
        tick.tick().await;
        for _ in 0..4 {
            if limiter
                .call(async { Ok::<_, Failure<()>>(()) })
                .await
                .is_ok()
            {
                granted.fetch_add(1, Relaxed);
            }
        }
    }
    let granted = granted.load(Relaxed);
    let scripts = redis.calls_of("evalsha") + redis.calls_of("eval") - scripts_before;
    let per_grant = scripts as f64 / granted as f64;
    eprintln!("{scripts} script calls for {granted} permits: {per_grant:.3} per grant");
    assert!(granted >= 1500, "most of the demand was granted: {granted}");
    assert!(per_grant <= 0.15, "{per_grant:.3} Redis calls per grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_mode_asks_redis_for_every_permit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let limiter = limiter!("exact", 1000, 40);
    let options = StoreOptions {
        mode: Mode::Exact,
        ..StoreOptions::default()
    };
    let store = RedisStore::connect(&redis.url(), options).await.unwrap();
    store.share(limiter, "exact");
    let scripts_before = redis.calls_of("evalsha") + redis.calls_of("eval");
    let mut granted = 0;
    for _ in 0..30 {
        if limiter
            .call(async { Ok::<_, Failure<()>>(()) })
            .await
            .is_ok()
        {
            granted += 1;
        }
    }
    let scripts = redis.calls_of("evalsha") + redis.calls_of("eval") - scripts_before;
    assert_eq!(granted, 30, "within the burst");
    assert!(
        scripts >= 30,
        "{scripts} script calls for {granted} permits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_makes_at_most_three_calls_wait_and_the_rest_decide_locally() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let limiter = limiter!("frozen", 100_000, 40);
    let deadline = Duration::from_millis(50);
    let options = StoreOptions {
        deadline,
        prefix: "frozen".to_owned(),
        ..StoreOptions::default()
    };
    let store = RedisStore::connect(&redis.url(), options).await.unwrap();
    store.share(limiter, "frozen");
    assert!(
        limiter
            .call(async { Ok::<_, Failure<()>>(()) })
            .await
            .is_ok()
    );

    redis.freeze();
    let mut slow = 0;
    for _ in 0..2000 {
        let started = Instant::now();
        // The lease left from before is spent first; then the store is asked.
        if let Err(e) = limiter.call(async { Ok::<_, Failure<()>>(()) }).await {
            let kind = e.rejection().map(|r| r.kind());
            assert_eq!(
                kind,
                Some(ErrorKind::RateLimited),
                "decided by the local rate"
            );
        }
        if started.elapsed() >= deadline / 2 {
            slow += 1;
        }
    }
    let fallbacks = limiter.metrics().store_fallbacks;
    eprintln!("{slow} calls waited for the frozen Redis; {fallbacks} decided locally");
    assert!(slow <= 3, "{slow} calls waited the deadline");
    assert!(fallbacks >= 1900, "{fallbacks}");
    assert_eq!(
        store.backend().state(),
        State::Open,
        "the store's breaker opened"
    );

    // Back: after the breaker's open wait, one probe finds Redis answering, and the limiter
    // takes its permits from Redis again.
    redis.thaw();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fallbacks = limiter.metrics().store_fallbacks;
    let until = Instant::now() + Duration::from_secs(5);
    while store.backend().state() != State::Closed && Instant::now() < until {
        let _ = limiter.call(async { Ok::<_, Failure<()>>(()) }).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        store.backend().state(),
        State::Closed,
        "Redis is used again"
    );
    let before = limiter.metrics().store_fallbacks;
    for _ in 0..100 {
        let _ = limiter.call(async { Ok::<_, Failure<()>>(()) }).await;
    }
    assert_eq!(
        limiter.metrics().store_fallbacks,
        before,
        "no call decided locally"
    );
    assert!(before >= fallbacks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_declared_shares_what_was_declared_shared() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    static DECLARED: RateLimiter = match RateLimiter::builder("declared")
        .rate(1000, Duration::from_secs(1))
        .burst(40)
        .shared("declared-api")
        .build()
    {
        Ok(l) => l,
        Err(_) => panic!("invalid limiter"),
    };
    static LOCAL: RateLimiter = match RateLimiter::builder("local")
        .rate(1000, Duration::from_secs(1))
        .build()
    {
        Ok(l) => l,
        Err(_) => panic!("invalid limiter"),
    };
    resilience_runtime::registry::register(&DECLARED);
    resilience_runtime::registry::register(&LOCAL);
    let options = StoreOptions {
        prefix: "declared".to_owned(),
        ..StoreOptions::default()
    };
    let store = RedisStore::connect(&redis.url(), options).await.unwrap();
    assert!(store.share_declared().await.unwrap() >= 1);
    assert!(
        DECLARED
            .call(async { Ok::<_, Failure<()>>(()) })
            .await
            .is_ok()
    );
    let key = redis.cli(&["EXISTS", "declared:{declared-api}:gcra"]);
    assert_eq!(key.as_deref(), Some("1"), "its state is on Redis");
    assert_eq!(DECLARED.shared_name(), Some("declared-api"));
    assert_eq!(LOCAL.shared_name(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_away_each_replica_holds_its_share_of_the_rate() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = limiter!("share_a", 200, 20);
    let b = limiter!("share_b", 200, 20);
    // Two stores: two replicas, as Redis sees them.
    for limiter in [a, b] {
        // Exact: every call asks Redis, so each learns at once that there are two.
        let options = StoreOptions {
            prefix: "share".to_owned(),
            mode: Mode::Exact,
            ..StoreOptions::default()
        };
        let store = RedisStore::connect(&redis.url(), options).await.unwrap();
        store.share(limiter, "share-api");
        // Each asks once: Redis has seen both.
        let _ = limiter.call(async { Ok::<_, Failure<()>>(()) }).await;
    }
    let _ = a.call(async { Ok::<_, Failure<()>>(()) }).await;
    let _ = b.call(async { Ok::<_, Failure<()>>(()) }).await;

    redis.freeze();
    let fallbacks = a.metrics().store_fallbacks + b.metrics().store_fallbacks;
    let started = Instant::now();
    let run = Duration::from_millis(1500);
    let (ga, gb) = tokio::join!(tokio::spawn(hammer(a, run)), tokio::spawn(hammer(b, run)));
    let elapsed = started.elapsed().as_secs_f64();
    let granted = (ga.unwrap() + gb.unwrap()) as f64;
    redis.thaw();
    // Each replica half the rate and half the burst: the fleet's rate, not twice it.
    let expected = 200.0 * elapsed + 20.0;
    let ratio = granted / expected;
    eprintln!(
        "Redis frozen: granted {granted} in {elapsed:.2}s against {expected:.0}: {ratio:.3}x"
    );
    assert!(
        (0.85..=1.1).contains(&ratio),
        "{ratio:.3}x the fleet's rate"
    );
    assert!(a.metrics().store_fallbacks + b.metrics().store_fallbacks > fallbacks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_an_error_at_start_up() {
    // Port 1 on loopback: nothing listens there.
    let e = RedisStore::connect("redis://127.0.0.1:1/", StoreOptions::default())
        .await
        .expect_err("nothing to connect to");
    assert!(
        !e.to_string().is_empty(),
        "a message a person can read: {e}"
    );
    let e = RedisStore::connect("not a url", StoreOptions::default())
        .await
        .expect_err("not a Redis URL");
    eprintln!("{e}");
}
