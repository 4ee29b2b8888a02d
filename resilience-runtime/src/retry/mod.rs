//! Retry: runs a failed call again, after a growing, randomised delay, a bounded number of times.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{Backoff, Failure, Retry};
//!
//! static RETRY: Retry = match Retry::builder("quotes/fetch")
//!     .attempts(3)
//!     .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2)))
//!     .build()
//! {
//!     Ok(retry) => retry,
//!     Err(_) => panic!("invalid retry"),
//! };
//!
//! #[derive(Debug)]
//! enum ApiError { Unavailable, NotFound }
//! impl ApiError {
//!     fn is_transient(&self) -> bool { matches!(self, ApiError::Unavailable) }
//! }
//! # async fn fetch_quote(_sku: &str) -> Result<u32, ApiError> { Ok(42) }
//!
//! async fn quote(sku: &str) -> Result<u32, Failure<ApiError>> {
//!     RETRY.call_when(|| async { Ok(fetch_quote(sku).await?) }, ApiError::is_transient).await
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { assert_eq!(quote("a").await.unwrap(), 42); }
//! ```
//!
//! # What is retried
//!
//! - The call's own error `E`: when the `when` predicate says so ([`Retry::call`] retries every
//!   `E`); any other `E` is returned at once.
//! - A rejection by a policy inside the retry, by its kind:
//!   [`TimedOut`](crate::ErrorKind::TimedOut) is a failed attempt like any other (the classic
//!   retry over a per-attempt timeout); [`RateLimited`](crate::ErrorKind::RateLimited) is retried
//!   after at least its `retry_after`; [`CircuitOpen`](crate::ErrorKind::CircuitOpen) and
//!   [`BulkheadFull`](crate::ErrorKind::BulkheadFull) are returned at once, since failing fast is
//!   their whole point.
//!
//! When every attempt has failed, the last outcome is returned unchanged.
//!
//! # Cost
//!
//! A call that succeeds at the first try reads no clock, draws no random number and writes no
//! shared memory: [`Retry::start`] builds a small value on the stack, and [`Attempts::next`]
//! returns at once on `Ok`. The clock, the timer and the random number generator are used only
//! between attempts.
//!
//! # Without a runtime
//!
//! Waiting between attempts needs a tokio runtime with time enabled. Outside any tokio runtime, a
//! retry that would have to wait gives up instead, returns the last outcome unchanged, and says
//! why in an `ERROR`-level `tracing` event; a retry with nothing left to wait for never notices.
//! Inside a tokio runtime built without `enable_time`, tokio itself panics when the timer is
//! first needed (that case cannot be detected beforehand).

mod backoff;
mod registered;
mod rng;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub use backoff::{Backoff, Jitter};
use backoff::{Kind, Schedule};

use crate::error::{ConfigError, ErrorKind, Failure};
use crate::event::{EventKind, PolicyKind, emit};
use crate::name::Name;
use crate::retry_budget::{self, RetryBudget};

/// A retry policy: how many attempts, and how long to wait between them.
///
/// Build it with [`Retry::builder`]; the builder is `const`, so a policy can be a `static`. Run
/// a call with [`Retry::call`] or [`Retry::call_when`], or drive the attempts yourself with
/// [`Retry::start`] (what the `#[retry]` attribute generates). See the [module docs](self).
///
/// The configuration lives in atomics, so the policy is `Send + Sync`, used through `&self`, and
/// can be reconfigured in place without locks.
#[derive(Debug)]
pub struct Retry {
    name: Name,
    // Configuration. Every field is independent of the others and publishes no other memory,
    // so every access is `Relaxed`.
    attempts: AtomicU32,
    kind: AtomicU8,
    /// The fixed delay, the linear step or the exponential initial delay, in nanoseconds.
    base: AtomicU64,
    /// The longest delay, in nanoseconds.
    max: AtomicU64,
    /// The exponential factor, as `f64::to_bits`.
    factor: AtomicU64,
    jitter: AtomicU8,
    // Counters, written only when an attempt failed (never on the success path).
    retries: AtomicU64,
    gave_up: AtomicU64,
    past_deadline: AtomicU64,
    budget_refused: AtomicU64,
    /// The budget its retries are taken from, if any.
    budget: Option<&'static RetryBudget>,
    /// The settings it was built with, for [`reset`](Self::reset).
    declared: RetryBuilder,
}

