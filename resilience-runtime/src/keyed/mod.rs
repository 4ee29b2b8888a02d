//! Keyed families: one policy per key (per tenant, host or user), in bounded memory.
//!
//! A [`Keyed`] family makes a child policy the first time a key is seen, with the family's
//! settings, and calls through it after: `tenant-a` flooding is throttled by its own limiter
//! while `tenant-b` passes untouched. [`KeyedRateLimiter`](crate::KeyedRateLimiter),
//! [`KeyedBulkhead`](crate::KeyedBulkhead) and
//! [`KeyedCircuitBreaker`](crate::KeyedCircuitBreaker) are the three families; each kind
//! makes itself a child (`Keyable`) in its own folder (`rate_limiter/keyed.rs`, ...).
//!
//! # Keys
//!
//! Any type whose owned form is `Hash + Eq + Display + Send + Sync + 'static` is a key: a
//! `String`, a `u64` tenant id, a type of your own. A call takes the key by reference, and a
//! key whose child exists is found without allocating (a `&str` finds the child of its
//! `String`). The `Display` names the child in errors, events and the registry:
//! `PER_TENANT[acme]`.
//!
//! # Bounded memory
//!
//! A family holds at most `max_keys` children (default [`DEFAULT_MAX_KEYS`]). It evicts a child
//! only when evicting it loses nothing, and no call holds it:
//! - a rate limiter whose bucket is full again (a new one would be the same);
//! - a bulkhead with nothing in flight or queued;
//! - a circuit breaker that is closed (not open, half-open or forced) and has seen no call for
//!   `idle` (default [`DEFAULT_IDLE`]): its window still holds its recent failures, which
//!   eviction forgets. A count window never ages on its own, so "an empty window" would keep
//!   the first hosts forever; idleness is what is asked.
//!
//! Eviction is a sweep over the children, made when a new key arrives and either the family is
//! full, or a quarter of `max_keys` new keys came since the last sweep. A child called since
//! the sweep before is kept one sweep more (a second chance), so a tenant that keeps calling
//! keeps its child even while its bucket refills between calls, instead of losing it and
//! having it made again; a sweep that freed
//! nothing at a full family is not made again before [`SWEEP_GAP`] has passed or an eighth of
//! `max_keys` new keys were refused, so a sweep costs at most a few children per new key.
//!
//! **When the family is full and nothing can be evicted**, a call under a new key is refused
//! with [`ErrorKind::KeyLimit`], counted in
//! [`KeyedMetrics::overflows`]; calls under existing keys go on as before. The other choice,
//! one overflow child shared by every new key, was not taken: it would tie unrelated tenants
//! (or hosts) together, which is what a keyed family exists to prevent, and a shared breaker
//! would open for hosts that never failed.
//!
//! Memory per key, measured over 10,000 `u64` keys (`tests/alloc.rs`,
//! `memory_per_key_is_bounded`): about **270 bytes** for a bulkhead, **2.9 KB** for a rate
//! limiter and **8.6 KB** for a circuit breaker, plus the key's owned form. Most of it is the
//! child itself: a limiter's and a breaker's success counters have one cache line per thread
//! (so a hot policy's success path writes no line another thread writes), and a breaker holds
//! its window; the rest is the map's entry and the key's name for reports. 10,000 tenants'
//! limiters hold about 29 MB.
//!
//! # The map
//!
//! The children live in a `papaya::HashMap`. Of the concurrent maps kept on crates.io:
//! - `papaya`: lock-free reads (a call whose child exists writes no shared cache line to find
//!   it), lookups by any `Equivalent` key (a borrowed or type-erased key, no allocation),
//!   `retain` for sweeps, and no eviction policy of its own;
//! - `dashmap`: a read takes its shard's lock, a write to a line that calls under other keys
//!   in the same shard also write;
//! - `scc`: lock-free reads in its `HashIndex`, but no lookup by an `Equivalent` key of another
//!   type in the version kept here;
//! - `moka`, `quick_cache`: caches that evict by their own policy (size, TinyLFU); ours must
//!   refuse to evict an open breaker, which they cannot be told (`quick_cache`'s pinning comes
//!   close, but a full cache of pinned entries still grows past its capacity).
//!
//! # Reconfiguring
//!
//! [`Keyed::reconfigure`] checks the new settings, then applies them to every child, and every
//! child made after takes them.

