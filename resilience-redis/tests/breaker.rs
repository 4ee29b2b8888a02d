//! Breakers shared by a fleet, against a real `redis-server` on a loopback port, in real time:
//! two stores stand for two replicas. Without `redis-server` each test says SKIPPED and passes.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::RedisServer;
use resilience_redis::{RedisStore, StoreOptions};
use resilience_runtime::{CircuitBreaker, Failure, State};

fn breaker(name: &'static str, open: Duration) -> &'static CircuitBreaker {
    let b = CircuitBreaker::builder(name)
        .consecutive_failures(1)
        .open(open)
        .half_open(1)
        .build()
        .unwrap();
    Box::leak(Box::new(b))
}

async fn fail(b: &CircuitBreaker) {
    let _ = b.call(async { Err::<(), _>(Failure::Error("down")) }).await;
}

/// Two replicas' stores and breakers, shared under `shared`.
async fn replicas(
    redis: &RedisServer,
    shared: &str,
    open: Duration,
    names: [&'static str; 2],
) -> [&'static CircuitBreaker; 2] {
    let mut out = Vec::new();
    for name in names {
        let store = RedisStore::connect(&redis.url(), StoreOptions::default())
            .await
            .unwrap();
        let b = breaker(name, open);
        store.share_breaker(b, shared).await.unwrap();
        out.push(b);
    }
    [out[0], out[1]]
}

/// How long until `b` is open, polled every millisecond, up to `limit`.
async fn until_open(b: &CircuitBreaker, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if b.state() == State::Open {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_in_one_replica_opens_the_other_within_50ms() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = replicas(
        &redis,
        "payments",
        Duration::from_secs(30),
        ["a/payments", "b/payments"],
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..20 {
        redis.cli(&["DEL", "resilience:{payments}:open"]);
        a.reset();
        b.reset();
        tokio::time::sleep(Duration::from_millis(20)).await;
        fail(a).await;
        assert_eq!(a.state(), State::Open);
        seen.push(
            until_open(b, Duration::from_secs(2))
                .await
                .expect("adopted"),
        );
        // The wait adopted is the one that was published.
        let left = b.open_remaining().unwrap();
        assert!(
            left > Duration::from_secs(29) && left <= Duration::from_secs(30),
            "{left:?}"
        );
    }
    seen.sort();
    let worst = seen[seen.len() - 1];
    eprintln!(
        "adopted after: median {:?}, worst {:?}",
        seen[seen.len() / 2],
        worst
    );
    assert!(worst <= Duration::from_millis(50), "worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_probes_and_its_success_closes_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = replicas(
        &redis,
        "search",
        Duration::from_millis(300),
        ["a/search", "b/search"],
    )
    .await;
    fail(a).await;
    until_open(b, Duration::from_secs(2))
        .await
        .expect("adopted");
    // The wait ends; one replica takes the probe lease.
    let started = Instant::now();
    while redis
        .cli(&["GET", "resilience:{search}:probe"])
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "nobody took the probe lease"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The lease is taken in the last 20ms of the wait: let the wait end.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Both replicas call; the probes hold until released.
    let probes = Arc::new(AtomicU32::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let call = |b: &'static CircuitBreaker| {
        let (probes, release) = (Arc::clone(&probes), Arc::clone(&release));
        tokio::spawn(async move {
            b.call(async move {
                probes.fetch_add(1, Relaxed);
                release.notified().await;
                Ok::<_, Failure<()>>(())
            })
            .await
        })
    };
    let (ca, cb) = (call(a), call(b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(probes.load(Relaxed), 1, "one replica probes the dependency");
    release.notify_waiters();
    let (ra, rb) = (ca.await.unwrap(), cb.await.unwrap());
    assert!(
        ra.is_ok() != rb.is_ok(),
        "the prober's call passed, the other's was refused"
    );
    // The probe's success closes both.
    let started = Instant::now();
    while (a.state(), b.state()) != (State::Closed, State::Closed) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            (a.state(), b.state())
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_subscription_broke_adopts_a_trip_within_the_resync() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = replicas(
        &redis,
        "stock",
        Duration::from_secs(30),
        ["a/stock", "b/stock"],
    )
    .await;
    // Every subscription is cut: the trip's message reaches nobody.
    redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    fail(a).await;
    let after = until_open(b, Duration::from_secs(3))
        .await
        .expect("adopted by re-reading");
    eprintln!("adopted after {after:?} without pub/sub");
    assert!(after <= Duration::from_millis(1100), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_empty_the_open_state_is_published_again() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = replicas(
        &redis,
        "ledger",
        Duration::from_secs(30),
        ["a/ledger", "b/ledger"],
    )
    .await;
    fail(a).await;
    until_open(b, Duration::from_secs(2))
        .await
        .expect("adopted");
    redis.restart();
    // A replica that starts now, against the empty Redis, learns the open state from the
    // others' next re-read.
    let store = RedisStore::connect(&redis.url(), StoreOptions::default())
        .await
        .unwrap();
    let c = breaker("c/ledger", Duration::from_secs(30));
    store.share_breaker(c, "ledger").await.unwrap();
    let after = until_open(c, Duration::from_secs(4))
        .await
        .expect("published again and adopted");
    eprintln!("a new replica adopted the open state {after:?} after the restart");
    assert!(after <= Duration::from_millis(2500), "{after:?}");
    // And the subscriptions were made again: a closing reaches every replica.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    a.reset();
    b.reset();
    c.reset();
    redis.cli(&["DEL", "resilience:{ledger}:open"]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    fail(c).await;
    until_open(a, Duration::from_millis(500))
        .await
        .expect("a got the trip by pub/sub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_set_by_hand_is_set_in_every_replica() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = replicas(
        &redis,
        "manual",
        Duration::from_secs(30),
        ["a/manual", "b/manual"],
    )
    .await;
    let until = |b: &'static CircuitBreaker, state: State| async move {
        let started = Instant::now();
        while b.state() != state {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?} is not {state:?}",
                b.state()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        started.elapsed()
    };
    // Forced open by hand in one replica (the registry, the admin): forced open in all.
    a.force_open();
    let took = until(b, State::ForcedOpen).await;
    assert!(took <= Duration::from_millis(50), "{took:?}");
    // A replica that starts later finds it in Redis.
    let store = RedisStore::connect(&redis.url(), StoreOptions::default())
        .await
        .unwrap();
    let c = breaker("c/manual", Duration::from_secs(30));
    store.share_breaker(c, "manual").await.unwrap();
    until(c, State::ForcedOpen).await;
    // Closed by hand in another: closed in all, and cleared in Redis.
    b.close();
    until(a, State::Closed).await;
    until(c, State::Closed).await;
    assert_eq!(
        redis
            .cli(&["EXISTS", "resilience:{manual}:manual"])
            .as_deref(),
        Some("0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_quorum_one_replica_alone_does_not_open_the_fleet() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let quorum = |name: &'static str| {
        let b = CircuitBreaker::builder(name)
            .consecutive_failures(1)
            .open(Duration::from_secs(30))
            .shared("quorum")
            .quorum(2)
            .build()
            .unwrap();
        &*Box::leak(Box::new(b))
    };
    let (a, b, c) = (quorum("a/quorum"), quorum("b/quorum"), quorum("c/quorum"));
    for breaker in [a, b, c] {
        let store = RedisStore::connect(&redis.url(), StoreOptions::default())
            .await
            .unwrap();
        store.share_breaker(breaker, "quorum").await.unwrap();
    }
    // One replica trips: it alone is open.
    fail(a).await;
    assert!(
        until_open(c, Duration::from_millis(300)).await.is_none(),
        "one trip is below the quorum"
    );
    assert_eq!(b.state(), State::Closed);
    // A second replica trips: the quorum is reached, and the third opens too.
    fail(b).await;
    let after = until_open(c, Duration::from_secs(2))
        .await
        .expect("the fleet opened");
    assert!(after <= Duration::from_millis(50), "{after:?}");
}
