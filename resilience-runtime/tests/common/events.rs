//! A recorder of the framework's `tracing` events, for tests that assert on them.
//!
//! [`install`] makes it the process-wide subscriber, installed once before any test emits an
//! event: `tracing` caches each event site's interest when the site is first hit, so a
//! subscriber installed later, or for one thread only, can miss events that other tests'
//! threads hit first. [`scoped`] makes one for the current thread, for the tests (each in its
//! own process) of how events reach such subscribers.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;

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

/// Records the events from `resilience` at `level` or above, of one policy or of all.
pub struct Recorder {
    level: tracing::Level,
    policy: Option<&'static str>,
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn new(level: tracing::Level, policy: Option<&'static str>) -> Arc<Recorder> {
        Arc::new(Recorder {
            level,
            policy,
            events: Mutex::new(Vec::new()),
        })
    }

    /// The events recorded since the last call, oldest first.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().expect("not poisoned"))
    }

    /// The `event` field (`success`, `rejected`, ...) of each event recorded since the last
    /// call, oldest first.
    pub fn take_names(&self) -> Vec<String> {
        self.take()
            .iter()
            .map(|e| e.str("event").to_owned())
            .collect()
    }
}

static RECORDER: OnceLock<Arc<Recorder>> = OnceLock::new();

/// Installs the recorder of the events of the policy named `policy`; later calls do nothing.
pub fn install(policy: &'static str) {
    RECORDER.get_or_init(|| {
        let recorder = Recorder::new(tracing::Level::TRACE, Some(policy));
        tracing::subscriber::set_global_default(Sink(Arc::clone(&recorder)))
            .expect("no other global subscriber");
        recorder
    });
}

/// The events recorded since the last call, oldest first.
pub fn take() -> Vec<Event> {
    RECORDER.get().map(|r| r.take()).unwrap_or_default()
}

/// A recorder of every policy's events at `level` or above, the subscriber of this thread
/// until the guard is dropped (`tracing::subscriber::set_default`).
pub fn scoped(level: tracing::Level) -> (tracing::subscriber::DefaultGuard, Arc<Recorder>) {
    let recorder = Recorder::new(level, None);
    let guard = tracing::subscriber::set_default(Sink(Arc::clone(&recorder)));
    (guard, recorder)
}

/// The subscriber itself: forwards to its [`Recorder`].
struct Sink(Arc<Recorder>);

impl tracing::Subscriber for Sink {
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.0.level))
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "resilience" && *metadata.level() <= self.0.level
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut recorded = Event::default();
        event.record(&mut recorded);
        if self.0.policy.is_none_or(|p| recorded.str("policy") == p) {
            self.0.events.lock().expect("not poisoned").push(recorded);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
