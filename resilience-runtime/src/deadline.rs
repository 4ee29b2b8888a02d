//! Deadlines that flow through nested calls.
//!
//! A call under a [`Timeout`](crate::Timeout) (or under [`within`]) carries its deadline to
//! every layer and function it calls, in the same task:
//! - an inner timeout ends at the earlier of its own duration and what remains of the
//!   deadline;
//! - an inner retry does not start a backoff that would end past the deadline: it returns the
//!   last outcome at once;
//! - a bulkhead's queue and a rate limiter's wait never wait past it.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{deadline, ErrorKind, Failure, Timeout};
//!
//! static OUTER: Timeout = match Timeout::builder("checkout").duration(Duration::from_secs(1)).build() {
//!     Ok(t) => t,
//!     Err(_) => panic!("invalid timeout"),
//! };
//! static INNER: Timeout = match Timeout::builder("inventory").duration(Duration::from_secs(5)).build() {
//!     Ok(t) => t,
//!     Err(_) => panic!("invalid timeout"),
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let started = tokio::time::Instant::now();
//! let outcome: Result<(), Failure<()>> = OUTER
//!     .call(INNER.call(async {
//!         // What is left of the outer second, for an HTTP client or a `grpc-timeout` header.
//!         assert_eq!(deadline::remaining(), Some(Duration::from_secs(1)));
//!         tokio::time::sleep(Duration::from_secs(10)).await;
//!         Ok(())
//!     }))
//!     .await;
//! // The outer second ends the call, not the inner five.
//! assert_eq!(started.elapsed(), Duration::from_secs(1));
//! assert_eq!(outcome.unwrap_err().rejection().unwrap().kind(), ErrorKind::TimedOut);
//! # }
//! ```
//!
//! # Who says it ran out
//!
//! The layer whose own duration runs out says [`TimedOut`](crate::ErrorKind::TimedOut), naming
//! itself. A layer inside it that stopped because the *inherited* deadline was nearer than its
//! own bound says [`DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded), naming the policy
//! that set the deadline. A circuit breaker counts `DeadlineExceeded` as neither a success nor a
//! failure (a caller's tight deadline is not the dependency's fault, and one remote caller's
//! tiny deadline must not open a breaker everybody shares), and no retry repeats it. When it
//! reaches the timeout that set the deadline, that timeout returns its own `TimedOut`.
//!
//! # When the clock starts
//!
//! A timeout reads no clock for a call that completes at its first poll. The deadline it
//! carries is fixed lazily: by the first layer that needs the clock (an inner timeout that
//! waits, a retry about to back off, [`remaining`]), and every enclosing timeout counts from
//! that same instant.
//!
//! # Tasks
//!
//! The deadline belongs to the call, in its task. A task spawned inside it does not inherit it
//! (it may outlive the call), unless asked: `tokio::spawn(deadline::scope(work))` runs `work`
//! under the deadline current where `scope` was called. [`detach`] runs a future under no
//! deadline at all (a write-behind that must finish whatever the caller's hurry).
//!
//! # Across services
//!
//! [`grpc_timeout`] writes what remains in gRPC's `grpc-timeout` header format, and
//! [`parse_grpc_timeout`] reads it back on the server, which continues its caller's deadline
//! with [`within`].

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::error::{Error, ErrorKind, Failure};

/// The name [`within`] sets its deadline under.
pub const WITHIN: &str = "deadline";