/// A snapshot of a retry policy's counters, from [`Retry::metrics`]. Only failed attempts write
/// them: a call that succeeds at once costs no counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryMetrics {
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Calls that ended in failure: every attempt failed, or the error was not retryable.
    pub gave_up: u64,
    /// Of those, calls that stopped because the next backoff would have ended past the call's
    /// deadline (see [`deadline`](crate::deadline)).
    pub past_deadline: u64,
    /// Of those, calls whose retry its [`RetryBudget`] refused.
    pub budget_refused: u64,
}

/// Builds a [`Retry`]; every method is `const`. Made by [`Retry::builder`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryBuilder {
    pub(crate) name: &'static str,
    pub(crate) attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Option<Jitter>,
    pub(crate) budget: Option<BudgetRef>,
}

/// The budget a retry takes its retries from: compared by address.
#[derive(Clone, Copy)]
pub(crate) struct BudgetRef(pub(crate) &'static RetryBudget);

impl PartialEq for BudgetRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl fmt::Debug for BudgetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl RetryBuilder {
    /// How many attempts in all, the first call included (default 3). At least 1; 1 means no
    /// retry.
    pub const fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// How the delay between attempts grows (default [`Backoff::DEFAULT`]:
    /// `exponential(100ms, max = 10s)`).
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How the delay is randomised (default [`Backoff::default_jitter`]: full on exponential
    /// backoff, none on fixed and linear). [`Jitter::Decorrelated`] needs exponential backoff.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// Takes every retry from `budget`, shared with other retries (see
    /// [`retry_budget`](crate::retry_budget)): a retry the budget refuses ends the call at once
    /// with the last outcome. Every first attempt deposits into it, except one made inside an
    /// attempt of a retry under the same budget (see [`Attempts::run`]). The budget is fixed
    /// here: [`Retry::reconfigure`] refuses to change it.
    pub const fn budget(mut self, budget: &'static RetryBudget) -> Self {
        self.budget = Some(BudgetRef(budget));
        self
    }

    /// Checks the configuration and builds the policy.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the option and the fix when `attempts` is 0, a backoff duration
    /// is zero, a backoff's `max` is below its first delay, the factor is below 1 (or not a
    /// finite number), or decorrelated jitter is asked for without exponential backoff.
    pub const fn build(self) -> Result<Retry, ConfigError> {
        if self.attempts == 0 {
            return Err(ConfigError::new(
                self.name,
                "attempts",
                "must be at least 1 (the first call counts): write attempts = 3",
            ));
        }
        let jitter = match self.jitter {
            Some(jitter) => jitter,
            None => self.backoff.default_jitter(),
        };
        if let Err(e) = self.backoff.validate(self.name, jitter) {
            return Err(e);
        }
        let s = Schedule::new(self.backoff, jitter);
        Ok(Retry {
            name: Name::new(self.name),
            attempts: AtomicU32::new(self.attempts),
            kind: AtomicU8::new(s.kind as u8),
            base: AtomicU64::new(s.base),
            max: AtomicU64::new(s.max),
            factor: AtomicU64::new(s.factor.to_bits()),
            jitter: AtomicU8::new(jitter.to_u8()),
            retries: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
            past_deadline: AtomicU64::new(0),
            budget_refused: AtomicU64::new(0),
            budget: match self.budget {
                Some(BudgetRef(budget)) => Some(budget),
                None => None,
            },
            declared: self,
        })
    }
}

impl Retry {
    /// Starts building a retry policy named `name` (its registry name), with the defaults:
    /// 3 attempts, `exponential(100ms, max = 10s)` backoff, full jitter.
    pub const fn builder(name: &'static str) -> RetryBuilder {
        RetryBuilder {
            name,
            attempts: 3,
            backoff: Backoff::DEFAULT,
            jitter: None,
            budget: None,
        }
    }

    /// The name it reports in errors and events, and is listed under in the registry (see
    /// [`registry`](crate::registry#names)).
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// Its name as built and as reported, for the registry.
    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    /// How many attempts a call may take, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Relaxed)
    }

    /// The backoff between attempts.
    pub fn backoff(&self) -> Backoff {
        self.schedule().backoff()
    }

    /// The jitter applied to the backoff.
    pub fn jitter(&self) -> Jitter {
        Jitter::from_u8(self.jitter.load(Relaxed))
    }

    /// The policy's settings now, as a builder: change what you need and pass it to
    /// [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> RetryBuilder {
        RetryBuilder {
            name: self.name.get(),
            attempts: self.attempts(),
            backoff: self.backoff(),
            jitter: Some(self.jitter()),
            budget: self.budget.map(BudgetRef),
        }
    }

    /// Replaces the settings with `settings`, checked as [`RetryBuilder::build`] checks them.
    /// Calls that start after it use the new settings; a call between two attempts may see
    /// some old and some new values (each valid: every mix waits a bounded time).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return; nothing changes.
    pub fn reconfigure(&self, settings: RetryBuilder) -> Result<(), ConfigError> {
        if settings.budget != self.budget.map(BudgetRef) {
            return Err(ConfigError::new(
                self.name.get(),
                "budget",
                "a retry's budget is fixed where the retry is declared; change the budget's own settings instead (ratio, min, window)",
            ));
        }
        let checked = RetryBuilder {
            name: self.name.get(),
            ..settings
        }
        .build()?;
        // Relaxed (all stores): independent settings; see the struct.
        self.attempts.store(checked.attempts(), Relaxed);
        self.kind.store(checked.kind.load(Relaxed), Relaxed);
        self.base.store(checked.base.load(Relaxed), Relaxed);
        self.max.store(checked.max.load(Relaxed), Relaxed);
        self.factor.store(checked.factor.load(Relaxed), Relaxed);
        self.jitter.store(checked.jitter.load(Relaxed), Relaxed);
        Ok(())
    }

    /// Sets how many attempts a call may take, the first included.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `attempts` when it is 0; nothing changes.
    pub fn set_attempts(&self, attempts: u32) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().attempts(attempts))
    }

    /// Sets the backoff, with that backoff's default jitter ([`Backoff::default_jitter`]);
    /// follow with [`set_jitter`](Self::set_jitter) for another.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `backoff` as [`RetryBuilder::build`] checks it; nothing changes.
    pub fn set_backoff(&self, backoff: Backoff) -> Result<(), ConfigError> {
        let settings = RetryBuilder {
            jitter: None,
            ..self.settings()
        };
        self.reconfigure(settings.backoff(backoff))
    }

    /// Sets how the delays are randomised.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `jitter` when it is decorrelated without exponential backoff.
    pub fn set_jitter(&self, jitter: Jitter) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().jitter(jitter))
    }

    /// Makes the policy as it was built: the settings it was declared with, and its counters at
    /// zero. Calls in flight finish with the settings they started with.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        // Relaxed (both): counters, read only for snapshots.
        self.retries.store(0, Relaxed);
        self.gave_up.store(0, Relaxed);
        self.past_deadline.store(0, Relaxed);
        self.budget_refused.store(0, Relaxed);
    }

    /// The counters of failed attempts.
    pub fn metrics(&self) -> RetryMetrics {
        // Relaxed: counters, read for a snapshot.
        RetryMetrics {
            retries: self.retries.load(Relaxed),
            gave_up: self.gave_up.load(Relaxed),
            past_deadline: self.past_deadline.load(Relaxed),
            budget_refused: self.budget_refused.load(Relaxed),
        }
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            kind: Kind::from_u8(self.kind.load(Relaxed)),
            base: self.base.load(Relaxed),
            max: self.max.load(Relaxed),
            factor: f64::from_bits(self.factor.load(Relaxed)),
            jitter: Jitter::from_u8(self.jitter.load(Relaxed)),
        }
    }

    /// Starts one call: the returned [`Attempts`] decides, after each attempt, whether to run
    /// another and how long to wait first.
    ///
    /// Costs nothing worth measuring: no clock read, no random number, no locked instruction
    /// (with a [`RetryBudget`], one add to a cell this thread owns). Run each attempt through
    /// [`Attempts::run`] so retries under the same budget inside it are seen as nested.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_runtime::{Backoff, Failure, Retry};
    ///
    /// # async fn attempt() -> Result<u32, Failure<std::io::Error>> { Ok(1) }
    /// # async fn run() -> Result<u32, Failure<std::io::Error>> {
    /// let retry = Retry::builder("fetch").backoff(Backoff::fixed(Duration::from_millis(10))).build().unwrap();
    /// let mut attempts = retry.start();
    /// loop {
    ///     let outcome = attempts.run(attempt()).await;
    ///     match attempts.next(&outcome, |_: &std::io::Error| true) {
    ///         None => return outcome,
    ///         Some(delay) => attempts.wait(delay).await,
    ///     }
    /// }
    /// # }
    /// ```
    #[inline]
    pub fn start(&self) -> Attempts<'_> {
        if let Some(budget) = self.budget {
            budget.deposit();
        }
        emit(
            &self.name,
            PolicyKind::Retry,
            EventKind::Attempt { attempt: 1 },
        );
        Attempts {
            retry: self,
            attempt: 1,
            previous_delay: 0,
        }
    }

    /// Runs `f` until it succeeds, retrying every error of its own and the rejections that are
    /// worth retrying (see the [module docs](self)).
    ///
    /// `f` is called once per attempt, so each attempt gets a fresh future.
    pub async fn call<T, E, F, Fut>(&self, mut f: F) -> Result<T, Failure<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        // The loop of `call_when`, not a call to it: one future fewer around every attempt.
        let mut attempts = self.start();
        loop {
            // Marked for the budget only when there is one: without, the attempt as it is.
            let outcome = match self.budget {
                None => f().await,
                Some(_) => attempts.run(f()).await,
            };
            match attempts.next(&outcome, |_: &E| true) {
                None => return outcome,
                Some(delay) => attempts.wait(delay).await,
            }
        }
    }

    /// Runs `f` until it succeeds, retrying the errors of its own for which `when` is true and
    /// the rejections that are worth retrying (see the [module docs](self)); any other error is
    /// returned at once.
    pub async fn call_when<T, E, F, Fut, W>(&self, mut f: F, when: W) -> Result<T, Failure<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure<E>>>,
        W: Fn(&E) -> bool,
    {
        let mut attempts = self.start();
        loop {
            let outcome = match self.budget {
                None => f().await,
                Some(_) => attempts.run(f()).await,
            };
            match attempts.next(&outcome, &when) {
                None => return outcome,
                Some(delay) => attempts.wait(delay).await,
            }
        }
    }
}

