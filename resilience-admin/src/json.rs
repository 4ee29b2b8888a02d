//! What the endpoints answer, as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use resilience_runtime::registry::{Metrics, PolicySnapshot, Snapshot};
use resilience_runtime::{Event, EventKind};
use serde_json::{Map, Value, json};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `GET /policies`.
pub(crate) fn snapshot(snapshot: &Snapshot, draining: bool) -> Value {
    let policies: Vec<Value> = snapshot.policies.iter().map(policy).collect();
    json!({ "draining": draining, "policies": policies })
}

/// One policy: its kind, state, the figures every kind shares (`null` where it has none) and
/// its settings as in the attributes.
pub(crate) fn policy(p: &PolicySnapshot) -> Value {
    let settings: Map<String, Value> = p
        .settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let slow_rate = match &p.metrics {
        Metrics::CircuitBreaker(m) => m.slow_rate,
        _ => None,
    };
    json!({
        "name": p.name,
        "kind": p.kind.as_str(),
        "state": p.state().map(|s| s.as_str()),
        "calls": p.calls(),
        "successes": p.successes(),
        "failures": p.failures(),
        "rejections": p.rejections(),
        "slow": p.slow(),
        "failure_rate": p.failure_rate(),
        "slow_rate": slow_rate,
        "retries": p.retries(),
        "in_use": p.in_use(),
        "queued": p.queued(),
        "available": p.available(),
        "limit": p.limit(),
        "keys": p.keys(),
        "settings": settings,
    })
}

/// One event of the stream.
pub(crate) fn event(event: &Event, at: u64) -> Value {
    let mut v = json!({
        "policy": event.policy,
        "key": event.key.map(|k| k.to_string()),
        "kind": event.kind.as_str(),
        "what": event.what.as_str(),
        "at": at,
    });
    let extra = match event.what {
        EventKind::Rejected { reason } => json!({ "reason": reason.as_str() }),
        EventKind::StateTransition { from, to } => {
            json!({ "from": from.as_str(), "to": to.as_str() })
        }
        EventKind::Switched { on } => json!({ "on": on }),
        EventKind::Attempt { attempt } => json!({ "attempt": attempt }),
        EventKind::Hedged { attempt } => json!({ "attempt": attempt }),
        EventKind::LimitChanged { from, to } => json!({ "from": from, "to": to }),
        EventKind::Retry { attempt, delay } => {
            json!({ "attempt": attempt, "delay_ms": millis(delay) })
        }
        EventKind::GaveUp { attempts } => json!({ "attempts": attempts }),
        EventKind::TimedOut { after } => json!({ "after_ms": millis(after) }),
        EventKind::Slow { elapsed } => json!({ "elapsed_ms": millis(elapsed) }),
        EventKind::FallbackUsed { rejection } => {
            json!({ "rejection": rejection.map(|r| r.as_str()) })
        }
        EventKind::Injected { injection } => json!({ "injection": injection.as_str() }),
        _ => Value::Null,
    };
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An error's body: `{"error": "..."}`.
pub(crate) fn error(message: impl std::fmt::Display) -> Value {
    json!({ "error": message.to_string() })
}
