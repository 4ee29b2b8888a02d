//! The metrics sink (feature `metrics`): the histograms recorded as events happen, named as
//! resilience4j's Micrometer metrics (the table is in [`registry::metrics`]). Counters and
//! gauges are read from the policies' own atomics when exported, not here.
//!
//! [`registry::metrics`]: crate::registry::metrics

use metrics::histogram;

use super::{Event, EventKind, PolicyKind};

/// Whether this sink takes events of kind `what`: only these two, both off the success path.
#[inline(always)]
pub(super) const fn takes(what: &EventKind) -> bool {
    matches!(what, EventKind::Retry { .. } | EventKind::Slow { .. })
}

/// The sink: a retry's wait and a slow call's duration, tagged with the policy's name (a
/// keyed child is tagged with its family's name, so the tags stay bounded).
pub(super) fn sink(event: &Event) {
    match (event.kind, event.what) {
        (PolicyKind::Retry, EventKind::Retry { delay, .. }) => {
            histogram!("resilience4j.retry.wait.duration", "name" => event.policy)
                .record(delay.as_secs_f64());
        }
        (PolicyKind::CircuitBreaker, EventKind::Slow { elapsed }) => {
            histogram!("resilience4j.circuitbreaker.slow.call.duration", "name" => event.policy)
                .record(elapsed.as_secs_f64());
        }
        _ => {}
    }
}
