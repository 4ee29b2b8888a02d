//! The metrics sink (feature `metrics`): the histograms recorded as events happen, named as
//! resilience4j's Micrometer metrics (the table is in [`registry::metrics`]). Counters and
//! gauges are read from the policies' own atomics when exported, not here.
//!
//! [`registry::metrics`]: crate::registry::metrics

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use metrics::histogram;

use super::{Event, EventKind, PolicyKind};

/// Whether a keyed child's series carry its key (`registry::metrics::tag_keys`): off unless
/// the program opts in, because a tag per key makes as many series as a family has keys.
static KEY_TAGS: AtomicBool = AtomicBool::new(false);

/// Turns the key tags on or off.
pub(crate) fn set_key_tags(on: bool) {
    KEY_TAGS.store(on, Relaxed);
}

/// Whether keyed children's series carry their key.
pub(crate) fn key_tags() -> bool {
    KEY_TAGS.load(Relaxed)
}

/// Whether this sink takes events of kind `what`: only these two, both off the success path.
#[inline(always)]
pub(super) const fn takes(what: &EventKind) -> bool {
    matches!(what, EventKind::Retry { .. } | EventKind::Slow { .. })
}

/// The sink: a retry's wait and a slow call's duration, tagged with the policy's name (a
/// keyed child is tagged with its family's name, so the tags stay bounded; with
/// [`key_tags`] on, also with its key).
pub(super) fn sink(event: &Event) {
    match (event.kind, event.what, event.key.filter(|_| key_tags())) {
        (PolicyKind::Retry, EventKind::Retry { delay, .. }, _) => {
            histogram!("resilience4j.retry.wait.duration", "name" => event.policy)
                .record(delay.as_secs_f64());
        }
        (PolicyKind::CircuitBreaker, EventKind::Slow { elapsed }, None) => {
            histogram!("resilience4j.circuitbreaker.slow.call.duration", "name" => event.policy)
                .record(elapsed.as_secs_f64());
        }
        (PolicyKind::CircuitBreaker, EventKind::Slow { elapsed }, Some(key)) => {
            histogram!(
                "resilience4j.circuitbreaker.slow.call.duration",
                "name" => event.policy,
                "key" => key.key()
            )
            .record(elapsed.as_secs_f64());
        }
        _ => {}
    }
}
