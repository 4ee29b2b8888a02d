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

/// The event channel keeps the last `event::CAPACITY` events for a subscriber: the test that
/// makes a million calls and the test that subscribes take turns, so the events the second
/// checks are not pushed out by the first's while it looks. An async lock, held across awaits.
static EVENTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _turn = EVENTS.lock().await;
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
fn a_familys_builder_and_its_checked_settings_show_what_they_hold() {
    let builder = RateLimiter::builder("keyed::SHOWN")
        .rate(10, SECOND)
        .keyed()
        .max_keys(77);
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("max_keys: 77") && shown.contains("keyed::SHOWN"),
        "{shown}"
    );
    let checked = format!("{:?}", builder.check().unwrap());
    assert!(checked.contains("max_keys: 77"), "{checked}");
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
    let _turn = EVENTS.lock().await;
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

/// A family of limiters whose buckets refill in a millisecond: a child called once is at rest
/// again 1 ms later.
fn quick_family(name: &'static str, max_keys: usize) -> &'static KeyedRateLimiter {
    leak(
        RateLimiter::builder(name)
            .rate(1000, SECOND)
            .keyed()
            .max_keys(max_keys)
            .build()
            .unwrap(),
    )
}

async fn new_key(family: &KeyedRateLimiter, key: &str) -> Option<ErrorKind> {
    ok(family, key)
        .await
        .err()
        .map(|f| f.rejection().unwrap().kind())
}

#[tokio::test(start_paused = true)]
async fn below_the_cap_a_sweep_comes_every_quarter_of_max_keys_new_keys() {
    let family = quick_family("keyed::PERIODIC", 100);
    // 25 new keys (a quarter of 100) bring a sweep; keys at rest by then go.
    for i in 0..24 {
        ok(family, &format!("k{i}")).await.unwrap();
    }
    sleep(Duration::from_millis(2)).await;
    assert_eq!(family.metrics().evictions, 0);
    ok(family, "k24").await.unwrap();
    assert_eq!(family.metrics().evictions, 24);
    assert_eq!(family.metrics().keys, 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_family_sweeps_again_after_an_eighth_of_max_keys_refusals() {
    let family = quick_family("keyed::REFUSALS", 16);
    for i in 0..16 {
        ok(family, &format!("k{i}")).await.unwrap();
    }
    // Full, and nothing at rest yet: refused, and the sweep that found nothing is not made
    // again at once.
    assert_eq!(new_key(family, "new-1").await, Some(ErrorKind::KeyLimit));
    sleep(Duration::from_millis(2)).await;
    // Everything is at rest now, but one refusal is less than an eighth of 16.
    assert_eq!(new_key(family, "new-2").await, Some(ErrorKind::KeyLimit));
    // The second refusal brings the sweep.
    assert_eq!(new_key(family, "new-3").await, None);
    assert_eq!(family.metrics().overflows, 2);
    assert_eq!(family.metrics().evictions, 16);
}

#[tokio::test(start_paused = true)]
async fn a_full_family_sweeps_again_after_the_sweep_gap() {
    let family = quick_family("keyed::GAP", 800);
    for i in 0..800 {
        ok(family, &format!("k{i}")).await.unwrap();
    }
    assert_eq!(new_key(family, "new-1").await, Some(ErrorKind::KeyLimit));
    // Far fewer refusals than an eighth of 800, but the gap has passed.
    sleep(resilience_runtime::keyed::SWEEP_GAP).await;
    assert_eq!(new_key(family, "new-2").await, None);
}

#[tokio::test(start_paused = true)]
async fn a_sweep_that_freed_keys_lets_the_next_new_key_sweep_at_once() {
    let family = quick_family("keyed::FREED", 8);
    for i in 0..8 {
        ok(family, &format!("k{i}")).await.unwrap();
    }
    sleep(Duration::from_millis(2)).await;
    // No sweep has run at full yet: one refusal brings it, and it frees all eight.
    assert_eq!(new_key(family, "r1-k0").await, Some(ErrorKind::KeyLimit));
    for i in 0..8 {
        ok(family, &format!("r1-k{i}")).await.unwrap();
    }
    sleep(Duration::from_millis(2)).await;
    // Since the last sweep freed keys, a full family sweeps at once: no refusal this time.
    for i in 0..8 {
        ok(family, &format!("r2-k{i}")).await.unwrap();
    }
    assert_eq!(family.metrics().overflows, 1);
    assert_eq!(family.metrics().keys, 8);
}

#[tokio::test(start_paused = true)]
async fn max_keys_and_idle_change_at_run_time() {
    let family = leak(
        CircuitBreaker::builder("keyed::SETTERS")
            .keyed()
            .max_keys(4)
            .idle(10 * SECOND)
            .build()
            .unwrap(),
    );
    assert_eq!(family.name(), "keyed::SETTERS");
    assert_eq!((family.max_keys(), family.idle()), (4, 10 * SECOND));
    succeed(family, "a").await.unwrap();
    family.set_max_keys(1);
    assert_eq!(family.max_keys(), 1);
    let refused = succeed(family, "b").await.unwrap_err();
    assert_eq!(refused.rejection().unwrap().kind(), ErrorKind::KeyLimit);
    // Idle for exactly `idle`, a closed breaker may go.
    family.set_idle(SECOND);
    assert_eq!(family.idle(), SECOND);
    sleep(SECOND).await;
    succeed(family, "b").await.unwrap();
    assert!(family.key("a").is_none());
    // Longer than 584 years is 584 years: the most nanoseconds a u64 holds.
    family.set_idle(Duration::from_secs(1 << 40));
    assert_eq!(family.idle(), Duration::from_nanos(u64::MAX));
    assert!(format!("{family:?}").contains("keyed::SETTERS"));
    assert!(format!("{:?}", family.key("b").unwrap()).contains("keyed::SETTERS[b]"));
}

#[tokio::test(start_paused = true)]
async fn a_breaker_familys_metrics_count_its_tripped_children() {
    let breakers = leak(
        CircuitBreaker::builder("keyed::TRIPPED")
            .consecutive_failures(1)
            .keyed()
            .build()
            .unwrap(),
    );
    succeed(breakers, "up").await.unwrap();
    assert_eq!(breakers.metrics().tripped, Some(0));
    assert!(fail(breakers, "down").await.is_err());
    assert_eq!(breakers.metrics().tripped, Some(1));
    let limiters = quick_family("keyed::NOT_TRIPPED", 4);
    ok(limiters, "a").await.unwrap();
    assert_eq!(limiters.metrics().tripped, None);
}
