//! `#[idempotent]`: the seeds' payment (`POST /api/v1/payments` with an `Idempotency-Key`),
//! charged once however often it is sent, in virtual time.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use resilience::{ErrorKind, idempotent, registry, retry};
use tokio::time::{advance, sleep};

#[derive(Debug, Clone, PartialEq)]
enum PayError {
    Declined,
    Rejected(resilience::Error),
}

impl From<resilience::Error> for PayError {
    fn from(e: resilience::Error) -> Self {
        PayError::Rejected(e)
    }
}

resilience::as_rejection!(PayError::Rejected);

/// A request as the handler gets it: its `Idempotency-Key` header, and the charge.
struct PaymentRequest {
    idempotency_key: String,
    cents: u64,
    card_ok: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Receipt {
    id: u32,
    cents: u64,
}

static CHARGES: AtomicU32 = AtomicU32::new(0);

/// The payment provider: takes half a second, charges the card.
async fn provider_charge(cents: u64, card_ok: bool) -> Result<Receipt, PayError> {
    sleep(Duration::from_millis(500)).await;
    if !card_ok {
        return Err(PayError::Declined);
    }
    let id = CHARGES.fetch_add(1, Relaxed) + 1;
    Ok(Receipt { id, cents })
}

/// `POST /api/v1/payments`: 1. already processed? 2. yes: the stored receipt; 3. no:
/// charge, and keep the receipt; 4. for 24 hours.
#[idempotent(key = req.idempotency_key, ttl = 24h, name = "payments")]
async fn post_payment(req: &PaymentRequest) -> Result<Receipt, PayError> {
    provider_charge(req.cents, req.card_ok).await
}

fn request(key: &str, card_ok: bool) -> &'static PaymentRequest {
    Box::leak(Box::new(PaymentRequest {
        idempotency_key: key.to_owned(),
        cents: 4200,
        card_ok,
    }))
}

/// The test binary's tests share `CHARGES`: they take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(start_paused = true)]
async fn a_payment_sent_again_is_charged_once() {
    let _turn = TURN.lock().await;
    let before = CHARGES.load(Relaxed);
    let req = request("uuid-12345", true);
    // The client gives up waiting and sends it again while the first is still charging, and
    // once more a minute later: one charge, one receipt for all three.
    let first = tokio::spawn(post_payment(req));
    sleep(Duration::from_millis(200)).await;
    let again = tokio::spawn(post_payment(req));
    let (first, again) = (first.await.unwrap().unwrap(), again.await.unwrap().unwrap());
    advance(Duration::from_secs(60)).await;
    let later = post_payment(req).await.unwrap();
    assert_eq!(CHARGES.load(Relaxed) - before, 1, "charged once");
    assert_eq!((&first, &again), (&later, &later));
    let store = registry::idempotency("payments").unwrap().metrics();
    assert!(store.joined >= 1 && store.replayed >= 1, "{store:?}");
    // A day later the key is new again.
    advance(Duration::from_secs(24 * 3600)).await;
    let next_day = post_payment(req).await.unwrap();
    assert_ne!(next_day.id, first.id);
}

#[tokio::test(start_paused = true)]
async fn a_declined_payment_is_not_stored_and_a_retry_runs_it_again() {
    let _turn = TURN.lock().await;
    let declined = request("uuid-declined", false);
    let first = tokio::spawn(post_payment(declined));
    sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn(post_payment(declined));
    assert_eq!(first.await.unwrap(), Err(PayError::Declined));
    // The duplicate that waited on it is not charged in its place.
    match waiting.await.unwrap() {
        Err(PayError::Rejected(e)) => assert_eq!(e.kind(), ErrorKind::Duplicate),
        other => panic!("expected a Duplicate rejection, got {other:?}"),
    }
    // Nothing stored: the same key runs again (with a card that works now).
    let before = CHARGES.load(Relaxed);
    let fixed = request("uuid-declined", true);
    assert!(post_payment(fixed).await.is_ok());
    assert_eq!(CHARGES.load(Relaxed) - before, 1);
}

resilience::policy! {
    /// One store for every write of the orders API, keyed by the request's key.
    static ORDERS_ONCE: Idempotency = idempotent(ttl = 1h, capacity = 2);
}

static SHIPPED: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 3, backoff = fixed(100ms))]
#[idempotent(ORDERS_ONCE, key = order_id)]
async fn ship(order_id: u64) -> Result<u32, PayError> {
    let _ = order_id; // the shipment itself would use it
    Ok(SHIPPED.fetch_add(1, Relaxed) + 1)
}

#[tokio::test(start_paused = true)]
async fn a_shared_store_refuses_new_keys_when_full_and_keeps_what_it_owes() {
    assert_eq!(ship(1).await, Ok(1));
    assert_eq!(ship(2).await, Ok(2));
    // Full of results it still owes: a third order is refused, not one of them evicted.
    match ship(3).await {
        Err(PayError::Rejected(e)) => assert_eq!(e.kind(), ErrorKind::KeyLimit),
        other => panic!("expected a KeyLimit rejection, got {other:?}"),
    }
    assert_eq!(ship(1).await, Ok(1));
    assert_eq!(SHIPPED.load(Relaxed), 2);
    registry::set("ORDERS_ONCE", "capacity", "3").unwrap();
    assert_eq!(ship(3).await, Ok(3));
}
