//! Events: every decision a policy takes, as a value and as a `tracing` event.
//!
//! Policies report through one function only, so every decision reaches the same place: a
//! `tracing` event with structured fields (`policy`, `kind`, `event`, and the event's own fields),
//! and, while someone holds a [`Subscription`], an [`Event`] on the registry's broadcast channel.
//!
//! ```
//! use resilience_runtime::event::{self, EventKind};
//! use resilience_runtime::Timeout;
//! # use resilience_runtime::Failure;
//! # use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut events = event::subscribe();
//! let timeout = Timeout::builder("docs/timeout").duration(Duration::from_millis(10)).build().unwrap();
//! let _: Result<(), Failure<()>> = timeout
//!     .call(async { tokio::time::sleep(Duration::from_secs(1)).await; Ok(()) })
//!     .await;
//! let event = events.recv().await;
//! assert_eq!(event.policy, "docs/timeout");
//! assert!(matches!(event.what, EventKind::TimedOut { .. }));
//! # }
//! ```
//!
//! # Cost
//!
//! With no subscription alive and no `tracing` subscriber taking the event's level, an event
//! costs one relaxed load and a test. While
//! at least one subscription is alive, each event is sent on a `tokio::sync::broadcast`
//! channel, whose `send` takes a short lock: the price of watching, paid only while someone
//! watches. The channel is bounded ([`CAPACITY`] events): a subscriber that falls behind loses
//! the oldest events (counted in [`Subscription::missed`]) and never slows a call down.

mod channel;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
mod to_tracing;
mod transitions;
mod wanted;

use std::fmt;
use std::time::Duration;

use crate::error::ErrorKind;
pub use crate::key::KeyId;
pub use crate::kind::PolicyKind;
use crate::name::Name;
use crate::state::State;

pub use channel::{CAPACITY, Subscription, subscribe};
pub use transitions::on_transition;

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
    /// A retry budget refused a retry: the call ended with its last outcome.
    BudgetRefused,
    /// A toggle was switched on or off.
    Switched {
        /// Whether it is on now.
        on: bool,
    },
    /// A toggle that is on served a call by its fallback, without calling what is below.
    Degraded,
    /// An idempotency store served a duplicate the result of the first call with its key.
    Replayed,
    /// A cache served the last good value, past its `ttl`, because the layers below failed.
    ServedStale,
    /// A hedge started another attempt beside the ones still running.
    Hedged {
        /// The new attempt's number: 2 for the first hedge.
        attempt: u32,
    },
    /// An adaptive bulkhead moved its limit.
    LimitChanged {
        /// The limit before.
        from: u32,
        /// The limit now.
        to: u32,
    },
    /// A chaos layer injected a fault into a call.
    Injected {
        /// What it injected.
        injection: Injection,
    },
}

/// What a chaos layer injected into one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Injection {
    /// An error, instead of the call.
    Error,
    /// A delay before the call.
    Latency(Duration),
    /// An `Ok` value, instead of the call.
    Outcome,
}

impl Injection {
    /// `error`, `latency` or `outcome`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Injection::Error => "error",
            Injection::Latency(_) => "latency",
            Injection::Outcome => "outcome",
        }
    }
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
            EventKind::BudgetRefused => "budget_refused",
            EventKind::Switched { .. } => "switched",
            EventKind::Degraded => "degraded",
            EventKind::Replayed => "replayed",
            EventKind::ServedStale => "served_stale",
            EventKind::Injected { .. } => "injected",
            EventKind::Hedged { .. } => "hedged",
            EventKind::LimitChanged { .. } => "limit_changed",
        }
    }
}

