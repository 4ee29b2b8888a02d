//! Deadlines that flow through nested calls.
//!
//! A call under a [`Timeout`](crate::Timeout) (or under [`within`]) carries its deadline to
//! every layer and function it calls, in the same task:
//! - an inner timeout ends at the earlier of its own duration and what remains of the
//!   deadline;
//! - an inner retry does not start a backoff that would end past the deadline: it returns the
//!   last outcome at once;
//! - a rate limiter's wait is no longer than what remains (a permit due after the deadline is
//!   refused at once, shared store or not), and a bulkhead holds a caller's place in its queue
//!   no longer than what remained when it joined (then rejects it, `BulkheadFull`), even where
//!   nothing else would end the call at the deadline (a task given it by [`scope`]).
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
//! that set the deadline by the name it was built with (a `policy!` static whose name another
//! shares is reported by its path elsewhere; resolving that on every poll would cost a timeout
//! a third of its fast path, so a deadline carries the built name). A circuit breaker counts `DeadlineExceeded` as neither a success nor a
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
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::clock::ticks;
use crate::error::{Error, ErrorKind, Failure};

/// The name [`within`] sets its deadline under.
pub const WITHIN: &str = "deadline";

/// No deadline.
const NONE: u64 = u64::MAX;
/// A deadline not fixed yet: the rest of the word is how long it lasts from the first clock
/// read, in nanoseconds. Without it, the word is the instant it ends ([`now`]'s ticks).
const LAZY: u64 = 1 << 63;
/// The longest deadline, and the latest instant, a word holds (292 years).
const MOST: u64 = LAZY - 2;

/// A deadline as the layers inside a call see it: one word (see [`LAZY`]), and the policy
/// that set it. Small, so a timeout puts it in place around every poll of its call at the
/// cost of a few thread-local moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scope {
    word: u64,
    by: &'static str,
}

const NO_SCOPE: Scope = Scope { word: NONE, by: "" };

thread_local! {
    /// The deadline of the call being polled on this thread (see [`Scope`]): put in place by a
    /// timeout (or [`within`], [`scope`], [`detach`]) for the time it polls its call, and put
    /// back after.
    static WORD: Cell<u64> = const { Cell::new(NONE) };
    static BY: Cell<&'static str> = const { Cell::new("") };
    /// When a lazy deadline was last fixed on this thread: the layer that put it in place reads
    /// it right after its poll, to count from the same instant.
    static FIXED_AT: Cell<u64> = const { Cell::new(0) };
}

/// The scope in place. Without a deadline, only the word is read: the name is not needed,
/// and reading it back right after a store of it costs a stall of the store buffer.
#[inline(always)]
fn load() -> Scope {
    let word = WORD.try_with(Cell::get).unwrap_or(NONE);
    if word == NONE {
        return NO_SCOPE;
    }
    Scope {
        word,
        by: BY.try_with(Cell::get).unwrap_or(""),
    }
}

/// Puts `scope` in place; without a deadline, only the word (the name means nothing then).
#[inline(always)]
fn store(scope: Scope) {
    let _ = WORD.try_with(|word| word.set(scope.word));
    if scope.word != NONE {
        let _ = BY.try_with(|by| by.set(scope.by));
    }
}

/// Whether a word is a deadline not fixed yet.
#[inline]
fn is_lazy(word: u64) -> bool {
    word != NONE && word & LAZY != 0
}

/// The instant every word counts from: a year before the first one was asked for, so any
/// instant of tokio's clock (real, or paused and advanced) in this process is after it.
fn anchor() -> Instant {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    *ANCHOR.get_or_init(|| {
        let now = Instant::now();
        now.checked_sub(Duration::from_secs(365 * 86_400))
            .unwrap_or(now)
    })
}

/// Now, in nanoseconds since [`anchor`] (tokio's clock, so virtual time counts).
pub(crate) fn now() -> u64 {
    ticks(Instant::now().saturating_duration_since(anchor())).min(MOST)
}

/// The instant `t` ([`now`]'s ticks) is.
pub(crate) fn instant(t: u64) -> Instant {
    let anchor = anchor();
    anchor
        .checked_add(Duration::from_nanos(t))
        .unwrap_or_else(|| anchor + Duration::from_secs(30 * 365 * 86_400))
}

/// `t + d`, in ticks, held in a word.
#[inline]
pub(crate) fn after(t: u64, d: Duration) -> u64 {
    t.saturating_add(ticks(d)).min(MOST)
}