pub(crate) mod key;
mod registered;

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use self::key::{AnyKey, Probe};
use crate::clock::Clock;
use crate::error::{ConfigError, Error, ErrorKind, Failure};
use crate::key::KeyId;
use crate::kind::PolicyKind;
use crate::name::Name;

/// Why a keyed breaker is never `critical`: the same words as the attribute's.
pub(crate) const CRITICAL_KEYED: &str = "cannot be set on a keyed breaker: one key's open breaker makes health degraded, never down; remove critical";

/// How many children a family holds at most, unless told otherwise.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// How long a closed breaker child goes without a call before it may be evicted, unless told
/// otherwise.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(600);

/// The shortest time between two sweeps of a full family when the first freed nothing.
pub const SWEEP_GAP: Duration = Duration::from_millis(50);

/// A kind of policy that can be the child of a keyed family. Implemented by the rate limiter,
/// the bulkhead and the circuit breaker, each in its folder (`keyed.rs`). Not a public API:
/// sealed by its private module.
pub trait Keyable: Sized + Send + Sync + 'static + private::Sealed {
    /// The settings every child is built with: the kind's builder.
    type Settings: Copy + fmt::Debug + Send + Sync + 'static;

    /// A child with `settings` (checked), reporting as `name` (the family's name, with the
    /// child's key).
    #[doc(hidden)]
    fn make(settings: Self::Settings, name: Name) -> Result<Self, ConfigError>;

    /// Checks `settings` as the kind's builder does.
    #[doc(hidden)]
    fn check(settings: &Self::Settings) -> Result<(), ConfigError>;

    /// Applies `settings` (checked) to a child.
    #[doc(hidden)]
    fn reconfigure(&self, settings: Self::Settings) -> Result<(), ConfigError>;

    /// Whether the child is as a new one would be: evicting it loses nothing (a full bucket,
    /// an empty bulkhead, a closed breaker).
    #[doc(hidden)]
    fn at_rest(&self) -> bool;

    /// Whether being at rest is not enough: it must also have seen no call for the family's
    /// `idle` (a closed breaker's window still holds its recent failures).
    #[doc(hidden)]
    const NEEDS_IDLE: bool;

    /// A count that grows with every call the child decides: a child whose count has not
    /// moved since the last sweep has not been called since.
    #[doc(hidden)]
    fn activity(&self) -> u64;

    /// The child's name as built and reported.
    #[doc(hidden)]
    fn name_of(&self) -> &Name;

    /// The kind.
    #[doc(hidden)]
    const KIND: PolicyKind;

    /// Whether the child keeps a caller out now (an open, half-open or forced breaker): what
    /// makes the family's health degraded.
    #[doc(hidden)]
    fn tripped(&self) -> bool {
        false
    }

    /// Runs `fut` through the child, as the kind's own `call`.
    #[doc(hidden)]
    fn call<T, E, F>(&self, fut: F) -> impl Future<Output = Result<T, Failure<E>>>
    where
        F: Future<Output = Result<T, Failure<E>>>;
}

pub(crate) mod private {
    /// Only the runtime's kinds can be keyed.
    pub trait Sealed {}
}

/// A family of policies of kind `P`, one per key, in bounded memory. See the
/// [module](self) for keys, eviction and the map.
pub struct Keyed<P: Keyable> {
    name: Name,
    settings: Mutex<P::Settings>,
    max_keys: AtomicUsize,
    idle_nanos: AtomicU64,
    children: OnceLock<Map<P>>,
    /// The children held (at most `max_keys`): counted here rather than asked of the map, so
    /// the bound is exact while new keys race.
    live: AtomicUsize,
    clock: Clock,
    sweeps: Mutex<Sweeps>,
    evictions: AtomicU64,
    overflows: AtomicU64,
    /// What it was built with, for [`reset`](Self::reset): the children's settings,
    /// `max_keys` and `idle`.
    declared: (P::Settings, usize, Duration),
}

