//! Graceful drain: new calls refused with `ShuttingDown` at the outermost layer, calls in flight
//! waited for, what did not finish reported by name; in virtual time.
//!
//! The drain is the process's: the tests of this binary take turns.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{ApiError, Calls};
use resilience::registry;
use resilience::{ErrorKind, Failure, bulkhead, circuit_breaker, fallback, retry, timeout};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

static ORDER_CALLS: Calls = Calls::new();

/// An order that takes two seconds, behind a breaker that would open on one failure and a retry
/// that would repeat any error.
#[retry(attempts = 3, backoff = fixed(10ms))]
#[circuit_breaker(threshold = 50%, min_calls = 1, window = 10, open = 30s)]
#[bulkhead(max = 4)]
async fn place_order(id: u64) -> Result<u64, ApiError> {
    ORDER_CALLS.hit();
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(id)
}

fn from_cache(id: u64, failure: Failure<ApiError>) -> Result<u64, ApiError> {
    match failure.rejection().map(|r| r.kind()) {
        Some(ErrorKind::ShuttingDown) => Ok(id + 1000),
        _ => Err(ApiError::Permanent),
    }
}

static PRICE_CALLS: Calls = Calls::new();

#[fallback(from_cache)]
#[timeout(1s)]
async fn price(id: u64) -> Result<u64, ApiError> {
    PRICE_CALLS.hit();
    Ok(id)
}

/// Never ends by itself.
#[timeout(1h)]
async fn stuck() -> Result<(), ApiError> {
    std::future::pending().await
}

#[tokio::test(start_paused = true)]
async fn waits_for_calls_in_flight_and_refuses_new_ones_before_any_policy() {
    let _turn = TURN.lock().await;
    registry::reset_all();
    let before = ORDER_CALLS.get();
    let running = tokio::spawn(place_order(1));
    tokio::task::yield_now().await;
    assert_eq!(ORDER_CALLS.get(), before + 1, "the first call is running");

    let drained = tokio::spawn(registry::drain(Duration::from_secs(10)));
    tokio::task::yield_now().await;
    assert!(registry::is_draining());

    // Refused at once, naming the function, and no layer below saw it: not retried, not
    // counted by the breaker, no bulkhead slot taken.
    let refused = place_order(2).await.unwrap_err();
    assert_eq!(refused.rejection(), Some(ErrorKind::ShuttingDown));
    assert_eq!(refused.policy(), Some("drain::place_order"));
    assert_eq!(ORDER_CALLS.get(), before + 1, "the body never ran");
    let snapshot = registry::snapshot();
    let breaker = snapshot.get("drain::place_order/circuit_breaker").unwrap();
    assert_eq!(breaker.calls(), Some(0), "the breaker did not count it");
    let retry = snapshot.get("drain::place_order/retry").unwrap();
    assert_eq!(retry.retries(), Some(0), "the retry did not repeat it");
    assert_eq!(
        snapshot
            .get("drain::place_order/bulkhead")
            .unwrap()
            .in_use(),
        Some(1),
        "only the call in flight holds a slot"
    );

    // The call admitted before the drain runs to its end, and the drain waits for it.
    assert_eq!(running.await.unwrap(), Ok(1));
    let report = drained.await.unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.waited, Duration::from_secs(2));

    // Still refused after the drain completed, until undrained.
    assert!(place_order(3).await.is_err());
    registry::undrain();
    assert_eq!(place_order(4).await, Ok(4));
}

#[tokio::test(start_paused = true)]
async fn an_outermost_fallback_receives_the_refusal() {
    let _turn = TURN.lock().await;
    registry::reset_all();
    let report = registry::drain(Duration::from_secs(1)).await;
    assert!(report.is_complete(), "{report}");
    let before = PRICE_CALLS.get();
    assert_eq!(price(7).await, Ok(1007), "served by the fallback");
    assert_eq!(PRICE_CALLS.get(), before, "the body never ran");
    // A reset of the registry ends the drain too.
    registry::reset_all();
    assert_eq!(price(7).await, Ok(7));
}

#[tokio::test(start_paused = true)]
async fn reports_what_did_not_finish_by_function() {
    let _turn = TURN.lock().await;
    registry::reset_all();
    let a = tokio::spawn(stuck());
    let b = tokio::spawn(stuck());
    tokio::task::yield_now().await;
    let report = registry::drain(Duration::from_secs(5)).await;
    assert!(!report.is_complete());
    assert_eq!(report.running, vec![("drain::stuck", 2)]);
    assert_eq!(report.unfinished(), 2);
    assert_eq!(report.waited, Duration::from_secs(5));
    assert_eq!(
        report.to_string(),
        "2 calls still running after 5s: drain::stuck (2)"
    );
    // Cancelled calls end too: aborting the tasks drops their futures.
    a.abort();
    b.abort();
    let _ = (a.await, b.await);
    let report = registry::drain(Duration::from_secs(1)).await;
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.waited, Duration::ZERO);
    registry::undrain();
}

#[tokio::test(start_paused = true)]
async fn a_call_that_panics_is_counted_out() {
    let _turn = TURN.lock().await;
    registry::reset_all();

    #[timeout(1s)]
    async fn panics() -> Result<(), ApiError> {
        panic!("the body panicked")
    }

    let task = tokio::spawn(panics());
    assert!(task.await.unwrap_err().is_panic());
    let report = registry::drain(Duration::from_secs(1)).await;
    assert!(report.is_complete(), "{report}");
    registry::undrain();
}

/// A tower layer is a place of admission too: refused while draining, a 503 for a server.
#[cfg(feature = "tower")]
#[tokio::test(start_paused = true)]
async fn a_tower_layer_refuses_while_draining() {
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    resilience::policy! {
        static FRONT: Bulkhead = bulkhead(max = 8);
    }

    let _turn = TURN.lock().await;
    registry::reset_all();
    let server = ServiceBuilder::new()
        .layer(resilience::tower::layer(&FRONT).http().respond())
        .service(service_fn(|secs: u64| async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let running = tokio::spawn(server.clone().oneshot(3));
    tokio::task::yield_now().await;
    // The layer's calls in flight are counted under its policy's name.
    let site = resilience::drain::InFlight::named(FRONT.name());
    assert_eq!(site.in_flight(), 1);
    let drained = tokio::spawn(registry::drain(Duration::from_secs(10)));
    tokio::task::yield_now().await;
    let refused = server.clone().oneshot(0).await.unwrap();
    assert_eq!(refused.status(), 503);
    let rejection = refused.extensions().get::<resilience::Error>().unwrap();
    assert_eq!(rejection.kind(), ErrorKind::ShuttingDown);
    assert_eq!(running.await.unwrap().unwrap().status(), 200);
    let report = drained.await.unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.waited, Duration::from_secs(3));
    registry::undrain();
}
