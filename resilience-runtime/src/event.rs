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

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::broadcast;
use tracing::callsite::{Callsite, Identifier};
use tracing::field::FieldSet;
use tracing::level_filters::LevelFilter;
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};

// `State` from its own leaf file: the breaker calls `emit`, so this must not import it back.
use crate::circuit_breaker::state::State;
use crate::error::ErrorKind;
use crate::name::Name;

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
    /// What it decided.
    pub what: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.kind, self.policy, self.what.as_str())?;
        match self.what {
            EventKind::Retry { attempt, delay } => write!(f, " attempt={attempt} delay={delay:?}"),
            EventKind::Attempt { attempt } => write!(f, " attempt={attempt}"),
            EventKind::StateTransition { from, to } => write!(f, " {from} -> {to}"),
            EventKind::Rejected { reason } => write!(f, " reason={reason}"),
            EventKind::TimedOut { after } => write!(f, " after={after:?}"),
            EventKind::Slow { elapsed } => write!(f, " elapsed={elapsed:?}"),
            EventKind::GaveUp { attempts } => write!(f, " attempts={attempts}"),
            EventKind::FallbackUsed {
                rejection: Some(reason),
            } => write!(f, " rejection={reason}"),
            _ => Ok(()),
        }
    }
}

/// How many events the channel holds for a subscriber that has not read them yet; past that,
/// the oldest are dropped for it.
pub const CAPACITY: usize = 4096;

/// Who wants events, read by every event with one relaxed load: the subscriptions alive now
/// (counted from bit [`SUBSCRIPTION_SHIFT`] up), and whether `tracing` would take an event of
/// each level (a bit per level, kept by [`Probe`]s), or [`UNKNOWN`] until the probes are
/// registered (by the first event's slow path).
static WANTED: AtomicUsize = AtomicUsize::new(UNKNOWN);

const TRACE_WANTED: usize = 1 << 0;
const DEBUG_WANTED: usize = 1 << 1;
const INFO_WANTED: usize = 1 << 2;
const WARN_WANTED: usize = 1 << 3;
/// The probes are not registered yet: every event takes the slow path, which registers them.
const UNKNOWN: usize = 1 << 4;
const SUBSCRIPTION_SHIFT: u32 = 8;
/// A count of subscriptions in any of these bits means someone subscribes.
const SUBSCRIBED: usize = !0 << SUBSCRIPTION_SHIFT;

/// A `tracing` callsite that never fires: registered once per level, it is told by `tracing`
/// (through [`Callsite::set_interest`]) whether the subscribers would take an event at its
/// level from this module, each time that changes: when a subscriber is set, globally or for
/// a scope, and when filters are reloaded. So [`wanted`] reads one word of ours instead of
/// `tracing`'s maximum level and our subscription count, behind two more pointers.
///
/// Its metadata is that of the events [`deliver`] sends (target `resilience`, this module
/// and file, every field name any of them has), so a filter on level, target, module or the
/// presence of field names that takes one of them takes the probe of its level. (A filter
/// that refuses events for having a field, or by name or line, could refuse the probe and
/// take an event: README, "Known limits".) A bit answers "maybe" for every event of the
/// probe's level, and `deliver`'s own `tracing` macros then decide exactly: a bit set for
/// nothing costs a call, never an event.
struct Probe {
    bit: usize,
    metadata: &'static Metadata<'static>,
}

impl Callsite for Probe {
    fn set_interest(&self, interest: Interest) {
        // Relaxed: a hint, as the subscription count; an event racing with the change of
        // subscriber may be missed or sent, as it would be a moment earlier or later.
        if interest.is_never() {
            WANTED.fetch_and(!self.bit, Relaxed);
        } else {
            WANTED.fetch_or(self.bit, Relaxed);
        }
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.metadata
    }
}

/// The field names of every event [`deliver`] sends.
const FIELDS: &[&str] = &[
    "message", "policy", "kind", "event", "what", "from", "to", "reason", "attempt", "delay",
];

macro_rules! probe {
    ($probe:ident, $metadata:ident, $level:expr, $bit:expr) => {
        static $probe: Probe = Probe {
            bit: $bit,
            metadata: &$metadata,
        };
        static $metadata: Metadata<'static> = Metadata::new(
            "resilience event probe",
            "resilience",
            $level,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            FieldSet::new(FIELDS, Identifier(&$probe)),
            Kind::EVENT,
        );
    };
}

probe!(TRACE_PROBE, TRACE_METADATA, Level::TRACE, TRACE_WANTED);
probe!(DEBUG_PROBE, DEBUG_METADATA, Level::DEBUG, DEBUG_WANTED);
probe!(INFO_PROBE, INFO_METADATA, Level::INFO, INFO_WANTED);
probe!(WARN_PROBE, WARN_METADATA, Level::WARN, WARN_WANTED);

/// Registers the probes, once, on the first caller's thread; each learns its interest as it
/// is registered. Until it is done, events take the slow path, whose `tracing` macros decide;
/// if a subscriber panics while a probe registers, they keep taking it (no probe is trusted).
#[cold]
fn register_probes() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    // Relaxed: only one caller registers; the others deliver through the slow path meanwhile.
    if STARTED.swap(true, Relaxed) {
        return;
    }
    for probe in [&TRACE_PROBE, &DEBUG_PROBE, &INFO_PROBE, &WARN_PROBE] {
        tracing::callsite::register(probe);
    }
    // With a single subscriber, `tracing` asks this thread's subscriber about a new callsite:
    // a subscriber set for another thread only (`set_default`) would leave every probe
    // uninterested, for good. `tracing`'s maximum level, set when that subscriber was, counts
    // every thread's: the levels it admits are wanted until the next change of subscriber,
    // which tells each probe its interest from every subscriber.
    let max = LevelFilter::current();
    let admitted = [
        (Level::TRACE, TRACE_WANTED),
        (Level::DEBUG, DEBUG_WANTED),
        (Level::INFO, INFO_WANTED),
        (Level::WARN, WARN_WANTED),
    ]
    .into_iter()
    .filter(|(level, _)| *level <= max)
    .fold(0, |bits, (_, bit)| bits | bit);
    WANTED.fetch_or(admitted, Relaxed);
    WANTED.fetch_and(!UNKNOWN, Relaxed);
}

