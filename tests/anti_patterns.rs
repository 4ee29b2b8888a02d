//! The seeds' fourth anti-pattern, inconsistent recovery, prevented: every kind of policy goes
//! back to what it was declared with in the same way, by name, whatever was changed by hand.
//! (The other three are shown where their remedies live: retry storms in
//! `tests/retry_budget.rs`, cascading timeouts in `tests/deadline.rs`, hidden dependencies in
//! `tests/registry.rs`; `docs/guide.md` points to each.)

#![allow(clippy::unwrap_used)]

mod common;

use common::ApiError;
use resilience::{State, registry};

resilience::policy! {
    static BREAKER: CircuitBreaker = circuit_breaker(threshold = 50%, name = "recovery/breaker");
    static RETRY: Retry = retry(attempts = 3, name = "recovery/retry");
    static TIMEOUT: Timeout = timeout(1s, name = "recovery/timeout");
    static POOL: Bulkhead = bulkhead(max = 10, adaptive = gradient2, name = "recovery/pool");
    static LIMIT: RateLimiter = rate_limiter(100/s, name = "recovery/limit");
    static TENANTS: KeyedRateLimiter = rate_limiter(10/s, name = "recovery/tenants");
    static HEDGE: Hedge = hedge(after = 50ms, name = "recovery/hedge");
    static CACHE: Cache = cache(ttl = 30s, name = "recovery/cache");
    static ONCE: Idempotency = idempotent(ttl = 24h, name = "recovery/once");
    static BUDGET: RetryBudget = retry_budget(ratio = 20%, name = "recovery/budget");
    static OFF: Toggle = toggle(name = "recovery/off");
}

/// For each kind, one setting changed by name to another valid value.
const CHANGES: &[(&str, &str, &str)] = &[
    ("recovery/breaker", "threshold", "70%"),
    ("recovery/retry", "attempts", "5"),
    ("recovery/timeout", "duration", "2s"),
    ("recovery/pool", "adaptive", "off"),
    ("recovery/limit", "rate", "5/s"),
    ("recovery/tenants", "rate", "1/s"),
    ("recovery/hedge", "after", "p99"),
    ("recovery/cache", "ttl", "1m"),
    ("recovery/once", "ttl", "1h"),
    ("recovery/budget", "ratio", "50%"),
    ("recovery/off", "on", "true"),
];

#[resilience::circuit_breaker(BREAKER)]
#[resilience::retry(RETRY)]
#[resilience::timeout(TIMEOUT)]
#[resilience::bulkhead(POOL)]
#[resilience::rate_limiter(LIMIT)]
#[resilience::hedge(HEDGE)]
async fn uses_them() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test]
async fn every_kind_goes_back_to_its_declared_settings_by_name() {
    uses_them().await.unwrap();
    let settings = |name: &str| registry::snapshot().get(name).unwrap().settings.clone();
    let declared: Vec<_> = CHANGES.iter().map(|(name, ..)| settings(name)).collect();

    // By hand, during an incident: every kind changed, the breaker forced open.
    for (name, key, value) in CHANGES {
        registry::set(name, key, value).unwrap();
        assert_ne!(
            settings(name),
            declared[CHANGES.iter().position(|c| c.0 == *name).unwrap()],
            "{name}: {key} = {value} changed nothing"
        );
    }
    BREAKER.force_open();
    assert_eq!(BREAKER.state(), State::ForcedOpen);

    // One way back for every kind: the same call, by name.
    for (name, ..) in CHANGES {
        registry::reset(name).unwrap();
    }
    for ((name, ..), declared) in CHANGES.iter().zip(&declared) {
        assert_eq!(&settings(name), declared, "{name} is back as declared");
    }
    assert_eq!(BREAKER.state(), State::Closed);
    assert!(!OFF.is_on());
    let _ = (
        &RETRY, &TIMEOUT, &POOL, &LIMIT, &TENANTS, &HEDGE, &CACHE, &ONCE, &BUDGET,
    );
}
