//! The kinds of policy: shared vocabulary of the registry, events, errors and the kinds
//! themselves, so that none of them imports another for it.

use std::fmt;

/// The kind of a policy, as listed in the registry and in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyKind {
    /// [`CircuitBreaker`](crate::CircuitBreaker).
    CircuitBreaker,
    /// [`Retry`](crate::Retry).
    Retry,
    /// [`Timeout`](crate::Timeout).
    Timeout,
    /// [`Bulkhead`](crate::Bulkhead).
    Bulkhead,
    /// [`RateLimiter`](crate::RateLimiter).
    RateLimiter,
    /// A fallback.
    Fallback,
    /// [`RetryBudget`](crate::RetryBudget).
    RetryBudget,
    /// [`Toggle`](crate::Toggle).
    Toggle,
    /// [`Chaos`](crate::Chaos).
    Chaos,
    /// [`Idempotency`](crate::Idempotency).
    Idempotency,
    /// [`Cache`](crate::Cache).
    Cache,
    /// [`Hedge`](crate::Hedge).
    Hedge,
}

impl PolicyKind {
    /// The lowercase name used in registry names, logs and metric tags (`circuit_breaker`, `retry`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyKind::CircuitBreaker => "circuit_breaker",
            PolicyKind::Retry => "retry",
            PolicyKind::Timeout => "timeout",
            PolicyKind::Bulkhead => "bulkhead",
            PolicyKind::RateLimiter => "rate_limiter",
            PolicyKind::Fallback => "fallback",
            PolicyKind::RetryBudget => "retry_budget",
            PolicyKind::Toggle => "toggle",
            PolicyKind::Chaos => "chaos",
            // The attribute's name, as every kind's is: the option table's kind.
            PolicyKind::Idempotency => "idempotent",
            PolicyKind::Cache => "cache",
            PolicyKind::Hedge => "hedge",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
