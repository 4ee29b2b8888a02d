//! The registry: every policy of the program by name, to observe and operate the running system.
//!
//! Every policy an attribute or [`policy!`] declares is listed from program start, before its
//! first call: each generated `static` is collected at link time (a `linkme` distributed slice),
//! so there is no registration call to forget, no lock and no allocation on any call path. A
//! policy built by hand is added with [`register`].
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{registry, CircuitBreaker, State};
//!
//! static INVENTORY: CircuitBreaker = match CircuitBreaker::builder("inventory").build() {
//!     Ok(breaker) => breaker,
//!     Err(_) => panic!("invalid circuit breaker"),
//! };
//!
//! registry::register(&INVENTORY);
//! // Observe: kind, name, settings, state and counters of every policy.
//! println!("{}", registry::snapshot());
//! // Operate, by name.
//! registry::circuit_breaker("inventory").unwrap().force_open();
//! assert_eq!(INVENTORY.state(), State::ForcedOpen);
//! assert!(!registry::health().is_up());
//! registry::circuit_breaker("inventory").unwrap().close();
//! // Reconfigure, by name, checked like the builders.
//! registry::circuit_breaker("inventory").unwrap().set_open(Duration::from_secs(10)).unwrap();
//! registry::set("inventory", "threshold", "25%").unwrap();
//! let e = registry::set("inventory", "treshold", "25%").unwrap_err();
//! assert_eq!(e.to_string(), "unknown setting `treshold` for circuit_breaker `inventory`; did you mean `threshold`?");
//! let e = registry::circuit_breaker("inventroy").unwrap_err();
//! assert_eq!(e.suggestions(), ["inventory"]);
//! ```
//!
//! # Names
//!
//! A policy is registered under the name it was built with: a `policy!` static's name (or its
//! `name = "..."`), or `module::path::function/kind` for a policy an attribute declares. A name
//! identifies one policy everywhere: registry, configuration, events, errors, snapshots and
//! metrics.
//!
//! Two `policy!` statics of different modules declared with one name (`DB` in `app::orders`
//! and in `app::billing`) are each listed, and report themselves in events and errors
//! ([`Error::policy`](crate::Error::policy)), under their path: `app::orders::DB`,
//! `app::billing::DB`. The shared name is then no policy's: looking it up, changing it, or a
//! `[DB]` table in a configuration file is a [`RegistryErrorKind::Ambiguous`] error naming both
//! paths, never a guess. The registry settles this once, from the declarations the linker
//! collected, before any policy reports its name, so a policy never reports two names. A name
//! no other static shares is listed as it is.
//!
//! Two policies of one stack that would share a name (two timeouts) are told apart by the
//! attribute itself (`f/timeout`, `f/timeout#2`), so their errors and events differ too. Two
//! inline policies of different sites with the same name (same-named methods of two types in
//! one module) are told apart by the registry: the one declared first in the source (by file,
//! line, column) keeps the name, the others get `#2`, `#3`; their errors and events carry the
//! name they were built with, so give them a `name = "..."` to tell those apart too. A policy
//! registered by hand comes after the declared ones, in the order of registration, and is told
//! apart from a declared one of the same name the same way. Registering the same policy twice
//! lists it once.
//!
//! Fallbacks hold no state and are not listed; their events are published like every other.
//!
//! [`policy!`]: https://docs.rs/resilience/latest/resilience/macro.policy.html

mod error;
mod health;
mod settings;
mod snapshot;

#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "metrics")]
pub mod metrics;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use error::{Location, RegistryError, RegistryErrorKind};
pub use health::{Health, Reason, Status};
pub use settings::ChangeSet;
pub use snapshot::{PolicySnapshot, Snapshot};

use crate::describe::{Describe, Figured, Figures};
pub use crate::drain::{DrainReport, drain, is_draining, undrain};
use crate::event::PolicyKind;
pub use crate::event::{Event, Subscription, subscribe};
use crate::name::{self as names, Name};
use crate::{
    Bulkhead, BulkheadMetrics, Cache, CacheMetrics, Chaos, ChaosMetrics, CircuitBreaker,
    CircuitBreakerMetrics, Hedge, HedgeMetrics, Idempotency, IdempotencyMetrics, KeyedBulkhead,
    KeyedCircuitBreaker, KeyedMetrics, KeyedRateLimiter, RateLimiter, RateLimiterMetrics, Retry,
    RetryBudget, RetryBudgetMetrics, RetryMetrics, Timeout, TimeoutMetrics, Toggle, ToggleMetrics,
};