/// A layer's own bound.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Own {
    /// Started: ends at this instant ([`now`]'s ticks).
    Fixed(u64, &'static str),
    /// Not started: this long from the first clock read.
    Lazy(Duration, &'static str),
}

/// The scope in place while a layer polls its call; puts the enclosing one back when dropped
/// (also when the poll panics). Made by [`enter`].
pub(crate) struct Entered {
    outer: Scope,
    /// Whether the scope put in place was lazy (a layer inside may fix it).
    lazy: bool,
    /// The instant the layer's own bound started, when entering fixed it.
    started: Option<u64>,
    done: bool,
}

/// Puts in place the scope of a layer's call: the nearer of its own bound and the deadline in
/// place now. Reads no clock unless one of the two is fixed and the other not yet. Inlined:
/// with no deadline outside, it is two thread-local loads and two stores.
#[inline(always)]
pub(crate) fn enter(own: Own) -> Entered {
    let outer = load();
    if outer.word == NONE
        && let Own::Lazy(d, by) = own
    {
        store(Scope {
            word: LAZY | ticks(d).min(MOST),
            by,
        });
        return Entered {
            outer,
            lazy: true,
            started: None,
            done: false,
        };
    }
    enter_nested(outer, own)
}

/// [`enter`] under a deadline, or with a bound of its own already fixed.
#[inline(never)]
fn enter_nested(outer: Scope, own: Own) -> Entered {
    let (installed, outer, started) = match own {
        Own::Lazy(d, by) => {
            let d = ticks(d).min(MOST);
            if outer.word == NONE {
                (Scope { word: LAZY | d, by }, outer, None)
            } else if is_lazy(outer.word) {
                // Both lazy: they start together, so the shorter is the nearer.
                let inner = if d < outer.word & !LAZY {
                    Scope { word: LAZY | d, by }
                } else {
                    outer
                };
                (inner, outer, None)
            } else {
                let t = now();
                let inner = nearer(
                    outer,
                    Scope {
                        word: t.saturating_add(d).min(MOST),
                        by,
                    },
                );
                (inner, outer, Some(t))
            }
        }
        Own::Fixed(at, by) => {
            let mine = Scope { word: at, by };
            if outer.word == NONE {
                (mine, outer, None)
            } else if is_lazy(outer.word) {
                let fixed = fix(outer, now());
                (nearer(fixed, mine), fixed, None)
            } else {
                (nearer(outer, mine), outer, None)
            }
        }
    };
    store(installed);
    Entered {
        outer,
        lazy: is_lazy(installed.word),
        started,
        done: false,
    }
}

/// The nearer of two fixed deadlines; the first on a tie (the enclosing one set it first).
#[inline]
fn nearer(a: Scope, b: Scope) -> Scope {
    if b.word < a.word { b } else { a }
}

/// A lazy deadline fixed at `t`, and `t` kept for the layers outside to count from.
#[cold]
fn fix(scope: Scope, t: u64) -> Scope {
    let _ = FIXED_AT.try_with(|at| at.set(t));
    Scope {
        word: t.saturating_add(scope.word & !LAZY).min(MOST),
        by: scope.by,
    }
}

impl Entered {
    /// Puts the enclosing scope back, fixed at the instant a layer inside fixed the one this
    /// layer put in place; returns when the layer's own bound started, if it did by now.
    #[inline(always)]
    pub(crate) fn exit(&mut self) -> Option<u64> {
        self.done = true;
        self.restore()
    }

    #[inline(always)]
    fn restore(&mut self) -> Option<u64> {
        if self.lazy && !is_lazy(WORD.try_with(Cell::get).unwrap_or(NONE)) {
            return self.restore_fixed();
        }
        store(self.outer);
        self.started
    }

    /// A layer inside fixed the lazy deadline: every layer out to the one that set it counts
    /// from then.
    #[inline(never)]
    fn restore_fixed(&mut self) -> Option<u64> {
        let t = FIXED_AT.try_with(Cell::get).unwrap_or(0);
        let outer = if is_lazy(self.outer.word) {
            fix(self.outer, t)
        } else {
            self.outer
        };
        store(outer);
        Some(t)
    }
}

impl Drop for Entered {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.done {
            self.restore();
        }
    }
}