/// One decision of one policy, as delivered to a [`Subscription`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The name of the policy that decided: its registry name, except for inline policies of
    /// different sites that share a name, which the registry tells apart with `#2` and their
    /// events do not. A `policy!` static whose name another one shares reports its path
    /// (`app::a::DB`), as the registry lists it.
    pub policy: &'static str,
    /// The kind of that policy.
    pub kind: PolicyKind,
    /// The child of a keyed family that decided (a tenant's own limiter, a host's own
    /// breaker), or `None` for a policy of its own: [`policy`](Self::policy) names the
    /// family, this the key ([`KeyId::name`] reads it).
    pub key: Option<KeyId>,
    /// What it decided.
    pub what: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.policy)?;
        if let Some(key) = self.key {
            write!(f, "[{key}]")?;
        }
        write!(f, " {}", self.what.as_str())?;
        match self.what {
            EventKind::Retry { attempt, delay } => write!(f, " attempt={attempt} delay={delay:?}"),
            EventKind::Attempt { attempt } => write!(f, " attempt={attempt}"),
            EventKind::StateTransition { from, to } => write!(f, " {from} -> {to}"),
            EventKind::Rejected { reason } => write!(f, " reason={reason}"),
            EventKind::TimedOut { after } => write!(f, " after={after:?}"),
            EventKind::Slow { elapsed } => write!(f, " elapsed={elapsed:?}"),
            EventKind::GaveUp { attempts } => write!(f, " attempts={attempts}"),
            EventKind::Injected { injection } => write!(f, " injected={}", injection.as_str()),
            EventKind::FallbackUsed {
                rejection: Some(reason),
            } => write!(f, " rejection={reason}"),
            _ => Ok(()),
        }
    }
}

/// Reports one decision. Policies call this and nothing else to report.
///
/// Routine outcomes (success, attempt) are `TRACE` events, so a subscriber filtering at `DEBUG`
/// or above pays one relaxed load per call for them; rejections, retries and timeouts are
/// `DEBUG`; a breaker's state transitions are `INFO`, or `WARN` when it opens.
///
/// With nobody to tell (no subscription, the event's level off), this is one relaxed load
/// and a test, inlined at the call site; everything else is out of line.
///
/// The policy's name is read only when someone would see the event: a policy passes its
/// [`Name`], whose reported form the registry settles (see [`crate::name`]).
#[inline(always)]
pub(crate) fn emit(policy: impl Reported, kind: PolicyKind, what: EventKind) {
    if wanted::wanted(&what) {
        let (policy, key) = policy.reported();
        deliver(policy, key, kind, what);
    }
}

/// A policy's name as [`emit`] takes it: read only if the event is delivered.
pub(crate) trait Reported {
    /// The name to report, and the key of a keyed family's child.
    fn reported(self) -> (&'static str, Option<KeyId>);
}

impl Reported for &'static str {
    #[inline(always)]
    fn reported(self) -> (&'static str, Option<KeyId>) {
        (self, None)
    }
}

impl Reported for &Name {
    #[inline(always)]
    fn reported(self) -> (&'static str, Option<KeyId>) {
        (self.get(), self.key())
    }
}

/// Everything an event is told to, in this order: the subscriptions' channel, the transition
/// listeners, `tracing`, and (feature `metrics`) the histograms. A sink is a function of its own module under `event/`
/// and is listed here; each decides for itself whether the event concerns it. Policies never
/// call a sink: they call [`emit`], which calls [`deliver`] only when [`wanted`] says some
/// sink may take the event.
const SINKS: &[fn(&Event)] = &[
    channel::sink,
    transitions::sink,
    to_tracing::sink,
    #[cfg(feature = "metrics")]
    metrics::sink,
];

#[cold]
#[inline(never)]
fn deliver(policy: &'static str, key: Option<KeyId>, kind: PolicyKind, what: EventKind) {
    let event = Event {
        policy,
        kind,
        key,
        what,
    };
    for sink in SINKS {
        sink(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;
    use wanted::{UNKNOWN, WANTED};

    #[test]
    fn the_first_event_registers_the_probes_and_ends_the_unknown_state() {
        emit("t", PolicyKind::Retry, EventKind::Attempt { attempt: 1 });
        // Another test's thread may be the one registering: let it finish.
        for _ in 0..100_000 {
            if WANTED.load(Relaxed) & UNKNOWN == 0 {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(WANTED.load(Relaxed) & UNKNOWN, 0);
    }
}
