//! The circuit breaker's seams for state shared beyond the process: adopting an open or closed
//! state decided elsewhere, a gate on who probes, and listeners of every transition; in
//! virtual time.

#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::circuit_breaker::fleet::ProbeGate;
use resilience_runtime::event::{self, EventKind};
use resilience_runtime::{CircuitBreaker, ErrorKind, Failure, State};

#[derive(Debug)]
struct Boom;

type Outcome = Result<u32, Failure<Boom>>;

const SECOND: Duration = Duration::from_secs(1);

fn breaker(name: &'static str) -> &'static CircuitBreaker {
    let b = CircuitBreaker::builder(name)
        .consecutive_failures(1)
        .open(30 * SECOND)
        .half_open(1)
        .build()
        .unwrap();
    Box::leak(Box::new(b))
}

async fn succeed(b: &CircuitBreaker) -> Outcome {
    b.call(async { Ok(1) }).await
}

async fn fail(b: &CircuitBreaker) -> Outcome {
    b.call(async { Err(Failure::Error(Boom)) }).await
}

fn retry_after(outcome: Outcome) -> Option<Duration> {
    match outcome {
        Err(Failure::Rejected(e)) => {
            assert_eq!(e.kind(), ErrorKind::CircuitOpen);
            e.retry_after()
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_adopted_open_state_rejects_until_its_end_then_probes_as_usual() {
    let b = breaker("fleet/adopt-open");
    assert!(succeed(b).await.is_ok());
    assert!(b.adopt_open_for(10 * SECOND));
    assert_eq!(b.state(), State::Open);
    assert_eq!(retry_after(succeed(b).await), Some(10 * SECOND));
    tokio::time::advance(10 * SECOND).await;
    // The wait another process decided is over: the next call probes, and closes it.
    assert!(succeed(b).await.is_ok());
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_keeps_the_later_deadline() {
    let b = breaker("fleet/later");
    assert!(fail(b).await.is_err());
    // Its own wait is 30s: a shorter one from elsewhere changes nothing.
    assert!(b.adopt_open_for(5 * SECOND));
    assert_eq!(retry_after(succeed(b).await), Some(30 * SECOND));
    // A longer one extends it.
    assert!(b.adopt_open_for(60 * SECOND));
    assert_eq!(retry_after(succeed(b).await), Some(60 * SECOND));
    // No time at all is not an open state.
    assert!(!b.adopt_open_for(Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_state_set_by_hand_is_not_overridden_from_elsewhere() {
    let b = breaker("fleet/by-hand");
    b.disable();
    assert!(!b.adopt_open_for(10 * SECOND));
    assert_eq!(b.state(), State::Disabled);
    b.force_open();
    assert!(!b.adopt_closed());
    assert_eq!(b.state(), State::ForcedOpen);
    b.close();
    assert!(b.adopt_closed());
}

#[tokio::test(start_paused = true)]
async fn an_adopted_close_ends_the_open_wait_at_once() {
    let b = breaker("fleet/adopt-closed");
    assert!(fail(b).await.is_err());
    assert_eq!(b.state(), State::Open);
    assert!(b.adopt_closed());
    assert_eq!(b.state(), State::Closed);
    assert!(succeed(b).await.is_ok());
    // The window starts empty: one failure trips it as from new.
    assert!(fail(b).await.is_err());
    assert_eq!(b.state(), State::Open);
}

/// A gate that lets probes through while `open` is set.
struct Switch(AtomicBool);

impl ProbeGate for Switch {
    fn may_probe(&self, breaker: &'static str) -> bool {
        assert_eq!(breaker, "fleet/gated");
        self.0.load(Relaxed)
    }
}

#[tokio::test(start_paused = true)]
async fn a_gate_decides_which_calls_may_probe() {
    let gate: &'static Switch = Box::leak(Box::new(Switch(AtomicBool::new(false))));
    let b = breaker("fleet/gated");
    b.gate_probes(gate);
    // Closed: the gate is not asked (it would refuse).
    assert!(succeed(b).await.is_ok());
    assert!(fail(b).await.is_err());
    tokio::time::advance(30 * SECOND).await;
    // The wait is over, but another process probes: this one is rejected and stays open.
    assert_eq!(retry_after(succeed(b).await), None);
    assert_eq!(b.state(), State::Open);
    // Elected: its next call probes and closes it.
    gate.0.store(true, Relaxed);
    assert!(succeed(b).await.is_ok());
    assert_eq!(b.state(), State::Closed);
    // Without a gate, probes go as built.
    b.ungate_probes();
    gate.0.store(false, Relaxed);
    assert!(fail(b).await.is_err());
    tokio::time::advance(30 * SECOND).await;
    assert!(succeed(b).await.is_ok());
}

/// A transition a listener heard: the breaker, from, to.
type Heard = (&'static str, State, State);

#[tokio::test(start_paused = true)]
async fn transition_listeners_hear_every_transition_and_nothing_else() {
    let heard: Arc<Mutex<Vec<Heard>>> = Arc::default();
    let sink = Arc::clone(&heard);
    // No subscription, no `tracing` subscriber: the listener alone wants transitions.
    event::on_transition(move |e| {
        if e.policy != "fleet/listened" {
            return;
        }
        match e.what {
            EventKind::StateTransition { from, to } => {
                sink.lock().unwrap().push((e.policy, from, to))
            }
            other => panic!("a listener heard {other:?}"),
        }
    });
    let b = breaker("fleet/listened");
    assert!(succeed(b).await.is_ok());
    assert!(fail(b).await.is_err());
    tokio::time::advance(30 * SECOND).await;
    assert!(succeed(b).await.is_ok());
    assert!(b.adopt_open_for(SECOND));
    assert_eq!(
        *heard.lock().unwrap(),
        [
            ("fleet/listened", State::Closed, State::Open),
            ("fleet/listened", State::Open, State::HalfOpen),
            ("fleet/listened", State::HalfOpen, State::Closed),
            ("fleet/listened", State::Closed, State::Open),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn open_remaining_is_the_wait_left_and_none_unless_open() {
    let b = breaker("fleet/open-remaining");
    assert_eq!(b.open_remaining(), None, "closed");
    assert!(fail(b).await.is_err());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.open_remaining(), Some(30 * SECOND));
    tokio::time::advance(12 * SECOND).await;
    assert_eq!(b.open_remaining(), Some(18 * SECOND));
    tokio::time::advance(20 * SECOND).await;
    assert_eq!(b.open_remaining(), Some(Duration::ZERO), "the wait is over");
    // Another process's wait, adopted, is what it reports.
    b.force_open();
    assert_eq!(b.open_remaining(), None, "forced open has no end");
    b.reset();
    assert!(b.adopt_open_for(5 * SECOND));
    assert_eq!(b.open_remaining(), Some(5 * SECOND));
}