/// The attempts of one call under a [`Retry`] policy. Made by [`Retry::start`].
///
/// After each attempt, pass its outcome to [`Attempts::next`]: `None` means return that outcome
/// now, `Some(delay)` means wait `delay` (with [`Attempts::wait`]) and run the next attempt.
#[derive(Debug)]
#[must_use = "a retry does nothing unless its attempts are run"]
pub struct Attempts<'a> {
    retry: &'a Retry,
    /// The 1-based number of the attempt running now, or about to run after a wait.
    attempt: u32,
    /// The delay waited before the attempt running now, in nanoseconds (0 before the first);
    /// decorrelated jitter grows from it.
    previous_delay: u64,
}

/// Never retries an `Ok` value: the default of [`Attempts::next_with`]'s `when_ok`.
pub fn never<T: ?Sized>(_: &T) -> bool {
    false
}

/// No error asks for a delay of its own: the default of [`Attempts::next_with`]'s `retry_after`.
pub fn no_hint<E: ?Sized>(_: &E) -> Option<Duration> {
    None
}

/// What an attempt's failure means for the call.
enum Verdict {
    /// Retry, after at least this long (a rate limiter's `retry_after`).
    Retry { at_least: Duration },
    /// Return the outcome now.
    Stop,
}

pin_project_lite::pin_project! {
    /// An attempt run by [`Attempts::run`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Attempt<'a, F> {
        #[pin]
        fut: F,
        budget: Option<&'a RetryBudget>,
    }
}