/// The bound on a call as the layers inside it see it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope {
    /// The nearest deadline fixed so far, and the policy that set it.
    fixed: Option<(Instant, &'static str)>,
    /// The nearest bound not fixed yet: it counts from the first clock read of a layer inside.
    lazy: Option<(Duration, &'static str)>,
    /// When a layer inside fixed `lazy` during this poll: the instant it counted from, for the
    /// layers outside to count from too.
    fixed_at: Option<Instant>,
}

thread_local! {
    /// The deadline of the call being polled on this thread: set by a timeout (or [`within`],
    /// [`scope`], [`detach`]) for the time it polls its call, and put back after.
    static CURRENT: Cell<Option<Scope>> = const { Cell::new(None) };
}

impl Scope {
    /// The scope a layer with its own bound gives the layers inside it, under `outer`: its own
    /// bound fixed at `at`, or, not started yet, `within` from the first clock read.
    fn nested(outer: Option<Scope>, own: Own) -> Scope {
        let mut scope = outer.unwrap_or(Scope {
            fixed: None,
            lazy: None,
            fixed_at: None,
        });
        scope.fixed_at = None;
        match own {
            Own::Fixed(at, by) => {
                if scope.fixed.is_none_or(|(f, _)| at < f) {
                    scope.fixed = Some((at, by));
                }
            }
            Own::Lazy(within, by) => {
                if scope.lazy.is_none_or(|(l, _)| within < l) {
                    scope.lazy = Some((within, by));
                }
            }
        }
        scope
    }

    /// Fixes the lazy bound at `now`.
    fn fix(&mut self, now: Instant) {
        if let Some((within, by)) = self.lazy.take() {
            let at = later(now, within);
            if self.fixed.is_none_or(|(f, _)| at < f) {
                self.fixed = Some((at, by));
            }
            self.fixed_at = Some(now);
        }
    }
}

/// A layer's own bound.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Own {
    /// Started: ends at this instant.
    Fixed(Instant, &'static str),
    /// Not started: this long from the first clock read.
    Lazy(Duration, &'static str),
}

/// `now + d`, or far in the future when that does not fit.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The current scope, as installed by the layer polling now.
pub(crate) fn current() -> Option<Scope> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

fn set(scope: Option<Scope>) {
    let _ = CURRENT.try_with(|current| current.set(scope));
}

/// The deadline of the call being polled, fixed now if it was not yet, and the policy that set
/// it; `None` outside any deadline.
pub(crate) fn nearest() -> Option<(Instant, &'static str)> {
    let mut scope = current()?;
    if scope.lazy.is_some() {
        scope.fix(Instant::now());
        set(Some(scope));
    }
    scope.fixed
}

/// What is left of the deadline of the call being polled now, from tokio's clock (zero once it
/// passed); `None` outside any deadline. Pass it on to an HTTP client's timeout, or as a
/// `grpc-timeout` header ([`grpc_timeout`]).
///
/// Called from inside a call under a deadline that was not fixed yet, it fixes it: every
/// enclosing timeout counts from now.
pub fn remaining() -> Option<Duration> {
    nearest().map(|(at, _)| at.saturating_duration_since(Instant::now()))
}

/// Puts `scope` in place for the time of `poll`, and back what was there after (also when
/// `poll` panics). Returns what `poll` returned and the instant a layer inside fixed the lazy
/// bound at, if one did; the enclosing scope counts from that instant too.
#[inline]
pub(crate) fn polled<R>(
    outer: Option<Scope>,
    inner: Scope,
    poll: impl FnOnce() -> R,
) -> (R, Option<Instant>) {
    /// Puts the enclosing scope back, fixed at the instant a layer inside fixed it.
    struct Restore(Option<Scope>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let mut outer = self.0;
            if let (Some(at), Some(o)) = (current().and_then(|s| s.fixed_at), outer.as_mut()) {
                o.fix(at);
            }
            set(outer);
        }
    }
    set(Some(inner));
    let restore = Restore(outer);
    let result = poll();
    let fixed_at = current().and_then(|s| s.fixed_at);
    drop(restore);
    (result, fixed_at)
}

/// The scope for a layer's call: its own bound under `outer`.
#[inline]
pub(crate) fn inner(outer: Option<Scope>, own: Own) -> Scope {
    Scope::nested(outer, own)
}

/// At a layer's first wait: the instant its own bound counts from (`started`, when a layer
/// inside fixed it, or now), the inherited deadline fixed at that instant (written back, so
/// the layers outside count from it too), and which of the two ends first.
pub(crate) fn first_wait(started: Option<Instant>) -> (Instant, Option<(Instant, &'static str)>) {
    let start = started.unwrap_or_else(Instant::now);
    let inherited = match current() {
        Some(mut scope) => {
            if scope.lazy.is_some() {
                scope.fix(start);
                set(Some(scope));
            }
            scope.fixed
        }
        None => None,
    };
    (start, inherited)
}

/// A [`DeadlineExceeded`](ErrorKind::DeadlineExceeded) rejection naming `by`, the policy that
/// set the deadline.
pub(crate) fn exceeded(by: &'static str) -> Error {
    Error::new(ErrorKind::DeadlineExceeded, by)
}

pin_project! {
    /// A call under a deadline of its own; made by [`within`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Within<F> {
        #[pin]
        call: Option<F>,
        #[pin]
        sleep: Option<Sleep>,
        within: Duration,
        started: Option<Instant>,
        // Set at the first wait: the deadline that ends the call, and who set it.
        by: &'static str,
    }
}

/// Runs `fut` under a deadline `d` from its first wait: the layers inside see it (an inner
/// timeout ends by it, a retry does not back off past it), and at the deadline `fut` is dropped
/// and the call returns a [`DeadlineExceeded`](ErrorKind::DeadlineExceeded) rejection naming
/// [`WITHIN`] (or the enclosing policy whose deadline came first). For a server continuing its
/// caller's deadline (see [`parse_grpc_timeout`]), or a budget over several calls.
pub fn within<T, E, F>(d: Duration, fut: F) -> Within<F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    Within {
        call: Some(fut),
        sleep: None,
        within: d,
        started: None,
        by: WITHIN,
    }
}

