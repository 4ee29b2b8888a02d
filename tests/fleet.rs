//! `shared = ".."`: the name a fleet backend shares a rate limiter or a breaker under, declared
//! in the attribute or `policy!`; without a backend the policy decides locally and says so once.

#![allow(clippy::unwrap_used)]

mod common;

use common::ApiError;
use resilience::registry;
use resilience::{ErrorKind, circuit_breaker, rate_limiter};

resilience::policy! {
    /// Shared by every replica.
    static PAYMENTS: CircuitBreaker = circuit_breaker(failures = 1, open = 30s, shared = "payments");
}

#[circuit_breaker(failures = 1, shared = "ledger", quorum = 2)]
async fn ledger() -> Result<(), ApiError> {
    Ok(())
}

#[rate_limiter(1/s, shared = "partner-api")]
async fn partner() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(PAYMENTS)]
async fn pay(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn the_shared_name_is_declared_and_without_a_backend_the_policy_runs_locally() {
    let limiter = registry::rate_limiter("fleet::partner/rate_limiter").unwrap();
    assert_eq!(limiter.shared_name(), Some("partner-api"));
    assert_eq!(PAYMENTS.shared_name(), Some("payments"));
    assert_eq!(PAYMENTS.quorum(), 1, "any replica's trip, unless declared");
    let ledger_breaker = registry::circuit_breaker("fleet::ledger/circuit_breaker").unwrap();
    assert_eq!(ledger_breaker.quorum(), 2);
    assert_eq!(ledger().await, Ok(()));
    // No backend: the limiter and the breaker decide alone.
    assert_eq!(partner().await, Ok(()));
    let e = partner().await.unwrap_err();
    assert_eq!(e.rejection(), Some(ErrorKind::RateLimited));
    assert_eq!(pay(true).await, Err(ApiError::Down));
    assert_eq!(
        pay(false).await.unwrap_err().rejection(),
        Some(ErrorKind::CircuitOpen)
    );
}
