//! The bulkhead's builder: options, defaults and their validation.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::Notify;

use super::adaptive::{Adaptive, Algorithm};
use super::core::{BulkheadCore, MAX_BULKHEAD_SLOTS};
use super::{Bulkhead, Counters, UNTIL_A_SLOT_FREES};
use crate::clock::ticks;
use crate::error::ConfigError;
use crate::name::Name;

/// Configures a [`Bulkhead`]; made by [`Bulkhead::builder`]. Every method is `const`, so a
/// bulkhead can be built in a `static`.
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BulkheadBuilder {
    pub(crate) name: &'static str,
    pub(crate) max: Option<u32>,
    pub(crate) queue: u32,
    pub(crate) wait: Option<Duration>,
    pub(crate) adaptive: Option<Algorithm>,
    pub(crate) min: Option<u32>,
    pub(crate) initial: Option<u32>,
}

/// The limit an adaptive bulkhead starts from unless told (Netflix's `initialLimit`), within
/// its bounds.
pub const DEFAULT_INITIAL: u32 = 20;

/// [`DEFAULT_INITIAL`] within `min..=max`.
const fn default_initial(min: u32, max: u32) -> u32 {
    if DEFAULT_INITIAL < min {
        min
    } else if DEFAULT_INITIAL > max {
        max
    } else {
        DEFAULT_INITIAL
    }
}

impl BulkheadBuilder {
    pub(super) const fn new(name: &'static str) -> Self {
        BulkheadBuilder {
            name,
            max: None,
            queue: 0,
            wait: None,
            adaptive: None,
            min: None,
            initial: None,
        }
    }

    /// Makes the limit adaptive: it follows the dependency's latency by `algorithm`, between
    /// [`min`](Self::min) and [`max`](Self::max) (the highest it goes), from
    /// [`initial`](Self::initial). See [`adaptive`](super::adaptive).
    pub const fn adaptive(mut self, algorithm: Algorithm) -> Self {
        self.adaptive = Some(algorithm);
        self
    }

    /// A fixed limit again: `max` calls at once.
    pub const fn fixed(mut self) -> Self {
        self.adaptive = None;
        self.min = None;
        self.initial = None;
        self
    }

    /// The lowest an adaptive limit goes (default 1).
    pub const fn min(mut self, min: u32) -> Self {
        self.min = Some(min);
        self
    }

    /// The limit an adaptive bulkhead starts from (default [`DEFAULT_INITIAL`], within
    /// `min..=max`).
    pub const fn initial(mut self, initial: u32) -> Self {
        self.initial = Some(initial);
        self
    }

    /// The most calls in flight at once (required; 1 to [`MAX_BULKHEAD_SLOTS`]).
    pub const fn max(mut self, max: u32) -> Self {
        self.max = Some(max);
        self
    }

    /// How many callers may wait for a slot when all are taken (default 0: a caller that finds
    /// the bulkhead full is rejected at once).
    pub const fn queue(mut self, queue: u32) -> Self {
        self.queue = queue;
        self
    }

    /// The longest a caller waits in the queue before it is rejected (default: until a slot
    /// frees). Needs a `queue`.
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Queued callers wait until a slot frees (the default), with no limit.
    pub const fn until_a_slot_frees(mut self) -> Self {
        self.wait = None;
        self
    }

    /// Checks the options and builds the bulkhead.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the option when `max` is missing, 0 or above
    /// [`MAX_BULKHEAD_SLOTS`], or when `wait` is given without a `queue` or is 0.
    pub const fn build(self) -> Result<Bulkhead, ConfigError> {
        let name = self.name;
        let max = match self.max {
            None => {
                return Err(ConfigError::new(
                    name,
                    "max",
                    "is required (the most calls at once): write max = 10",
                ));
            }
            Some(0) => {
                return Err(ConfigError::new(
                    name,
                    "max",
                    "must be at least 1: write max = 10",
                ));
            }
            Some(max) if max > MAX_BULKHEAD_SLOTS => {
                return Err(ConfigError::new(
                    name,
                    "max",
                    "must be at most 1048575 (MAX_BULKHEAD_SLOTS): write a smaller max",
                ));
            }
            Some(max) => max,
        };
        let wait = match self.wait {
            None => UNTIL_A_SLOT_FREES,
            Some(_) if self.queue == 0 => {
                return Err(ConfigError::new(
                    name,
                    "wait",
                    "has no effect without a queue (callers are rejected at once): \
                     write queue = 10 beside it, or remove wait",
                ));
            }
            Some(wait) if wait.is_zero() => {
                return Err(ConfigError::new(
                    name,
                    "wait",
                    "must be more than 0 for queued callers: write wait = 500ms, \
                     or leave it out to wait until a slot frees",
                ));
            }
            // A wait of 584 years or more saturates to "until a slot frees".
            Some(wait) => ticks(wait),
        };
        let (min, initial) = match self.check_adaptive(max) {
            Ok(bounds) => bounds,
            Err(e) => return Err(e),
        };
        let start = match self.adaptive {
            Some(_) => initial,
            None => max,
        };
        Ok(Bulkhead {
            name: Name::new(name),
            core: BulkheadCore::new(start, self.queue),
            wait: std::sync::atomic::AtomicU64::new(wait),
            slot_freed: Notify::const_new(),
            counters: Counters::new(),
            adaptive: Adaptive::new(self.adaptive, min, initial),
            upper: std::sync::atomic::AtomicU32::new(max),
            declared: self,
        })
    }

