//! The errors a policy hands back: rejections ([`Error`]), the stack's own outcome type
//! ([`Failure`]), and configuration mistakes found at run time ([`ConfigError`]).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::key::KeyId;
use crate::name::Name;

/// A call that a policy refused or cut short, rather than one that failed on its own.
///
/// `Error` is small, `Copy` and allocation-free, so rejecting a call costs almost nothing.
/// It reaches the caller of an annotated function as `E::from(resilience::Error)`, where `E` is
/// the function's own error type.
///
/// ```
/// use resilience_runtime::{Error, ErrorKind};
///
/// fn describe(e: &Error) -> String {
///     match e.kind() {
///         ErrorKind::CircuitOpen => format!("{} is open, try in {:?}", e.policy(), e.retry_after()),
///         _ => e.to_string(),
///     }
/// }
/// ```
//
// The kind is a whole machine word, and so are the fields after it but the key: the futures and
// results that hold an `Error` in one variant and something else in another then move as
// words. With a one-byte kind and an `Option<Duration>`, moving such an enum copied the bytes
// one variant leaves as padding in pieces, and each piece waited on the store before it (about
// 8 ns per call on the success path of a breaker's `call`; see BENCHMARKS.md). A key beside a
// half-word kind did the same (8 ns on a retry's success path, measured): it is last.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    kind: ErrorKind,
    policy: &'static str,
    /// Nanoseconds, or [`NO_HINT`].
    retry_after: u64,
    /// The keyed child that rejected the call, if a keyed family's: last, in a word of its own
    /// (see above: beside the kind, it made the kind's word two stores that a move reads as
    /// one).
    key: Option<KeyId>,
}

/// `Error::retry_after` when there is no hint.
const NO_HINT: u64 = u64::MAX;

/// Why a call was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
// A word, so `Error` has no padding (see there).
#[repr(u64)]
pub enum ErrorKind {
    /// The circuit breaker is open (or forced open, or half-open with every probe slot taken).
    CircuitOpen,
    /// The bulkhead had no free slot and no room in its queue, or the wait in the queue ran out.
    BulkheadFull,
    /// The rate limiter had no permit within the allowed wait.
    RateLimited,
    /// The call did not complete within its timeout and was cancelled.
    TimedOut,
    /// The call's key is new to a keyed family that holds as many children as it may
    /// (`max_keys`), none of which can be evicted without losing state (see
    /// [`keyed`](crate::keyed)). Calls under keys it holds go on.
    KeyLimit,
    /// The deadline the call inherited from an enclosing timeout (or
    /// [`deadline::within`](crate::deadline::within)) ran out before the layer's own bound: the
    /// rejection names the policy that set the deadline (see [`deadline`](crate::deadline)).
    /// A circuit breaker counts it as neither success nor failure, and no retry repeats it.
    DeadlineExceeded,
    /// A [`Toggle`](crate::Toggle) is on: the call was served by its fallback without calling
    /// what is below, and the fallback is handed this rejection naming the toggle. Not an
    /// incident: no retry repeats it, and no breaker counts it.
    Degraded,
    /// A call with the same idempotency key was running and failed (or was cancelled): this
    /// duplicate, which waited on it, is not run in its place (see
    /// [`idempotency`](crate::idempotency)). A retry runs it as a first call.
    Duplicate,
    /// The program is draining (see [`drain`](crate::drain)): new calls are refused at the
    /// outermost layer, before any policy runs, and the rejection names the function. No
    /// breaker counts it and no retry repeats it; an outermost fallback receives it.
    ShuttingDown,
}

impl ErrorKind {
    /// A short, stable, lowercase name for logs and metrics tags: `circuit_open`, `bulkhead_full`,
    /// `rate_limited`, `timed_out`, `key_limit`, `deadline_exceeded`, `degraded`,
    /// `duplicate`, `shutting_down`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::BulkheadFull => "bulkhead_full",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::KeyLimit => "key_limit",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Degraded => "degraded",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::ShuttingDown => "shutting_down",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// A rejection of `kind` by the policy named `policy`.
    pub const fn new(kind: ErrorKind, policy: &'static str) -> Self {
        Error {
            kind,
            key: None,
            policy,
            retry_after: NO_HINT,
        }
    }

    /// A rejection of `kind` by the policy named `name`, naming its key if it is a keyed
    /// family's child.
    pub(crate) fn named(kind: ErrorKind, name: &Name) -> Self {
        let error = Error::new(kind, name.get());
        match name.key() {
            Some(key) => error.with_key(key),
            None => error,
        }
    }

