//! The `tracing` sink: every event as a `tracing` event with structured fields, and the
//! probes that tell [`WANTED`](super::wanted) which levels `tracing` would take.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::FieldSet;
use tracing::level_filters::LevelFilter;
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};

use super::wanted::{DEBUG_WANTED, INFO_WANTED, TRACE_WANTED, UNKNOWN, WANTED, WARN_WANTED};
use super::{Event, EventKind};
use crate::state::State;

/// A `tracing` callsite that never fires: registered once per level, it is told by `tracing`
/// (through [`Callsite::set_interest`]) whether the subscribers would take an event at its
/// level from this module, each time that changes: when a subscriber is set, globally or for
/// a scope, and when filters are reloaded. So `wanted` reads one word of ours instead of
/// `tracing`'s maximum level and our subscription count, behind two more pointers.
///
/// Its metadata is that of the events [`sink`] sends (target `resilience`, this module
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

/// The field names of every event [`sink`] sends.
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

/// The sink: registers the probes on the first event, then sends the event to `tracing`,
/// whose own filters decide.
pub(super) fn sink(event: &Event) {
    if WANTED.load(Relaxed) & UNKNOWN != 0 {
        register_probes();
    }
    let Event {
        policy, kind, what, ..
    } = *event;
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
        EventKind::Switched { on } => {
            tracing::info!(target: "resilience", policy, kind = k, event = name, on,
                "toggle switched")
        }
        EventKind::Retry { attempt, delay } => {
            tracing::debug!(target: "resilience", policy, kind = k, event = name, attempt, ?delay)
        }
        _ => tracing::debug!(target: "resilience", policy, kind = k, event = name, ?what),
    }
}
