//! The bulkhead as the child of a keyed family: one pool of slots per tenant or host.

use super::{Bulkhead, BulkheadBuilder};
use crate::error::{ConfigError, Failure};
use crate::keyed::{Checked, Keyable, Keyed, KeyedBuilder, private};
use crate::kind::PolicyKind;
use crate::name::Name;

/// A bulkhead per key (per tenant or downstream host), in bounded memory: see
/// [`keyed`](crate::keyed).
pub type KeyedBulkhead = Keyed<Bulkhead>;

impl private::Sealed for Bulkhead {}

impl Keyable for Bulkhead {
    type Settings = BulkheadBuilder;

    fn make(settings: BulkheadBuilder, name: Name) -> Result<Self, ConfigError> {
        let mut bulkhead = settings.build()?;
        bulkhead.name = name;
        Ok(bulkhead)
    }

    fn check(settings: &BulkheadBuilder) -> Result<(), ConfigError> {
        settings.build().map(drop)
    }

    fn reconfigure(&self, settings: BulkheadBuilder) -> Result<(), ConfigError> {
        Bulkhead::reconfigure(self, settings)
    }

    /// Nothing in flight and nobody queued.
    fn at_rest(&self) -> bool {
        self.in_use() == 0 && self.queued() == 0
    }

    const NEEDS_IDLE: bool = false;

    fn activity(&self) -> u64 {
        self.metrics().calls
    }

    fn call<T, E, F>(&self, fut: F) -> impl Future<Output = Result<T, Failure<E>>>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        Bulkhead::call(self, fut)
    }

    const KIND: PolicyKind = PolicyKind::Bulkhead;

    fn name_of(&self) -> &Name {
        &self.name
    }
}

impl BulkheadBuilder {
    /// A keyed family of bulkheads with these settings, one per key: see
    /// [`keyed`](crate::keyed).
    pub const fn keyed(self) -> KeyedBuilder<Bulkhead> {
        KeyedBuilder::new(self)
    }
}

impl KeyedBuilder<Bulkhead> {
    /// Checks the options and builds the family.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub const fn build(self) -> Result<KeyedBulkhead, ConfigError> {
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
    /// The bulkhead's [`ConfigError`]s, and `max_keys` or `idle` at 0.
    pub const fn check(self) -> Result<Checked<Bulkhead>, ConfigError> {
        if let Err(e) = self.settings.build() {
            return Err(e);
        }
        self.checked(self.settings.name)
    }
}
