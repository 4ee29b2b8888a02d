//! The circuit breaker: stops calling a dependency that keeps failing, and probes it before
//! trusting it again.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{CircuitBreaker, ErrorKind, Failure, State};
//!
//! static INVENTORY: CircuitBreaker = match CircuitBreaker::builder("inventory")
//!     .consecutive_failures(3)
//!     .open(Duration::from_secs(30))
//!     .half_open(1)
//!     .build()
//! {
//!     Ok(breaker) => breaker,
//!     Err(_) => panic!("invalid circuit breaker"),
//! };
//!
//! #[derive(Debug)]
//! struct Unavailable;
//! async fn query_stock(up: bool) -> Result<u32, Unavailable> {
//!     if up { Ok(3) } else { Err(Unavailable) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! for _ in 0..3 {
//!     let _ = INVENTORY.call(async { Ok(query_stock(false).await?) }).await;
//! }
//! assert_eq!(INVENTORY.state(), State::Open);
//!
//! // While open, calls are rejected without running, with the rest of the wait.
//! let Err(Failure::Rejected(e)) = INVENTORY.call(async { Ok(query_stock(true).await?) }).await
//! else { unreachable!() };
//! assert_eq!(e.kind(), ErrorKind::CircuitOpen);
//! assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
//!
//! // After the wait, the next call is a probe; it succeeds, so the breaker closes.
//! tokio::time::advance(Duration::from_secs(30)).await;
//! assert_eq!(INVENTORY.call(async { Ok(query_stock(true).await?) }).await.unwrap(), 3);
//! assert_eq!(INVENTORY.state(), State::Closed);
//! # }
//! ```
//!
//! # How it decides
//!
//! - **Closed.** Outcomes go into a window: the last N calls ([`window_calls`], default 100)
//!   or the last D of time ([`window_time`], 10 buckets of D/10). The breaker opens when the
//!   failure rate reaches [`threshold`] (default 50%), or, with [`slow`], when the slow-call
//!   rate reaches [`slow_threshold`]; never before the window holds [`min_calls`] calls.
//!   Alternatively it opens on [`consecutive_failures`].
//! - **Open.** Calls are rejected with [`ErrorKind::CircuitOpen`](crate::ErrorKind) and a
//!   `retry_after` of the rest of the wait ([`open`], or [`open_exponential`]: doubling each
//!   time a probe round re-opens it, up to a maximum, and back to the initial wait once it has
//!   closed). There is no timer: the first call after the wait turns it half-open, and
//!   [`CircuitBreaker::state`] reads `Open` until then.
//! - **Half-open.** Exactly [`half_open`] probe calls run; others are rejected (with no
//!   `retry_after`). Once every probe has completed, their failure (and slow) rates against the
//!   thresholds close or re-open the breaker, as in resilience4j; it re-opens as soon as enough
//!   probes have failed that the outcome is certain. In consecutive-failures mode any failed
//!   probe re-opens it and all probes succeeding close it. A probe that is cancelled or
//!   ignored gives its slot back to another call.
//! - **By hand**: [`force_open`](CircuitBreaker::force_open),
//!   [`disable`](CircuitBreaker::disable), [`metrics_only`](CircuitBreaker::metrics_only),
//!   [`close`](CircuitBreaker::close), [`reset`](CircuitBreaker::reset).
//!
//! What counts: `Ok` is a success; the call's own error is classified by the
//! [`Classification`] the call site gives ([`call`](CircuitBreaker::call) counts every error as
//! a failure). A rejection from a policy inside the breaker counts by its kind: a timeout is a
//! failure (the dependency is slow or gone); a full bulkhead, a rate limit and an inner open
//! breaker are ignored (local throttling says nothing about the dependency). Ignored calls are
//! neither successes nor failures. A dropped (cancelled) call is neutral too and is counted as
//! `cancelled`; a panicking call is a failure, and the panic keeps unwinding.
//!
//! A call belongs to the state it was admitted in: if the breaker changes state while the call
//! runs, its outcome is counted but not recorded in the new state's window or probe round.
//!
//! Cost: a closed breaker with a count window reads no clock. Once its window holds
//! [`min_calls`] calls, a success takes no lock, uses no locked instruction and writes no cache
//! line another thread writes: it reads the state word (twice), the window's shape and a few
//! settings, and adds 1 to a counter on a cache line its thread owns (the first 16 threads to
//! count anything own one each; further threads share one more, with a `fetch_add`). Failures,
//! slow calls, the calls that fill the window up to `min_calls`, and reads of the window
//! (metrics) take the window's lock, and write the successes counted since into it. Time
//! windows cost more: every outcome reads the clock (tokio's, so virtual time in tests) and
//! changes its bucket with a compare-and-swap; `slow` reads the clock too.
//!
//! [`window_calls`]: CircuitBreakerBuilder::window_calls
//! [`window_time`]: CircuitBreakerBuilder::window_time
//! [`threshold`]: CircuitBreakerBuilder::threshold
//! [`slow`]: CircuitBreakerBuilder::slow
//! [`slow_threshold`]: CircuitBreakerBuilder::slow_threshold
//! [`min_calls`]: CircuitBreakerBuilder::min_calls
//! [`consecutive_failures`]: CircuitBreakerBuilder::consecutive_failures
//! [`open`]: CircuitBreakerBuilder::open
//! [`open_exponential`]: CircuitBreakerBuilder::open_exponential
//! [`half_open`]: CircuitBreakerBuilder::half_open

