//! A rate limiter whose permits come from a store shared by several processes, in virtual
//! time. The store here is an in-memory one (a fixed window of permits per limiter) standing in
//! for a server: the seam is what is tested, not a network.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use resilience_runtime::rate_limiter::store::{
    Lease, LeaseFuture, LeaseRequest, PermitStore, StoreError, Unavailable,
};
use resilience_runtime::{ErrorKind, Failure, RateLimiter};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

/// `count` permits per limiter and window of `per`, granted in leases valid to the window's
/// end; with none left, says when the next window starts.
#[derive(Default)]
struct WindowStore {
    windows: Mutex<HashMap<&'static str, (Instant, u32)>>,
    leases: AtomicU32,
}

impl PermitStore for WindowStore {
    fn lease(&self, request: LeaseRequest) -> LeaseFuture {
        self.leases.fetch_add(1, Relaxed);
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap();
        let (start, used) = windows.entry(request.limiter).or_insert((now, 0));
        if now >= *start + request.per {
            *start = now;
            *used = 0;
        }
        let end = *start + request.per;
        let permits = request.want.min(request.count - *used);
        *used += permits;
        let lease = Lease {
            permits,
            valid_for: end - now,
            retry_after: end - now,
        };
        Box::pin(async move { Ok(lease) })
    }
}

/// A store that is down.
struct Down;

impl PermitStore for Down {
    fn lease(&self, _: LeaseRequest) -> LeaseFuture {
        Box::pin(async { Err(StoreError("connection refused".to_owned())) })
    }
}

/// A store that never answers.
struct Hung;

impl PermitStore for Hung {
    fn lease(&self, _: LeaseRequest) -> LeaseFuture {
        Box::pin(std::future::pending())
    }
}

/// Two replicas of one limiter: same name, same rate, each with its own state.
fn replicas(name: &'static str, wait: Duration) -> [&'static RateLimiter; 2] {
    let make = || {
        let limiter = RateLimiter::builder(name)
            .rate(10, SECOND)
            .wait(wait)
            .build()
            .unwrap();
        &*Box::leak(Box::new(limiter))
    };
    [make(), make()]
}

async fn call(limiter: &RateLimiter) -> Result<(), Failure<()>> {
    limiter.call(async { Ok(()) }).await
}

#[tokio::test(start_paused = true)]
async fn replicas_sharing_a_store_admit_the_fleet_rate_together() {
    let store: &'static WindowStore = Box::leak(Box::default());
    let fleet = replicas("store/fleet", Duration::ZERO);
    for replica in fleet {
        replica.share_through(store, 50 * MS);
    }
    let mut admitted = 0;
    for i in 0..30 {
        match call(fleet[i % 2]).await {
            Ok(()) => admitted += 1,
            Err(e) => {
                let e = e.rejection().copied().unwrap();
                assert_eq!(e.kind(), ErrorKind::RateLimited);
                assert_eq!(e.retry_after(), Some(SECOND));
            }
        }
    }
    // Alone, each replica would admit its burst of 10: 20 together.
    assert_eq!(admitted, 10);
    // Leases of a quarter of the burst (2): the store is asked about once per two calls.
    assert!(store.leases.load(Relaxed) < 30);
    tokio::time::advance(SECOND).await;
    assert!(call(fleet[0]).await.is_ok());
    assert_eq!(fleet[0].metrics().store_fallbacks, 0);
}

