//! The rate limiter as the child of a keyed family: one limiter per tenant.

use super::{RateLimiter, RateLimiterBuilder};
use crate::error::{ConfigError, Failure};
use crate::keyed::{Checked, Keyable, Keyed, KeyedBuilder, private};
use crate::kind::PolicyKind;
use crate::name::Name;

/// A rate limiter per key (per tenant, user or API key), in bounded memory: see
/// [`keyed`](crate::keyed).
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::{Failure, KeyedRateLimiter, RateLimiter};
///
/// static PER_TENANT: KeyedRateLimiter = match RateLimiter::builder("PER_TENANT")
///     .rate(1000, Duration::from_secs(60))
///     .burst(50)
///     .keyed()
///     .max_keys(10_000)
///     .check()
/// {
///     Ok(checked) => checked.build(),
///     Err(_) => panic!("invalid rate limiter"),
/// };
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tenant = String::from("acme");
/// let r: Result<u32, Failure<()>> = PER_TENANT.call(&tenant, async { Ok(1) }).await;
/// assert_eq!(r.unwrap(), 1);
/// assert_eq!(PER_TENANT.key("acme").unwrap().available(), 49);
/// # }
/// ```
pub type KeyedRateLimiter = Keyed<RateLimiter>;

impl private::Sealed for RateLimiter {}

impl Keyable for RateLimiter {
    type Settings = RateLimiterBuilder;

    fn make(settings: RateLimiterBuilder, name: Name) -> Result<Self, ConfigError> {
        let mut limiter = settings.build()?;
        limiter.name = name;
        Ok(limiter)
    }

    fn check(settings: &RateLimiterBuilder) -> Result<(), ConfigError> {
        settings.build().map(drop)
    }

    fn reconfigure(&self, settings: RateLimiterBuilder) -> Result<(), ConfigError> {
        RateLimiter::reconfigure(self, settings)
    }

    /// Its bucket full again and nobody waiting: a new limiter would be the same.
    fn at_rest(&self) -> bool {
        self.available() == self.burst() && self.metrics().waiting == 0
    }

    const NEEDS_IDLE: bool = false;

    fn activity(&self) -> u64 {
        self.metrics().calls
    }

    fn call<T, E, F>(&self, fut: F) -> impl Future<Output = Result<T, Failure<E>>>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        RateLimiter::call(self, fut)
    }

    const KIND: PolicyKind = PolicyKind::RateLimiter;

    fn name_of(&self) -> &Name {
        &self.name
    }
}

impl RateLimiterBuilder {
    /// A keyed family of rate limiters with these settings, one per key: see
    /// [`keyed`](crate::keyed).
    pub const fn keyed(self) -> KeyedBuilder<RateLimiter> {
        KeyedBuilder::new(self)
    }
}

impl KeyedBuilder<RateLimiter> {
    /// Checks the options and builds the family.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub const fn build(self) -> Result<KeyedRateLimiter, ConfigError> {
        match self.check() {
            Ok(checked) => Ok(checked.build()),
            Err(e) => Err(e),
        }
    }

    /// Checks the options; the family is then [`build`](Checked::build)t without an error to
    /// handle (what a `static` needs: see [`Checked`]).
    ///
    /// # Errors
    ///
    /// The rate limiter's [`ConfigError`]s, and `max_keys` or `idle` at 0.
    pub const fn check(self) -> Result<Checked<RateLimiter>, ConfigError> {
        if let Err(e) = self.settings.build() {
            return Err(e);
        }
        self.checked(self.settings.name)
    }
}
