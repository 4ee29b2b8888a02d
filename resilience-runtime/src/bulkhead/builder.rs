//! The bulkhead's builder: options, defaults and their validation.

use std::time::Duration;

use tokio::sync::Notify;

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
}

impl BulkheadBuilder {
    pub(super) const fn new(name: &'static str) -> Self {
        BulkheadBuilder {
            name,
            max: None,
            queue: 0,
            wait: None,
        }
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
        Ok(Bulkhead {
            name: Name::new(name),
            core: BulkheadCore::new(max, self.queue),
            wait: std::sync::atomic::AtomicU64::new(wait),
            slot_freed: Notify::const_new(),
            counters: Counters::new(),
            declared: self,
        })
    }
}

impl Bulkhead {
    /// The bulkhead's settings now, as a builder: change what you need and pass it to
    /// [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> BulkheadBuilder {
        BulkheadBuilder {
            name: self.name.get(),
            max: Some(self.max()),
            queue: self.queue(),
            wait: self.wait(),
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
        let max = checked.max();
        if self.core.set_max(max) < max {
            // Every waiter retries; those that find no slot register again.
            self.slot_freed.notify_waiters();
        }
        Ok(())
    }
}
