//! `#[tracing::instrument]` beside a stack: below the stack it wraps the whole stack (a span
//! per call); above it, it wraps the body before the stack does (a span per attempt). Rust
//! expands the top attribute first, and a stack takes only resilience attributes into itself.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ApiError, Calls};
use resilience::{retry, timeout};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Counts the spans created, by name.
#[derive(Default)]
struct SpanNames {
    next: AtomicU64,
    names: Mutex<Vec<&'static str>>,
}

impl Subscriber for &'static SpanNames {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.names.lock().unwrap().push(span.metadata().name());
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

static PER_CALL: Calls = Calls::new();

#[retry(attempts = 3, backoff = fixed(10ms))]
#[timeout(1s)]
#[tracing::instrument(name = "per_call")]
async fn span_per_call() -> Result<u32, ApiError> {
    if PER_CALL.hit() < 3 {
        return Err(ApiError::Down);
    }
    Ok(1)
}

static PER_ATTEMPT: Calls = Calls::new();

#[tracing::instrument(name = "per_attempt")]
#[retry(attempts = 3, backoff = fixed(10ms))]
#[timeout(1s)]
async fn span_per_attempt() -> Result<u32, ApiError> {
    if PER_ATTEMPT.hit() < 3 {
        return Err(ApiError::Down);
    }
    Ok(1)
}

fn spans_of(call: impl Future<Output = Result<u32, ApiError>>) -> Vec<&'static str> {
    let names: &'static SpanNames = Box::leak(Box::default());
    let _guard = tracing::subscriber::set_default(names);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(call), Ok(1));
    names.names.lock().unwrap().clone()
}

#[test]
fn instrument_below_a_stack_opens_one_span_per_call() {
    assert_eq!(spans_of(span_per_call()), ["per_call"]);
    assert_eq!(PER_CALL.get(), 3);
}

#[test]
fn instrument_above_a_stack_opens_one_span_per_attempt() {
    assert_eq!(
        spans_of(span_per_attempt()),
        ["per_attempt", "per_attempt", "per_attempt"]
    );
    assert_eq!(PER_ATTEMPT.get(), 3);
}
