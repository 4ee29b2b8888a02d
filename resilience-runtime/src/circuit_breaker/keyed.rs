//! The circuit breaker as the child of a keyed family: one breaker per downstream host.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;

use super::{CircuitBreaker, CircuitBreakerBuilder, Classification, State};
use crate::error::{ConfigError, Failure};
use crate::keyed::{Checked, Keyable, Keyed, KeyedBuilder, private};
use crate::kind::PolicyKind;
use crate::name::Name;

/// A circuit breaker per key (per downstream host or shard), in bounded memory: see
/// [`keyed`](crate::keyed). An open, half-open or forced child is never evicted.
pub type KeyedCircuitBreaker = Keyed<CircuitBreaker>;

impl private::Sealed for CircuitBreaker {}

impl Keyable for CircuitBreaker {
    type Settings = CircuitBreakerBuilder;

    fn make(settings: CircuitBreakerBuilder, name: Name) -> Result<Self, ConfigError> {
        let mut breaker = settings.build()?;
        breaker.core.rename(name);
        Ok(breaker)
    }

    fn check(settings: &CircuitBreakerBuilder) -> Result<(), ConfigError> {
        settings.build().map(drop)
    }

    fn reconfigure(&self, settings: CircuitBreakerBuilder) -> Result<(), ConfigError> {
        CircuitBreaker::reconfigure(self, settings)
    }

    /// Closed, and not forced: an open or half-open breaker keeps its host out, and a forced
    /// one was set by someone.
    fn at_rest(&self) -> bool {
        self.state() == State::Closed
    }

    /// Its window still holds its recent failures: it must also have been idle.
    const NEEDS_IDLE: bool = true;

    fn activity(&self) -> u64 {
        self.metrics().calls
    }

    fn call<T, E, F>(&self, fut: F) -> impl Future<Output = Result<T, Failure<E>>>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        CircuitBreaker::call(self, fut)
    }

    const KIND: PolicyKind = PolicyKind::CircuitBreaker;

    fn tripped(&self) -> bool {
        self.state() != State::Closed
    }

    fn name_of(&self) -> &Name {
        self.core.name()
    }
}

impl CircuitBreakerBuilder {
    /// A keyed family of breakers with these settings, one per key: see
    /// [`keyed`](crate::keyed).
    pub const fn keyed(self) -> KeyedBuilder<CircuitBreaker> {
        KeyedBuilder::new(self)
    }
}

impl KeyedBuilder<CircuitBreaker> {
    /// Checks the options and builds the family.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub const fn build(self) -> Result<KeyedCircuitBreaker, ConfigError> {
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
    /// The breaker's [`ConfigError`]s, `critical` (one host's open breaker must not fail the
    /// service's health), and `max_keys` or `idle` at 0.
    pub const fn check(self) -> Result<Checked<CircuitBreaker>, ConfigError> {
        if let Err(e) = self.settings.build() {
            return Err(e);
        }
        if self.settings.critical {
            return Err(ConfigError::new(
                self.settings.name,
                "critical",
                crate::keyed::CRITICAL_KEYED,
            ));
        }
        self.checked(self.settings.name)
    }
}

impl Keyed<CircuitBreaker> {
    /// Like [`call`](Self::call), with `classify` deciding what the call's own errors count
    /// as (see [`CircuitBreaker::call_classified`]).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_classified<Q, T, E, F, C>(
        &self,
        key: &Q,
        fut: F,
        classify: C,
    ) -> Result<T, Failure<E>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
        F: Future<Output = Result<T, Failure<E>>>,
        C: Fn(&E) -> Classification,
    {
        let child = self.child(key).map_err(Failure::Rejected)?;
        child.call_classified(fut, classify).await
    }
}