pub(crate) mod builder;
mod call;
mod core;
pub mod fleet;
pub(crate) mod keyed;
mod registered;
mod window;
mod word;

use std::fmt;
use std::time::Duration;

pub use crate::state::State;
pub use builder::CircuitBreakerBuilder;
pub use call::Call;
pub use window::MAX_WINDOW_CALLS;

use self::core::{Core, Outcome, Permit, Rejected};
use crate::clock::Clock;
use crate::error::{ConfigError, Error, ErrorKind, Failure};
use crate::event::{EventKind, PolicyKind, emit};
use crate::guard::Exit;
use crate::name::Name;

/// What a call site's `record` / `ignore` predicates make of the call's own error.
///
/// ```
/// use resilience_runtime::circuit_breaker::Classification;
///
/// #[derive(Debug)]
/// enum ApiError { Declined, Unavailable }
///
/// // A declined card says nothing about the payment provider's health.
/// fn classify(e: &ApiError) -> Classification {
///     match e {
///         ApiError::Declined => Classification::Ignored,
///         ApiError::Unavailable => Classification::Failure,
///     }
/// }
/// # assert_eq!(classify(&ApiError::Declined), Classification::Ignored);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Classification {
    /// Counts as a success: the dependency answered as it should.
    Success,
    /// Counts as a failure towards opening the breaker.
    Failure,
    /// Counts as neither: not recorded in the window, and a probe's slot is freed.
    Ignored,
}

/// A snapshot of a breaker's state and counters, from [`CircuitBreaker::metrics`].
///
/// The counters are totals since the breaker was built (or [`reset`](CircuitBreaker::reset))
/// and add up: `calls == successes + failures + ignored + rejections + cancelled`. `calls`
/// counts finished calls (a call in flight is counted when it ends). `slow` counts slow
/// successes and slow failures, which are also in `successes` or `failures`. Each counter is
/// read in turn, so under concurrent calls the snapshot may be a few calls apart from any
/// single instant.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct CircuitBreakerMetrics {
    /// The state (an open breaker whose wait has passed reads `Open` until the next call).
    pub state: State,
    /// Calls finished or rejected: the sum of the five counters below.
    pub calls: u64,
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed: recorded errors, inner timeouts, panics.
    pub failures: u64,
    /// Calls whose error was classified [`Classification::Ignored`], or that an inner policy
    /// throttled.
    pub ignored: u64,
    /// Calls the breaker rejected.
    pub rejections: u64,
    /// Calls dropped before they finished.
    pub cancelled: u64,
    /// Calls that took at least the `slow` duration (also counted as successes or failures).
    pub slow: u64,
    /// The failure rate in the window, in percent; `None` until the window holds `min_calls`.
    pub failure_rate: Option<f64>,
    /// The slow-call rate in the window, in percent; `None` until the window holds
    /// `min_calls`, or when slow calls are not tracked.
    pub slow_rate: Option<f64>,
    /// Calls in the window now.
    pub window_calls: u64,
    /// Half-open probe calls admitted and not yet finished (0 in other states).
    pub probes_in_flight: u32,
}

