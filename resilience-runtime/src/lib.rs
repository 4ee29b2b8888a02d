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

#[cfg(not(resilience_loom))]
pub mod deadline;
#[cfg(not(resilience_loom))]
mod describe;
mod error;
pub mod event;
mod key;
mod kind;
mod name;
mod per_thread;
#[cfg(not(resilience_loom))]
mod shared_name;
mod state;
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
    mod window;
    mod word;
    pub use crate::state::State;
}
#[cfg(resilience_loom)]
mod rate_limiter {
    mod gcra;
}

#[cfg(not(resilience_loom))]
pub mod blocking;
#[cfg(not(resilience_loom))]
pub mod bulkhead;
#[cfg(not(resilience_loom))]
pub mod cache;
#[cfg(not(resilience_loom))]
pub mod chaos;
#[cfg(not(resilience_loom))]
pub mod circuit_breaker;
#[cfg(not(resilience_loom))]
mod clock;
#[cfg(not(resilience_loom))]
pub mod drain;
#[cfg(not(resilience_loom))]
pub mod fallback;
#[cfg(not(resilience_loom))]
mod guard;
#[cfg(not(resilience_loom))]
pub mod hedge;
#[cfg(not(resilience_loom))]
pub mod idempotency;
#[cfg(not(resilience_loom))]
pub mod keyed;
#[cfg(not(resilience_loom))]
pub mod rate_limiter;
#[cfg(not(resilience_loom))]
pub mod registry;
#[cfg(not(resilience_loom))]
pub mod retry;
#[cfg(not(resilience_loom))]
pub mod retry_budget;
#[cfg(not(resilience_loom))]
pub mod timeout;
#[cfg(not(resilience_loom))]
pub mod toggle;

#[cfg(not(resilience_loom))]
pub use bulkhead::keyed::KeyedBulkhead;
#[cfg(not(resilience_loom))]
pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadMetrics, MAX_BULKHEAD_SLOTS};
#[cfg(not(resilience_loom))]
pub use cache::{Cache, CacheBuilder, CacheMetrics, CheckedCache};
#[cfg(not(resilience_loom))]
pub use chaos::{Chaos, ChaosBuilder, ChaosMetrics, Injection};
#[cfg(not(resilience_loom))]
pub use circuit_breaker::keyed::KeyedCircuitBreaker;
#[cfg(not(resilience_loom))]
pub use circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerMetrics};
#[cfg(not(resilience_loom))]
pub use circuit_breaker::{Classification, State};
pub use error::{AsRejection, ConfigError, Error, ErrorKind, Failure};
pub use event::{Event, EventKind, KeyId, PolicyKind};
#[cfg(not(resilience_loom))]
pub use fallback::fallback;
#[cfg(not(resilience_loom))]
pub use hedge::{After, Hedge, HedgeBuilder, HedgeFuture, HedgeMetrics};
#[cfg(not(resilience_loom))]
pub use idempotency::{CheckedIdempotency, Idempotency, IdempotencyBuilder, IdempotencyMetrics};
#[cfg(not(resilience_loom))]
pub use keyed::{Checked, ChildHandle, Keyed, KeyedBuilder, KeyedMetrics};
#[cfg(not(resilience_loom))]
pub use rate_limiter::keyed::KeyedRateLimiter;
#[cfg(not(resilience_loom))]
pub use rate_limiter::{RateLimiter, RateLimiterBuilder, RateLimiterMetrics};
#[cfg(not(resilience_loom))]
pub use retry::{Attempts, Backoff, Jitter, Retry, RetryBuilder, RetryMetrics};
#[cfg(not(resilience_loom))]
pub use retry_budget::{RetryBudget, RetryBudgetBuilder, RetryBudgetMetrics};
#[cfg(not(resilience_loom))]
pub use timeout::{Timeout, TimeoutBuilder, TimeoutFuture, TimeoutMetrics};
#[cfg(not(resilience_loom))]
pub use toggle::{Toggle, ToggleBuilder, ToggleMetrics};

/// What the code generated by the `resilience` attributes reaches. Not a public API.
#[doc(hidden)]
pub mod __private {
    use std::pin::Pin;
    use std::task::{Context, Poll, ready};

    pub use linkme;

    #[cfg(not(resilience_loom))]
    pub use crate::blocking;
    #[cfg(not(resilience_loom))]
    pub use crate::drain::{self, InFlight, admitted};

    pub use crate::name::{DECLARED, Declared, Name, Named};

    use crate::error::Failure;