/// A family's children by key.
type Map<P> = papaya::HashMap<AnyKey, Arc<Child<P>>, KeyHasher>;

/// How a family hashes its keys: foldhash, seeded at random per family. Keys come from
/// requests (a tenant id, a host), so the hash must not let a caller choose colliding keys:
/// foldhash's random seed keeps its outputs unknown to a caller that cannot read them, and a
/// family holds at most `max_keys` keys, which bounds what any collision could cost. SipHash,
/// the standard library's, resists more (a caller that learns its outputs by timing) and costs
/// about four times as much on a short key: a third of a keyed call's lookup.
pub(crate) type KeyHasher = foldhash::fast::RandomState;

/// When the family swept last, and what it found.
#[derive(Debug, Default)]
struct Sweeps {
    /// New keys since the last sweep.
    since: usize,
    /// New keys refused since the last sweep.
    refused: usize,
    /// When it ran (the family's clock).
    at: u64,
    /// Whether it freed anything.
    freed: bool,
}

/// A child and what the sweeps know of it.
struct Child<P: Keyable> {
    policy: P,
    /// Its activity when a sweep last saw it change, and when (the family's clock).
    seen: AtomicU64,
    seen_at: AtomicU64,
}

impl<P: Keyable> Drop for Child<P> {
    fn drop(&mut self) {
        if let Some(key) = self.policy.name_of().key() {
            key.release();
        }
    }
}

/// A family's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedMetrics {
    /// Children held now.
    pub keys: usize,
    /// The most it holds.
    pub max_keys: usize,
    /// Children evicted since it was built or reset.
    pub evictions: u64,
    /// Calls under a new key refused because the family was full and nothing could be
    /// evicted ([`ErrorKind::KeyLimit`]).
    pub overflows: u64,
    /// For a family of breakers, the children that keep their key's calls out now (open,
    /// half-open or forced); `None` for the other kinds.
    pub tripped: Option<usize>,
}

/// A child of a family, held: its policy, for snapshots and control. The family may evict it
/// once every handle is dropped; a handle kept alive keeps it from eviction.
pub struct ChildHandle<P: Keyable> {
    child: Arc<Child<P>>,
}

impl<P: Keyable> std::ops::Deref for ChildHandle<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.child.policy
    }
}

impl<P: Keyable + fmt::Debug> fmt::Debug for ChildHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.child.policy.fmt(f)
    }
}

impl<P: Keyable> Keyed<P> {
    /// A family of children built with `settings`, named `name`.
    pub(crate) const fn new(
        name: &'static str,
        settings: P::Settings,
        max_keys: usize,
        idle: Duration,
    ) -> Self {
        Keyed {
            name: Name::new(name),
            settings: Mutex::new(settings),
            max_keys: AtomicUsize::new(max_keys),
            idle_nanos: AtomicU64::new(nanos(idle)),
            children: OnceLock::new(),
            live: AtomicUsize::new(0),
            clock: Clock::new(),
            sweeps: Mutex::new(Sweeps {
                since: 0,
                refused: 0,
                at: 0,
                freed: false,
            }),
            evictions: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
            declared: (settings, max_keys, idle),
        }
    }

    /// The name it reports in errors and events (its children add their key:
    /// `PER_TENANT[acme]`).
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// The most children it holds.
    pub fn max_keys(&self) -> usize {
        self.max_keys.load(Relaxed)
    }

    /// How long a closed breaker child goes without a call before it may be evicted.
    pub fn idle(&self) -> Duration {
        Duration::from_nanos(self.idle_nanos.load(Relaxed))
    }

    /// The settings every child is built with.
    pub fn settings(&self) -> P::Settings {
        *lock(&self.settings)
    }

    /// Its counters. For a family of breakers, reads every child's state (`tripped`).
    pub fn metrics(&self) -> KeyedMetrics {
        let tripped = (P::KIND == PolicyKind::CircuitBreaker).then(|| {
            self.children.get().map_or(0, |children| {
                children
                    .pin()
                    .iter()
                    .filter(|(_, child)| child.policy.tripped())
                    .count()
            })
        });
        KeyedMetrics {
            keys: self.live.load(Relaxed),
            max_keys: self.max_keys(),
            evictions: self.evictions.load(Relaxed),
            overflows: self.overflows.load(Relaxed),
            tripped,
        }
    }

