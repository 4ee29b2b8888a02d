//! The rate limiter's builder: options, defaults and their validation.

use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use super::gcra::Gcra;
use super::{Counters, RateLimiter};
use crate::clock::{Clock, ticks};
use crate::error::ConfigError;
use crate::name::Name;

/// Configures a [`RateLimiter`]; made by [`RateLimiter::builder`]. Every method is `const`, so
/// a rate limiter can be built in a `static`.
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RateLimiterBuilder {
    pub(crate) name: &'static str,
    pub(crate) rate: Option<(u32, Duration)>,
    pub(crate) burst: Option<u32>,
    pub(crate) wait: Duration,
    pub(crate) shared: Option<&'static str>,
}

impl RateLimiterBuilder {
    pub(super) const fn new(name: &'static str) -> Self {
        RateLimiterBuilder {
            name,
            rate: None,
            burst: None,
            wait: Duration::ZERO,
            shared: None,
        }
    }

    /// Declares the limiter shared by a fleet under `name` (`#[rate_limiter(.., shared =
    /// "partner-api")]`): a fleet backend attached at start-up (`RedisStore::share_declared`
    /// of `resilience::redis`) takes its permits from the fleet's state under that name. With
    /// no backend it runs locally, and says so once (a `tracing` warning the first time it
    /// rejects a call).
    pub const fn shared(mut self, name: &'static str) -> Self {
        self.shared = Some(name);
        self
    }

    /// The rate: `count` permits (>= 1) every `per` (> 0), as in `#[rate_limiter(100/s)]`
    /// (`rate(100, Duration::from_secs(1))`). Required.
    ///
    /// Permits are spaced evenly, `per / count` apart, rounded up to the nanosecond so the
    /// limiter never admits more than the rate.
    pub const fn rate(mut self, count: u32, per: Duration) -> Self {
        self.rate = Some((count, per));
        self
    }

    /// How many permits an idle limiter admits at once (default: the rate's `count`).
    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The longest a caller waits for a permit (default 0: a caller finding none is rejected
    /// at once). A caller whose permit frees within `wait` reserves it and sleeps until then.
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The same settings for the limiter named `name`.
    pub(super) const fn renamed(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Checks the options and builds the rate limiter.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the option when the rate is missing, its count is 0 or its
    /// period is 0, or when `burst` is 0.
    pub const fn build(self) -> Result<RateLimiter, ConfigError> {
        let name = self.name;
        let Some((count, per)) = self.rate else {
            return Err(ConfigError::new(
                name,
                "rate",
                "is required (permits per period): write #[rate_limiter(100/s)]",
            ));
        };
        let burst = match self.burst {
            Some(burst) => burst,
            None => count,
        };
        let (interval, burst) = match validate_rate(name, count, per, burst) {
            Ok(valid) => valid,
            Err(e) => return Err(e),
        };
        Ok(RateLimiter {
            name: Name::new(name),
            gcra: Gcra::new(interval, burst),
            count: AtomicU32::new(count),
            per: AtomicU64::new(ticks(per)),
            // Below the store's bit (292 years).
            wait: AtomicU64::new(if ticks(self.wait) >= super::SHARED {
                super::SHARED - 1
            } else {
                ticks(self.wait)
            }),
            clock: Clock::new(),
            counters: Counters::new(),
            declared: self,
        })
    }
}

/// Checks a rate and burst (for the builder and for [`RateLimiter::set_rate`]); returns the
/// interval between permits in nanoseconds, and the burst.
pub(super) const fn validate_rate(
    name: &'static str,
    count: u32,
    per: Duration,
    burst: u32,
) -> Result<(u64, u32), ConfigError> {
    if count == 0 {
        return Err(ConfigError::new(
            name,
            "rate",
            "must allow at least 1 call per period, 0/s admits nothing: write 100/s",
        ));
    }
    if per.is_zero() {
        return Err(ConfigError::new(
            name,
            "rate",
            "needs a period of more than 0: write 100/s or 6000/m",
        ));
    }
    if burst == 0 {
        return Err(ConfigError::new(
            name,
            "burst",
            "must be at least 1: write burst = 10, or leave it out to admit the rate's count at once",
        ));
    }
    // Rounded up: a permit never comes earlier than the rate allows; at least 1 tick.
    Ok((ticks(per).div_ceil(count as u64), burst))
}
