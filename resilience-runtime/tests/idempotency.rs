//! Idempotency keys in virtual time: a key's first call runs once, its duplicates get its
//! result, a failure is not stored, and the store never evicts a result it still owes.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use resilience_runtime::{ErrorKind, Failure, Idempotency};
use tokio::time::{advance, sleep};

fn store(capacity: usize) -> &'static Idempotency {
    Box::leak(Box::new(
        Idempotency::builder("charges")
            .ttl(Duration::from_secs(3600))
            .capacity(capacity)
            .check()
            .unwrap()
            .build(),
    ))
}

/// A charge that takes a second and counts how often it ran.
async fn charge(runs: &AtomicU32, ok: bool) -> Result<u64, Failure<&'static str>> {
    runs.fetch_add(1, Relaxed);
    sleep(Duration::from_secs(1)).await;
    if ok {
        Ok(4200)
    } else {
        Err(Failure::Error("declined"))
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_and_later_duplicates_are_charged_once() {
    let charges = store(10);
    let runs: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let key = "order-17".to_owned();
    let mut calls = Vec::new();
    for _ in 0..5 {
        let key = key.clone();
        calls.push(tokio::spawn(async move {
            charges.call(&key, charge(runs, true)).await
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 4200);
    }
    // Half an hour later, a retry of the same request: the stored receipt.
    advance(Duration::from_secs(1800)).await;
    assert_eq!(charges.call(&key, charge(runs, true)).await.unwrap(), 4200);
    assert_eq!(runs.load(Relaxed), 1, "charged once");
    let m = charges.metrics();
    assert_eq!((m.first_runs, m.joined, m.replayed, m.keys), (1, 4, 1, 1));
    // Past the ttl, the key is new again.
    advance(Duration::from_secs(1801)).await;
    assert_eq!(charges.call(&key, charge(runs, true)).await.unwrap(), 4200);
    assert_eq!(runs.load(Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_call_is_not_stored_and_its_waiting_duplicates_are_refused() {
    let charges = store(10);
    let runs: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let first = tokio::spawn(async move { charges.call(&"order-18", charge(runs, false)).await });
    tokio::task::yield_now().await;
    let duplicate =
        tokio::spawn(async move { charges.call(&"order-18", charge(runs, true)).await });
    assert!(matches!(
        first.await.unwrap(),
        Err(Failure::Error("declined"))
    ));
    // The duplicate did not charge in its place: a typed rejection it may retry.
    let refused = duplicate.await.unwrap().unwrap_err();
    assert_eq!(refused.rejection().unwrap().kind(), ErrorKind::Duplicate);
    assert_eq!(runs.load(Relaxed), 1);
    // Nothing was stored: the retry runs.
    assert_eq!(
        charges.call(&"order-18", charge(runs, true)).await.unwrap(),
        4200
    );
    assert_eq!(runs.load(Relaxed), 2);
    assert_eq!(charges.metrics().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_first_call_gives_its_key_back() {
    let charges = store(10);
    let runs: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let cancelled = tokio::time::timeout(
        Duration::from_millis(10),
        charges.call(&"order-19", charge(runs, true)),
    )
    .await;
    assert!(cancelled.is_err());
    assert_eq!(charges.metrics().keys, 0);
    assert_eq!(
        charges.call(&"order-19", charge(runs, true)).await.unwrap(),
        4200
    );
    assert_eq!(runs.load(Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_full_store_refuses_new_keys_and_never_evicts_a_result_it_owes() {
    let charges = store(2);
    let runs: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    for key in ["a", "b"] {
        charges.call(&key, charge(runs, true)).await.unwrap();
    }
    let full = charges.call(&"c", charge(runs, true)).await.unwrap_err();
    assert_eq!(full.rejection().unwrap().kind(), ErrorKind::KeyLimit);
    // The results it owes are still served ...
    assert_eq!(charges.call(&"a", charge(runs, true)).await.unwrap(), 4200);
    assert_eq!(runs.load(Relaxed), 2);
    // ... until they expire: then the new key finds room.
    advance(Duration::from_secs(3601)).await;
    assert_eq!(charges.call(&"c", charge(runs, true)).await.unwrap(), 4200);
    assert_eq!(charges.metrics().full, 1);
    assert_eq!(charges.metrics().keys, 1);
}

#[tokio::test(start_paused = true)]
async fn a_result_serves_for_less_than_ttl_and_expired_keys_stay_until_room_is_needed() {
    // The default ttl is a day.
    assert_eq!(
        Idempotency::builder("d").check().unwrap().build().ttl(),
        Duration::from_secs(24 * 3600)
    );
    let charges = store(5);
    let runs: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let quick = |ok| async move {
        runs.fetch_add(1, Relaxed);
        if ok {
            Ok(1_u64)
        } else {
            Err(Failure::Error("declined"))
        }
    };
    charges.call("a", quick(true)).await.unwrap();
    advance(Duration::from_millis(3_599_999)).await;
    charges.call("a", quick(true)).await.unwrap();
    assert_eq!(runs.load(Relaxed), 1);
    // At exactly `ttl`, the key is new again.
    advance(Duration::from_millis(1)).await;
    charges.call("a", quick(true)).await.unwrap();
    assert_eq!(runs.load(Relaxed), 2);
    // Expired results are swept only when the store is full.
    advance(Duration::from_secs(3600)).await;
    charges.call("b", quick(true)).await.unwrap();
    assert_eq!(charges.metrics().keys, 2);
    // A refused change names this store.
    let e = charges
        .reconfigure(Idempotency::builder("other").capacity(0))
        .unwrap_err();
    assert_eq!((e.policy(), e.field()), ("charges", "capacity"));
}