    /// An adaptive limit's bounds: `(min, initial)`.
    const fn check_adaptive(&self, max: u32) -> Result<(u32, u32), ConfigError> {
        if self.adaptive.is_none() {
            if self.min.is_some() {
                return Err(ConfigError::new(
                    self.name,
                    "min",
                    "is the lowest an adaptive limit goes: write adaptive = gradient2 beside it, or remove it",
                ));
            }
            if self.initial.is_some() {
                return Err(ConfigError::new(
                    self.name,
                    "initial",
                    "is where an adaptive limit starts: write adaptive = gradient2 beside it, or remove it",
                ));
            }
            return Ok((1, max));
        }
        let min = match self.min {
            None => 1,
            Some(0) => {
                return Err(ConfigError::new(
                    self.name,
                    "min",
                    "must be at least 1: write min = 5",
                ));
            }
            Some(min) if min > max => {
                return Err(ConfigError::new(
                    self.name,
                    "min",
                    "must be at most max (the highest the limit goes): write a smaller min, or a larger max",
                ));
            }
            Some(min) => min,
        };
        let initial = match self.initial {
            None => default_initial(min, max),
            Some(initial) if initial < min || initial > max => {
                return Err(ConfigError::new(
                    self.name,
                    "initial",
                    "must be between min and max: the limit starts there",
                ));
            }
            Some(initial) => initial,
        };
        Ok((min, initial))
    }
}

impl Bulkhead {
    /// The bulkhead's settings now, as a builder: change what you need and pass it to
    /// [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> BulkheadBuilder {
        let adaptive = self.adaptive();
        let (min, max) = (self.min(), self.max());
        BulkheadBuilder {
            name: self.name.get(),
            max: Some(max),
            queue: self.queue(),
            wait: self.wait(),
            adaptive,
            min: adaptive.map(|_| min),
            // An `initial` that is the default for these bounds is left to follow them, so a
            // new `max` alone is valid (`settings().max(10)` below the default 20).
            initial: self
                .initial()
                .filter(|&initial| initial != default_initial(min, max)),
        }
    }

    /// Replaces the settings, checked as [`BulkheadBuilder::build`] checks them, without a
    /// lock. A raised `max` wakes the waiting callers at once; a lowered one lets the calls in
    /// flight finish and admits no new one until fewer than the new `max` run. A raised `queue`
    /// lets more callers wait at once; a lowered one keeps the callers already waiting and
    /// queues no new one until fewer than the new bound wait. A new `wait` applies to callers
    /// that queue after it.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return. Nothing changes on error.
    pub fn reconfigure(&self, settings: BulkheadBuilder) -> Result<(), ConfigError> {
        let checked = BulkheadBuilder {
            name: self.name.get(),
            ..settings
        }
        .build()?;
        self.core.set_queue(checked.queue());
        // Relaxed: an independent setting, read once per queued caller.
        self.wait.store(
            checked.wait.load(std::sync::atomic::Ordering::Relaxed),
            std::sync::atomic::Ordering::Relaxed,
        );
        let adaptive = checked.adaptive();
        // The start as given: `None` for the default, which follows the bounds.
        let (algorithm_before, initial_before) = (self.adaptive(), self.settings().initial);
        // Relaxed: a setting.
        self.upper.store(checked.max(), Relaxed);
        let limit = match adaptive {
            // The same algorithm from the same start keeps what it learnt: new bounds only
            // move the limit into them (a raised `max` lets it grow, a lowered one caps it).
            Some(_) if algorithm_before == adaptive && initial_before == settings.initial => {
                match self
                    .adaptive
                    .bound(checked.min(), checked.max(), checked.adaptive.initial())
                {
                    Some(limit) => limit,
                    None => return Ok(()),
                }
            }
            // Another algorithm, or another start: over from `initial`.
            Some(_) => {
                self.adaptive
                    .restart(adaptive, checked.min(), checked.adaptive.initial());
                checked.adaptive.initial()
            }
            None => {
                self.adaptive.restart(None, 1, checked.max());
                checked.max()
            }
        };
        if self.core.set_max(limit) < limit {
            // Every waiter retries; those that find no slot register again.
            self.slot_freed.notify_waiters();
        }
        Ok(())
    }

    /// An adaptive limit back at `initial`, its windows forgotten (a reset).
    pub(super) fn restart_adaptive(&self) {
        if let Some(initial) = self.initial() {
            self.adaptive.restart(self.adaptive(), self.min(), initial);
            self.set_limit(initial);
        }
    }
}