impl<F: Future> Future for Attempt<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        match this.budget {
            None => this.fut.poll(cx),
            Some(budget) => {
                let _nested = retry_budget::governed(budget);
                this.fut.poll(cx)
            }
        }
    }
}

impl<F> fmt::Debug for Attempt<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("budget", &self.budget.map(|b| b.name()))
            .finish()
    }
}

impl<'a> Attempts<'a> {
    /// Runs one attempt: with a [`RetryBudget`], the retries under the same budget inside it
    /// are nested (their first attempts do not deposit). Without one, `fut` as it is.
    #[inline]
    pub fn run<F: Future>(&self, fut: F) -> Attempt<'a, F> {
        Attempt {
            fut,
            budget: self.retry.budget,
        }
    }
}

impl Attempts<'_> {
    /// The 1-based number of the attempt running now. After [`Attempts::next`] returned a
    /// delay, it is the number of the attempt that runs after that delay.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether the attempt running now is the last one allowed: after it, [`Attempts::next`]
    /// returns `None` whatever the outcome. The generated code moves the owned arguments into
    /// the last attempt instead of cloning them. Should the attempts be raised while the call
    /// runs, the call still ends after the attempt that was told it was the last.
    #[inline]
    pub fn is_last(&self) -> bool {
        self.attempt >= self.retry.attempts()
    }

    /// Decides what to do after an attempt ended with `outcome`.
    ///
    /// `None`: return `outcome` now. That is the case on success, on an error for which `when`
    /// is false, on a circuit-open or bulkhead-full rejection, when no attempt is left, and
    /// outside a tokio runtime when a wait would be needed (see the [module docs](self)).
    ///
    /// `Some(delay)`: wait `delay`, then run the next attempt. After a rate-limited rejection
    /// the delay is at least the rejection's `retry_after`.
    #[inline]
    pub fn next<T, E, W>(&mut self, outcome: &Result<T, Failure<E>>, when: W) -> Option<Duration>
    where
        W: Fn(&E) -> bool,
    {
        self.next_with(outcome, when, never, no_hint, true)
    }

    /// [`Attempts::next`] with every rule a retry can follow (`#[retry]`'s `when`, `when_ok`,
    /// `retry_after` and `retry_timeouts`):
    ///
    /// - `when`: the errors of the call's own worth retrying;
    /// - `when_ok`: `Ok` values that mean "not yet", retried like a failure (resilience4j's
    ///   `retryOnResult`, Polly's `HandleResult`); when the attempts run out, the last value is
    ///   returned unchanged ([`never()`] retries none);
    /// - `retry_after`: the least delay before the next attempt that an error asks for (a
    ///   server's `Retry-After`); the backoff's delay is used when it is longer ([`no_hint`]);
    /// - `retry_timeouts`: whether a timeout below the retry is retried (true); false returns
    ///   it at once, for a call that must not run twice once it may have reached the dependency.
    #[inline]
    pub fn next_with<T, E, W, O, H>(
        &mut self,
        outcome: &Result<T, Failure<E>>,
        when: W,
        when_ok: O,
        retry_after: H,
        retry_timeouts: bool,
    ) -> Option<Duration>
    where
        W: Fn(&E) -> bool,
        O: Fn(&T) -> bool,
        H: Fn(&E) -> Option<Duration>,
    {
        let failure = match outcome {
            Ok(value) if when_ok(value) => {
                return self.after_failure(Verdict::Retry {
                    at_least: Duration::ZERO,
                });
            }
            Ok(_) => return None,
            Err(failure) => failure,
        };
        let verdict = match failure {
            Failure::Error(e) if when(e) => Verdict::Retry {
                at_least: retry_after(e).unwrap_or_default(),
            },
            Failure::Error(_) => Verdict::Stop,
            Failure::Rejected(r) => match r.kind() {
                ErrorKind::TimedOut if !retry_timeouts => Verdict::Stop,
                ErrorKind::TimedOut => Verdict::Retry {
                    at_least: Duration::ZERO,
                },
                ErrorKind::RateLimited => Verdict::Retry {
                    at_least: r.retry_after().unwrap_or_default(),
                },
                // The first call with the key failed: the next attempt runs as a first call.
                ErrorKind::Duplicate => Verdict::Retry {
                    at_least: Duration::ZERO,
                },
                // A full family frees keys as its children come to rest, not within a retry; a
                // deadline that ran out does not come back.
                ErrorKind::CircuitOpen
                | ErrorKind::BulkheadFull
                | ErrorKind::KeyLimit
                | ErrorKind::DeadlineExceeded
                | ErrorKind::Degraded
                | ErrorKind::ShuttingDown => Verdict::Stop,
            },
        };
        self.after_failure(verdict)
    }

    /// The part of [`Attempts::next`] that does not depend on the call's types: only failures
    /// get here, so it stays out of line, and out of the success path.
    #[inline(never)]
    fn after_failure(&mut self, verdict: Verdict) -> Option<Duration> {
        let retry = self.retry;
        let at_least = match verdict {
            Verdict::Retry { at_least } if self.attempt < retry.attempts() => at_least,
            _ => return self.give_up(),
        };
        let schedule = retry.schedule();
        let jittered = schedule.delay(self.attempt, self.previous_delay, rng::next_u64);
        let delay = Duration::from_nanos(jittered).max(at_least);
        // Under a deadline: a wait that would end past it is not started (the attempt after it
        // could not run), and the last outcome is returned now.
        if crate::deadline::remaining().is_some_and(|left| delay >= left) {
            retry.past_deadline.fetch_add(1, Relaxed);
            return self.give_up();
        }
        if !delay.is_zero() && tokio::runtime::Handle::try_current().is_err() {
            tracing::error!(
                target: "resilience",
                policy = retry.name(),
                kind = PolicyKind::Retry.as_str(),
                attempt = self.attempt,
                "retry gave up: waiting between attempts needs a tokio runtime with time enabled, \
                 and this call runs outside any tokio runtime"
            );
            return self.give_up();
        }
        // Last: a retry the budget allows is one that is then taken.
        if let Some(budget) = retry.budget
            && !budget.withdraw()
        {
            retry.budget_refused.fetch_add(1, Relaxed);
            return self.give_up();
        }
        // Relaxed: a counter, read only for snapshots.
        retry.retries.fetch_add(1, Relaxed);
        emit(
            &retry.name,
            PolicyKind::Retry,
            EventKind::Retry {
                attempt: self.attempt,
                delay,
            },
        );
        // Decorrelated jitter grows from the backoff's own draw, not from a longer wait that a
        // rate limiter asked for.
        self.previous_delay = jittered;
        self.attempt = self.attempt.saturating_add(1);
        Some(delay)
    }

    fn give_up(&self) -> Option<Duration> {
        // Relaxed: a counter, read only for snapshots.
        self.retry.gave_up.fetch_add(1, Relaxed);
        emit(
            &self.retry.name,
            PolicyKind::Retry,
            EventKind::GaveUp {
                attempts: self.attempt,
            },
        );
        None
    }

    /// Waits `delay` (as returned by [`Attempts::next`]) in tokio's clock, then reports the
    /// attempt about to start. A zero delay returns at once, without touching the timer.
    /// tokio's timer counts whole milliseconds, so a jittered delay of 318.7ms ends at 319ms.
    pub async fn wait(&mut self, delay: Duration) {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        emit(
            &self.retry.name,
            PolicyKind::Retry,
            EventKind::Attempt {
                attempt: self.attempt,
            },
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;
    use crate::error::Error;

    fn fixed(attempts: u32) -> Retry {
        Retry::builder("t")
            .attempts(attempts)
            .backoff(Backoff::fixed(Duration::from_millis(10)))
            .build()
            .unwrap()
    }

    #[test]
    fn the_default_is_three_attempts_of_exponential_backoff_with_full_jitter() {
        let retry = Retry::builder("t").build().unwrap();
        assert_eq!(retry.attempts(), 3);
        assert_eq!(
            retry.backoff(),
            Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
        );
        assert_eq!(retry.jitter(), Jitter::Full);
        assert_eq!(fixed(3).jitter(), Jitter::None);
    }

    #[test]
    fn success_ends_the_call_without_counting_an_attempt() {
        let retry = fixed(3);
        let mut attempts = retry.start();
        let ok: Result<(), Failure<()>> = Ok(());
        assert_eq!(attempts.next(&ok, |_| true), None);
        assert_eq!(attempts.attempt(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn each_retry_advances_the_attempt_number() {
        let retry = fixed(3);
        let mut attempts = retry.start();
        let err: Result<(), Failure<()>> = Err(Failure::Error(()));
        assert_eq!(
            attempts.next(&err, |_| true),
            Some(Duration::from_millis(10))
        );
        assert_eq!(attempts.attempt(), 2);
        assert_eq!(
            attempts.next(&err, |_| true),
            Some(Duration::from_millis(10))
        );
        assert_eq!(attempts.attempt(), 3);
        assert_eq!(attempts.next(&err, |_| true), None);
        assert_eq!(attempts.attempt(), 3);
    }

    #[test]
    fn outside_a_runtime_a_retry_that_must_wait_gives_up() {
        let retry = fixed(3);
        let mut attempts = retry.start();
        let err: Result<(), Failure<()>> = Err(Failure::Error(()));
        assert_eq!(attempts.next(&err, |_| true), None);
    }

    #[test]
    fn a_rejection_that_fails_fast_is_not_retried_even_outside_a_runtime() {
        let retry = fixed(3);
        let mut attempts = retry.start();
        let open: Result<(), Failure<()>> =
            Err(Failure::Rejected(Error::new(ErrorKind::CircuitOpen, "cb")));
        assert_eq!(attempts.next(&open, |_| true), None);
    }
}
