//! Events reach `tracing` subscribers set at any time, and only at the levels they take: the
//! breaker's one-load test of whether anyone wants an event follows changes of subscriber.
//!
//! Its own process (an integration test file), so no other test's subscriber is in the way.

#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

mod common;

use resilience_runtime::{CircuitBreaker, Failure};
use tracing::Level;

use common::events::scoped;

async fn succeed(b: &CircuitBreaker) {
    b.call(async { Ok::<_, Failure<()>>(()) }).await.unwrap();
}

#[tokio::test]
async fn events_reach_subscribers_set_after_the_first_calls_at_the_levels_they_take() {
    let b = CircuitBreaker::builder("late")
        .consecutive_failures(1)
        .build()
        .unwrap();
    // No subscriber yet: the first event finds nobody.
    succeed(&b).await;

    // A subscriber taking every level, set for this thread (the runtime's only one).
    let (guard, everything) = scoped(Level::TRACE);
    succeed(&b).await;
    drop(guard);
    assert_eq!(everything.take_names(), ["success"]);

    // One taking WARN and above: a success (TRACE) is not sent, the opening (WARN) is.
    let (guard, warnings) = scoped(Level::WARN);
    succeed(&b).await;
    let _ = b.call(async { Err::<(), _>(Failure::Error(())) }).await;
    drop(guard);
    assert_eq!(warnings.take_names(), ["state_transition"]);

    // One taking DEBUG and above: the rejection by the open breaker (DEBUG) is sent, and the
    // closing by hand (INFO); a success after it (TRACE) is not.
    let (guard, debug) = scoped(Level::DEBUG);
    let _ = b
        .call(async { Ok::<_, Failure<()>>(()) })
        .await
        .unwrap_err();
    b.close();
    succeed(&b).await;
    drop(guard);
    assert_eq!(debug.take_names(), ["rejected", "state_transition"]);
}