/// The kinds of policy the registry lists, one line each: the variant, the policy's type and
/// its counters' type, with the docs of both variants. Everything else the registry does with a
/// policy goes through the kind's [`Describe`], in its own folder.
macro_rules! kinds {
    ($($variant:ident($ty:ty, $metrics:ty): $doc:literal, $metrics_doc:literal;)*) => {
        /// One policy, as the registry holds it: a reference to its `static`.
        #[derive(Clone, Copy, Debug)]
        #[non_exhaustive]
        pub enum Policy {
            $(#[doc = $doc] $variant(&'static $ty),)*
        }

        /// The counters of one policy, by kind.
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Metrics {
            $(#[doc = $metrics_doc] $variant($metrics),)*
        }

        impl Policy {
            /// What the policy tells the registry about itself.
            fn describe(self) -> &'static dyn Describe {
                match self {
                    $(Policy::$variant(p) => p,)*
                }
            }

            /// Its counters, and the figures every kind shares, from one reading.
            fn read(self) -> (Metrics, Figures) {
                match self {
                    $(Policy::$variant(p) => {
                        let m = p.metrics();
                        (Metrics::$variant(m), m.figures())
                    })*
                }
            }
        }

        $(impl From<&'static $ty> for Policy {
            fn from(p: &'static $ty) -> Self {
                Policy::$variant(p)
            }
        })*
    };
}

kinds! {
    CircuitBreaker(CircuitBreaker, CircuitBreakerMetrics):
        "A circuit breaker.", "A circuit breaker's state, counters and rates.";
    Retry(Retry, RetryMetrics):
        "A retry policy.", "A retry's counters (failed attempts only).";
    Timeout(Timeout, TimeoutMetrics):
        "A timeout.", "A timeout's counter.";
    Bulkhead(Bulkhead, BulkheadMetrics):
        "A bulkhead.", "A bulkhead's occupancy and counters.";
    RateLimiter(RateLimiter, RateLimiterMetrics):
        "A rate limiter.", "A rate limiter's counters and available permits.";
    KeyedCircuitBreaker(KeyedCircuitBreaker, KeyedMetrics):
        "A family of circuit breakers, one per key.", "A keyed family's keys, evictions and overflows.";
    KeyedBulkhead(KeyedBulkhead, KeyedMetrics):
        "A family of bulkheads, one per key.", "A keyed family's keys, evictions and overflows.";
    KeyedRateLimiter(KeyedRateLimiter, KeyedMetrics):
        "A family of rate limiters, one per key.", "A keyed family's keys, evictions and overflows.";
    RetryBudget(RetryBudget, RetryBudgetMetrics):
        "A retry budget, shared by the retries that name it.", "A retry budget's deposits, retries allowed and refused, and what it allows now.";
    Toggle(Toggle, ToggleMetrics):
        "A toggle: a degraded mode switched by name.", "A toggle's state and the calls it served degraded.";
    Chaos(Chaos, ChaosMetrics):
        "A chaos layer: faults injected while enabled.", "A chaos layer's calls and the faults it injected.";
    Idempotency(Idempotency, IdempotencyMetrics):
        "An idempotency store: a key's first call runs, its duplicates get its result.", "An idempotency store's first calls, duplicates served and refused, and keys held.";
    Cache(Cache, CacheMetrics):
        "A cache: a fresh value is served without calling what is below.", "A cache's hits, misses, stale values served, evictions and entries.";
    Hedge(Hedge, HedgeMetrics):
        "A hedge: another attempt beside a slow one, the first success wins.", "A hedge's calls, hedges started, won, cancelled and skipped, and its delay now.";
}

impl Policy {
    /// The policy's kind.
    pub fn kind(&self) -> PolicyKind {
        self.describe().kind()
    }

