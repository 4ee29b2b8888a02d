//! The pending settings of one policy, for every kind: what differs between kinds (how one key
//! changes the settings, how they are checked and applied) is the kind's [`Reconfigurable`]; the
//! rest ([`Change`]) is written once, here.

use std::fmt;

use super::Change;
use crate::error::ConfigError;

/// A kind whose settings are a `Copy` builder it can be reconfigured with. Implemented by each
/// kind in its `registered.rs`.
pub(crate) trait Reconfigurable: Sync + 'static {
    /// Its settings, as its builder holds them.
    type Settings: Copy + fmt::Debug + Send + Sync + 'static;

    /// What a change remembers beside the settings, to read a later key right (whether a
    /// retry's `jitter` was given, so a new `backoff` keeps it); `()` if nothing.
    type Given: Copy + Default + fmt::Debug + Send + Sync + 'static;

    /// Its settings now.
    fn current(&self) -> Self::Settings;

    /// `settings` with `key` set to `value` (written as in the attributes); `Ok(None)` for a
    /// key this kind does not have; `Err` with the message when the value does not parse.
    fn set(
        settings: Self::Settings,
        given: &mut Self::Given,
        key: &str,
        value: &str,
    ) -> Result<Option<Self::Settings>, String>;

    /// Checks `settings` as the kind's builder does.
    fn check(settings: &Self::Settings) -> Result<(), ConfigError>;

    /// Applies `settings` (checked as by [`check`](Self::check)).
    fn apply(&self, settings: Self::Settings) -> Result<(), ConfigError>;

    /// See [`Change::explain`].
    fn explain(
        settings: &Self::Settings,
        given: &dyn Fn(&str) -> bool,
    ) -> Option<(&'static str, String)> {
        let _ = (settings, given);
        None
    }
}

/// A policy and the settings it will get.
pub(crate) struct Pending<P: Reconfigurable> {
    policy: &'static P,
    settings: P::Settings,
    given: P::Given,
}

impl<P: Reconfigurable> Pending<P> {
    /// `policy`'s settings as they are, to change.
    pub(crate) fn boxed(policy: &'static P) -> Box<dyn Change> {
        Box::new(Pending {
            policy,
            settings: policy.current(),
            given: P::Given::default(),
        })
    }
}

// By hand: derived, they would ask the policy itself to be `Clone` and `Debug`.
impl<P: Reconfigurable> Clone for Pending<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Reconfigurable> Copy for Pending<P> {}

impl<P: Reconfigurable> fmt::Debug for Pending<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("settings", &self.settings)
            .field("given", &self.given)
            .finish_non_exhaustive()
    }
}

impl<P: Reconfigurable> Change for Pending<P> {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        // A value that does not parse leaves what was given as it was.
        let mut given = self.given;
        match P::set(self.settings, &mut given, key, value)? {
            Some(settings) => {
                self.settings = settings;
                self.given = given;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        P::check(&self.settings)
    }

    fn apply(&self) -> Result<(), ConfigError> {
        self.policy.apply(self.settings)
    }

    fn explain(&self, given: &dyn Fn(&str) -> bool) -> Option<(&'static str, String)> {
        P::explain(&self.settings, given)
    }

    fn boxed_clone(&self) -> Box<dyn Change> {
        Box::new(*self)
    }
}