impl<T, E, F> Future for Within<F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    type Output = Result<T, Failure<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(call) = this.call.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Failure::Rejected(exceeded(this.by))));
        };
        let outer = current();
        let own = match *this.started {
            Some(at) => Own::Fixed(later(at, *this.within), WITHIN),
            None => Own::Lazy(*this.within, WITHIN),
        };
        let (poll, fixed_at) = polled(outer, inner(outer, own), || call.poll(cx));
        if this.started.is_none() {
            *this.started = fixed_at;
        }
        if let Poll::Ready(outcome) = poll {
            return Poll::Ready(outcome);
        }
        if this.sleep.is_none() {
            let (start, inherited) = first_wait(*this.started);
            *this.started = Some(start);
            let own = later(start, *this.within);
            let (at, by) = match inherited {
                Some((at, by)) if at < own => (at, by),
                _ => (own, WITHIN),
            };
            *this.by = by;
            this.sleep.set(Some(tokio::time::sleep_until(at)));
        }
        let expired = this
            .sleep
            .as_mut()
            .as_pin_mut()
            .is_some_and(|sleep| sleep.poll(cx).is_ready());
        if !expired {
            return Poll::Pending;
        }
        this.call.set(None);
        Poll::Ready(Err(Failure::Rejected(exceeded(this.by))))
    }
}

impl<F> fmt::Debug for Within<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Within")
            .field("within", &self.within)
            .field("started", &self.started)
            .finish()
    }
}

pin_project! {
    /// A future run under a given deadline, or under none; made by [`scope`] and [`detach`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Scoped<F> {
        #[pin]
        fut: F,
        scope: Option<Scope>,
    }
}

/// Runs `fut` under the deadline current here, wherever it is polled: for a task spawned
/// inside a call that must end by the call's deadline
/// (`tokio::spawn(deadline::scope(work))`). Outside any deadline, `fut` runs under none.
pub fn scope<F: Future>(fut: F) -> Scoped<F> {
    let scope = current().map(|mut scope| {
        if scope.lazy.is_some() {
            scope.fix(Instant::now());
            set(Some(scope));
        }
        scope.fixed_at = None;
        scope
    });
    Scoped { fut, scope }
}

/// Runs `fut` under no deadline, even inside a call that has one: a layer inside it waits
/// as long as its own settings say.
pub fn detach<F: Future>(fut: F) -> Scoped<F> {
    Scoped { fut, scope: None }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = current();
        set(*this.scope);
        struct Restore(Option<Scope>);
        impl Drop for Restore {
            fn drop(&mut self) {
                set(self.0);
            }
        }
        let _restore = Restore(outer);
        this.fut.poll(cx)
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field(
                "deadline",
                &self.scope.and_then(|s| s.fixed).map(|(at, _)| at),
            )
            .finish()
    }
}

/// `d` in gRPC's `grpc-timeout` header format: at most eight digits and a unit (`n`, `u`,
/// `m`, `S`, `M`, `H`), the finest unit that holds it, rounded up so a callee never gets more
/// time than the caller has.
pub fn grpc_timeout(d: Duration) -> String {
    const UNITS: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    let nanos = d.as_nanos();
    for (size, unit) in UNITS {
        let n = nanos.div_ceil(size);
        if n < 100_000_000 {
            return format!("{n}{unit}");
        }
    }
    "99999999H".to_string()
}

/// Reads a `grpc-timeout` header (`100m`, `5S`, `1H`...): the caller's time left, for
/// [`within`]. `None` when it is not one: one to eight digits, then one of `n`, `u`, `m`, `S`,
/// `M`, `H`.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let value = value.trim();
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'n' => Duration::from_nanos(n),
        'u' => Duration::from_micros(n),
        'm' => Duration::from_millis(n),
        'S' => Duration::from_secs(n),
        'M' => Duration::from_secs(n * 60),
        'H' => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_round_trip_and_round_up() {
        assert_eq!(grpc_timeout(Duration::from_millis(250)), "250000u");
        assert_eq!(grpc_timeout(Duration::from_secs(3600 * 30)), "108000S");
        assert_eq!(
            grpc_timeout(Duration::from_secs(3600 * 100_000)),
            "6000000M"
        );
        assert_eq!(grpc_timeout(Duration::from_nanos(1)), "1n");
        // 100 000 001 ns does not fit in eight digits of nanoseconds: 100 001 us, rounded up.
        assert_eq!(grpc_timeout(Duration::from_nanos(100_000_001)), "100001u");
        for d in [1, 999, 250_000, 5_000_000_000_u64] {
            let d = Duration::from_nanos(d);
            let back = parse_grpc_timeout(&grpc_timeout(d)).expect("a grpc-timeout parses");
            assert!(
                back >= d && back - d < Duration::from_micros(1),
                "{d:?} -> {back:?}"
            );
        }
    }

    #[test]
    fn only_headers_of_grpcs_format_parse() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "m", "100", "100x", "123456789m", "-1m", "1.5S", "10 m"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn outside_any_deadline_nothing_remains_to_tell() {
        assert_eq!(remaining(), None);
    }
}
