//! Hedging: when a call has not answered after a delay, start another attempt beside it; the
//! first success wins and the others are cancelled.
//!
//! For tails, not for errors: a dependency whose 99th percentile is ten times its median
//! answers most calls fast, and a second attempt started at the 95th percentile usually beats
//! the slow first one. A hedge costs the dependency extra calls: at most `max` per call, only
//! for the calls slower than `after`, and, with a retry budget, only while the budget allows.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{Failure, Hedge};
//!
//! static QUOTES: Hedge = match Hedge::builder("quotes/hedge")
//!     .after(Duration::from_millis(50))
//!     .build()
//! {
//!     Ok(hedge) => hedge,
//!     Err(_) => panic!("invalid hedge"),
//! };
//!
//! # #[derive(Debug)] struct ApiError;
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut attempt = 0;
//! let outcome: Result<&str, Failure<ApiError>> = QUOTES
//!     .call(|| {
//!         attempt += 1;
//!         // The first attempt is stuck; the hedge, started after 50ms, answers.
//!         let stuck = attempt == 1;
//!         async move {
//!             if stuck {
//!                 tokio::time::sleep(Duration::from_secs(10)).await;
//!             }
//!             Ok("quote")
//!         }
//!     })
//!     .await;
//! assert_eq!(outcome.unwrap(), "quote");
//! assert_eq!(QUOTES.metrics().hedges, 1);
//! assert_eq!(QUOTES.metrics().cancelled, 1);
//! # }
//! ```
//!
//! # What it does
//!
//! - The first attempt starts at once. If it has not answered after the delay, a hedge
//!   starts beside it; after another delay without an answer, the next, up to `max` hedges.
//! - The first attempt to return `Ok` wins: its value is the call's, and every other attempt
//!   still running is dropped at once (counted as `cancelled`; whatever it held, a bulkhead's
//!   slot, a rate limiter's permit, is released by its own layer as for any cancelled call).
//! - An attempt that fails while others run is set aside; the call fails only when no attempt
//!   is left running and no hedge will start, with the last failure. An attempt that fails
//!   while it runs alone ends the call: a failure is a retry's business (`#[retry]`), not a
//!   hedge's, and a hedge is not started early because of it.
//! - A rejection by a policy below (a breaker open, a shutdown) is a failure like any other.
//!
//! # The delay
//!
//! `after` is a duration ([`HedgeBuilder::after`]), or a percentile of the latencies of recent
//! calls ([`HedgeBuilder::after_percentile`]: `after = p95`): of the last
//! [`RECENT_CALLS`] successful calls, worked out every 32 records once [`MIN_SAMPLES`] calls
//! have been recorded (so first at the 128th); until then the `initial` delay (100ms unless
//! set). A call's latency is from its first wait to its first success, so a hedged call
//! records at least the delay it was hedged at: hedging cannot pull its own percentile down
//! and so hedge ever more calls. Not recorded: failures (a fast failure says nothing of the
//! tail), calls that answered at their first poll (a cache hit above the dependency: a run of
//! them would pull the percentile to nothing), and calls dropped before they answered (an
//! outer timeout cut them: the slowest, so the percentile leans low while an outer timeout
//! cuts many calls).
//!
//! # The budget
//!
//! With a [`RetryBudget`] ([`HedgeBuilder::budget`]), every call deposits into it and every
//! hedge withdraws from it; a hedge the budget refuses is skipped (counted as `skipped`), not
//! failed: the attempts already running go on, and no further hedge starts for that call.
//!
//! # Stacking
//!
//! A hedge re-runs what is below it, as a retry does: `#[hedge(after = 50ms)] #[timeout(1s)]`
//! bounds each attempt by its own timeout; a timeout above the hedge bounds the whole call.
//! Attempts run concurrently, in the caller's task: their deadline is the caller's.

mod call;
mod latency;
mod registered;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub use self::call::HedgeFuture;
use self::latency::Latencies;
pub use self::latency::{MIN_SAMPLES, RING as RECENT_CALLS};
use crate::clock::ticks;
use crate::error::{ConfigError, Failure};
use crate::name::Name;
use crate::per_thread;
use crate::retry_budget::RetryBudget;

/// The most hedges a call may start.
pub const MAX_HEDGES: u32 = resilience_syntax::options::MAX_HEDGES;
/// The delay of a percentile `after` until enough calls succeeded, unless set.
pub const DEFAULT_INITIAL: Duration = Duration::from_millis(100);

/// When a hedge starts: a fixed delay, or a percentile of recent calls' latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// This long after the last attempt started.
    Fixed(Duration),
    /// This per-mille of the recent calls' latencies (`950`: the 95th percentile), from 500
    /// (`p50`) to 999 (`p99.9`).
    Percentile(u32),
}

