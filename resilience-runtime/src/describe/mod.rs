//! What a kind of policy tells the registry about itself: the one seam between the registry and
//! the kinds, below both.
//!
//! The registry, its snapshots, health, metrics export, settings by key and the configuration
//! file hold no match on a kind: each asks the policy, through [`Describe`], which each kind
//! implements in its own folder (`circuit_breaker/registered.rs`, ...), with the values of
//! [`units`]. Adding a kind is its folder, its `Describe`, and a line in the registry's
//! `kinds!` list: see `ARCHITECTURE.md`.

mod pending;
pub(crate) mod units;

pub(crate) use pending::{Pending, Reconfigurable};

use std::fmt;

use resilience_syntax::options;

use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::{Name, Named};
use crate::state::State;

/// A policy as the registry sees it. Implemented by every kind, in its own folder.
pub(crate) trait Describe: Sync {
    /// The kind.
    fn kind(&self) -> PolicyKind;

    /// Its name as built and as reported.
    fn names(&self) -> &Name;

    /// The keys `registry::set` and the configuration file take for this kind, in the order a
    /// snapshot lists them: its settings in the option table (`resilience_syntax::options`).
    fn keys(&self) -> Vec<&'static str> {
        options::settings(self.kind().as_str()).collect()
    }

    /// Back to the settings it was declared with, its state and counters as new.
    fn reset(&self);

    /// Its settings as `(key, value)`, written as in the attributes, so that what a snapshot
    /// shows can be set back.
    fn settings(&self) -> Vec<(&'static str, String)>;

    /// What it makes of the program's health: `None` unless it is a circuit breaker that is
    /// not closed.
    fn health(&self) -> Option<Concern> {
        None
    }

    /// Its settings, to change by key and apply together ([`ChangeSet`](super::ChangeSet)):
    /// a [`Pending`] of the kind.
    fn change(&'static self) -> Box<dyn Change>;

    /// Publishes its counters and gauges to the `metrics` recorder under `name`.
    #[cfg(feature = "metrics")]
    fn export(&self, name: &str);

    /// Its address: its identity.
    fn address(&self) -> usize {
        std::ptr::from_ref(self).cast::<()>() as usize
    }
}

/// The pending settings of one policy in a [`ChangeSet`](super::ChangeSet): changed by key,
/// checked together, applied together.
pub(crate) trait Change: fmt::Debug + Send + Sync {
    /// Sets `key` to `value` (written as in the attributes); `Ok(false)` for a key this kind
    /// does not have; `Err` with the message when the value does not parse.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String>;

    /// Checks the settings as the kind's builder does, without applying them.
    fn check(&self) -> Result<(), ConfigError>;

    /// Applies the settings (checked as by [`check`](Self::check)).
    fn apply(&self) -> Result<(), ConfigError>;

    /// When [`check`](Self::check) refuses settings whose two values disagree, the message to
    /// give instead, naming the setting that was changed (`given` says which keys were): the
    /// key and the message. `None` leaves the builder's message.
    fn explain(&self, given: &dyn Fn(&str) -> bool) -> Option<(&'static str, String)> {
        let _ = given;
        None
    }

    /// A copy, for a [`ChangeSet`](super::ChangeSet) that is cloned.
    fn boxed_clone(&self) -> Box<dyn Change>;
}

/// Every kind is named as it describes itself.
impl<T: Describe> Named for T {
    fn name_of(&self) -> &Name {
        self.names()
    }
}

impl Clone for Box<dyn Change> {
    fn clone(&self) -> Self {
        self.boxed_clone()
    }
}

/// A breaker's contribution to the program's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Concern {
    /// Its state (not closed).
    pub(crate) state: State,
    /// Whether it is declared `critical`.
    pub(crate) critical: bool,
}

/// The figures a snapshot's table shows for every kind, `None` where a kind has no such
/// figure. Each kind fills them from its own counters ([`Figured`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Figures {
    pub(crate) state: Option<State>,
    pub(crate) calls: Option<u64>,
    pub(crate) successes: Option<u64>,
    pub(crate) failures: Option<u64>,
    pub(crate) rejections: Option<u64>,
    pub(crate) slow: Option<u64>,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) retries: Option<u64>,
    pub(crate) in_use: Option<u32>,
    pub(crate) queued: Option<u64>,
    pub(crate) available: Option<u32>,
    pub(crate) limit: Option<u32>,
    pub(crate) keys: Option<usize>,
}

/// A kind's counters, as the [`Figures`] every kind shares. Implemented by each kind's metrics
/// type, in the kind's folder, so a snapshot takes both from one reading.
pub(crate) trait Figured {
    /// The figures these counters give.
    fn figures(&self) -> Figures;
}
