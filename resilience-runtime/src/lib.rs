//! The runtime of the `resilience` framework: the policies, their events and errors.
//!
//! Every policy is usable from plain Rust: build it (the builders are `const`, so a policy can
//! live in a `static`), then pass it the future to protect. Every `call` takes a future of
//! `Result<T, Failure<E>>` and returns one, so policies nest, and a rejection keeps its kind
//! ([`ErrorKind`]) until the outermost layer turns it into the caller's error type with
//! [`Failure::into_error`]:
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{CircuitBreaker, Failure, Timeout};
//!
//! static BREAKER: CircuitBreaker = match CircuitBreaker::builder("inventory")
//!     .threshold(50.0)
//!     .open(Duration::from_secs(30))
//!     .build()
//! {
//!     Ok(breaker) => breaker,
//!     Err(_) => panic!("invalid circuit breaker"),
//! };
//! static TIMEOUT: Timeout = match Timeout::builder("inventory/timeout")
//!     .duration(Duration::from_millis(800))
//!     .build()
//! {
//!     Ok(timeout) => timeout,
//!     Err(_) => panic!("invalid timeout"),
//! };
//!
//! # #[derive(Debug)] struct StockError;
//! # async fn query_stock(_sku: &str) -> Result<u32, StockError> { Ok(3) }
//! async fn stock(sku: &str) -> Result<u32, Failure<StockError>> {
//!     BREAKER.call(TIMEOUT.call(async { Ok(query_stock(sku).await?) })).await
//! }
//! # #[tokio::main(flavor = "current_thread")] async fn main() { assert_eq!(stock("a").await.unwrap(), 3); }
//! ```
//!
//! Time comes from `tokio::time`: every policy runs in virtual time under
//! `#[tokio::test(start_paused = true)]`.

#![deny(missing_docs)]
// Under loom only the cores are built, and the tests that model-check them use what they need.
#![cfg_attr(resilience_loom, allow(dead_code, unused_imports))]

mod error;
pub mod event;
mod sync;

// Under `--cfg resilience_loom` only the lock-free cores are built, on loom's atomics, for the
// model-checking tests (`cargo test --lib loom`, run by `.ci/run`): the policies around them are
// built in `const` contexts, where loom's atomics cannot be.
#[cfg(resilience_loom)]
mod bulkhead {
    mod core;
}
#[cfg(resilience_loom)]
mod circuit_breaker {
    mod core;
    mod state;
    mod window;
    mod word;
    pub use state::State;
}
#[cfg(resilience_loom)]
mod rate_limiter {
    mod gcra;
}

#[cfg(not(resilience_loom))]
pub mod bulkhead;
#[cfg(not(resilience_loom))]
pub mod circuit_breaker;
#[cfg(not(resilience_loom))]
mod clock;
#[cfg(not(resilience_loom))]
pub mod fallback;
#[cfg(not(resilience_loom))]
mod guard;
#[cfg(not(resilience_loom))]
pub mod rate_limiter;
#[cfg(not(resilience_loom))]
pub mod retry;
#[cfg(not(resilience_loom))]
pub mod timeout;

#[cfg(not(resilience_loom))]
pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadMetrics, MAX_BULKHEAD_SLOTS};
#[cfg(not(resilience_loom))]
pub use circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerMetrics};
#[cfg(not(resilience_loom))]
pub use circuit_breaker::{Classification, State};
pub use error::{ConfigError, Error, ErrorKind, Failure};
pub use event::{EventKind, PolicyKind};
#[cfg(not(resilience_loom))]
pub use fallback::fallback;
#[cfg(not(resilience_loom))]
pub use rate_limiter::{RateLimiter, RateLimiterBuilder, RateLimiterMetrics};
#[cfg(not(resilience_loom))]
pub use retry::{Attempts, Backoff, Jitter, Retry, RetryBuilder};
#[cfg(not(resilience_loom))]
pub use timeout::{Timeout, TimeoutBuilder, TimeoutFuture};
