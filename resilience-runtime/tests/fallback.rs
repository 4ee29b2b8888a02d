//! Behaviour of fallbacks.
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::future::ready;
use std::time::Duration;

use resilience_runtime::{Error, ErrorKind, Failure, Timeout, fallback};

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    Unavailable,
    Rejected(Error),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Rejected(e)
    }
}

#[tokio::test(start_paused = true)]
async fn the_fallback_receives_the_calls_error_and_its_result_is_returned() {
    let mut seen = None;
    let outcome = fallback(
        "test/fallback",
        async { Err::<u32, _>(Failure::Error(ApiError::Unavailable)) },
        |failure| {
            seen = Some(failure.clone());
            ready(Ok(99))
        },
    )
    .await;
    assert_eq!(outcome, Ok(99));
    assert_eq!(seen, Some(Failure::Error(ApiError::Unavailable)));
}

#[tokio::test(start_paused = true)]
async fn the_fallback_receives_a_rejection_from_an_inner_policy() {
    let timeout = Timeout::builder("test/timeout")
        .duration(Duration::from_millis(50))
        .build()
        .unwrap();
    let call = timeout.call(async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<u32, Failure<ApiError>>(1)
    });
    let outcome = fallback("test/fallback", call, |failure| async move {
        match failure.rejection() {
            Some(r) if r.kind() == ErrorKind::TimedOut => Ok(2),
            _ => Err(ApiError::Unavailable),
        }
    })
    .await;
    assert_eq!(outcome, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn a_successful_call_never_runs_the_fallback() {
    let mut ran = false;
    let outcome = fallback(
        "test/fallback",
        async { Ok::<u32, Failure<ApiError>>(1) },
        |_| {
            ran = true;
            ready(Ok(2))
        },
    )
    .await;
    assert_eq!(outcome, Ok(1));
    assert!(!ran);
}

#[tokio::test(start_paused = true)]
async fn an_error_from_the_fallback_is_returned_as_the_calls_own_error() {
    let rejected = Error::new(ErrorKind::BulkheadFull, "test/bulkhead");
    let outcome: Result<u32, Failure<ApiError>> = fallback(
        "test/fallback",
        async { Err(Failure::Rejected(rejected)) },
        |failure| ready(Err(failure.into_error())),
    )
    .await;
    assert_eq!(outcome, Err(Failure::Error(ApiError::Rejected(rejected))));
}

#[test]
fn used_accepts_errors_and_rejections() {
    // It only reports; it must not need a runtime or consume the failure.
    let failure: Failure<ApiError> = Failure::Rejected(Error::new(ErrorKind::CircuitOpen, "cb"));
    resilience_runtime::fallback::used("test/fallback", &failure);
    resilience_runtime::fallback::used("test/fallback", &Failure::Error(ApiError::Unavailable));
    assert!(failure.is_rejected());
}
