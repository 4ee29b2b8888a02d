//! `#[cache]` in a stack, in virtual time: hits skip the layers below, a fallback's value is
//! never stored, stale values serve an outage, and concurrent misses run once.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use common::ApiError;
use resilience::cache::served_stale;
use resilience::{Failure, cache, fallback, registry, retry};
use tokio::time::{advance, sleep};

static UP: AtomicBool = AtomicBool::new(true);
static PRICE_CALLS: AtomicU32 = AtomicU32::new(0);

#[cache(ttl = 30s, key = sku, stale = 5m, name = "prices")]
#[retry(attempts = 2, backoff = fixed(100ms))]
async fn price(sku: &str) -> Result<u32, ApiError> {
    let _ = sku;
    let n = PRICE_CALLS.fetch_add(1, Relaxed) + 1;
    sleep(Duration::from_millis(50)).await;
    if UP.load(Relaxed) {
        Ok(n)
    } else {
        Err(ApiError::Down)
    }
}

/// The tests share `UP` and the counters: they take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(start_paused = true)]
async fn a_hit_skips_every_layer_below_and_an_outage_is_served_stale() {
    let _turn = TURN.lock().await;
    UP.store(true, Relaxed);
    let before = PRICE_CALLS.load(Relaxed);
    let first = price("sku-1").await.unwrap();
    assert_eq!(price("sku-1").await.unwrap(), first);
    assert_eq!(
        PRICE_CALLS.load(Relaxed) - before,
        1,
        "the hit ran nothing below"
    );

    // The dependency goes down past the ttl: the retry below tries twice, then the cache
    // serves the last good price, and says so.
    UP.store(false, Relaxed);
    advance(Duration::from_secs(60)).await;
    assert_eq!(price("sku-1").await.unwrap(), first);
    assert!(served_stale());
    assert_eq!(PRICE_CALLS.load(Relaxed) - before, 3);
    // Fresh again once it is back.
    UP.store(true, Relaxed);
    let fresh = price("sku-1").await.unwrap();
    assert!(!served_stale());
    assert_ne!(fresh, first);
    let m = registry::cache("prices").unwrap().metrics();
    assert!(m.stale_served >= 1 && m.hits >= 1, "{m:?}");
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_for_a_key_run_the_layers_below_once() {
    let _turn = TURN.lock().await;
    UP.store(true, Relaxed);
    let before = PRICE_CALLS.load(Relaxed);
    let calls: Vec<_> = (0..8).map(|_| tokio::spawn(price("sku-hot"))).collect();
    let mut seen = Vec::new();
    for call in calls {
        seen.push(call.await.unwrap().unwrap());
    }
    assert_eq!(PRICE_CALLS.load(Relaxed) - before, 1);
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
}

static RECS_UP: AtomicBool = AtomicBool::new(false);
static RECS_CALLS: AtomicU32 = AtomicU32::new(0);

fn popular(_user: u32, _failure: Failure<ApiError>) -> Result<Vec<u32>, ApiError> {
    Ok(vec![0])
}

/// The cache above the fallback: what the fallback serves must not be kept as fresh.
#[cache(ttl = 1m, key = user)]
#[fallback(popular)]
async fn recommendations(user: u32) -> Result<Vec<u32>, ApiError> {
    RECS_CALLS.fetch_add(1, Relaxed);
    if RECS_UP.load(Relaxed) {
        Ok(vec![user])
    } else {
        Err(ApiError::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn a_value_a_fallback_served_is_never_stored() {
    assert_eq!(recommendations(7).await.unwrap(), vec![0]);
    // The service is back: the next call runs (the fallback's answer was not cached) ...
    RECS_UP.store(true, Relaxed);
    assert_eq!(recommendations(7).await.unwrap(), vec![7]);
    // ... and its real answer is.
    assert_eq!(recommendations(7).await.unwrap(), vec![7]);
    assert_eq!(RECS_CALLS.load(Relaxed), 2);
}