    /// The same rejection, by the child `key` of the keyed family named `policy` (one tenant's
    /// limiter, one host's breaker).
    pub const fn with_key(mut self, key: KeyId) -> Self {
        self.key = Some(key);
        self
    }

    /// The same rejection, with a hint of when a new call may succeed. Kept to the
    /// nanosecond, up to 584 years.
    pub const fn with_retry_after(mut self, retry_after: Duration) -> Self {
        let nanos = retry_after.as_nanos();
        self.retry_after = if nanos < NO_HINT as u128 {
            nanos as u64
        } else {
            NO_HINT - 1
        };
        self
    }

    /// Why the call was rejected.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The registry name of the policy that rejected the call; for a keyed family's child, the
    /// family's name (the child is [`key`](Self::key)).
    pub const fn policy(&self) -> &'static str {
        self.policy
    }

    /// The child of a keyed family that rejected the call (`PER_TENANT[acme]` is policy
    /// `PER_TENANT`, key `acme`: [`KeyId::key`]), or `None` for a policy of its own.
    pub const fn key(&self) -> Option<KeyId> {
        self.key
    }

    /// How long until a new call may be admitted, where the policy knows: the rest of an open
    /// breaker's wait, or the time until a rate permit frees. `None` for timeouts and full
    /// bulkheads.
    pub const fn retry_after(&self) -> Option<Duration> {
        match self.retry_after {
            NO_HINT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::CircuitOpen => "circuit breaker is open",
            ErrorKind::BulkheadFull => "bulkhead is full",
            ErrorKind::RateLimited => "rate limit exceeded",
            ErrorKind::TimedOut => "call timed out",
            ErrorKind::KeyLimit => "keyed policy holds its most keys",
            ErrorKind::DeadlineExceeded => "deadline exceeded",
            ErrorKind::Degraded => "degraded mode is on",
            ErrorKind::Duplicate => "the first call with this idempotency key failed",
            ErrorKind::ShuttingDown => "shutting down: no new calls are admitted",
        };
        match self.key {
            Some(key) => write!(f, "{what} (policy `{}[{key}]`)", self.policy)?,
            None => write!(f, "{what} (policy `{}`)", self.policy)?,
        }
        if let Some(after) = self.retry_after() {
            write!(f, "; retry after {after:?}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("policy", &self.policy)
            .field("key", &self.key)
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl std::error::Error for Error {}

/// So functions returning `std::io::Result` can carry a rejection: a timeout becomes
/// [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut), every other rejection
/// [`io::ErrorKind::Other`](std::io::ErrorKind::Other), with this `Error` as the source.
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::TimedOut | ErrorKind::DeadlineExceeded => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// An error type that may hold a [`Error`] (a rejection), as the documented
/// `Rejected(#[from] resilience::Error)` shape does.
///
/// Across a function boundary a rejection has become the caller's error type. When that type
/// implements `AsRejection`, the policies of an annotated caller see the rejection for what it
/// is: an inner function's open circuit ends an outer `#[retry]` at once instead of being
/// retried with backoff, an inner timeout counts as a timeout for an outer breaker, an inner
/// rate limit is waited out. The generated code finds the impl by itself; nothing else is
/// written. One line implements it for the usual shape:
///
/// ```
/// #[derive(Debug)]
/// enum ApiError {
///     Unavailable,
///     Rejected(resilience_runtime::Error),
/// }
/// resilience_runtime::as_rejection!(ApiError::Rejected);
/// ```
///
/// `std::io::Error` (built from an [`Error`] by its `From` impl) and a boxed error holding one
/// implement it already.
pub trait AsRejection {
    /// The rejection this error holds, if it is one.
    fn as_rejection(&self) -> Option<&Error>;
}

impl AsRejection for Error {
    fn as_rejection(&self) -> Option<&Error> {
        Some(self)
    }
}

impl AsRejection for std::io::Error {
    fn as_rejection(&self) -> Option<&Error> {
        self.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
    }
}

impl AsRejection for Box<dyn std::error::Error + Send + Sync> {
    fn as_rejection(&self) -> Option<&Error> {
        self.downcast_ref::<Error>()
    }
}

/// Implements [`AsRejection`] for an enum whose variant holds the rejection:
/// `as_rejection!(ApiError::Rejected);` for `enum ApiError { .., Rejected(resilience::Error) }`.
#[macro_export]
macro_rules! as_rejection {
    ($ty:ident :: $variant:ident) => {
        impl $crate::AsRejection for $ty {
            fn as_rejection(&self) -> ::core::option::Option<&$crate::Error> {
                #[allow(unreachable_patterns)]
                match self {
                    $ty::$variant(rejection) => ::core::option::Option::Some(rejection),
                    _ => ::core::option::Option::None,
                }
            }
        }
    };
}

/// The outcome of a failed call inside a stack of policies: the call's own error, or a
/// rejection by one of the policies.
///
/// Every policy's `call` takes a future of `Result<T, Failure<E>>` and returns one, so policies
/// compose, and a rejection keeps its kind until the outermost layer. `Failure<E>: From<E>`, so
/// `?` lifts the call's own error:
///
/// ```
/// use resilience_runtime::{Failure, Timeout};
/// use std::time::Duration;
///
/// # async fn fetch() -> Result<u32, std::io::Error> { Ok(7) }
/// # async fn run() -> Result<u32, Failure<std::io::Error>> {
/// let timeout = Timeout::builder("fetch/timeout").duration(Duration::from_millis(800)).build().unwrap();
/// timeout.call(async { Ok(fetch().await?) }).await
/// # }
/// ```
///
/// A fallback receives it to decide what to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure<E> {
    /// The call itself returned this error.
    Error(E),
    /// A policy rejected the call, or a timeout cut it short.
    Rejected(Error),
}

impl<E> From<E> for Failure<E> {
    fn from(error: E) -> Self {
        Failure::Error(error)
    }
}

impl<E> Failure<E> {
    /// The call's own error, if that is what this is.
    pub fn error(&self) -> Option<&E> {
        match self {
            Failure::Error(e) => Some(e),
            Failure::Rejected(_) => None,
        }
    }

    /// The rejection, if a policy rejected the call.
    pub fn rejection(&self) -> Option<&Error> {
        match self {
            Failure::Error(_) => None,
            Failure::Rejected(r) => Some(r),
        }
    }

    /// Whether a policy rejected the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, Failure::Rejected(_))
    }

    /// The failure as the call's own error type, converting a rejection with `E::from`.
    /// This is what an annotated function returns at its outermost layer.
    pub fn into_error(self) -> E
    where
        E: From<Error>,
    {
        match self {
            Failure::Error(e) => e,
            Failure::Rejected(r) => E::from(r),
        }
    }

    /// Maps the call's own error, keeping a rejection as it is.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> Failure<F> {
        match self {
            Failure::Error(e) => Failure::Error(f(e)),
            Failure::Rejected(r) => Failure::Rejected(r),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Rejected(r) => r.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Error(e) => Some(e),
            Failure::Rejected(r) => Some(r),
        }
    }
}