    /// The name the policy was built with (its registry name may be its path, or add `#2`:
    /// see the [module docs](self)).
    pub fn built_name(&self) -> &'static str {
        self.names().built()
    }

    /// Its name as built and as reported.
    fn names(&self) -> &'static Name {
        self.describe().names()
    }

    /// Makes the policy as it was built: the settings it was declared with, its state and
    /// counters as new, and (breakers and rate limiters) a fresh time origin. See each kind's
    /// `reset` ([`CircuitBreaker::reset`], [`RateLimiter::reset`], ...).
    pub fn reset(&self) {
        self.describe().reset();
    }

    /// The address of the policy: its identity.
    fn address(&self) -> usize {
        self.describe().address()
    }
}

/// Where a policy was declared: what the attributes and `policy!` put in [`SITES`]. Not a
/// public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    policy: Policy,
    file: &'static str,
    line: u32,
    column: u32,
}

impl Site {
    /// The policy an attribute or `policy!` declared at `file:line:column`.
    pub const fn new(policy: Policy, file: &'static str, line: u32, column: u32) -> Self {
        Site {
            policy,
            file,
            line,
            column,
        }
    }
}

/// Every policy declared by an attribute or `policy!`, collected by the linker. (`policy!`
/// statics are listed in the names' own list too, which settles their reported names.) Not a
/// public API.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static SITES: [Site];

/// Policies registered by hand, in order.
static BY_HAND: Mutex<Vec<Policy>> = Mutex::new(Vec::new());

/// The table of names, built on first use and rebuilt after each [`register`].
static TABLE: Mutex<Option<Arc<[Entry]>>> = Mutex::new(None);

/// One row of the registry.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    policy: Policy,
}

/// A poisoned lock only means a panic elsewhere while it was held: the data (a list) is
/// still whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `policy!` statics of different modules share `name`.
fn is_ambiguous(name: &str) -> bool {
    names::ambiguous().contains(&name)
}

/// The error for an ambiguous `name`, naming every policy built with it by its registry
/// name (the statics' paths, and any other policy's `name#2`); `None` if it is not ambiguous.
fn ambiguity(table: &[Entry], name: &str) -> Option<RegistryError> {
    is_ambiguous(name).then(|| {
        let names = table
            .iter()
            .filter(|e| e.policy.built_name() == name)
            .map(|e| e.name.clone())
            .collect();
        RegistryError::ambiguous(name, names)
    })
}

/// [`ambiguity`] in the registry as it is.
#[cfg_attr(not(feature = "config"), allow(dead_code))]
fn ambiguity_of(name: &str) -> Option<RegistryError> {
    ambiguity(&table(), name)
}