/// A circuit breaker: rejects calls to a dependency that keeps failing, until probes show it
/// has recovered. See the [module docs](self) for how it decides.
///
/// Build it with [`CircuitBreaker::builder`]; the builder is `const`, so a breaker shared by
/// several functions is a `static`. Every method takes `&self`; the state is all atomics.
pub struct CircuitBreaker {
    core: Core,
    clock: Clock,
    /// Who may probe, when a fleet elects its probers (see [`fleet`]).
    gate: fleet::Gate,
    /// The settings it was built with, for [`reset`](Self::reset).
    declared: CircuitBreakerBuilder,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            // A keyed child's name shows its key: `HOSTS[api.example.com]`.
            .field("name", self.core.name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker named `name` (its name in the registry, in errors and in
    /// events).
    pub const fn builder(name: &'static str) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name)
    }

    /// The name it reports in errors and events, and is listed under in the registry (see
    /// [`registry`](crate::registry#names)).
    pub fn name(&self) -> &'static str {
        self.core.name().get()
    }

    /// Its name as built and as reported, for the registry.
    pub(crate) fn names(&self) -> &Name {
        self.core.name()
    }

    /// The name it was declared shared under (`shared = "payments"`), if any: what a fleet
    /// backend shares it as.
    pub fn shared_name(&self) -> Option<&'static str> {
        self.declared.shared
    }

    /// How many replicas must trip, within one open wait, for the fleet's breaker to open
    /// (`quorum = 2`); 1 unless declared.
    pub fn quorum(&self) -> u32 {
        self.declared.quorum
    }

    /// Whether an open breaker makes health "down" rather than "degraded".
    pub fn is_critical(&self) -> bool {
        self.core.is_critical()
    }

    /// The current state. An open breaker whose wait has passed still reads
    /// [`State::Open`]: the next call turns it half-open.
    pub fn state(&self) -> State {
        self.core.state()
    }

