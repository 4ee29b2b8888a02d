//! Events: every decision a policy takes, as a value and as a `tracing` event.
//!
//! Policies report through one function only, so every decision reaches the same place: a
//! `tracing` event with structured fields (`policy`, `kind`, `event`, and the event's own fields).

use std::fmt;
use std::time::Duration;

use crate::circuit_breaker::State;
use crate::error::ErrorKind;

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
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a policy decided, as reported to `tracing` (the `event` field is [`EventKind::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A call completed and counted as a success.
    Success,
    /// A call completed and counted as a failure (its error was recorded, it timed out, or it
    /// panicked).
    Failure,
    /// A call's error matched an `ignore` predicate (or no `record` predicate): counted as neither
    /// success nor failure.
    Ignored,
    /// A call took longer than the breaker's `slow` duration.
    Slow {
        /// How long the call took.
        elapsed: Duration,
    },
    /// A call was rejected without running.
    Rejected {
        /// Why.
        reason: ErrorKind,
    },
    /// A call was dropped before it completed; it counts as neither success nor failure.
    Cancelled,
    /// A call panicked; it counts as a failure, and the panic keeps unwinding.
    Panicked,
    /// A circuit breaker changed state.
    StateTransition {
        /// The state before.
        from: State,
        /// The state after.
        to: State,
    },
    /// A retry policy starts attempt number `attempt` (1 is the first call).
    Attempt {
        /// The attempt's number, counting from 1.
        attempt: u32,
    },
    /// A retry policy will run another attempt after `delay`.
    Retry {
        /// The number of the attempt that failed.
        attempt: u32,
        /// How long it waits before the next attempt.
        delay: Duration,
    },
    /// A retry policy gave up: every attempt failed, or the error was not retryable.
    GaveUp {
        /// How many attempts ran.
        attempts: u32,
    },
    /// A timeout cancelled the call.
    TimedOut {
        /// The timeout that ran out.
        after: Duration,
    },
    /// A bulkhead or rate limiter queued the call to wait for a slot or permit.
    Queued,
    /// A fallback served the call's result.
    FallbackUsed {
        /// The rejection it replaced, or `None` when it replaced the call's own error.
        rejection: Option<ErrorKind>,
    },
}

impl EventKind {
    /// A short, stable, lowercase name (`success`, `state_transition`, ...).
    pub const fn as_str(&self) -> &'static str {
        match self {
            EventKind::Success => "success",
            EventKind::Failure => "failure",
            EventKind::Ignored => "ignored",
            EventKind::Slow { .. } => "slow",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Cancelled => "cancelled",
            EventKind::Panicked => "panicked",
            EventKind::StateTransition { .. } => "state_transition",
            EventKind::Attempt { .. } => "attempt",
            EventKind::Retry { .. } => "retry",
            EventKind::GaveUp { .. } => "gave_up",
            EventKind::TimedOut { .. } => "timed_out",
            EventKind::Queued => "queued",
            EventKind::FallbackUsed { .. } => "fallback_used",
        }
    }
}

/// Reports one decision. Policies call this and nothing else to report.
///
/// Routine outcomes (success, attempt) are `TRACE` events, so a subscriber filtering at `DEBUG`
/// or above pays one relaxed load per call for them; rejections, retries and timeouts are
/// `DEBUG`; a breaker's state transitions are `INFO`, or `WARN` when it opens.
#[inline]
pub(crate) fn emit(policy: &'static str, kind: PolicyKind, what: EventKind) {
    let k = kind.as_str();
    let name = what.as_str();
    match what {
        EventKind::Success | EventKind::Attempt { .. } => {
            tracing::trace!(target: "resilience", policy, kind = k, event = name, ?what)
        }
        EventKind::StateTransition { from, to } => {
            if matches!(to, State::Open | State::ForcedOpen) {
                tracing::warn!(target: "resilience", policy, kind = k, event = name,
                    from = from.as_str(), to = to.as_str(), "circuit breaker opened")
            } else {
                tracing::info!(target: "resilience", policy, kind = k, event = name,
                    from = from.as_str(), to = to.as_str(), "circuit breaker changed state")
            }
        }
        EventKind::Rejected { reason } => {
            tracing::debug!(target: "resilience", policy, kind = k, event = name, reason = reason.as_str())
        }
        EventKind::Retry { attempt, delay } => {
            tracing::debug!(target: "resilience", policy, kind = k, event = name, attempt, ?delay)
        }
        _ => tracing::debug!(target: "resilience", policy, kind = k, event = name, ?what),
    }
}