/// The channel, made by the first subscription.
static CHANNEL: OnceLock<broadcast::Sender<Event>> = OnceLock::new();

/// Starts receiving every event of every policy, from now on.
///
/// Dropping the subscription stops it; when none is left, publishing costs one relaxed load
/// again.
pub fn subscribe() -> Subscription {
    let sender = CHANNEL.get_or_init(|| broadcast::channel(CAPACITY).0);
    let receiver = sender.subscribe();
    // Relaxed: a hint for publishers; an event racing with the first subscription may be
    // missed, as it would be a moment earlier.
    WANTED.fetch_add(1 << SUBSCRIPTION_SHIFT, Relaxed);
    Subscription {
        receiver,
        missed: 0,
    }
}

/// Whether anyone subscribes: one relaxed load, for paths that skip building events nobody
/// reads.
#[inline]
pub(crate) fn subscribed() -> bool {
    WANTED.load(Relaxed) & SUBSCRIBED != 0
}

/// A stream of [`Event`]s from every policy; made by [`subscribe`].
///
/// A subscriber that falls more than [`CAPACITY`] events behind loses the oldest ones: calls
/// never wait for it. [`missed`](Self::missed) counts what it lost.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Event>,
    missed: u64,
}

impl Subscription {
    /// The next event, waiting for one if none is pending.
    pub async fn recv(&mut self) -> Event {
        loop {
            match self.receiver.recv().await {
                Ok(event) => return event,
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                // The sender lives in a static: never closed. Wait forever rather than spin.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    /// The next pending event, or `None` at once if there is none.
    pub fn try_recv(&mut self) -> Option<Event> {
        loop {
            match self.receiver.try_recv() {
                Ok(event) => return Some(event),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.missed += n,
                Err(_) => return None,
            }
        }
    }

    /// Every pending event, without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }

    /// How many events this subscriber lost by falling behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Relaxed: see `subscribe`.
        WANTED.fetch_sub(1 << SUBSCRIPTION_SHIFT, Relaxed);
    }
}

#[cold]
#[inline(never)]
fn publish(event: Event) {
    if let Some(sender) = CHANNEL.get() {
        // An error means every receiver is gone: nothing to do.
        let _ = sender.send(event);
    }
}

/// The `tracing` level of an event of kind `what` (see [`emit`]).
#[inline(always)]
const fn level(what: &EventKind) -> tracing::Level {
    match what {
        EventKind::Success | EventKind::Attempt { .. } => tracing::Level::TRACE,
        EventKind::StateTransition {
            to: State::Open | State::ForcedOpen,
            ..
        } => tracing::Level::WARN,
        EventKind::StateTransition { .. } => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    }
}

/// Whether an event of kind `what` would reach anyone: a subscription, a `tracing` subscriber
/// interested in events of its level from this module (as told to the [`Probe`] of that
/// level), `log` (when `tracing`'s `log` feature forwards events there and no `tracing`
/// subscriber is set), or the metrics hook. A subscriber that would take one of the events
/// is interested in its level's probe (same target, module, file and field names; see
/// [`Probe`] for the filters it cannot stand in for); when every test is false, nothing is
/// built or called.
#[inline(always)]
fn wanted(what: &EventKind) -> bool {
    let level = level(what);
    let bit = match level {
        Level::TRACE => TRACE_WANTED,
        Level::DEBUG => DEBUG_WANTED,
        Level::INFO => INFO_WANTED,
        _ => WARN_WANTED,
    };
    // One load and a test against a constant: a subscription, `tracing`'s interest at this
    // level, or probes not registered yet (the slow path registers them). A level compiled
    // out by `tracing`'s `max_level_*` features only asks for subscriptions.
    let mask = if level <= tracing::level_filters::STATIC_MAX_LEVEL {
        bit | SUBSCRIBED | UNKNOWN
    } else {
        SUBSCRIBED
    };
    WANTED.load(Relaxed) & mask != 0
        // `tracing`'s own test (hidden, but what every `tracing` event macro expands to):
        // `false` unless `tracing` forwards to `log`, which it does while no subscriber is set.
        || tracing::if_log_enabled! { level, { true } else { false } }
        || (cfg!(feature = "metrics") && matches!(what, EventKind::Retry { .. } | EventKind::Slow { .. }))
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
    if wanted(&what) {
        deliver(policy.reported(), kind, what);
    }
}

/// A policy's name as [`emit`] takes it: read only if the event is delivered.
pub(crate) trait Reported {
    /// The name to report.
    fn reported(self) -> &'static str;
}

impl Reported for &'static str {
    #[inline(always)]
    fn reported(self) -> &'static str {
        self
    }
}

impl Reported for &Name {
    #[inline(always)]
    fn reported(self) -> &'static str {
        self.get()
    }
}

#[cold]
#[inline(never)]
fn deliver(policy: &'static str, kind: PolicyKind, what: EventKind) {
    if WANTED.load(Relaxed) & UNKNOWN != 0 {
        register_probes();
    }
    if subscribed() {
        publish(Event { policy, kind, what });
    }
    #[cfg(feature = "metrics")]
    if matches!(what, EventKind::Retry { .. } | EventKind::Slow { .. }) {
        crate::registry::metrics::on_event(policy, kind, &what);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
