//! The transition listeners' sink: functions that take every circuit breaker transition, even
//! when nobody subscribes or logs. What a store shared by a fleet of processes registers, to
//! publish each breaker's state to the others (see [`crate::circuit_breaker::fleet`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{PoisonError, RwLock};

use super::wanted::{TRANSITIONS, WANTED};
use super::{Event, EventKind};

/// A function told of every transition.
type Listener = Box<dyn Fn(&Event) + Send + Sync>;

static LISTENERS: RwLock<Vec<Listener>> = RwLock::new(Vec::new());

/// Calls `listener` with every circuit breaker transition ([`EventKind::StateTransition`]) of
/// every breaker, from now on, on the thread of the call that made it. It must be quick and
/// must not block: hand the event on (to a channel, a task) and return.
///
/// Listeners stay for the life of the process. Other events cost nothing more for them: only a
/// transition reads the listeners.
pub fn on_transition(listener: impl Fn(&Event) + Send + Sync + 'static) {
    LISTENERS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Box::new(listener));
    // Relaxed: a hint, as the subscription count; a transition racing with the registration
    // may be missed, as it would be a moment earlier.
    WANTED.fetch_or(TRANSITIONS, Relaxed);
}

/// The sink: a transition goes to every listener.
pub(super) fn sink(event: &Event) {
    if !matches!(event.what, EventKind::StateTransition { .. })
        || WANTED.load(Relaxed) & TRANSITIONS == 0
    {
        return;
    }
    for listener in LISTENERS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        listener(event);
    }
}
