//! Keyed families: one policy per tenant or host, in bounded memory, in virtual time.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::time::Duration;

use resilience_runtime::{
    Bulkhead, CircuitBreaker, ErrorKind, Failure, KeyedCircuitBreaker, KeyedRateLimiter,
    RateLimiter, State,
};
use tokio::sync::oneshot;
use tokio::task::yield_now;
use tokio::time::{advance, sleep};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

async fn ok(family: &KeyedRateLimiter, key: &str) -> Result<(), Failure<()>> {
    family.call(key, async { Ok(()) }).await
}

async fn fail(family: &KeyedCircuitBreaker, host: &str) -> Result<(), Failure<&'static str>> {
    family
        .call(host, async { Err(Failure::Error("down")) })
        .await
}

async fn succeed(family: &KeyedCircuitBreaker, host: &str) -> Result<(), Failure<&'static str>> {
    family.call(host, async { Ok(()) }).await
}

#[tokio::test(start_paused = true)]
async fn one_tenant_flooding_is_throttled_while_the_others_pass_untouched() {
    let family = leak(
        RateLimiter::builder("keyed::PER_TENANT")
            .rate(1000, MINUTE)
            .burst(50)
            .keyed()
            .build()
            .unwrap(),
    );
    // tenant-a floods: its burst passes, then it is throttled.
    let mut throttled = 0;
    for _ in 0..500 {
        match ok(family, "tenant-a").await {
            Ok(()) => {}
            Err(f) => {
                let e = f.rejection().unwrap();
                assert_eq!(e.kind(), ErrorKind::RateLimited);
                assert_eq!(e.policy(), "keyed::PER_TENANT");
                assert_eq!(e.key().unwrap().key(), "tenant-a");
                throttled += 1;
            }
        }
    }
    assert_eq!(throttled, 450);
    // tenant-b and tenant-c each have their whole burst.
    for tenant in ["tenant-b", "tenant-c"] {
        for _ in 0..50 {
            ok(family, tenant).await.unwrap();
        }
        assert_eq!(family.key(tenant).unwrap().available(), 0);
    }
    let e = *ok(family, "tenant-a")
        .await
        .unwrap_err()
        .rejection()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("rate limit exceeded (policy `keyed::PER_TENANT[tenant-a]`)"),
        "{e}"
    );
    assert_eq!(family.metrics().keys, 3);
}

