//! A subscriber set for one thread gets the events of its thread even when another thread,
//! without a subscriber, emitted the process's first event (which registers the framework's
//! `tracing` probes, and with a single subscriber `tracing` asks the registering thread's).
//!
//! The first event is a rejection, the later one a success: `tracing` itself decides each
//! event site's interest on the thread that first reaches it, so a success reached first on
//! the other thread would be lost to this subscriber whatever the framework did.
//!
//! Its own process (an integration test file): the first event of the process is the point.

#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::fmt;
use std::sync::{Arc, Mutex};

use resilience_runtime::{CircuitBreaker, Failure};
use tracing::field::{Field, Visit};

/// Records the `event` field of every event from `resilience`.
struct Recorder(Arc<Mutex<Vec<String>>>);

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
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "resilience"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut name = EventName(None);
        event.record(&mut name);
        self.0.lock().unwrap().extend(name.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

static BREAKER: CircuitBreaker = match CircuitBreaker::builder("scoped").build() {
    Ok(b) => b,
    Err(_) => panic!("valid"),
};

fn call() -> Result<(), Failure<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(BREAKER.call(async { Ok::<_, Failure<()>>(()) }))
}

#[test]
fn a_thread_subscriber_gets_its_events_after_another_thread_emitted_the_first() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Recorder(Arc::clone(&seen)));
    // The first events of the process, on a thread without a subscriber: the breaker forced
    // open, and a rejection.
    std::thread::spawn(|| {
        BREAKER.force_open();
        call()
    })
    .join()
    .unwrap()
    .unwrap_err();
    BREAKER.close();
    seen.lock().unwrap().clear(); // the closing by hand, on this thread
    call().unwrap();
    assert_eq!(*seen.lock().unwrap(), ["success"]);
}
