//! What a response or an error means to the policies: a success, a failure, a failure worth
//! retrying, a dependency pushing back, or nothing at all.

use std::time::Duration;

use resilience_runtime::{Classification, Error};

/// What one outcome of the service under a layer means, as a [`Classify`] decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Class {
    /// A success: a breaker counts it as one, a retry returns it.
    Success,
    /// A failure no retry can fix: a breaker counts it, a retry returns it.
    Failure,
    /// A failure a retry may repeat, waiting at least `after` when the dependency said how
    /// long (`Retry-After`): a breaker counts it.
    Retryable {
        /// The dependency's own hint, if any.
        after: Option<Duration>,
    },
    /// The dependency pushed back (HTTP 429): a retry may repeat it after `after`; a breaker
    /// counts it as neither success nor failure, as it does a local rate limiter's rejection.
    Throttled {
        /// The dependency's own hint, if any.
        after: Option<Duration>,
    },
    /// Neither success nor failure (a breaker ignores it), and not retried.
    Ignored,
}

impl Class {
    /// How a circuit breaker counts it.
    pub fn breaker(self) -> Classification {
        match self {
            Class::Success => Classification::Success,
            Class::Failure | Class::Retryable { .. } => Classification::Failure,
            Class::Throttled { .. } | Class::Ignored => Classification::Ignored,
        }
    }

    /// Whether a retry may repeat it.
    pub fn retryable(self) -> bool {
        matches!(self, Class::Retryable { .. } | Class::Throttled { .. })
    }

    /// The least wait before a retry, as the dependency asked.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Class::Retryable { after } | Class::Throttled { after } => after,
            _ => None,
        }
    }
}

/// Decides what each outcome of the inner service means ([`Class`]).
///
/// Any `Fn(Result<&Res, &E>) -> Class + Clone` is one:
///
/// ```
/// use resilience_tower::Class;
///
/// // A gRPC-style status in the response: UNAVAILABLE is worth retrying.
/// struct Reply { code: u32 }
/// let classify = |outcome: Result<&Reply, &std::io::Error>| match outcome {
///     Ok(reply) if reply.code == 0 => Class::Success,
///     Ok(reply) if reply.code == 14 => Class::Retryable { after: None },
///     Ok(_) => Class::Failure,
///     Err(_) => Class::Retryable { after: None },
/// };
/// # let _ = classify;
/// ```
pub trait Classify<Res, E>: Clone {
    /// What `outcome` means.
    fn classify(&self, outcome: Result<&Res, &E>) -> Class;

    /// A response that stands for a rejection by a layer below (one made by
    /// [`PolicyLayer::respond`](crate::PolicyLayer::respond)), which the layers above treat as
    /// that rejection, as the attributes do: a breaker above a full bulkhead does not count it.
    fn rejection(&self, response: &Res) -> Option<Error> {
        let _ = response;
        None
    }
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(Result<&Res, &E>) -> Class + Clone,
{
    fn classify(&self, outcome: Result<&Res, &E>) -> Class {
        self(outcome)
    }
}

/// The default classification: every response is a success, every error a failure worth
/// retrying (what the attributes do for a function's `Ok` and `Err`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AnyError;

impl<Res, E> Classify<Res, E> for AnyError {
    fn classify(&self, outcome: Result<&Res, &E>) -> Class {
        match outcome {
            Ok(_) => Class::Success,
            Err(_) => Class::Retryable { after: None },
        }
    }
}

/// The classification of `http::Response`s, by status (what
/// [`PolicyLayer::http`](crate::PolicyLayer::http) sets):
///
/// | outcome | class | a breaker | a retry |
/// |---|---|---|---|
/// | 1xx, 2xx, 3xx, and 4xx but 408 and 429 | [`Success`](Class::Success) | success (the dependency answered; the request was wrong) | returns it |
/// | 408 Request Timeout, every 5xx | [`Retryable`](Class::Retryable) | failure | repeats it, after `Retry-After` if given |
/// | 429 Too Many Requests | [`Throttled`](Class::Throttled) | neither | repeats it, after `Retry-After` if given |
/// | an error of the service (connection refused, reset) | [`Retryable`](Class::Retryable) | failure | repeats it |
///
/// `Retry-After` is read in seconds (`Retry-After: 3`); a date is not read. A response that
/// a layer below made of its rejection ([`PolicyLayer::respond`](crate::PolicyLayer::respond))
/// is that rejection to the layers above.
///
/// For other rules, write a function ([`Classify`]) and start from [`HttpStatus::of`].
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpStatus;

impl HttpStatus {
    /// The class of a response by its status and `Retry-After` header (the table above).
    pub fn of<B>(response: &http::Response<B>) -> Class {
        let status = response.status();
        let after = || retry_after(response.headers());
        match status.as_u16() {
            429 => Class::Throttled { after: after() },
            408 | 500..=599 => Class::Retryable { after: after() },
            _ => Class::Success,
        }
    }
}

impl<B, E> Classify<http::Response<B>, E> for HttpStatus {
    fn classify(&self, outcome: Result<&http::Response<B>, &E>) -> Class {
        match outcome {
            Ok(response) => HttpStatus::of(response),
            Err(_) => Class::Retryable { after: None },
        }
    }

    fn rejection(&self, response: &http::Response<B>) -> Option<Error> {
        response.extensions().get::<Error>().copied()
    }
}

/// `Retry-After` in seconds.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> http::Response<()> {
        let mut builder = http::Response::builder().status(status);
        if let Some(after) = retry_after {
            builder = builder.header(http::header::RETRY_AFTER, after);
        }
        builder.body(()).unwrap_or_default()
    }

    #[test]
    fn statuses_classify_as_the_table_says() {
        let class = |status, after| HttpStatus::of(&response(status, after));
        assert_eq!(class(200, None), Class::Success);
        assert_eq!(class(304, None), Class::Success);
        assert_eq!(class(404, None), Class::Success);
        assert_eq!(class(408, None), Class::Retryable { after: None });
        assert_eq!(class(500, None), Class::Retryable { after: None });
        assert_eq!(
            class(503, Some("7")),
            Class::Retryable {
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            class(429, Some(" 2 ")),
            Class::Throttled {
                after: Some(Duration::from_secs(2))
            }
        );
        // A date is not read.
        assert_eq!(
            class(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Class::Throttled { after: None }
        );
    }

    #[test]
    fn a_breaker_ignores_throttling_and_a_retry_repeats_it() {
        let throttled = Class::Throttled { after: None };
        assert_eq!(throttled.breaker(), Classification::Ignored);
        assert!(throttled.retryable());
        assert_eq!(Class::Failure.breaker(), Classification::Failure);
        assert!(!Class::Failure.retryable());
        assert!(!Class::Ignored.retryable());
        assert_eq!(Class::Success.breaker(), Classification::Success);
    }
}
