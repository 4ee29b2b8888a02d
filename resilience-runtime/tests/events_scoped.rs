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

mod common;

use resilience_runtime::{CircuitBreaker, Failure};
use tracing::Level;

use common::events::scoped;

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
    let (_guard, recorder) = scoped(Level::TRACE);
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
    recorder.take(); // the closing by hand, on this thread
    call().unwrap();
    assert_eq!(recorder.take_names(), ["success"]);
}
