//! Deadlines through nested annotated functions: the outer function's timeout bounds every
//! policy of the functions it calls, in virtual time.

#![allow(clippy::unwrap_used)]

mod common;

use common::Calls;
use resilience::{ErrorKind, circuit_breaker, deadline, retry, timeout};

/// An error that says when it is a rejection (`as_rejection!`), so the policies of a caller
/// see an inner function's rejection for what it is.
#[derive(Debug)]
enum ApiError {
    #[allow(dead_code)]
    Down,
    Rejected(resilience::Error),
}

impl From<resilience::Error> for ApiError {
    fn from(e: resilience::Error) -> Self {
        ApiError::Rejected(e)
    }
}

resilience::as_rejection!(ApiError::Rejected);

impl ApiError {
    fn rejection(&self) -> Option<ErrorKind> {
        match self {
            ApiError::Rejected(e) => Some(e.kind()),
            ApiError::Down => None,
        }
    }

    fn policy(&self) -> Option<&'static str> {
        match self {
            ApiError::Rejected(e) => Some(e.policy()),
            ApiError::Down => None,
        }
    }
}
use std::time::Duration;
use tokio::time::{Instant, sleep};

static LEAF: Calls = Calls::new();

/// The leaf: a dependency that hangs, under a generous timeout of its own.
#[timeout(5s, name = "leaf/timeout")]
async fn leaf() -> Result<u32, ApiError> {
    LEAF.hit();
    sleep(Duration::from_secs(60)).await;
    Ok(1)
}

/// The middle: retries the leaf with a backoff, behind a breaker.
#[retry(attempts = 5, backoff = fixed(300ms))]
#[circuit_breaker(failures = 1, open = 30s, name = "middle/breaker")]
async fn middle() -> Result<u32, ApiError> {
    leaf().await
}

/// The handler: one second for everything below.
#[timeout(1s, name = "handler/timeout")]
async fn handler() -> Result<u32, ApiError> {
    middle().await
}

#[tokio::test(start_paused = true)]
async fn the_outer_second_bounds_every_policy_of_the_functions_it_calls() {
    let started = Instant::now();
    let err = handler().await.unwrap_err();
    // One second, not the leaf's five, and no retry of a deadline that ran out.
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(err.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(err.policy(), Some("handler/timeout"));
    assert_eq!(LEAF.get(), 1);
    // The breaker in the middle saw the deadline run out, not the dependency fail: still
    // closed for everybody else.
    let breaker = resilience::registry::circuit_breaker("middle/breaker").unwrap();
    assert_eq!(breaker.metrics().failures, 0);
    assert!(middle_is_closed());
}

fn middle_is_closed() -> bool {
    resilience::registry::circuit_breaker("middle/breaker")
        .unwrap()
        .metrics()
        .state
        == resilience::State::Closed
}

#[timeout(800ms)]
async fn remaining_inside() -> Result<Option<Duration>, ApiError> {
    sleep(Duration::from_millis(300)).await;
    Ok(deadline::remaining())
}

#[tokio::test(start_paused = true)]
async fn remaining_tells_a_function_what_is_left_to_pass_on() {
    assert_eq!(
        remaining_inside().await.unwrap(),
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        deadline::grpc_timeout(Duration::from_millis(500)),
        "500000u"
    );
}