#[tokio::test(start_paused = true)]
async fn one_hosts_breaker_opens_while_anothers_stays_closed() {
    let family = leak(
        CircuitBreaker::builder("keyed::HOSTS")
            .consecutive_failures(3)
            .open(30 * SECOND)
            .keyed()
            .build()
            .unwrap(),
    );
    for _ in 0..3 {
        assert!(fail(family, "db-1.internal").await.is_err());
        succeed(family, "api.example.com").await.unwrap();
    }
    let rejected = succeed(family, "db-1.internal").await.unwrap_err();
    let e = rejected.rejection().unwrap();
    assert_eq!(e.kind(), ErrorKind::CircuitOpen);
    assert_eq!(e.key().unwrap().name(), "keyed::HOSTS[db-1.internal]");
    assert_eq!(family.key("db-1.internal").unwrap().state(), State::Open);
    assert_eq!(
        family.key("api.example.com").unwrap().state(),
        State::Closed
    );
    succeed(family, "api.example.com").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn eviction_never_drops_an_open_breaker_and_a_full_family_refuses_new_keys() {
    let family = leak(
        CircuitBreaker::builder("keyed::EVICT")
            .consecutive_failures(1)
            .open(MINUTE)
            .keyed()
            .max_keys(2)
            .idle(10 * SECOND)
            .build()
            .unwrap(),
    );
    assert!(fail(family, "open-host").await.is_err());
    succeed(family, "quiet-host").await.unwrap();
    // Both held, neither evictable yet (the quiet one has not been idle long).
    let refused = succeed(family, "new-host").await.unwrap_err();
    assert_eq!(refused.rejection().unwrap().kind(), ErrorKind::KeyLimit);
    assert_eq!(family.metrics().overflows, 1);

    // Idle for less than `idle`, the closed breaker stays.
    sleep(5 * SECOND).await;
    let refused = succeed(family, "new-host").await.unwrap_err();
    assert_eq!(refused.rejection().unwrap().kind(), ErrorKind::KeyLimit);
    // Idle for longer, it goes; the open one stays (its wait is a minute).
    sleep(20 * SECOND).await;
    succeed(family, "new-host").await.unwrap();
    let m = family.metrics();
    assert_eq!((m.keys, m.evictions, m.overflows), (2, 1, 2));
    assert!(family.key("quiet-host").is_none());
    assert_eq!(family.key("open-host").unwrap().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_child_in_use_or_held_is_not_evicted() {
    let family = leak(
        Bulkhead::builder("keyed::HELD")
            .max(1)
            .keyed()
            .max_keys(1)
            .build()
            .unwrap(),
    );
    let (release, released) = oneshot::channel::<()>();
    let running = tokio::spawn(family.call("busy", async move {
        released.await.unwrap();
        Ok::<_, Failure<()>>(())
    }));
    yield_now().await;
    // The busy child is in use: a new key is refused.
    let refused = family.call("other", async { Ok::<_, Failure<()>>(()) });
    assert_eq!(
        refused.await.unwrap_err().rejection().unwrap().kind(),
        ErrorKind::KeyLimit
    );
    release.send(()).unwrap();
    running.await.unwrap().unwrap();
    // A handle holds it too.
    let handle = family.key("busy").unwrap();
    sleep(SECOND).await;
    let refused = family.call("other", async { Ok::<_, Failure<()>>(()) });
    assert_eq!(
        refused.await.unwrap_err().rejection().unwrap().kind(),
        ErrorKind::KeyLimit
    );
    drop(handle);
    sleep(SECOND).await;
    family
        .call("other", async { Ok::<_, Failure<()>>(()) })
        .await
        .unwrap();
    assert!(family.key("busy").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_tenant_that_keeps_calling_keeps_its_child() {
    let family = leak(
        RateLimiter::builder("keyed::ACTIVE")
            .rate(1000, SECOND)
            .keyed()
            .max_keys(20)
            .build()
            .unwrap(),
    );
    ok(family, "regular").await.unwrap();
    let first = family.key("regular").unwrap().name().to_owned();
    let made_before = family.metrics().evictions;
    // New keys come and go (each called once, its bucket full again a moment later), while
    // `regular` calls between them: sweeps evict the one-off keys, never `regular`.
    for i in 0..200 {
        sleep(Duration::from_millis(5)).await;
        ok(family, &format!("one-off-{i}")).await.unwrap();
        ok(family, "regular").await.unwrap();
    }
    assert!(
        family.metrics().evictions > made_before + 100,
        "{:?}",
        family.metrics()
    );
    let regular = family.key("regular").unwrap();
    assert_eq!(regular.name(), first);
    // Its own counters saw every one of its calls: it was never made again.
    assert_eq!(regular.metrics().admitted, 201);
}

#[tokio::test(start_paused = true)]
async fn a_million_keys_never_hold_more_children_than_the_cap() {
    const CAP: usize = 1_000;
    let family = leak(
        RateLimiter::builder("keyed::MILLION")
            .rate(10, SECOND)
            .keyed()
            .max_keys(CAP)
            .build()
            .unwrap(),
    );
    let mut admitted = 0_u32;
    let mut most = 0;
    for key in 0_u64..1_000_000 {
        let r: Result<(), Failure<()>> = family.call(&key, async { Ok(()) }).await;
        match r {
            Ok(()) => admitted += 1,
            Err(f) => assert_eq!(f.rejection().unwrap().kind(), ErrorKind::KeyLimit),
        }
        most = most.max(family.metrics().keys);
        // A child's spent permit comes back within a tenth of a second.
        if key % 500 == 499 {
            advance(Duration::from_millis(100)).await;
        }
    }
    let m = family.metrics();
    assert!(most <= CAP, "{most} children held");
    assert_eq!(m.max_keys, CAP);
    assert!(m.evictions >= 998_000, "{m:?}");
    assert_eq!(u64::from(admitted) + m.overflows, 1_000_000);
    assert!(admitted >= 999_000, "{admitted} admitted, {m:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_or_panicking_call_gives_its_keys_slot_back() {
    let family = leak(
        Bulkhead::builder("keyed::SLOTS")
            .max(1)
            .keyed()
            .build()
            .unwrap(),
    );
    // Cancelled: dropped while it runs.
    let hung = tokio::spawn(family.call("tenant", async {
        std::future::pending::<()>().await;
        Ok::<_, Failure<()>>(())
    }));
    yield_now().await;
    assert_eq!(family.key("tenant").unwrap().in_use(), 1);
    hung.abort();
    let _ = hung.await;
    assert_eq!(family.key("tenant").unwrap().in_use(), 0);
    // Panicking.
    let panicked = tokio::spawn(family.call("tenant", async {
        panic!("the body panics");
        #[allow(unreachable_code)]
        Ok::<_, Failure<()>>(())
    }));
    assert!(panicked.await.unwrap_err().is_panic());
    assert_eq!(family.key("tenant").unwrap().in_use(), 0);
    family
        .call("tenant", async { Ok::<_, Failure<()>>(()) })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn reconfiguring_the_family_reconfigures_every_child_now_and_later() {
    let family = leak(
        RateLimiter::builder("keyed::RECONF")
            .rate(10, SECOND)
            .keyed()
            .build()
            .unwrap(),
    );
    ok(family, "a").await.unwrap();
    family
        .reconfigure(family.settings().rate(100, SECOND))
        .unwrap();
    assert_eq!(family.key("a").unwrap().burst(), 100);
    ok(family, "b").await.unwrap();
    assert_eq!(family.key("b").unwrap().burst(), 100);
    // A wrong setting changes nothing.
    assert!(
        family
            .reconfigure(family.settings().rate(0, SECOND))
            .is_err()
    );
    assert_eq!(family.key("a").unwrap().rate(), (100, SECOND));
    ok(family, "c").await.unwrap();
    assert_eq!(family.key("c").unwrap().rate(), (100, SECOND));
}

#[tokio::test(start_paused = true)]
async fn keys_of_any_type_name_their_child() {
    let family = leak(
        RateLimiter::builder("keyed::IDS")
            .rate(1, MINUTE)
            .keyed()
            .build()
            .unwrap(),
    );
    let r: Result<(), Failure<()>> = family.call(&42_u64, async { Ok(()) }).await;
    r.unwrap();
    let r: Result<(), Failure<()>> = family.call(&42_u64, async { Ok(()) }).await;
    assert_eq!(
        r.unwrap_err().rejection().unwrap().key().unwrap().name(),
        "keyed::IDS[42]"
    );
    // "42" the string is another key.
    ok(family, "42").await.unwrap();
    assert_eq!(family.metrics().keys, 2);
    let mut names: Vec<String> = family.children().into_iter().map(|(k, _)| k).collect();
    names.sort();
    assert_eq!(names, ["42", "42"]);
}

#[test]
fn a_family_checks_its_settings_when_built() {
    let e = RateLimiter::builder("keyed::BAD")
        .rate(10, SECOND)
        .keyed()
        .max_keys(0)
        .build();
    assert_eq!(e.unwrap_err().field(), "max_keys");
    let e = RateLimiter::builder("keyed::BAD").keyed().build();
    assert_eq!(e.unwrap_err().field(), "rate");
    let e = CircuitBreaker::builder("keyed::BAD")
        .critical(true)
        .keyed()
        .build();
    let e = e.unwrap_err();
    assert_eq!(e.field(), "critical");
    assert!(e.to_string().contains("degraded, never down"), "{e}");
    let e = CircuitBreaker::builder("keyed::BAD")
        .keyed()
        .idle(Duration::ZERO)
        .build();
    assert_eq!(e.unwrap_err().field(), "idle");
}

#[tokio::test(start_paused = true)]
async fn reset_drops_every_child_and_clears_the_counters() {
    let family = leak(
        RateLimiter::builder("keyed::RESET")
            .rate(1, MINUTE)
            .keyed()
            .max_keys(1)
            .build()
            .unwrap(),
    );
    ok(family, "a").await.unwrap();
    assert!(ok(family, "b").await.is_err());
    family.reset();
    assert_eq!(family.metrics().keys, 0);
    assert_eq!(family.metrics().overflows, 0);
    ok(family, "b").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn events_name_the_child_that_decided() {
    use resilience_runtime::event::{EventKind, subscribe};
    let family = leak(
        RateLimiter::builder("keyed::EVENTS")
            .rate(1, MINUTE)
            .keyed()
            .build()
            .unwrap(),
    );
    let mut events = subscribe();
    ok(family, "acme").await.unwrap();
    assert!(ok(family, "acme").await.is_err());
    let rejected = std::iter::from_fn(|| events.try_recv())
        .find(|e| e.policy == "keyed::EVENTS" && matches!(e.what, EventKind::Rejected { .. }))
        .unwrap();
    assert_eq!(rejected.key.unwrap().name(), "keyed::EVENTS[acme]");
    assert!(
        rejected.to_string().contains("keyed::EVENTS[acme]"),
        "{rejected}"
    );
}
