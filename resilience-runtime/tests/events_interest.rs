//! Events reach `tracing` subscribers set at any time, and only at the levels they take: the
//! breaker's one-load test of whether anyone wants an event follows changes of subscriber.
//!
//! Its own process (an integration test file), so no other test's subscriber is in the way.

#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::fmt;
use std::sync::{Arc, Mutex};

use resilience_runtime::{CircuitBreaker, Failure};
use tracing::field::{Field, Visit};
use tracing::metadata::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};

/// Records the `event` field of every event from `resilience` at `level` or above.
struct Recorder {
    level: Level,
    seen: Arc<Mutex<Vec<String>>>,
}

struct EventName(Option<String>);

impl Visit for EventName {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "event" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

impl tracing::Subscriber for Recorder {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.level))
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "resilience" && *metadata.level() <= self.level
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut name = EventName(None);
        event.record(&mut name);
        self.seen.lock().unwrap().extend(name.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn recorder(level: Level) -> (Recorder, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        level,
        seen: Arc::clone(&seen),
    };
    (recorder, seen)
}

async fn succeed(b: &CircuitBreaker) {
    b.call(async { Ok::<_, Failure<()>>(()) }).await.unwrap();
}

#[tokio::test]
async fn events_reach_subscribers_set_after_the_first_calls_at_the_levels_they_take() {
    let b = CircuitBreaker::builder("late")
        .consecutive_failures(1)
        .build()
        .unwrap();
    // No subscriber yet: the first event finds nobody.
    succeed(&b).await;

    // A subscriber taking every level, set for this thread (the runtime's only one).
    let (everything, seen) = recorder(Level::TRACE);
    let guard = tracing::subscriber::set_default(everything);
    succeed(&b).await;
    drop(guard);
    assert_eq!(*seen.lock().unwrap(), ["success"]);

    // One taking WARN and above: a success (TRACE) is not sent, the opening (WARN) is.
    let (warnings, seen) = recorder(Level::WARN);
    let guard = tracing::subscriber::set_default(warnings);
    succeed(&b).await;
    let _ = b.call(async { Err::<(), _>(Failure::Error(())) }).await;
    drop(guard);
    assert_eq!(*seen.lock().unwrap(), ["state_transition"]);

    // One taking DEBUG and above: the rejection by the open breaker (DEBUG) is sent, and the
    // closing by hand (INFO); a success after it (TRACE) is not.
    let (debug, seen) = recorder(Level::DEBUG);
    let guard = tracing::subscriber::set_default(debug);
    let _ = b
        .call(async { Ok::<_, Failure<()>>(()) })
        .await
        .unwrap_err();
    b.close();
    succeed(&b).await;
    drop(guard);
    assert_eq!(*seen.lock().unwrap(), ["rejected", "state_transition"]);
}
