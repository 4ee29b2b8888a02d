//! Records the circuit breaker's state transitions, with their times, from the `tracing`
//! events every policy emits: the tour reads the same events a user's subscriber would.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One state transition of a breaker.
#[derive(Clone, Debug)]
pub struct Transition {
    /// Since the tour's start.
    pub at: Duration,
    pub to: String,
}

/// The transitions seen so far.
#[derive(Clone, Default)]
pub struct Transitions(Arc<Mutex<Vec<Transition>>>);

impl Transitions {
    pub fn take(&self) -> Vec<Transition> {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// A subscriber that keeps `state_transition` events and nothing else.
struct Recorder {
    start: Instant,
    log: Transitions,
}

/// Installs the recorder as the global subscriber; times count from `start` (which may be a
/// little in the future: earlier events read as 0).
pub fn install(start: Instant) -> Transitions {
    let log = Transitions::default();
    let recorder = Recorder {
        start,
        log: log.clone(),
    };
    // Fails only if a subscriber is already set, which this program never does.
    let _ = tracing::subscriber::set_global_default(recorder);
    log
}

#[derive(Default)]
struct Fields {
    event: String,
    to: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "event" => self.event = value.to_owned(),
            "to" => self.to = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Transitions are INFO (WARN when opening); everything busier stays off and costs a
        // level check.
        metadata.target() == "resilience" && *metadata.level() <= Level::INFO
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.event == "state_transition" {
            let at = Instant::now().saturating_duration_since(self.start);
            if let Ok(mut log) = self.log.0.lock() {
                log.push(Transition { at, to: fields.to });
            }
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