#[tokio::test(start_paused = true)]
async fn with_its_store_down_each_replica_keeps_its_own_rate() {
    let fleet = replicas("store/down", Duration::ZERO);
    for replica in fleet {
        replica.share_through(&Down, 50 * MS);
    }
    let mut admitted = 0;
    for i in 0..30 {
        admitted += usize::from(call(fleet[i % 2]).await.is_ok());
    }
    assert_eq!(admitted, 20);
    assert_eq!(fleet[0].metrics().store_fallbacks, 15);
    assert_eq!(fleet[0].metrics().admitted, 10);
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_for_a_silent_store_no_longer_than_its_deadline() {
    let [limiter, _] = replicas("store/hung", Duration::ZERO);
    limiter.share_through(&Hung, 5 * MS);
    let start = Instant::now();
    assert!(call(limiter).await.is_ok());
    assert_eq!(start.elapsed(), 5 * MS);
    assert_eq!(limiter.metrics().store_fallbacks, 1);
}

#[tokio::test(start_paused = true)]
async fn with_no_permit_in_the_store_a_call_waits_within_its_wait_and_asks_again() {
    let store: &'static WindowStore = Box::leak(Box::default());
    let [first, second] = replicas("store/wait", 2 * SECOND);
    first.share_through(store, 50 * MS);
    second.share_through(store, 50 * MS);
    // The fleet's 10 permits of this second, spent by the other replica.
    for _ in 0..10 {
        assert!(call(second).await.is_ok());
    }
    let start = Instant::now();
    assert!(call(first).await.is_ok());
    assert_eq!(start.elapsed(), SECOND);
    assert_eq!(first.metrics().waiting, 0);
    // A wait shorter than the store's retry_after is a rejection, at once.
    let store: &'static WindowStore = Box::leak(Box::default());
    let [short, other] = replicas("store/short", 100 * MS);
    short.share_through(store, 50 * MS);
    other.share_through(store, 50 * MS);
    for _ in 0..10 {
        assert!(call(other).await.is_ok());
    }
    let start = Instant::now();
    let e = call(short).await.unwrap_err();
    assert_eq!(
        e.rejection().map(|e| e.kind()),
        Some(ErrorKind::RateLimited)
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_unshared_limiter_decides_alone_again() {
    let store: &'static WindowStore = Box::leak(Box::default());
    let [limiter, _] = replicas("store/unshare", Duration::ZERO);
    limiter.share_through(store, 50 * MS);
    assert!(call(limiter).await.is_ok());
    let asked = store.leases.load(Relaxed);
    limiter.unshare();
    for _ in 0..10 {
        assert!(call(limiter).await.is_ok());
    }
    assert!(call(limiter).await.is_err());
    assert_eq!(store.leases.load(Relaxed), asked);
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_while_it_waits_for_the_store_stops_waiting() {
    let store: &'static WindowStore = Box::leak(Box::default());
    let [waiter, spender] = replicas("store/dropped", 2 * SECOND);
    waiter.share_through(store, 50 * MS);
    spender.share_through(store, 50 * MS);
    for _ in 0..10 {
        assert!(call(spender).await.is_ok());
    }
    let task = tokio::spawn(call(waiter));
    tokio::time::sleep(100 * MS).await;
    assert_eq!(waiter.metrics().waiting, 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(waiter.metrics().waiting, 0);
    assert_eq!(waiter.metrics().admitted, 0);
}

#[tokio::test(start_paused = true)]
async fn the_longest_wait_is_a_wait_and_never_a_store() {
    let limiter = RateLimiter::builder("store/longest-wait")
        .rate(1, SECOND)
        .wait(Duration::MAX)
        .build()
        .unwrap();
    assert!(limiter.wait() > Duration::from_secs(290 * 365 * 24 * 3600));
    // No store was attached: the limiter decides alone, and waits for its next permit.
    assert!(call(&limiter).await.is_ok());
    let start = Instant::now();
    assert!(call(&limiter).await.is_ok());
    assert_eq!(start.elapsed(), SECOND);
    assert_eq!(limiter.metrics().store_fallbacks, 0);
}

/// A store that is down and says how to decide meanwhile.
struct DownWith(Unavailable);

impl PermitStore for DownWith {
    fn lease(&self, _: LeaseRequest) -> LeaseFuture {
        Box::pin(async { Err(StoreError("connection refused".to_owned())) })
    }

    fn when_unavailable(&self, _: &'static str) -> Unavailable {
        self.0
    }
}

fn limiter(name: &'static str) -> &'static RateLimiter {
    let limiter = RateLimiter::builder(name).rate(10, SECOND).build().unwrap();
    Box::leak(Box::new(limiter))
}

#[tokio::test(start_paused = true)]
async fn with_its_store_down_a_replica_holds_its_share_or_admits_or_refuses_as_the_store_says() {
    // A share among 2: half the rate (5/s) and half the burst (5).
    static SHARE: DownWith = DownWith(Unavailable::Share { replicas: 2 });
    let shared = limiter("unavailable/share");
    shared.share_through(&SHARE, 10 * MS);
    let mut admitted = 0;
    for _ in 0..20 {
        if call(shared).await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "the share's burst");
    tokio::time::advance(SECOND).await;
    let mut admitted = 0;
    for _ in 0..20 {
        if call(shared).await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "half the rate refilled in a second");

    static ALLOW: DownWith = DownWith(Unavailable::Allow);
    let allowing = limiter("unavailable/allow");
    allowing.share_through(&ALLOW, 10 * MS);
    for _ in 0..50 {
        assert!(call(allowing).await.is_ok());
    }

    static DENY: DownWith = DownWith(Unavailable::Deny);
    let denying = limiter("unavailable/deny");
    denying.share_through(&DENY, 10 * MS);
    let e = call(denying).await.unwrap_err();
    let rejection = e.rejection().unwrap();
    assert_eq!(rejection.kind(), ErrorKind::RateLimited);
    assert_eq!(rejection.retry_after(), Some(10 * MS));
    assert_eq!(denying.metrics().store_fallbacks, 1);
}