/// A hedging policy; see the [module docs](self).
#[derive(Debug)]
pub struct Hedge {
    name: Name,
    /// In nanoseconds: the fixed delay, or the one used until the percentile is known.
    delay: AtomicU64,
    /// 0 for a fixed delay, else the percentile in per-mille.
    per_mille: AtomicU32,
    max: AtomicU32,
    budget: Option<&'static RetryBudget>,
    latencies: Latencies,
    calls: per_thread::Counter,
    /// `calls` at the last reset.
    calls_before: AtomicU64,
    hedges: AtomicU64,
    wins: AtomicU64,
    cancelled: AtomicU64,
    skipped: AtomicU64,
    declared: HedgeBuilder,
}

/// A snapshot of a hedge's counters, from [`Hedge::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HedgeMetrics {
    /// Calls through the hedge.
    pub calls: u64,
    /// Hedges started (extra attempts).
    pub hedges: u64,
    /// Calls a hedge answered first.
    pub wins: u64,
    /// Attempts dropped because another won (or the caller dropped the call).
    pub cancelled: u64,
    /// Hedges the retry budget refused.
    pub skipped: u64,
    /// The delay a hedge starts after, now: the fixed delay, the percentile of recent calls,
    /// or the initial delay until the percentile is known.
    pub delay: Duration,
}

/// Builds a [`Hedge`]; every method is `const`. Made by [`Hedge::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HedgeBuilder {
    pub(crate) name: &'static str,
    pub(crate) after: Option<After>,
    pub(crate) initial: Option<Duration>,
    pub(crate) max: u32,
    pub(crate) budget: Option<BudgetRef>,
}

/// The budget hedges are taken from: compared by address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BudgetRef(&'static RetryBudget);

impl PartialEq for BudgetRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for BudgetRef {}

impl HedgeBuilder {
    /// Starts a hedge this long after the last attempt started, if no attempt has answered.
    /// A fixed delay has no `initial` one: an `initial` set before this is dropped
    /// (`settings().after(..)` turns a percentile hedge into a fixed one); one set after it is
    /// an error at `build`.
    pub const fn after(mut self, after: Duration) -> Self {
        self.after = Some(After::Fixed(after));
        self.initial = None;
        self
    }

    /// Starts a hedge after this per-mille of recent calls' latencies (`950`: `p95`), from 500
    /// to 999; the [`initial`](Self::initial) delay until [`MIN_SAMPLES`] calls succeeded.
    pub const fn after_percentile(mut self, per_mille: u32) -> Self {
        self.after = Some(After::Percentile(per_mille));
        self
    }

    /// The delay while a percentile is not known yet (default [`DEFAULT_INITIAL`]); only with
    /// [`after_percentile`](Self::after_percentile).
    pub const fn initial(mut self, initial: Duration) -> Self {
        self.initial = Some(initial);
        self
    }

    /// The most hedges one call starts (default 1, at most [`MAX_HEDGES`]).
    pub const fn max(mut self, max: u32) -> Self {
        self.max = max;
        self
    }

    /// Takes every hedge from `budget`, to which every call deposits; a hedge it refuses is
    /// skipped. Fixed where the hedge is declared.
    pub const fn budget(mut self, budget: &'static RetryBudget) -> Self {
        self.budget = Some(BudgetRef(budget));
        self
    }

    /// Checks the configuration and builds the policy.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `after` is missing or zero, a percentile is outside `p50..=p99.9`,
    /// `initial` is zero or given with a fixed delay, or `max` is outside `1..=10`.
    pub const fn build(self) -> Result<Hedge, ConfigError> {
        let (delay, per_mille) = match self.after {
            None => {
                return Err(ConfigError::new(
                    self.name,
                    "after",
                    "a hedge needs to know when to start: write after = 50ms, or after = p95",
                ));
            }
            Some(After::Fixed(d)) => {
                if d.is_zero() {
                    return Err(ConfigError::new(
                        self.name,
                        "after",
                        "must be above zero, or every call would run twice from the start: write after = 50ms",
                    ));
                }
                if self.initial.is_some() {
                    return Err(ConfigError::new(
                        self.name,
                        "initial",
                        "is the delay used until a percentile is known: it goes with after = p95, not with a fixed delay",
                    ));
                }
                (d, 0)
            }
            Some(After::Percentile(p)) => {
                if p < 500 || p > 999 {
                    return Err(ConfigError::new(
                        self.name,
                        "after",
                        "a percentile goes from p50 to p99.9: write after = p95",
                    ));
                }
                match self.initial {
                    Some(d) if d.is_zero() => {
                        return Err(ConfigError::new(
                            self.name,
                            "initial",
                            "must be above zero: write initial = 100ms",
                        ));
                    }
                    Some(d) => (d, p),
                    None => (DEFAULT_INITIAL, p),
                }
            }
        };
        if self.max == 0 || self.max > MAX_HEDGES {
            return Err(ConfigError::new(
                self.name,
                "max",
                "a call starts from 1 to 10 hedges: write max = 1",
            ));
        }
        Ok(Hedge {
            name: Name::new(self.name),
            delay: AtomicU64::new(ticks(delay)),
            per_mille: AtomicU32::new(per_mille),
            max: AtomicU32::new(self.max),
            budget: match self.budget {
                Some(BudgetRef(b)) => Some(b),
                None => None,
            },
            latencies: Latencies::new(),
            calls: per_thread::Counter::new(),
            calls_before: AtomicU64::new(0),
            hedges: AtomicU64::new(0),
            wins: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            declared: self,
        })
    }
}