    /// The child of `key`, if the family holds one now.
    pub fn key<Q>(&self, key: &Q) -> Option<ChildHandle<P>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
    {
        let children = self.children.get()?;
        let child = children.pin().get(&Probe::new(key))?.clone();
        Some(ChildHandle { child })
    }

    /// Every child held now, with its key as its `Display` writes it; in no order.
    pub fn children(&self) -> Vec<(String, ChildHandle<P>)> {
        let Some(children) = self.children.get() else {
            return Vec::new();
        };
        children
            .pin()
            .iter()
            .map(|(key, child)| {
                (
                    key.to_string(),
                    ChildHandle {
                        child: child.clone(),
                    },
                )
            })
            .collect()
    }

    /// Changes the settings of every child, now and made later. Checked first: on an error
    /// nothing changes.
    ///
    /// # Errors
    ///
    /// The kind's [`ConfigError`] when `settings` are not valid.
    pub fn reconfigure(&self, settings: P::Settings) -> Result<(), ConfigError> {
        P::check(&settings)?;
        // Held while the children change, so a child made meanwhile takes the new settings.
        let mut current = lock(&self.settings);
        *current = settings;
        if let Some(children) = self.children.get() {
            for (_, child) in children.pin().iter() {
                child.policy.reconfigure(settings)?;
            }
        }
        Ok(())
    }

    /// Changes the most children it holds. A family over the new bound sheds children as they
    /// become evictable; it makes none while over it.
    pub fn set_max_keys(&self, max_keys: usize) {
        self.max_keys.store(max_keys.max(1), Relaxed);
    }

    /// Changes how long a closed breaker child goes without a call before it may be evicted.
    pub fn set_idle(&self, idle: Duration) {
        self.idle_nanos.store(nanos(idle), Relaxed);
    }

    /// Makes the family as it was built: its declared settings (for the children it makes
    /// from now on), `max_keys` and `idle`; every child dropped (their calls in flight finish
    /// on them); the counters cleared.
    pub fn reset(&self) {
        let (settings, max_keys, idle) = self.declared;
        self.max_keys.store(max_keys, Relaxed);
        self.idle_nanos.store(nanos(idle), Relaxed);
        let mut current = lock(&self.settings);
        *current = settings;
        if let Some(children) = self.children.get() {
            children.pin().retain(|_, _| {
                self.live.fetch_sub(1, Relaxed);
                false
            });
        }
        self.evictions.store(0, Relaxed);
        self.overflows.store(0, Relaxed);
        *lock(&self.sweeps) = Sweeps::default();
        self.clock.restart();
    }

    /// Runs `fut` through `key`'s own child: its limiter's permit, its bulkhead's slot, its
    /// breaker's admission (see the kind's `call`). The child is made the first time `key` is
    /// seen.
    ///
    /// # Errors
    ///
    /// `Failure::Rejected` with the kind's rejection naming the key
    /// ([`Error::key`](crate::Error::key)), or with [`ErrorKind::KeyLimit`] when `key` is new
    /// and the family is full; otherwise whatever `fut` returns.
    pub async fn call<Q, T, E, F>(&self, key: &Q, fut: F) -> Result<T, Failure<E>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
        F: Future<Output = Result<T, Failure<E>>>,
    {
        let child = self.child(key).map_err(Failure::Rejected)?;
        child.child.policy.call(fut).await
    }

    /// The child for `key`: the one held, or a new one (what [`call`](Self::call) runs
    /// through). A handle held keeps the child from eviction.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::KeyLimit`] when `key` has no child, the family is full, and no child can
    /// be evicted.
    #[inline]
    pub fn child<Q>(&self, key: &Q) -> Result<ChildHandle<P>, Error>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
    {
        let children = self
            .children
            .get_or_init(|| papaya::HashMap::with_hasher(KeyHasher::default()));
        if let Some(child) = children.pin().get(&Probe::new(key)) {
            return Ok(ChildHandle {
                child: child.clone(),
            });
        }
        self.insert(children, key)
    }