/// The deadline in place now, fixed now if it was not yet, and who set it; `None` outside
/// any deadline.
fn fixed_now() -> Option<(u64, &'static str)> {
    let scope = load();
    if scope.word == NONE {
        return None;
    }
    if is_lazy(scope.word) {
        let fixed = fix(scope, now());
        store(fixed);
        return Some((fixed.word, fixed.by));
    }
    Some((scope.word, scope.by))
}

/// What is left of the deadline of the call being polled now, from tokio's clock (zero once it
/// passed); `None` outside any deadline. Pass it on to an HTTP client's timeout, or as a
/// `grpc-timeout` header ([`grpc_timeout`]).
///
/// Called from inside a call under a deadline that was not fixed yet, it fixes it: every
/// enclosing timeout counts from now.
pub fn remaining() -> Option<Duration> {
    let (at, _) = fixed_now()?;
    Some(Duration::from_nanos(at.saturating_sub(now())))
}

/// At a layer's first wait, with its own poll over (the enclosing scope in place again): the
/// instant its own bound counts from (`started`, when a layer inside fixed it, or now), and
/// the enclosing deadline, fixed at that instant if it was not yet (so the layers outside
/// count from it too), with who set it.
pub(crate) fn first_wait(started: Option<u64>) -> (u64, Option<(u64, &'static str)>) {
    let start = started.unwrap_or_else(now);
    let outer = load();
    if outer.word == NONE {
        return (start, None);
    }
    let outer = if is_lazy(outer.word) {
        let fixed = fix(outer, start);
        store(fixed);
        fixed
    } else {
        outer
    };
    (start, Some((outer.word, outer.by)))
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
        // When its deadline started counting ([`now`]'s ticks).
        started: Option<u64>,
        // Who set the deadline that ends the call: set at the first wait.
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
        let own = match *this.started {
            Some(t) => Own::Fixed(after(t, *this.within), WITHIN),
            None => Own::Lazy(*this.within, WITHIN),
        };
        let mut entered = enter(own);
        let poll = call.poll(cx);
        let started = entered.exit();
        if this.started.is_none() {
            *this.started = started;
        }
        if let Poll::Ready(outcome) = poll {
            return Poll::Ready(outcome);
        }
        if this.sleep.is_none() {
            if tokio::runtime::Handle::try_current().is_err() {
                // Waiting out a deadline needs tokio's timer: as a timeout does, end the call
                // (said in the log) rather than panic in the timer.
                tracing::error!(
                    target: "resilience",
                    policy = *this.by,
                    "deadline ended the call: a deadline needs a tokio runtime with time enabled, \
                     and this call waited outside any tokio runtime"
                );
                this.call.set(None);
                return Poll::Ready(Err(Failure::Rejected(exceeded(this.by))));
            }
            let (start, inherited) = first_wait(*this.started);
            *this.started = Some(start);
            let own = after(start, *this.within);
            let (at, by) = match inherited {
                Some((at, by)) if at < own => (at, by),
                _ => (own, WITHIN),
            };
            *this.by = by;
            this.sleep.set(Some(tokio::time::sleep_until(instant(at))));
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
            .field("started", &self.started.map(instant))
            .finish()
    }
}

pin_project! {
    /// A future run under a given deadline, or under none; made by [`scope`] and [`detach`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Scoped<F> {
        #[pin]
        fut: F,
        scope: Scope,
    }
}

/// Runs `fut` under the deadline current here, wherever it is polled: for a task spawned
/// inside a call that must end by the call's deadline
/// (`tokio::spawn(deadline::scope(work))`). Outside any deadline, `fut` runs under none.
pub fn scope<F: Future>(fut: F) -> Scoped<F> {
    let scope = match fixed_now() {
        Some((word, by)) => Scope { word, by },
        None => NO_SCOPE,
    };
    Scoped { fut, scope }
}

/// Runs `fut` under no deadline, even inside a call that has one: a layer inside it waits
/// as long as its own settings say.
pub fn detach<F: Future>(fut: F) -> Scoped<F> {
    Scoped {
        fut,
        scope: NO_SCOPE,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Puts the enclosing scope back, also when the poll panics.
        struct Restore(Scope);
        impl Drop for Restore {
            fn drop(&mut self) {
                store(self.0);
            }
        }
        let this = self.project();
        let _restore = Restore(load());
        store(*this.scope);
        this.fut.poll(cx)
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deadline = (self.scope.word != NONE).then(|| instant(self.scope.word));
        f.debug_struct("Scoped")
            .field("deadline", &deadline)
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