impl Hedge {
    /// Starts building a hedge named `name` (its registry name); `after` is required.
    pub const fn builder(name: &'static str) -> HedgeBuilder {
        HedgeBuilder {
            name,
            after: None,
            initial: None,
            max: 1,
            budget: None,
        }
    }

    /// The name it reports in errors and events, and is listed under in the registry.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    /// Runs the call `attempt()` makes, and more of them beside it while it is slow; see the
    /// [module docs](self). `attempt` is called once per attempt, each future run concurrently
    /// with the others in the caller's task.
    pub fn call<T, E, F, Fut>(&self, attempt: F) -> HedgeFuture<'_, F, Fut>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        HedgeFuture::new(self, attempt)
    }

    /// When a hedge starts, as set.
    pub fn after(&self) -> After {
        // Relaxed (both): independent settings.
        match self.per_mille.load(Relaxed) {
            0 => After::Fixed(Duration::from_nanos(self.delay.load(Relaxed))),
            p => After::Percentile(p),
        }
    }

    /// The delay used until a percentile is known (`None` for a fixed delay).
    pub fn initial(&self) -> Option<Duration> {
        match self.after() {
            After::Fixed(_) => None,
            After::Percentile(_) => Some(Duration::from_nanos(self.delay.load(Relaxed))),
        }
    }

    /// The most hedges one call starts.
    pub fn max(&self) -> u32 {
        self.max.load(Relaxed)
    }

    /// The budget hedges are taken from, if any.
    pub fn budget(&self) -> Option<&'static RetryBudget> {
        self.budget
    }

    /// The delay a hedge starts after, now.
    #[inline]
    pub fn delay(&self) -> Duration {
        let fixed = Duration::from_nanos(self.delay.load(Relaxed));
        if self.per_mille.load(Relaxed) == 0 {
            return fixed;
        }
        self.latencies.get().unwrap_or(fixed)
    }

    /// The policy's settings now, as a builder, for [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> HedgeBuilder {
        let b = Hedge::builder(self.name.get()).max(self.max());
        let b = match self.after() {
            After::Fixed(d) => b.after(d),
            After::Percentile(p) => b
                .after_percentile(p)
                .initial(Duration::from_nanos(self.delay.load(Relaxed))),
        };
        match self.budget {
            Some(budget) => b.budget(budget),
            None => b,
        }
    }

    /// Replaces the settings, checked as [`HedgeBuilder::build`] checks them. A new percentile
    /// forgets the latencies recorded for the old one.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return, or one for `budget` when it differs
    /// (the budget is fixed where the hedge is declared); nothing changes.
    pub fn reconfigure(&self, settings: HedgeBuilder) -> Result<(), ConfigError> {
        let settings = HedgeBuilder {
            name: self.name.get(),
            ..settings
        };
        if settings.budget != self.budget.map(BudgetRef) {
            return Err(ConfigError::new(
                self.name.get(),
                "budget",
                "a hedge's budget is fixed where the hedge is declared; change the budget's own settings instead (ratio, min, window)",
            ));
        }
        let checked = settings.build()?;
        let per_mille = checked.per_mille.load(Relaxed);
        // Relaxed (all): independent settings.
        if self.per_mille.swap(per_mille, Relaxed) != per_mille {
            self.latencies.clear();
        }
        self.delay.store(checked.delay.load(Relaxed), Relaxed);
        self.max.store(checked.max.load(Relaxed), Relaxed);
        Ok(())
    }

    /// Makes the hedge as it was built: its declared settings, no latencies, counters at zero.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        self.latencies.clear();
        self.calls_before.store(self.calls.sum(), Relaxed);
        for counter in [&self.hedges, &self.wins, &self.cancelled, &self.skipped] {
            // Relaxed: counters, read only for snapshots.
            counter.store(0, Relaxed);
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> HedgeMetrics {
        // Relaxed (all): independent counters, read for a snapshot.
        HedgeMetrics {
            calls: self
                .calls
                .sum()
                .wrapping_sub(self.calls_before.load(Relaxed)),
            hedges: self.hedges.load(Relaxed),
            wins: self.wins.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            delay: self.delay(),
        }
    }
}
