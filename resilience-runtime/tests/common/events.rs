//! A recorder of the framework's `tracing` events, for tests that assert on them.
//!
//! It is the process-wide subscriber, installed once before any test emits an event: `tracing`
//! caches each event site's interest when the site is first hit, so a subscriber installed
//! later, or for one thread only, can miss events that other tests' threads hit first.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};

/// One event of the recorded policy.
#[derive(Debug, Default)]
pub struct Event {
    /// The `str` fields (`policy`, `event`, `from`, `to`, ...), in the order they were written.
    strs: Vec<(&'static str, String)>,
    /// Every other field as ` name=value`, the value in its `Debug` form, in order.
    pub others: String,
}

impl Event {
    /// The `str` field `name`, or `""` when the event has none.
    pub fn str(&self, name: &str) -> &str {
        self.strs
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl Visit for Event {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.strs.push((field.name(), value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use fmt::Write;
        let _ = write!(self.others, " {}={value:?}", field.name());
    }
}

struct Recorder {
    policy: &'static str,
    events: Mutex<Vec<Event>>,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the recorder of the events of the policy named `policy`; later calls do nothing.
pub fn install(policy: &'static str) {
    RECORDER.get_or_init(|| {
        tracing::subscriber::set_global_default(Global).expect("no other global subscriber");
        Recorder {
            policy,
            events: Mutex::new(Vec::new()),
        }
    });
}

/// The events recorded since the last call, oldest first.
pub fn take() -> Vec<Event> {
    RECORDER
        .get()
        .map(|r| std::mem::take(&mut *r.events.lock().expect("not poisoned")))
        .unwrap_or_default()
}

/// The subscriber itself: forwards to [`RECORDER`].
struct Global;

impl tracing::Subscriber for Global {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "resilience"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let Some(recorder) = RECORDER.get() else {
            return;
        };
        let mut recorded = Event::default();
        event.record(&mut recorded);
        if recorded.str("policy") == recorder.policy {
            recorder.events.lock().expect("not poisoned").push(recorded);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
