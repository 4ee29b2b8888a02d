//! Breaker state shared beyond the process: the seams a fleet's shared state plugs into.
//!
//! A breaker decides alone, from its own calls, with its state in one atomic word. When several
//! processes call the same dependency, what one of them learns can spare the others: that the
//! dependency is down (open until T), that it is back (closed), and which one of them should
//! probe it. Three seams, none of which puts anything remote on a call's path:
//!
//! - **Transitions out**: every transition is an [`Event`](crate::Event) of kind
//!   [`StateTransition`](crate::EventKind::StateTransition), delivered through the events'
//!   sinks; [`event::on_transition`](crate::event::on_transition) adds a sink that takes every
//!   transition even when nobody subscribes or logs. A shared store publishes them.
//! - **State in**: [`CircuitBreaker::adopt_open_for`] opens the breaker as if it had tripped
//!   itself, until a time another process decided; [`CircuitBreaker::adopt_closed`] closes it
//!   as a probe elsewhere decided. Both act on the automatic states only: a breaker forced open,
//!   disabled or in metrics-only mode by an operator stays so.
//! - **Probes**: [`CircuitBreaker::gate_probes`] makes each would-be probe ask a [`ProbeGate`]
//!   first, at once and without waiting (a store elects one prober for the fleet and tells each
//!   process whether it is the one); a call the gate refuses is rejected as when every probe
//!   slot is taken. Whether a gate is set is one relaxed load, on the not-closed path only.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::CircuitBreaker;
use crate::clock::ticks;

/// Whether this process may send a probe call to a half-open breaker's dependency now.
pub trait ProbeGate: Send + Sync + 'static {
    /// Whether a call to breaker `breaker` (its registry name) may be a probe. Answers at once,
    /// from what it knows (a lease it holds); it must not wait.
    fn may_probe(&self, breaker: &'static str) -> bool;
}

/// Every gate set on a breaker, in order; a breaker holds its gate's index + 1.
static GATES: Mutex<Vec<&'static dyn ProbeGate>> = Mutex::new(Vec::new());

/// A breaker's gate: 0 for none, else 1 + its index in [`GATES`].
#[derive(Debug)]
pub(super) struct Gate(AtomicUsize);

impl Gate {
    pub(super) const fn new() -> Self {
        Gate(AtomicUsize::new(0))
    }

    /// Whether a gate is set (a fleet backend shares the breaker).
    pub(super) fn is_set(&self) -> bool {
        // Relaxed: see `may_probe`.
        self.0.load(Relaxed) != 0
    }

    /// Whether a call to `breaker` may be a probe: yes without a gate.
    pub(super) fn may_probe(&self, breaker: &'static str) -> bool {
        // Relaxed: a setting; a call racing a change of gate asks the old one or none.
        let Some(index) = self.0.load(Relaxed).checked_sub(1) else {
            return true;
        };
        let gate = GATES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(index)
            .copied();
        gate.is_none_or(|gate| gate.may_probe(breaker))
    }
}

impl CircuitBreaker {
    /// Opens the breaker for `remaining` from now, as if it had tripped itself: an open state
    /// another process decided (see [`fleet`](crate::circuit_breaker::fleet)). Acts on the automatic
    /// states only (closed, open, half-open); an open breaker keeps the later of its own
    /// deadline and this one, and one opening at this very instant keeps its own. The
    /// transition is an event like every other. Returns whether the breaker is now open for
    /// at least `remaining`.
    pub fn adopt_open_for(&self, remaining: Duration) -> bool {
        let now = self.clock.now();
        self.core
            .adopt_open(now.saturating_add(ticks(remaining)), now)
    }

    /// How long the breaker stays open from now: the wait another process would adopt
    /// ([`adopt_open_for`](Self::adopt_open_for)); `None` when it is not open (a breaker forced
    /// open by hand has no end).
    pub fn open_remaining(&self) -> Option<Duration> {
        let now = self.clock.now();
        self.core
            .open_until(now)
            .map(|until| Duration::from_nanos(until.saturating_sub(now)))
    }

    /// Closes the breaker with an empty window, as a probe in another process decided. Acts
    /// on open and half-open breakers; one set by hand stays as it is. Returns whether the
    /// breaker is closed.
    pub fn adopt_closed(&self) -> bool {
        self.core.adopt_closed()
    }

    /// Makes each call that would be a probe (the first after the open wait, and every
    /// half-open one) ask `gate` first; see [`ProbeGate`].
    pub fn gate_probes(&self, gate: &'static dyn ProbeGate) {
        let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
        gates.push(gate);
        // Relaxed: see `Gate::may_probe`.
        self.gate.0.store(gates.len(), Relaxed);
    }

    /// Lets every would-be probe through again, as built.
    pub fn ungate_probes(&self) {
        // Relaxed: see `Gate::may_probe`.
        self.gate.0.store(0, Relaxed);
    }
}
