//! The cache in virtual time: fresh values served without running, one run for concurrent
//! misses, stale values when the call fails, refresh ahead of expiry, bounded entries.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use resilience_runtime::cache::served_stale;
use resilience_runtime::{Cache, Failure};
use tokio::time::{advance, sleep};

fn cache(stale: Option<u64>, refresh: Option<u64>, capacity: usize) -> &'static Cache {
    Box::leak(Box::new(
        Cache::builder("prices")
            .ttl(Duration::from_secs(30))
            .stale(stale.map(Duration::from_secs))
            .refresh(refresh.map(Duration::from_secs))
            .capacity(capacity)
            .check()
            .unwrap()
            .build(),
    ))
}

fn counter() -> &'static AtomicU32 {
    Box::leak(Box::new(AtomicU32::new(0)))
}

/// The price service: a tenth of a second, then the price (the run count), or down.
async fn price(runs: &AtomicU32, up: bool) -> Result<u32, Failure<&'static str>> {
    let n = runs.fetch_add(1, Relaxed) + 1;
    sleep(Duration::from_millis(100)).await;
    if up {
        Ok(n)
    } else {
        Err(Failure::Error("down"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_fresh_value_is_served_without_running_until_ttl() {
    let prices = cache(None, None, 10);
    let runs = counter();
    assert_eq!(prices.call("sku-1", price(runs, true)).await.unwrap(), 1);
    advance(Duration::from_secs(29)).await;
    assert_eq!(prices.call("sku-1", price(runs, true)).await.unwrap(), 1);
    assert_eq!(runs.load(Relaxed), 1);
    advance(Duration::from_secs(2)).await;
    assert_eq!(prices.call("sku-1", price(runs, true)).await.unwrap(), 2);
    let m = prices.metrics();
    assert_eq!((m.hits, m.misses, m.entries), (1, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_run_once_and_after_a_failed_run_each_runs_its_own() {
    let prices = cache(None, None, 10);
    let runs = counter();
    let calls: Vec<_> = (0..5)
        .map(|_| tokio::spawn(async move { prices.call("sku-2", price(runs, true)).await }))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 1);
    }
    assert_eq!(runs.load(Relaxed), 1, "one run for five misses");

    let failing = counter();
    let calls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { prices.call("sku-3", price(failing, false)).await }))
        .collect();
    for call in calls {
        assert!(call.await.unwrap().is_err());
    }
    // The first run failed: the two that waited on it ran their own (one each).
    assert_eq!(failing.load(Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn the_last_good_value_is_served_stale_when_the_call_fails_and_said_so() {
    let prices = cache(Some(300), None, 10);
    let runs = counter();
    assert_eq!(prices.call("sku-4", price(runs, true)).await.unwrap(), 1);
    assert!(!served_stale());
    // Past ttl, the service down: the last good price, stale, and the caller can tell.
    advance(Duration::from_secs(60)).await;
    assert_eq!(prices.call("sku-4", price(runs, false)).await.unwrap(), 1);
    assert!(served_stale());
    assert_eq!(prices.metrics().stale_served, 1);
    // Back up: a fresh value again.
    assert_eq!(prices.call("sku-4", price(runs, true)).await.unwrap(), 3);
    assert!(!served_stale());
    // Down past `stale` after the last good value: the failure.
    advance(Duration::from_secs(301)).await;
    assert!(prices.call("sku-4", price(runs, false)).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_value_due_for_refresh_is_refreshed_by_one_call_while_the_others_are_served() {
    let prices = cache(None, Some(25), 10);
    let runs = counter();
    assert_eq!(prices.call("sku-5", price(runs, true)).await.unwrap(), 1);
    advance(Duration::from_secs(26)).await;
    let refreshing = tokio::spawn(async move { prices.call("sku-5", price(runs, true)).await });
    tokio::task::yield_now().await;
    // While it refreshes, another call is served the cached value at once.
    assert_eq!(prices.call("sku-5", price(runs, true)).await.unwrap(), 1);
    assert_eq!(refreshing.await.unwrap().unwrap(), 2);
    // The refreshed value serves a full ttl from now: no miss at the old expiry.
    advance(Duration::from_secs(10)).await;
    assert_eq!(prices.call("sku-5", price(runs, true)).await.unwrap(), 2);
    assert_eq!(runs.load(Relaxed), 2);
    assert_eq!(prices.metrics().refreshes, 1);
}

#[tokio::test(start_paused = true)]
async fn entries_stay_within_capacity_dropping_the_oldest() {
    let prices = cache(None, None, 2);
    let runs = counter();
    for sku in ["a", "b"] {
        prices.call(sku, price(runs, true)).await.unwrap();
        advance(Duration::from_secs(1)).await;
    }
    prices.call("c", price(runs, true)).await.unwrap();
    let m = prices.metrics();
    assert_eq!((m.entries, m.evictions), (2, 1));
    // "a", the oldest, went; "b" is still served.
    assert_eq!(prices.call("b", price(runs, true)).await.unwrap(), 2);
    assert_eq!(prices.call("a", price(runs, true)).await.unwrap(), 4);
    prices.invalidate("a");
    prices.invalidate_all();
    assert_eq!(prices.metrics().entries, 0);
}

#[test]
fn settings_are_checked_and_named() {
    let field = |b: resilience_runtime::CacheBuilder| b.check().unwrap_err().field();
    let b = Cache::builder("c").ttl(Duration::from_secs(30));
    assert_eq!(field(Cache::builder("c")), "ttl");
    assert_eq!(field(b.stale(Some(Duration::from_secs(30)))), "stale");
    assert_eq!(field(b.refresh(Some(Duration::from_secs(30)))), "refresh");
    assert_eq!(field(b.capacity(0)), "capacity");
}

/// A value at once: the run count.
async fn at_once(runs: &AtomicU32, up: bool) -> Result<u32, Failure<&'static str>> {
    let n = runs.fetch_add(1, Relaxed) + 1;
    if up {
        Ok(n)
    } else {
        Err(Failure::Error("down"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_value_is_fresh_for_less_than_ttl_and_stale_for_less_than_stale() {
    let prices = cache(Some(60), None, 10);
    let runs = counter();
    assert_eq!(prices.call("k", at_once(runs, true)).await.unwrap(), 1);
    advance(Duration::from_millis(29_999)).await;
    assert_eq!(prices.call("k", at_once(runs, true)).await.unwrap(), 1);
    // At exactly `ttl`, no longer fresh.
    advance(Duration::from_millis(1)).await;
    assert_eq!(prices.call("k", at_once(runs, false)).await.unwrap(), 1);
    assert!(served_stale());
    // Stale just before `stale`, not at it.
    advance(Duration::from_millis(29_999)).await;
    assert_eq!(prices.call("k", at_once(runs, false)).await.unwrap(), 1);
    advance(Duration::from_millis(1)).await;
    assert!(prices.call("k", at_once(runs, false)).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_value_a_fallback_inside_served_is_not_stored() {
    let prices = cache(None, None, 10);
    let runs = counter();
    let served_by_fallback = prices
        .call("k", async {
            resilience_runtime::cache::fallback_served();
            at_once(runs, true).await
        })
        .await;
    assert_eq!(served_by_fallback.unwrap(), 1);
    assert_eq!(prices.call("k", at_once(runs, true)).await.unwrap(), 2);
    assert_eq!(prices.call("k", at_once(runs, true)).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn expired_entries_are_dropped_only_when_the_cache_is_full() {
    let prices = cache(None, None, 2);
    let runs = counter();
    prices.call("a", at_once(runs, true)).await.unwrap();
    advance(Duration::from_secs(60)).await;
    // Not full: the expired entry stays until room is needed.
    prices.call("b", at_once(runs, true)).await.unwrap();
    assert_eq!(
        (prices.metrics().entries, prices.metrics().evictions),
        (2, 0)
    );
    // Full: the expired one goes first, the fresh one stays.
    advance(Duration::from_secs(29)).await;
    prices.call("c", at_once(runs, true)).await.unwrap();
    assert_eq!(
        (prices.metrics().entries, prices.metrics().evictions),
        (2, 1)
    );
    assert_eq!(prices.call("b", at_once(runs, true)).await.unwrap(), 2);
    // An entry exactly `ttl` old counts as expired when room is needed.
    advance(Duration::from_secs(1)).await;
    prices.call("d", at_once(runs, true)).await.unwrap();
    assert_eq!(prices.metrics().evictions, 2);
    assert_eq!(prices.call("c", at_once(runs, true)).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn invalidate_reconfigure_and_reset() {
    let prices = cache(None, None, 10);
    let runs = counter();
    assert_eq!(prices.name(), "prices");
    prices.call("a", at_once(runs, true)).await.unwrap();
    prices.invalidate("a");
    assert_eq!(prices.call("a", at_once(runs, true)).await.unwrap(), 2);
    prices
        .reconfigure(
            prices
                .settings()
                .stale(Some(Duration::from_secs(90)))
                .refresh(Some(Duration::from_secs(20))),
        )
        .unwrap();
    let declared = Cache::builder("prices")
        .ttl(Duration::from_secs(30))
        .capacity(10);
    let changed = declared
        .stale(Some(Duration::from_secs(90)))
        .refresh(Some(Duration::from_secs(20)));
    assert_eq!(prices.settings(), changed);
    let e = prices
        .reconfigure(Cache::builder("other").ttl(Duration::ZERO))
        .unwrap_err();
    assert_eq!((e.policy(), e.field()), ("prices", "ttl"));
    assert_eq!(prices.settings(), changed);
    prices.reset();
    assert_eq!(prices.settings(), declared);
    assert_eq!(prices.metrics().entries, 0);
    assert_eq!(prices.metrics().misses, 0);
    assert!(format!("{prices:?}").contains("\"prices\""));
}
