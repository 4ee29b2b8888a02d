//! The states of a circuit breaker: shared vocabulary of the breaker, its events, the registry's
//! health and snapshots, in a leaf of its own so none of them imports another for it.

use std::fmt;

/// The state of a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// `Closed`, `Open` and `HalfOpen` are the automatic states; `ForcedOpen`, `Disabled` and
/// `MetricsOnly` are set by hand (through the breaker or the registry) and stay until it is
/// closed or reset by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls pass; outcomes are recorded, and the breaker opens when they cross a threshold.
    Closed,
    /// Calls are rejected until the open wait has passed; then the next call finds it half-open.
    Open,
    /// A limited number of probe calls pass; their outcomes close or re-open the breaker.
    HalfOpen,
    /// Opened by hand: every call is rejected until the breaker is closed by hand.
    ForcedOpen,
    /// Switched off by hand: every call passes, nothing is recorded.
    Disabled,
    /// Every call passes and outcomes are recorded, but the breaker never opens.
    MetricsOnly,
}

impl State {
    /// A short, stable, lowercase name: `closed`, `open`, `half_open`, `forced_open`,
    /// `disabled`, `metrics_only`.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics_only",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