    /// A new key: makes its child, sweeping first when it is time.
    #[cold]
    #[inline(never)]
    fn insert<Q>(&self, children: &Map<P>, key: &Q) -> Result<ChildHandle<P>, Error>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
    {
        // Held while the child is made and put in, so reconfiguring, sweeping and making
        // children do not interleave.
        let settings = lock(&self.settings);
        let map = children.pin();
        // Another call may have made it while this one waited.
        if let Some(child) = map.get(&Probe::new(key)) {
            return Ok(ChildHandle {
                child: child.clone(),
            });
        }
        let max_keys = self.max_keys();
        {
            let mut sweeps = lock(&self.sweeps);
            sweeps.since += 1;
            let full = self.live.load(Relaxed) >= max_keys;
            let now = self.clock.now();
            let due = if full {
                sweeps.freed
                    || sweeps.refused >= (max_keys / 8).max(1)
                    || now.saturating_sub(sweeps.at) >= nanos(SWEEP_GAP)
            } else {
                sweeps.since >= (max_keys / 4).max(16)
            };
            if due {
                let freed = self.sweep(&map, now);
                *sweeps = Sweeps {
                    since: 0,
                    refused: 0,
                    at: now,
                    freed: freed > 0,
                };
            }
            if self.live.load(Relaxed) >= max_keys {
                sweeps.refused += 1;
                drop(sweeps);
                self.overflows.fetch_add(1, Relaxed);
                return Err(Error::named(ErrorKind::KeyLimit, &self.name));
            }
        }
        let owned: Q::Owned = key.to_owned();
        let family = self.name.get();
        let id = KeyId::of(family, &owned);
        // The settings were checked when the family was built or reconfigured, and a kind's
        // builder is a function of its settings: this does not fail. Were it to, the key is
        // refused as one the family cannot hold.
        let Ok(policy) = P::make(*settings, Name::keyed(family, id)) else {
            if let Some(id) = id {
                id.release();
            }
            self.overflows.fetch_add(1, Relaxed);
            return Err(Error::named(ErrorKind::KeyLimit, &self.name));
        };
        let child = Arc::new(Child {
            policy,
            // The call it is made for is its first: called once and at rest, the next sweep
            // may take it; called again, it has a second chance.
            seen: AtomicU64::new(1),
            seen_at: AtomicU64::new(self.clock.now()),
        });
        self.live.fetch_add(1, Relaxed);
        let child = map.get_or_insert(AnyKey::new(owned), child.clone()).clone();
        Ok(ChildHandle { child })
    }

    /// Evicts every child that can go; returns how many went.
    fn sweep(
        &self,
        map: &papaya::HashMapRef<'_, AnyKey, Arc<Child<P>>, KeyHasher, impl papaya::Guard>,
        now: u64,
    ) -> usize {
        let idle = self.idle_nanos.load(Relaxed);
        let mut freed = 0;
        map.retain(|_, child| {
            // A call holds it (or a handle): it stays.
            if Arc::strong_count(child) > 1 || !child.policy.at_rest() {
                return true;
            }
            // Called since the last sweep: in use, it stays (a second chance), so a tenant
            // that keeps calling is not evicted and made again each time its bucket refills.
            let activity = child.policy.activity();
            if activity != child.seen.load(Relaxed) {
                child.seen.store(activity, Relaxed);
                child.seen_at.store(now, Relaxed);
                return true;
            }
            if P::NEEDS_IDLE && now.saturating_sub(child.seen_at.load(Relaxed)) < idle {
                return true;
            }
            freed += 1;
            false
        });
        self.live.fetch_sub(freed, Relaxed);
        self.evictions.fetch_add(freed as u64, Relaxed);
        freed
    }
}

impl<P: Keyable> fmt::Debug for Keyed<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("name", &self.name)
            .field("settings", &self.settings())
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A poisoned lock only means a panic elsewhere while it was held: what it guards is whole
/// (every change to it is one store).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const fn nanos(d: Duration) -> u64 {
    let n = d.as_nanos();
    if n > u64::MAX as u128 {
        u64::MAX
    } else {
        n as u64
    }
}