    pin_project_lite::pin_project! {
        /// The body of an annotated function, with its own errors as [`Failure::Error`]: what
        /// `async { Result::map_err(body.await, Failure::Error) }` would do, without a state
        /// machine of its own around the body's.
        #[must_use = "futures do nothing unless polled"]
        pub struct OwnErrors<F, C> {
            #[pin]
            body: F,
            nested: C,
            // The body of a plain `fn` (run by `blocking::run`), for the debug builds' check
            // that a plain function is not called from an async function's body.
            plain: bool,
        }
    }

    /// Wraps the body of an annotated function for the policies, which take
    /// `Result<T, Failure<E>>`.
    ///
    /// `nested` says whether an error of the body holds a rejection (an inner annotated
    /// function's open circuit, returned as the caller's `E`; see [`AsRejection`](crate::AsRejection)):
    /// such an error travels on as the [`Failure::Rejected`] it is. `plain`: the body of a
    /// plain `fn`, run by [`blocking::run`](crate::blocking::run).
    #[inline]
    pub fn own_errors<T, E, F, C>(body: F, nested: C, plain: bool) -> OwnErrors<F, C>
    where
        F: Future<Output = Result<T, E>>,
        C: Fn(&E) -> Option<crate::Error>,
    {
        OwnErrors {
            body,
            nested,
            plain,
        }
    }

    impl<T, E, F, C> Future for OwnErrors<F, C>
    where
        F: Future<Output = Result<T, E>>,
        C: Fn(&E) -> Option<crate::Error>,
    {
        type Output = Result<T, Failure<E>>;

        #[inline]
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = self.project();
            #[cfg(all(debug_assertions, not(resilience_loom)))]
            let _body = crate::blocking::polling_body(*this.plain);
            #[cfg(not(all(debug_assertions, not(resilience_loom))))]
            let _ = this.plain;
            Poll::Ready(match ready!(this.body.poll(cx)) {
                Ok(value) => Ok(value),
                Err(e) => Err(match (this.nested)(&e) {
                    Some(rejection) => Failure::Rejected(rejection),
                    None => Failure::Error(e),
                }),
            })
        }
    }

    /// The output of an `async` fallback, as the result type it must be. A trait rather than
    /// an `Output = R` bound, so a mismatch is reported with the fallback's own message.
    pub trait FallbackOutput<R> {
        /// The output, unchanged.
        fn into_result(self) -> R;
    }

    impl<R> FallbackOutput<R> for R {
        #[inline]
        fn into_result(self) -> R {
            self
        }
    }

    pin_project_lite::pin_project! {
        /// An `async` fallback's future, its output taken as the result it must be. A named
        /// type, not an `async fn`'s, so the generated code can name it as an associated type
        /// and a wrong fallback is reported once, at the fallback, not again at its `.await`.
        #[must_use = "futures do nothing unless polled"]
        pub struct AwaitFallback<F, R> {
            #[pin]
            future: F,
            result: core::marker::PhantomData<fn() -> R>,
        }
    }

    impl<F, R> AwaitFallback<F, R> {
        /// Awaits `future` as a fallback's.
        #[inline]
        pub fn new(future: F) -> Self {
            AwaitFallback {
                future,
                result: core::marker::PhantomData,
            }
        }
    }

    impl<F: Future<Output: FallbackOutput<R>>, R> Future for AwaitFallback<F, R> {
        type Output = R;

        #[inline]
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
            Poll::Ready(ready!(self.project().future.poll(cx)).into_result())
        }
    }

    /// An error of an annotated function's body, asked whether it holds a rejection. Generated
    /// code calls `(&Probe(e)).nested_rejection()`: the method of [`HoldsRejection`] where the
    /// error type implements [`AsRejection`](crate::AsRejection), else (one autoref further)
    /// the one of [`HoldsNoRejection`], so the user never names the trait.
    pub struct Probe<'a, E>(pub &'a E);

    /// [`Probe`] of an error type that may hold a rejection.
    pub trait HoldsRejection {
        /// The rejection the error holds, if it holds one.
        fn nested_rejection(&self) -> Option<crate::Error>;
    }

    impl<E: crate::AsRejection> HoldsRejection for Probe<'_, E> {
        #[inline]
        fn nested_rejection(&self) -> Option<crate::Error> {
            self.0.as_rejection().copied()
        }
    }

    /// [`Probe`] of any other error type.
    pub trait HoldsNoRejection {
        /// Never a rejection.
        fn nested_rejection(&self) -> Option<crate::Error>;
    }

    impl<E> HoldsNoRejection for &Probe<'_, E> {
        #[inline(always)]
        fn nested_rejection(&self) -> Option<crate::Error> {
            None
        }
    }
}