/// Every policy with its registry name, sorted by name.
fn table() -> Arc<[Entry]> {
    let mut cached = lock(&TABLE);
    if let Some(table) = &*cached {
        return Arc::clone(table);
    }
    let mut sites: Vec<&Site> = SITES.iter().collect();
    // Deterministic whatever the link order: by name, then where it is declared.
    sites.sort_by(|a, b| {
        (a.policy.built_name(), a.file, a.line, a.column).cmp(&(
            b.policy.built_name(),
            b.file,
            b.line,
            b.column,
        ))
    });
    let by_hand = lock(&BY_HAND).clone();
    let mut seen = std::collections::HashSet::new();
    let mut count = std::collections::HashMap::<&'static str, usize>::new();
    // An ambiguous name is no policy's: the statics that share it are listed by path, and
    // any other policy of that name (an inline one's `name = "..."`, one built by hand) is
    // `#2` on.
    for &name in names::ambiguous() {
        count.insert(name, 1);
    }
    let mut entries = Vec::new();
    for policy in sites.iter().map(|s| s.policy).chain(by_hand) {
        if !seen.insert(policy.address()) {
            continue;
        }
        // A static's path is unique but for `policy!` in two function bodies of one module:
        // counted like any name, so such a pair is told apart with `#2` too.
        let base = policy.names().qualified().unwrap_or(policy.built_name());
        let n = count.entry(base).or_insert(0);
        *n += 1;
        let name = if *n == 1 {
            base.to_owned()
        } else {
            format!("{base}#{n}")
        };
        entries.push(Entry { name, policy });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let table: Arc<[Entry]> = entries.into();
    *cached = Some(Arc::clone(&table));
    table
}

/// Adds a policy built by hand (with its builder, in a `static`) to the registry, and returns
/// its registry name. Policies declared by the attributes and `policy!` are listed already;
/// registering one of them, or the same policy twice, changes nothing.
///
/// ```
/// use resilience_runtime::{registry, Bulkhead};
/// static POOL: Bulkhead = match Bulkhead::builder("db-pool").max(8).build() {
///     Ok(b) => b,
///     Err(_) => panic!("invalid bulkhead"),
/// };
/// assert_eq!(registry::register(&POOL), "db-pool");
/// assert_eq!(registry::bulkhead("db-pool").unwrap().max(), 8);
/// ```
pub fn register(policy: impl Into<Policy>) -> String {
    let policy = policy.into();
    {
        let mut by_hand = lock(&BY_HAND);
        if !by_hand.iter().any(|p| p.address() == policy.address()) {
            by_hand.push(policy);
        }
    }
    *lock(&TABLE) = None;
    table()
        .iter()
        .find(|e| e.policy.address() == policy.address())
        .map(|e| e.name.clone())
        .unwrap_or_else(|| policy.built_name().to_owned())
}

/// The registry names of every policy, sorted.
pub fn names() -> Vec<String> {
    table().iter().map(|e| e.name.clone()).collect()
}

/// Every policy with its registry name, sorted by name.
pub fn policies() -> Vec<(String, Policy)> {
    table().iter().map(|e| (e.name.clone(), e.policy)).collect()
}

/// The policy registered as `name`.
///
/// # Errors
///
/// [`RegistryErrorKind::UnknownPolicy`] when no policy has that name; the error lists the
/// close matches ([`RegistryError::suggestions`]). [`RegistryErrorKind::Ambiguous`] when
/// `policy!` statics of different modules share that name: the error names their paths,
/// which are their registry names.
pub fn get(name: &str) -> Result<Policy, RegistryError> {
    let table = table();
    match table.iter().find(|e| e.name == name) {
        Some(entry) => Ok(entry.policy),
        None => Err(not_found(&table, name, None)),
    }
}

/// The error for a `name` that is no registry name: ambiguous, or unknown with the close
/// matches (of `kind`, if given).
fn not_found(table: &[Entry], name: &str, kind: Option<PolicyKind>) -> RegistryError {
    if let Some(e) = ambiguity(table, name) {
        return e;
    }
    let candidates = table
        .iter()
        .filter(|e| kind.is_none_or(|kind| e.policy.kind() == kind))
        .map(|e| e.name.as_str());
    RegistryError::unknown_policy(name, kind, candidates)
}

/// The policy named `name` if it is of `kind`; errors list the close matches of that kind.
fn get_kind(name: &str, kind: PolicyKind) -> Result<Policy, RegistryError> {
    let table = table();
    match table.iter().find(|e| e.name == name) {
        Some(entry) if entry.policy.kind() == kind => Ok(entry.policy),
        Some(entry) => Err(RegistryError::wrong_kind(name, kind, entry.policy.kind())),
        None => Err(not_found(&table, name, Some(kind))),
    }
}

macro_rules! getter {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty, $kind:ident, $keyed:literal) => {
        $(#[$doc])*
        ///
        /// # Errors
        ///
        /// When no policy of this kind has that name (the error lists the close matches), or
        /// the policy of that name is of another kind, or keyed where this is not (or the
        /// other way round).
        pub fn $fn(name: &str) -> Result<&'static $ty, RegistryError> {
            match get_kind(name, PolicyKind::$kind)? {
                Policy::$variant(p) => Ok(p),
                _ => Err(RegistryError::keyed_or_not(name, PolicyKind::$kind, !$keyed)),
            }
        }
    };
}