/// Configures a keyed family: the kind's own settings (every child's), and how many children
/// it holds and how long a closed breaker child stays idle before it may go. Made by the
/// kind's builder (`RateLimiter::builder("PER_TENANT").rate(1000, MINUTE).keyed()`).
pub struct KeyedBuilder<P: Keyable> {
    pub(crate) settings: P::Settings,
    pub(crate) max_keys: usize,
    pub(crate) idle: Duration,
}

impl<P: Keyable> Clone for KeyedBuilder<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Keyable> Copy for KeyedBuilder<P> {}

impl<P: Keyable> fmt::Debug for KeyedBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBuilder")
            .field("settings", &self.settings)
            .field("max_keys", &self.max_keys)
            .field("idle", &self.idle)
            .finish()
    }
}

impl<P: Keyable> KeyedBuilder<P> {
    pub(crate) const fn new(settings: P::Settings) -> Self {
        KeyedBuilder {
            settings,
            max_keys: DEFAULT_MAX_KEYS,
            idle: DEFAULT_IDLE,
        }
    }

    /// The most children the family holds (default [`DEFAULT_MAX_KEYS`]).
    #[must_use]
    pub const fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How long a closed breaker child goes without a call before it may be evicted (default
    /// [`DEFAULT_IDLE`]). A rate limiter or bulkhead child is evicted as soon as it is at rest.
    #[must_use]
    pub const fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Once the kind's settings were checked: checks the family's own.
    pub(crate) const fn checked(self, name: &'static str) -> Result<Checked<P>, ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new(
                name,
                "max_keys",
                "must be at least 1: write max_keys = 10_000",
            ));
        }
        if self.idle.is_zero() {
            return Err(ConfigError::new(
                name,
                "idle",
                "must be longer than 0: write idle = 10m",
            ));
        }
        Ok(Checked {
            name,
            builder: self,
        })
    }
}

/// A keyed family's settings, checked: what [`build`](Self::build)s the family without an
/// error to handle. Made by the kind's `KeyedBuilder::check`.
///
/// It exists for `static`s: a family's map frees its children when the family is dropped, and
/// a `const` initialiser cannot match on a `Result` holding a value with a destructor. Check in
/// the match, build in its arm:
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::{KeyedCircuitBreaker, CircuitBreaker};
///
/// static HOSTS: KeyedCircuitBreaker = match CircuitBreaker::builder("HOSTS")
///     .threshold(50.0)
///     .keyed()
///     .check()
/// {
///     Ok(checked) => checked.build(),
///     Err(_) => panic!("invalid circuit breaker"),
/// };
/// # assert_eq!(HOSTS.metrics().keys, 0);
/// ```
pub struct Checked<P: Keyable> {
    name: &'static str,
    builder: KeyedBuilder<P>,
}

impl<P: Keyable> Clone for Checked<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Keyable> Copy for Checked<P> {}

impl<P: Keyable> fmt::Debug for Checked<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checked")
            .field("name", &self.name)
            .field("builder", &self.builder)
            .finish()
    }
}

impl<P: Keyable> Checked<P> {
    /// The family.
    pub const fn build(self) -> Keyed<P> {
        let b = self.builder;
        Keyed::new(self.name, b.settings, b.max_keys, b.idle)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use crate::RateLimiter;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn an_evicted_child_gives_its_keys_name_back() {
        let family = Box::leak(Box::new(
            RateLimiter::builder("keyed-tests::CHURN")
                .rate(1000, Duration::from_secs(1))
                .keyed()
                .max_keys(4)
                .build()
                .unwrap(),
        ));
        let before = crate::key::held();
        for key in 0..5_000_u64 {
            let _ = family.child(&key);
            if key % 4 == 3 {
                tokio::time::advance(Duration::from_millis(2)).await;
            }
        }
        // Evicted children are freed when no reader can hold them any more, in batches: a
        // few hundred at most wait, not one per key.
        let held = crate::key::held().saturating_sub(before);
        assert!(
            held < 1_000,
            "{held} names held after 5,000 keys through 4 slots"
        );
        assert!(family.metrics().evictions > 3_000, "{:?}", family.metrics());
    }
}