    /// Runs `fut` if the breaker admits it, and records the outcome; every error of the call's
    /// own type `E` counts as a failure.
    ///
    /// # Errors
    ///
    /// `Failure::Rejected` with [`ErrorKind::CircuitOpen`] when the breaker is open (with
    /// `retry_after`, the rest of the wait), forced open, or half-open with every probe slot
    /// taken; otherwise whatever `fut` returned.
    pub fn call<T, E, F>(&self, fut: F) -> Call<'_, F, fn(&E) -> Classification>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        Call::new(self, fut, |_| Classification::Failure)
    }

    /// Like [`call`](Self::call), with `classify` deciding what the call's own errors count as.
    ///
    /// ```
    /// use resilience_runtime::{CircuitBreaker, circuit_breaker::Classification};
    ///
    /// # #[derive(Debug)] struct HttpError(u16);
    /// # async fn get() -> Result<String, HttpError> { Err(HttpError(404)) }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let breaker = CircuitBreaker::builder("catalog").build().unwrap();
    /// // A 404 is the dependency answering; only 5xx say it is unwell.
    /// let result = breaker
    ///     .call_classified(async { Ok(get().await?) }, |e: &HttpError| {
    ///         if e.0 >= 500 { Classification::Failure } else { Classification::Success }
    ///     })
    ///     .await;
    /// assert!(result.is_err());
    /// assert_eq!(breaker.metrics().successes, 1);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_classified<T, E, F, C>(&self, fut: F, classify: C) -> Call<'_, F, C>
    where
        F: Future<Output = Result<T, Failure<E>>>,
        C: Fn(&E) -> Classification,
    {
        Call::new(self, fut, classify)
    }

    /// Admits a call or rejects it; the tick it started at when slow calls are tracked.
    #[inline(always)]
    fn admit(&self) -> Result<(Permit, u64), Error> {
        self.clock.start();
        let probe = || self.gate.may_probe(self.core.name().get());
        match self.core.acquire_gated(|| self.clock.now(), probe) {
            Ok(permit) => {
                let started = if self.core.slow() != 0 {
                    self.clock.now()
                } else {
                    0
                };
                Ok((permit, started))
            }
            Err(rejected) => Err(self.rejected(rejected)),
        }
    }

    /// Reports and records a call that completed: a closed call's success, when slow calls
    /// were not tracked at its admission (`started` is 0), inline; every other case out of line.
    #[inline(always)]
    fn finish(&self, permit: Permit, outcome: Outcome, started: u64) {
        if outcome == Outcome::Success && started == 0 {
            emit(
                self.core.name(),
                PolicyKind::CircuitBreaker,
                EventKind::Success,
            );
            if self.core.complete_closed_success(permit, self.now_once(0)) {
                return;
            }
            self.core.complete(permit, outcome, false, self.now_once(0));
            return;
        }
        self.finish_other(permit, outcome, started);
    }

    /// Reports and records a call that completed. Not generic, so every `call` shares it.
    #[inline(never)]
    fn finish_other(&self, permit: Permit, outcome: Outcome, started: u64) {
        let slow_after = self.core.slow();
        let mut ended = 0;
        let mut slow = false;
        // A call admitted while slow calls were untracked (`started` 0) is not timed, even if
        // tracking began while it ran.
        if slow_after != 0 && started != 0 && outcome != Outcome::Ignored {
            ended = self.clock.now();
            let elapsed = ended.saturating_sub(started);
            if elapsed >= slow_after {
                slow = true;
                let elapsed = Duration::from_nanos(elapsed);
                emit(
                    self.core.name(),
                    PolicyKind::CircuitBreaker,
                    EventKind::Slow { elapsed },
                );
            }
        }
        // `emit` tests first whether anyone would see the event (TRACE for a success).
        let event = match outcome {
            Outcome::Success => EventKind::Success,
            Outcome::Failure => EventKind::Failure,
            Outcome::Ignored | Outcome::Cancelled => EventKind::Ignored,
        };
        emit(self.core.name(), PolicyKind::CircuitBreaker, event);
        self.core
            .complete(permit, outcome, slow, self.now_once(ended));
    }

    /// The clock, read at most once, or not at all when `known` (a tick, never 0) is given.
    #[inline]
    fn now_once(&self, known: u64) -> impl FnMut() -> u64 + '_ {
        let mut now = known;
        move || {
            if now == 0 {
                now = self.clock.now();
            }
            now
        }
    }

    #[cold]
    fn rejected(&self, rejected: Rejected) -> Error {
        let kind = ErrorKind::CircuitOpen;
        if let Some(shared) = self.declared.shared
            && !self.gate.is_set()
        {
            crate::shared_name::running_locally(self.name(), shared);
        }
        emit(
            self.core.name(),
            PolicyKind::CircuitBreaker,
            EventKind::Rejected { reason: kind },
        );
        let error = Error::named(kind, self.core.name());
        match rejected.retry_after {
            Some(ticks) => error.with_retry_after(Duration::from_nanos(ticks)),
            None => error,
        }
    }

    /// A call that ended without completing: dropped (neutral) or panicking (a failure).
    #[cold]
    fn exited(&self, permit: Permit, exit: Exit) {
        let (event, outcome) = match exit {
            Exit::Cancelled => (EventKind::Cancelled, Outcome::Cancelled),
            Exit::Panicked => (EventKind::Panicked, Outcome::Failure),
        };
        emit(self.core.name(), PolicyKind::CircuitBreaker, event);
        self.core.complete(permit, outcome, false, self.now_once(0));
    }

    /// Opens the breaker by hand: every call is rejected (with no `retry_after`) until
    /// [`close`](Self::close) or [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.core.force(State::ForcedOpen, false);
    }

    /// Switches the breaker off by hand: every call passes and is counted in the metrics'
    /// counters, but nothing is recorded in the window, until [`close`](Self::close) or
    /// [`reset`](Self::reset).
    pub fn disable(&self) {
        self.core.force(State::Disabled, false);
    }

    /// Every call passes and outcomes are recorded as when closed, but the breaker never
    /// opens, until [`close`](Self::close) or [`reset`](Self::reset). Useful to watch a new
    /// breaker's rates before letting it act.
    pub fn metrics_only(&self) {
        self.core.force(State::MetricsOnly, false);
    }

    /// Closes the breaker by hand, from any state, with an empty window. Calls in flight are
    /// counted but not recorded in the new window; the counters are kept.
    pub fn close(&self) {
        self.core.force(State::Closed, true);
    }

    /// Makes the breaker as it was built: the settings it was declared with, closed, an empty
    /// window, every counter at zero, and a fresh time origin, set by the next call in
    /// whatever runtime makes it (so a test under a paused clock can reuse a breaker another
    /// runtime used). Calls in flight are counted, when they end, but not recorded in the
    /// window.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        self.core.reset();
        self.clock.restart();
    }

    /// Sets the failure rate that opens the breaker, in percent (`(0, 100]`); a breaker that
    /// opened on consecutive failures switches to the rate. Takes effect from the next call,
    /// on the window as it is.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `threshold` outside `(0, 100]`; nothing changes.
    pub fn set_threshold(&self, percent: f64) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().rate_mode().threshold(percent))
    }

    /// Opens the breaker after `n` consecutive failures from now on, instead of on a rate.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `failures` when `n` is 0; nothing changes.
    pub fn set_consecutive_failures(&self, n: u32) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().consecutive_mode().consecutive_failures(n))
    }

    /// Decides on the last `n` calls from now on (a count window, `1..=MAX_WINDOW_CALLS`),
    /// in place of the window it had, of either kind.
    ///
    /// A new window starts empty, like the one [`close`](Self::close) leaves, but the state is
    /// kept: an open breaker stays open until its deadline, a half-open one finishes its
    /// probe round, and the counters are kept. Calls that were admitted before the change and
    /// complete after it are counted but not recorded in the new window. Setting the window
    /// the breaker already has changes nothing. A default `min_calls` follows the new size (20,
    /// or a smaller window's size); a given `min_calls` above the new size is an error, as in
    /// [`CircuitBreakerBuilder::min_calls`]: lower `min_calls` first.
    ///
    /// ```
    /// use resilience_runtime::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("payments").window_calls(100).build().unwrap();
    /// breaker.set_window_calls(20).unwrap();
    /// let expected = CircuitBreaker::builder("payments").threshold(50.0).window_calls(20);
    /// assert_eq!(breaker.settings(), expected);
    /// assert_eq!(breaker.set_window_calls(0).unwrap_err().field(), "window");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `window` when `n` is 0 or above [`MAX_WINDOW_CALLS`], or for
    /// `min_calls` when a given `min_calls` is above `n` (the message states both); nothing
    /// changes.
    pub fn set_window_calls(&self, n: u32) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().window_calls(n))
    }

    /// Decides on the calls of the last `d` from now on (a time window of 10 buckets of
    /// `d / 10`), in place of the window it had, of either kind. The new window starts empty
    /// and the state is kept, as with [`set_window_calls`](Self::set_window_calls).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `window` when `d` is zero; nothing changes.
    pub fn set_window_time(&self, d: Duration) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().window_time(d))
    }

    /// Sets the calls the window must hold before a rate can open the breaker.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `min_calls` when `n` is 0 or above a count window's size; nothing
    /// changes.
    pub fn set_min_calls(&self, n: u32) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().min_calls(n))
    }

    /// Marks calls taking at least `slow` as slow (`None`: stop tracking slow calls).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `slow` when it is zero; nothing changes.
    pub fn set_slow(&self, slow: Option<Duration>) -> Result<(), ConfigError> {
        match slow {
            Some(d) => self.reconfigure(self.settings().slow(d)),
            None => self.reconfigure(self.settings().without_slow()),
        }
    }

    /// Sets the slow-call rate that opens the breaker, in percent.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `slow_threshold` outside `(0, 100]` or without `slow`.
    pub fn set_slow_threshold(&self, percent: f64) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().slow_threshold(percent))
    }

    /// Sets a fixed open wait. A breaker open now keeps the wait it is in; the new one
    /// applies from the next time it opens.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `open` when `wait` is zero; nothing changes.
    pub fn set_open(&self, wait: Duration) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().open(wait))
    }

    /// Sets an open wait growing from `initial` to `max`, as
    /// [`open_exponential`](CircuitBreakerBuilder::open_exponential).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `open` when `initial` is zero or `max` is below it.
    pub fn set_open_exponential(
        &self,
        initial: Duration,
        max: Duration,
    ) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().open_exponential(initial, max))
    }

    /// Sets the probe calls a half-open breaker lets through (a round in progress decides with
    /// the new number).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `half_open` outside `1..=1000`; nothing changes.
    pub fn set_half_open(&self, probes: u32) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().half_open(probes))
    }

    /// Sets whether an open breaker makes health "down" rather than "degraded".
    pub fn set_critical(&self, critical: bool) {
        // Only `critical` changes, and it cannot be invalid.
        let _ = self.reconfigure(self.settings().critical(critical));
    }

    /// The state, the counters, and the window's rates. Reads the clock for a time window.
    pub fn metrics(&self) -> CircuitBreakerMetrics {
        let s = self.core.snapshot(|| self.clock.peek());
        let ready = s.window.calls > 0 && s.window.calls >= s.min_calls as u64;
        let percent = |part: u64| part as f64 * 100.0 / s.window.calls as f64;
        CircuitBreakerMetrics {
            state: s.state,
            calls: s.successes + s.failures + s.ignored + s.rejections + s.cancelled,
            successes: s.successes,
            failures: s.failures,
            ignored: s.ignored,
            rejections: s.rejections,
            cancelled: s.cancelled,
            slow: s.slow,
            failure_rate: ready.then(|| percent(s.window.failures)),
            slow_rate: (ready && s.slow_tracked).then(|| percent(s.window.slow)),
            window_calls: s.window.calls,
            probes_in_flight: s.probes_in_flight,
        }
    }
}
