//! Who wants events: one word, read with one relaxed load by every event, that says whether
//! any sink may take an event of a given level.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tracing::Level;

use super::EventKind;
use crate::state::State;

/// Who wants events, read by every event with one relaxed load: the subscriptions alive now
/// (counted from bit [`SUBSCRIPTION_SHIFT`] up), and whether `tracing` would take an event of
/// each level (a bit per level, kept by [`Probe`]s), or [`UNKNOWN`] until the probes are
/// registered (by the first event's slow path).
pub(super) static WANTED: AtomicUsize = AtomicUsize::new(UNKNOWN);

pub(super) const TRACE_WANTED: usize = 1 << 0;
pub(super) const DEBUG_WANTED: usize = 1 << 1;
pub(super) const INFO_WANTED: usize = 1 << 2;
pub(super) const WARN_WANTED: usize = 1 << 3;
/// The probes are not registered yet: every event takes the slow path, which registers them.
pub(super) const UNKNOWN: usize = 1 << 4;
/// A transition listener is registered ([`on_transition`](super::on_transition)): every
/// breaker transition is delivered.
pub(super) const TRANSITIONS: usize = 1 << 5;
pub(super) const SUBSCRIPTION_SHIFT: u32 = 8;
/// A count of subscriptions in any of these bits means someone subscribes.
pub(super) const SUBSCRIBED: usize = !0 << SUBSCRIPTION_SHIFT;

/// Whether anyone subscribes: one relaxed load.
#[inline]
pub(super) fn subscribed() -> bool {
    WANTED.load(Relaxed) & SUBSCRIBED != 0
}

/// The `tracing` level of an event of kind `what` (see [`emit`]).
#[inline(always)]
pub(super) const fn level(what: &EventKind) -> tracing::Level {
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
/// interested in events of its level from this module (as told to the `Probe` of that
/// level), `log` (when `tracing`'s `log` feature forwards events there and no `tracing`
/// subscriber is set), or the metrics hook. A subscriber that would take one of the events
/// is interested in its level's probe (same target, module, file and field names; see
/// `Probe` for the filters it cannot stand in for); when every test is false, nothing is
/// built or called.
#[inline(always)]
pub(super) fn wanted(what: &EventKind) -> bool {
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
    // A transition also reaches the transition listeners (a constant for every other kind).
    let mask = if matches!(what, EventKind::StateTransition { .. }) {
        mask | TRANSITIONS
    } else {
        mask
    };
    WANTED.load(Relaxed) & mask != 0
        // `tracing`'s own test (hidden, but what every `tracing` event macro expands to):
        // `false` unless `tracing` forwards to `log`, which it does while no subscriber is set.
        || tracing::if_log_enabled! { level, { true } else { false } }
        || metrics_takes(what)
}

/// Whether the metrics sink takes events of kind `what` (never without feature `metrics`).
#[inline(always)]
const fn metrics_takes(what: &EventKind) -> bool {
    #[cfg(feature = "metrics")]
    return super::metrics::takes(what);
    #[cfg(not(feature = "metrics"))]
    {
        let _ = what;
        false
    }
}