getter!(
    /// The circuit breaker registered as `name`: to force it open, close, disable or reset it,
    /// or change its settings (`set_threshold`, `set_open`, ...).
    circuit_breaker, CircuitBreaker, CircuitBreaker, CircuitBreaker, false
);
getter!(
    /// The retry policy registered as `name` (`set_attempts`, `set_backoff`, ...).
    retry, Retry, Retry, Retry, false
);
getter!(
    /// The timeout registered as `name` (`set_duration`).
    timeout, Timeout, Timeout, Timeout, false
);
getter!(
    /// The bulkhead registered as `name` (`set_max`, `set_wait`).
    bulkhead, Bulkhead, Bulkhead, Bulkhead, false
);
getter!(
    /// The rate limiter registered as `name` (`set_rate`, `set_wait`).
    rate_limiter, RateLimiter, RateLimiter, RateLimiter, false
);
getter!(
    /// The family of circuit breakers registered as `name`: its children by key
    /// (`key("api.example.com")`), its settings, its counters.
    keyed_circuit_breaker, KeyedCircuitBreaker, KeyedCircuitBreaker, CircuitBreaker, true
);
getter!(
    /// The family of bulkheads registered as `name`: its children by key, its settings.
    keyed_bulkhead, KeyedBulkhead, KeyedBulkhead, Bulkhead, true
);
getter!(
    /// The family of rate limiters registered as `name`: its children by key
    /// (`key("acme")`), its settings, its counters.
    keyed_rate_limiter, KeyedRateLimiter, KeyedRateLimiter, RateLimiter, true
);
getter!(
    /// The retry budget registered as `name`: its level and refusals, its settings
    /// (`ratio`, `min`, `window`).
    retry_budget, RetryBudget, RetryBudget, RetryBudget, false
);
getter!(
    /// The toggle registered as `name`: to switch its degraded mode (`turn_on`, `turn_off`).
    toggle, Toggle, Toggle, Toggle, false
);
getter!(
    /// The chaos layer registered as `name`: to enable it (`set_enabled`) or read what it
    /// injected.
    chaos, Chaos, Chaos, Chaos, false
);
getter!(
    /// The idempotency store registered as `name`: its settings, its keys, `forget(key)`.
    idempotency, Idempotency, Idempotency, Idempotency, false
);
getter!(
    /// The cache registered as `name`: its settings, `invalidate(key)`, `invalidate_all()`.
    cache, Cache, Cache, Cache, false
);
getter!(
    /// The hedge registered as `name`: its settings (`after`, `initial`, `max`), its counters.
    hedge, Hedge, Hedge, Hedge, false
);

/// The state, settings and counters of every policy, sorted by name. `Display` prints it as a
/// table.
pub fn snapshot() -> Snapshot {
    Snapshot::of(table().iter().map(|e| (e.name.clone(), e.policy)))
}

/// Resets every policy of the registry ([`Policy::reset`]): declared settings, state and
/// counters as new, and a fresh time origin taken by the runtime that uses each policy next.
/// A [`drain`] that was on is ended ([`undrain`]): calls are admitted again.
///
/// The registry and the policies are the process's: tests of one binary share them. A test
/// suite calls `reset_all()` at the start of each test (or resets the policies it uses by
/// name, with [`reset`]), so no test sees another's settings, state, counters or paused clock.
/// Tests that run at the same time still share the policies; give each test policies of its
/// own, or make them take turns.
///
/// ```
/// use resilience_runtime::{registry, Bulkhead};
/// static POOL: Bulkhead = match Bulkhead::builder("docs-reset-pool").max(4).build() {
///     Ok(b) => b,
///     Err(_) => panic!("invalid bulkhead"),
/// };
/// registry::register(&POOL);
/// registry::set("docs-reset-pool", "max", "8").unwrap();
/// registry::reset_all();
/// assert_eq!(POOL.max(), 4);
/// ```
pub fn reset_all() {
    crate::drain::undrain();
    for entry in table().iter() {
        entry.policy.reset();
    }
}

/// Resets the policy registered as `name` ([`Policy::reset`]).
///
/// # Errors
///
/// [`RegistryErrorKind::UnknownPolicy`] when no policy has that name, with the close matches.
pub fn reset(name: &str) -> Result<(), RegistryError> {
    get(name).map(|policy| policy.reset())
}

/// Whether the program is up, degraded or down, with the reasons: see [`Health`].
pub fn health() -> Health {
    Health::of(table().iter().map(|e| (e.name.as_str(), e.policy)))
}

/// Changes one setting of the policy registered as `name`, written as in the attributes:
/// `set("payments", "threshold", "25%")`, `set("fetch/retry", "backoff", "exponential(50ms, max = 1s)")`.
/// See [`ChangeSet`] for the keys of each kind.
///
/// # Errors
///
/// An unknown policy or key (with the close matches), a value that does not parse, or a value
/// the policy's builder rejects, naming the field; nothing changes.
pub fn set(name: &str, key: &str, value: &str) -> Result<(), RegistryError> {
    let mut changes = ChangeSet::new();
    changes.set(name, key, value)?;
    changes.apply()
}
