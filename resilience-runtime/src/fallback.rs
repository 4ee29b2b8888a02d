//! Fallback: serves another result when a call fails or is rejected.
//!
//! ```
//! use resilience_runtime::{Failure, fallback};
//!
//! #[derive(Debug)]
//! enum ApiError { Unavailable, Rejected(resilience_runtime::Error) }
//! impl From<resilience_runtime::Error> for ApiError {
//!     fn from(e: resilience_runtime::Error) -> Self { ApiError::Rejected(e) }
//! }
//! # async fn fetch_price(_sku: &str) -> Result<u32, ApiError> { Err(ApiError::Unavailable) }
//! # async fn cached_price(_sku: &str) -> Option<u32> { Some(99) }
//!
//! async fn price(sku: &str) -> Result<u32, Failure<ApiError>> {
//!     fallback(
//!         "shop::price/fallback",
//!         async { Ok(fetch_price(sku).await?) },
//!         |failure: Failure<ApiError>| async move {
//!             // Serve the cached price; with none cached, pass the error on.
//!             match cached_price(sku).await {
//!                 Some(price) => Ok(price),
//!                 None => Err(failure.into_error()),
//!             }
//!         },
//!     )
//!     .await
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { assert_eq!(price("a").await.unwrap(), 99); }
//! ```
//!
//! The fallback handles every failure that reaches it: the call's own error and every rejection
//! (circuit open, bulkhead full, rate limited, timed out) alike. To pass an error on, it returns
//! it. A synchronous fallback is written as `|failure| std::future::ready(...)`.

use std::future::Future;

use crate::error::Failure;
use crate::event::{EventKind, PolicyKind, emit};

/// Runs `fut`; if it fails, reports the fallback (see [`used`]) and returns what `f` makes of
/// the failure. A successful call never touches `f`.
///
/// `policy` is the fallback's registry name, used in its events. `f`'s own error comes back as
/// [`Failure::Error`], so a fallback can be wrapped by further policies.
pub async fn fallback<T, E, F, G, Fut>(policy: &'static str, fut: F, f: G) -> Result<T, Failure<E>>
where
    F: Future<Output = Result<T, Failure<E>>>,
    G: FnOnce(Failure<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match fut.await {
        Ok(value) => Ok(value),
        Err(failure) => {
            used(policy, &failure);
            f(failure).await.map_err(Failure::Error)
        }
    }
}

/// Reports that the fallback named `policy` serves the call in place of `failure`: a
/// [`FallbackUsed`](EventKind::FallbackUsed) event naming the rejection's kind, if it was one.
///
/// [`fallback`] calls this; code that runs a fallback its own way (as the attribute macros do)
/// calls it before running the fallback.
pub fn used<E>(policy: &'static str, failure: &Failure<E>) {
    let rejection = failure.rejection().map(|r| r.kind());
    emit(
        policy,
        PolicyKind::Fallback,
        EventKind::FallbackUsed { rejection },
    );
}
