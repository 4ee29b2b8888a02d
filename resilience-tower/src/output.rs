//! What a layer's service hands back for a rejection: a boxed error (the default, as tower's
//! own middleware), or an HTTP response (for servers, whose services cannot fail).

use std::time::Duration;

use resilience_runtime::{Error, ErrorKind};

use crate::BoxError;

/// How a layer's service returns rejections and the inner service's errors. Implemented by
/// [`Boxed`] and [`Respond`].
pub trait Output<Res, E> {
    /// The service's error type.
    type Error;

    /// The inner service's error.
    fn error(error: E) -> Self::Error;

    /// A rejection by one of the policies.
    ///
    /// # Errors
    ///
    /// The rejection as the service's error, when it is not made a response.
    fn rejected(rejection: Error) -> Result<Res, Self::Error>;
}

/// The default output: the service's error is a [`BoxError`], holding the inner service's
/// error or the policy's rejection, a [`resilience_runtime::Error`]
/// (`error.downcast_ref::<resilience::Error>()` reads its kind, policy and `retry_after`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Boxed;

impl<Res, E: Into<BoxError>> Output<Res, E> for Boxed {
    type Error = BoxError;

    fn error(error: E) -> BoxError {
        error.into()
    }

    fn rejected(rejection: Error) -> Result<Res, BoxError> {
        Err(Box::new(rejection))
    }
}

/// Rejections as HTTP responses with an empty body (what
/// [`PolicyLayer::respond`](crate::PolicyLayer::respond) sets), for servers: the service keeps
/// the inner service's error type (an axum route's `Infallible`).
///
/// | rejection | status |
/// |---|---|
/// | rate limited, or a keyed family full (`key_limit`) | 429 Too Many Requests |
/// | timed out, or the caller's deadline ran out | 504 Gateway Timeout |
/// | circuit open, bulkhead full, degraded, shutting down, duplicate in flight failed | 503 Service Unavailable |
///
/// A rejection that knows when to come back (an open breaker's wait, a limiter's next permit)
/// sets `Retry-After` in whole seconds, rounded up. The response carries the rejection in its
/// extensions, where the layers above find it (see
/// [`Classify::rejection`](crate::Classify::rejection)) and so can a handler's middleware.
#[derive(Clone, Copy, Debug, Default)]
pub struct Respond;

impl Respond {
    /// The response for `rejection` (the table above).
    pub fn response<B: Default>(rejection: Error) -> http::Response<B> {
        let status = match rejection.kind() {
            ErrorKind::RateLimited | ErrorKind::KeyLimit => http::StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::TimedOut | ErrorKind::DeadlineExceeded => http::StatusCode::GATEWAY_TIMEOUT,
            _ => http::StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = http::Response::new(B::default());
        *response.status_mut() = status;
        if let Some(after) = rejection.retry_after() {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, whole_seconds(after).into());
        }
        response.extensions_mut().insert(rejection);
        response
    }
}

/// `after` in whole seconds, rounded up (a `Retry-After` of 0 would invite the retry now).
fn whole_seconds(after: Duration) -> u64 {
    let seconds = after.as_secs();
    if after.subsec_nanos() > 0 || seconds == 0 {
        seconds + 1
    } else {
        seconds
    }
}

impl<B: Default, E> Output<http::Response<B>, E> for Respond {
    type Error = E;

    fn error(error: E) -> E {
        error
    }

    fn rejected(rejection: Error) -> Result<http::Response<B>, E> {
        Ok(Respond::response(rejection))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
        assert_eq!(whole_seconds(Duration::from_millis(3001)), 4);
    }

    #[test]
    fn rejections_answer_with_their_status_and_carry_the_rejection() {
        let open = Error::new(ErrorKind::CircuitOpen, "payments");
        let response: http::Response<()> = Respond::response(open);
        assert_eq!(response.status(), 503);
        assert_eq!(response.extensions().get::<Error>(), Some(&open));
        assert!(response.headers().get(http::header::RETRY_AFTER).is_none());
        let limited: http::Response<()> =
            Respond::response(Error::new(ErrorKind::RateLimited, "api"));
        assert_eq!(limited.status(), 429);
        let late: http::Response<()> =
            Respond::response(Error::new(ErrorKind::TimedOut, "api/timeout"));
        assert_eq!(late.status(), 504);
    }
}