/// A configuration value that no policy can run with, found at run time (a builder, the
/// registry, a configuration file).
///
/// The message names the field and says what to write instead:
///
/// ```
/// use resilience_runtime::Retry;
///
/// let err = Retry::builder("fetch").attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "attempts");
/// assert!(err.to_string().contains("at least 1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    policy: &'static str,
    field: &'static str,
    /// The message, or its template: `{0}` and `{1}` stand for `values`.
    message: &'static str,
    /// The numbers a template's `{}` stand for (a builder is `const`, so it cannot format).
    values: [u32; 2],
}

impl ConfigError {
    /// `field` of the policy named `policy` cannot be used; `message` says what to write instead.
    pub const fn new(policy: &'static str, field: &'static str, message: &'static str) -> Self {
        ConfigError {
            policy,
            field,
            message,
            values: [0; 2],
        }
    }

    /// As [`new`](Self::new), with a message `template` in which `{0}` and `{1}` stand for
    /// `values`, so a `const` builder can say which numbers disagree.
    pub(crate) const fn with_values(
        policy: &'static str,
        field: &'static str,
        template: &'static str,
        values: [u32; 2],
    ) -> Self {
        ConfigError {
            policy,
            field,
            message: template,
            values,
        }
    }

    /// The policy whose configuration is wrong.
    pub fn policy(&self) -> &'static str {
        self.policy
    }

    /// The option that is wrong, named as in the attributes (`threshold`, `attempts`, `max`).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong and what to write instead.
    pub fn message(&self) -> Cow<'static, str> {
        if !self.message.contains('{') {
            return Cow::Borrowed(self.message);
        }
        Cow::Owned(
            self.message
                .replace("{0}", &self.values[0].to_string())
                .replace("{1}", &self.values[1].to_string()),
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid `{}` for policy `{}`: {}",
            self.field,
            self.policy,
            self.message()
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum ApiError {
        Status(u16),
        Rejected(Error),
    }

    impl From<Error> for ApiError {
        fn from(e: Error) -> Self {
            ApiError::Rejected(e)
        }
    }

    #[test]
    fn question_mark_lifts_the_calls_own_error_into_a_failure() {
        fn call() -> Result<(), Failure<ApiError>> {
            Err(ApiError::Status(503))?;
            Ok(())
        }
        assert_eq!(call(), Err(Failure::Error(ApiError::Status(503))));
    }

    #[test]
    fn into_error_converts_a_rejection_with_from() {
        let rejected = Error::new(ErrorKind::TimedOut, "fetch/timeout");
        let failure: Failure<ApiError> = Failure::Rejected(rejected);
        assert_eq!(failure.into_error(), ApiError::Rejected(rejected));
        assert_eq!(
            Failure::Error(ApiError::Status(500)).into_error(),
            ApiError::Status(500)
        );
    }

    #[test]
    fn error_display_names_the_policy_and_the_wait() {
        let e =
            Error::new(ErrorKind::CircuitOpen, "payments").with_retry_after(Duration::from_secs(3));
        assert_eq!(
            e.to_string(),
            "circuit breaker is open (policy `payments`); retry after 3s"
        );
        assert_eq!(e.kind().as_str(), "circuit_open");
    }

    #[test]
    fn a_keyed_childs_rejection_names_its_family_and_its_key() {
        let key = KeyId::of("error-tests::PER_TENANT", &"acme").unwrap();
        let e = Error::new(ErrorKind::RateLimited, "error-tests::PER_TENANT").with_key(key);
        assert_eq!(e.policy(), "error-tests::PER_TENANT");
        assert_eq!(e.key(), Some(key));
        assert_eq!(
            e.to_string(),
            "rate limit exceeded (policy `error-tests::PER_TENANT[acme]`)"
        );
        assert_eq!(Error::new(ErrorKind::RateLimited, "x").key(), None);
    }

    #[test]
    fn io_error_keeps_the_rejection_as_its_source() {
        let rejected = Error::new(ErrorKind::TimedOut, "read/timeout");
        let io: std::io::Error = rejected.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner, Some(&rejected));
    }

    #[test]
    fn error_is_copy_and_thread_safe() {
        fn assert_traits<T: Copy + Send + Sync + std::error::Error + 'static>() {}
        assert_traits::<Error>();
    }

    #[test]
    fn error_is_its_fields_without_padding_and_a_result_holding_it_no_bigger() {
        use std::mem::size_of;
        use std::task::Poll;
        // The kind is a whole word: a variant's tag is one store that a move reads as one.
        assert_eq!(size_of::<ErrorKind>(), size_of::<u64>());
        // Then the policy's name and the hint, and the key in a last word of its own.
        assert_eq!(size_of::<Error>(), 5 * size_of::<u64>());
        // The kind's spare values tell the variants apart, so the results every call returns
        // are the error's size, with the success value in a word of their own.
        assert_eq!(size_of::<Failure<()>>(), size_of::<Error>());
        assert_eq!(
            size_of::<Poll<Result<u64, Failure<()>>>>(),
            size_of::<Error>()
        );
    }

    #[test]
    fn a_retry_after_hint_is_kept_to_the_nanosecond_and_saturates() {
        let error = Error::new(ErrorKind::RateLimited, "api/limiter");
        assert_eq!(error.retry_after(), None);
        let hint = |d| error.with_retry_after(d).retry_after();
        assert_eq!(hint(Duration::ZERO), Some(Duration::ZERO));
        assert_eq!(hint(Duration::new(3, 1)), Some(Duration::new(3, 1)));
        // 584 years and more: the longest hint kept, not "no hint".
        assert_eq!(
            hint(Duration::MAX),
            Some(Duration::from_nanos(u64::MAX - 1))
        );
        assert_eq!(
            format!("{:?}", error.with_retry_after(Duration::from_millis(250))),
            r#"Error { kind: RateLimited, policy: "api/limiter", key: None, retry_after: Some(250ms) }"#
        );
    }
}
