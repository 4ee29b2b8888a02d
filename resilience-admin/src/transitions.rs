//! The breakers' transitions of the last minutes, kept from the moment the first admin router
//! is built (through `event::on_transition`, which costs the calls nothing: only a transition
//! reads it).

use std::collections::VecDeque;
use std::sync::{Mutex, Once, PoisonError};

use resilience_runtime::event::on_transition;
use resilience_runtime::{Event, EventKind};
use serde_json::{Value, json};

use crate::json::now_ms;

/// How far back the list goes.
pub(crate) const KEEP_MS: u64 = 10 * 60 * 1000;
/// The most it holds, whatever the time (a flapping breaker).
pub(crate) const MOST: usize = 512;

struct Transition {
    policy: &'static str,
    key: Option<String>,
    from: &'static str,
    to: &'static str,
    at: u64,
}

static RECENT: Mutex<VecDeque<Transition>> = Mutex::new(VecDeque::new());
static LISTENING: Once = Once::new();

/// Starts keeping transitions (once per process).
pub(crate) fn listen() {
    LISTENING.call_once(|| on_transition(record));
}

fn record(event: &Event) {
    if let EventKind::StateTransition { from, to } = event.what {
        let transition = Transition {
            policy: event.policy,
            key: event.key.map(|k| k.to_string()),
            from: from.as_str(),
            to: to.as_str(),
            at: now_ms(),
        };
        let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == MOST {
            recent.pop_front();
        }
        recent.push_back(transition);
    }
}

/// `GET /transitions`: the last ten minutes', oldest first.
pub(crate) fn recent() -> Value {
    let since = now_ms().saturating_sub(KEEP_MS);
    let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
    while recent.front().is_some_and(|t| t.at < since) {
        recent.pop_front();
    }
    let list: Vec<Value> = recent
        .iter()
        .map(
            |t| json!({ "policy": t.policy, "key": t.key, "from": t.from, "to": t.to, "at": t.at }),
        )
        .collect();
    json!({ "transitions": list })
}
