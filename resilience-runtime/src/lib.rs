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

pub mod bulkhead;
pub mod circuit_breaker;
mod clock;
mod error;
pub mod event;
pub mod fallback;
mod guard;
pub mod rate_limiter;
pub mod retry;
pub mod timeout;

pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadMetrics, MAX_BULKHEAD_SLOTS};
pub use circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerMetrics};
pub use circuit_breaker::{Classification, State};
pub use error::{ConfigError, Error, ErrorKind, Failure};
pub use event::{EventKind, PolicyKind};
pub use fallback::fallback;
pub use rate_limiter::{RateLimiter, RateLimiterBuilder, RateLimiterMetrics};
pub use retry::{Attempts, Backoff, Jitter, Retry, RetryBuilder};
pub use timeout::{Timeout, TimeoutBuilder, TimeoutFuture};
