//! A cache in front of the layers below: a fresh value is served without calling them.
//!
//! A [`Cache`], for a call with a key:
//! - a value fetched less than `ttl` ago is **served without running the call**;
//! - concurrent misses for one key run the call **once** and share its `Ok` value (single
//!   flight); if that call fails, each caller that waited on it runs its own;
//! - with `stale`, when the call fails, the last good value is **served stale**, up to `stale`
//!   after it was fetched, and said so: an event, a counter, and [`served_stale`] for the
//!   caller that asks right after the call returns;
//! - with `refresh`, the first call after a value is `refresh` old runs the layers below to
//!   refresh it (every other call is still served the cached value meanwhile), so a busy key
//!   does not all miss at `ttl`. The refresh runs in that caller's task: the call borrows its
//!   arguments, so no task of its own can be spawned for it.
//!
//! Only fresh `Ok` values from the layers below are stored: never a value a fallback inside
//! served, never a stale one. At `capacity`, a miss first drops the entries past `ttl` and
//! `stale`; if none, the oldest fetched of a sample of entries (a few dozen, not a scan) goes.
//!
//! # Why a map of ours rather than a cache crate
//!
//! Entries must expire in tokio's clock, which virtual time pauses: `moka` expires by its own
//! clock, so a paused test would never see an entry expire. `quick_cache` has no expiry, its
//! single flight hands a failed loader's turn to one waiter at a time and, while a key loads,
//! holds a placeholder where the last good value was (which `stale` needs). The entries here
//! carry their fetch instant and live in `papaya`'s map, as a keyed family's children do.

mod registered;

use std::any::Any;
use std::borrow::Borrow;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{Clock, ticks};
use crate::error::{ConfigError, Failure};
use crate::event::{EventKind, PolicyKind, emit};
use crate::keyed::KeyHasher;
use crate::keyed::key::{AnyKey, Probe};
use crate::name::Name;

/// A stored value, of whichever type the call's is.
type Stored = Arc<dyn Any + Send + Sync>;

/// What a caller waiting on a running load sees: nothing yet, then the value, or `None` (it
/// failed, or a fallback inside served it).
type Loaded = Option<Option<Stored>>;

/// How many entries a full cache looks at to choose the one to drop.
const SAMPLE: usize = 32;

#[derive(Clone)]
struct Entry {
    /// The last good value and when it was fetched (the cache's clock).
    value: Option<(Stored, u64)>,
    /// A load running for this key: its waiters watch this.
    loading: Option<watch::Receiver<Loaded>>,
}

type Map = papaya::HashMap<AnyKey, Entry, KeyHasher>;

thread_local! {
    /// Whether a fallback served a value during the current poll of a cache's call.
    static FALLBACK_SERVED: Cell<bool> = const { Cell::new(false) };
    /// Whether the last cached call that returned on this thread was served a stale value.
    static SERVED_STALE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the cached call that just returned, on this thread, was served a stale value (the
/// layers below failed and the cache served the last good one). Read it right after the call
/// returns, before anything else is awaited.
pub fn served_stale() -> bool {
    SERVED_STALE.try_with(Cell::get).unwrap_or(false)
}

/// Said by a fallback as it serves a value, so a cache around it does not store that value.
/// Not a public API.
#[doc(hidden)]
pub fn fallback_served() {
    let _ = FALLBACK_SERVED.try_with(|f| f.set(true));
}

/// A cache: see the [module docs](self).
pub struct Cache {
    name: Name,
    ttl: AtomicU64,
    /// 0: no stale serving.
    stale: AtomicU64,
    /// 0: no refresh ahead of expiry.
    refresh: AtomicU64,
    capacity: AtomicUsize,
    map: OnceLock<Map>,
    clock: Clock,
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    evictions: AtomicU64,
    refreshes: AtomicU64,
    declared: CacheBuilder,
}

/// Builds a [`Cache`]; every method is `const`. Made by [`Cache::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `check` is called"]
pub struct CacheBuilder {
    pub(crate) name: &'static str,
    pub(crate) ttl: Duration,
    pub(crate) stale: Option<Duration>,
    pub(crate) refresh: Option<Duration>,
    pub(crate) capacity: usize,
}

/// Settings checked by [`CacheBuilder::check`], ready to [`build`](Self::build) (a cache holds
/// a map, which a `const` cannot drop: the check that may fail comes first).
#[derive(Clone, Copy, Debug)]
pub struct CheckedCache(CacheBuilder);

/// A snapshot of a cache, from [`Cache::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheMetrics {
    /// Calls served a fresh value without running.
    pub hits: u64,
    /// Calls that ran the layers below (their own, or a single flight's).
    pub misses: u64,
    /// Calls served a stale value when the layers below failed.
    pub stale_served: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
    /// Refreshes ahead of expiry.
    pub refreshes: u64,
    /// Entries held now.
    pub entries: usize,
}

impl CacheBuilder {
    /// How long a fetched value is served without running the call (required: no default).
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Serve the last good value when the call fails, up to this long after it was fetched
    /// (longer than `ttl`; default: never).
    pub const fn stale(mut self, stale: Option<Duration>) -> Self {
        self.stale = stale;
        self
    }

    /// Refresh a value this old ahead of its expiry (shorter than `ttl`; default: never).
    pub const fn refresh(mut self, refresh: Option<Duration>) -> Self {
        self.refresh = refresh;
        self
    }

    /// The most entries held (default 10,000).
    pub const fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a `ttl` or `capacity` of zero, a `stale` not longer than `ttl`, or
    /// a `refresh` of zero or not shorter than `ttl`.
    pub const fn check(self) -> Result<CheckedCache, ConfigError> {
        let ttl = ticks(self.ttl);
        if ttl == 0 {
            return Err(ConfigError::new(
                self.name,
                "ttl",
                "must be more than zero (how long a value is served): write ttl = 30s",
            ));
        }
        if let Some(stale) = self.stale
            && ticks(stale) <= ttl
        {
            return Err(ConfigError::new(
                self.name,
                "stale",
                "must be longer than ttl (a value is fresh until ttl, stale after it): write stale = 5m",
            ));
        }
        if let Some(refresh) = self.refresh
            && (ticks(refresh) == 0 || ticks(refresh) >= ttl)
        {
            return Err(ConfigError::new(
                self.name,
                "refresh",
                "must be more than zero and shorter than ttl (a value is refreshed before it expires): write refresh = 25s with ttl = 30s",
            ));
        }
        if self.capacity == 0 {
            return Err(ConfigError::new(
                self.name,
                "capacity",
                "must be at least 1 (the most entries held): write capacity = 10_000",
            ));
        }
        Ok(CheckedCache(self))
    }
}

impl CheckedCache {
    /// The cache.
    pub const fn build(self) -> Cache {
        let b = self.0;
        Cache {
            name: Name::new(b.name),
            ttl: AtomicU64::new(ticks(b.ttl)),
            stale: AtomicU64::new(match b.stale {
                Some(d) => ticks(d),
                None => 0,
            }),
            refresh: AtomicU64::new(match b.refresh {
                Some(d) => ticks(d),
                None => 0,
            }),
            capacity: AtomicUsize::new(b.capacity),
            map: OnceLock::new(),
            clock: Clock::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            declared: b,
        }
    }
}

pin_project_lite::pin_project! {
    /// The call below a cache, polled with the fallback flag cleared and looked at after each
    /// poll: whether a fallback inside served what it returns.
    struct Watched<'a, F> {
        #[pin]
        fut: F,
        fallback: &'a AtomicBool,
    }
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = FALLBACK_SERVED
            .try_with(|f| f.replace(false))
            .unwrap_or(false);
        let poll = this.fut.poll(cx);
        if FALLBACK_SERVED
            .try_with(|f| f.replace(outer))
            .unwrap_or(false)
        {
            this.fallback.store(true, Relaxed);
        }
        poll
    }
}

/// Ends a load: tells its waiters (the value, or `None`) and clears it from the entry, also
/// when the load is cancelled or panics.
struct Loading<'a, Q: Hash + Eq + ToOwned + ?Sized>
where
    Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
{
    cache: &'a Cache,
    key: &'a Q,
    tell: watch::Sender<Loaded>,
    /// The value to store, if the load succeeded with one to keep.
    stored: Option<(Stored, u64)>,
}

impl<Q: Hash + Eq + ToOwned + ?Sized> Drop for Loading<'_, Q>
where
    Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
{
    fn drop(&mut self) {
        let stored = self.stored.take();
        let map = self.cache.map().pin();
        let previous = map.get(&Probe::new(self.key)).and_then(|e| e.value.clone());
        let value = stored.clone().or(previous);
        map.insert(
            AnyKey::new(self.key.to_owned()),
            Entry {
                value,
                loading: None,
            },
        );
        self.tell.send_replace(Some(stored.map(|(v, _)| v)));
    }
}

impl Cache {
    /// Starts building a cache named `name` (its registry name): give it a `ttl`; capacity
    /// 10,000, no `stale`, no `refresh`.
    pub const fn builder(name: &'static str) -> CacheBuilder {
        CacheBuilder {
            name,
            ttl: Duration::ZERO,
            stale: None,
            refresh: None,
            capacity: 10_000,
        }
    }

    /// The name it reports, and is listed under in the registry.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    fn map(&self) -> &Map {
        self.map
            .get_or_init(|| papaya::HashMap::with_hasher(KeyHasher::default()))
    }

    /// The settings now, as a builder, for [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> CacheBuilder {
        let some = |t: u64| (t > 0).then(|| Duration::from_nanos(t));
        CacheBuilder {
            name: self.name.get(),
            ttl: Duration::from_nanos(self.ttl.load(Relaxed)),
            stale: some(self.stale.load(Relaxed)),
            refresh: some(self.refresh.load(Relaxed)),
            capacity: self.capacity.load(Relaxed),
        }
    }

    /// Runs `fut` as the call with `key` (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// `fut`'s own, when there is no value to serve in its place.
    pub async fn call<Q, T, E, F>(&self, key: &Q, fut: F) -> Result<T, Failure<E>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, Failure<E>>>,
    {
        let _ = SERVED_STALE.try_with(|s| s.set(false));
        let now = self.clock.now();
        let ttl = self.ttl.load(Relaxed);
        // A hit: the value cloned out under the map's guard, and nothing else (the entry's
        // load handle and the stored value's count are left alone).
        if let Some(value) = self.hit::<Q, T>(key, now, ttl) {
            self.hits.fetch_add(1, Relaxed);
            return Ok(value);
        }
        let entry = self.map().pin().get(&Probe::new(key)).cloned();
        let previous = entry.as_ref().and_then(|e| e.value.clone());
        let fresh = previous
            .as_ref()
            .filter(|(_, at)| now.saturating_sub(*at) < ttl)
            .and_then(|(v, at)| Some((v.downcast_ref::<T>()?.clone(), *at)));
        let loading = entry.and_then(|e| e.loading);
        if let Some((value, at)) = fresh {
            let refresh = self.refresh.load(Relaxed);
            let due = refresh > 0 && now.saturating_sub(at) >= refresh;
            if !due || loading.is_some() {
                self.hits.fetch_add(1, Relaxed);
                return Ok(value);
            }
            // Due for a refresh and nobody refreshing: this call does, if it gets the key.
            if let Some(tell) = self.start_loading(key, previous.clone()) {
                self.refreshes.fetch_add(1, Relaxed);
                return self.load(key, tell, previous, fut).await;
            }
            self.hits.fetch_add(1, Relaxed);
            return Ok(value);
        }
        if let Some(mut waiting) = loading {
            // A single flight for this key is running: its value, if it gets one.
            let loaded = waiting
                .wait_for(Option::is_some)
                .await
                .map(|l| l.clone().flatten());
            if let Ok(Some(value)) = loaded
                && let Some(value) = value.downcast_ref::<T>()
            {
                self.hits.fetch_add(1, Relaxed);
                return Ok(value.clone());
            }
            // It failed: this caller runs its own call.
            self.misses.fetch_add(1, Relaxed);
            let outcome = fut.await;
            return self.or_stale(outcome, previous);
        }
        match self.start_loading(key, previous.clone()) {
            Some(tell) => self.load(key, tell, previous, fut).await,
            None => {
                // Another caller started loading meanwhile: run as it does (rare; no wait).
                self.misses.fetch_add(1, Relaxed);
                let outcome = fut.await;
                self.or_stale(outcome, previous)
            }
        }
    }

    /// The value of `key` if it is fresh at `now` and no refresh of it is due (or one is
    /// running already).
    fn hit<Q, T>(&self, key: &Q, now: u64, ttl: u64) -> Option<T>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + 'static,
        T: Clone + 'static,
    {
        let map = self.map().pin();
        let entry = map.get(&Probe::new(key))?;
        let (value, at) = entry.value.as_ref()?;
        let age = now.saturating_sub(*at);
        let refresh = self.refresh.load(Relaxed);
        let due = refresh > 0 && age >= refresh && entry.loading.is_none();
        if age >= ttl || due {
            return None;
        }
        value.downcast_ref::<T>().cloned()
    }

    /// Marks `key` loading, making room first; the sender to tell its waiters, or `None` if
    /// another load got there first.
    fn start_loading<Q>(
        &self,
        key: &Q,
        previous: Option<(Stored, u64)>,
    ) -> Option<watch::Sender<Loaded>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
    {
        self.make_room();
        let (tell, waiting) = watch::channel(None);
        let map = self.map().pin();
        let probe = Probe::new(key);
        let mut taken = false;
        let entry = Entry {
            value: previous,
            loading: Some(waiting),
        };
        match map.get(&probe) {
            Some(current) if current.loading.is_some() => {}
            Some(_) => {
                // Replace only what is not loading (the closure may run more than once: what
                // counts is how it ended).
                let result = map.compute(AnyKey::new(key.to_owned()), |found| match found {
                    Some((_, current)) if current.loading.is_some() => papaya::Operation::Abort(()),
                    _ => papaya::Operation::Insert(entry.clone()),
                });
                taken = !matches!(result, papaya::Compute::Aborted(()));
            }
            None => {
                taken = map.try_insert(AnyKey::new(key.to_owned()), entry).is_ok();
            }
        }
        taken.then_some(tell)
    }

    /// Runs the load of `key`, stores a fresh `Ok` value and tells the waiters; serves stale
    /// if it fails.
    async fn load<Q, T, E, F>(
        &self,
        key: &Q,
        tell: watch::Sender<Loaded>,
        previous: Option<(Stored, u64)>,
        fut: F,
    ) -> Result<T, Failure<E>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, Failure<E>>>,
    {
        self.misses.fetch_add(1, Relaxed);
        let mut loading = Loading {
            cache: self,
            key,
            tell,
            stored: None,
        };
        let fallback = AtomicBool::new(false);
        let outcome = Watched {
            fut,
            fallback: &fallback,
        }
        .await;
        if let Ok(value) = &outcome
            && !fallback.load(Relaxed)
        {
            let stored: Stored = Arc::new(value.clone());
            loading.stored = Some((stored, self.clock.now()));
        }
        drop(loading);
        self.or_stale(outcome, previous)
    }

    /// `outcome`, or the last good value in place of a failure while it is within `stale`.
    fn or_stale<T, E>(
        &self,
        outcome: Result<T, Failure<E>>,
        previous: Option<(Stored, u64)>,
    ) -> Result<T, Failure<E>>
    where
        T: Clone + 'static,
    {
        let Err(failure) = outcome else {
            return outcome;
        };
        let stale = self.stale.load(Relaxed);
        let usable = previous
            .filter(|(_, at)| stale > 0 && self.clock.now().saturating_sub(*at) < stale)
            .and_then(|(v, _)| v.downcast_ref::<T>().cloned());
        match usable {
            Some(value) => {
                self.stale_served.fetch_add(1, Relaxed);
                let _ = SERVED_STALE.try_with(|s| s.set(true));
                emit(&self.name, PolicyKind::Cache, EventKind::ServedStale);
                Ok(value)
            }
            None => Err(failure),
        }
    }

    /// At capacity: drops the entries past both `ttl` and `stale`, then if none, the oldest
    /// fetched of a sample. A loading entry is never dropped.
    fn make_room(&self) {
        let capacity = self.capacity.load(Relaxed);
        let map = self.map().pin();
        if map.len() < capacity {
            return;
        }
        let now = self.clock.now();
        let keep = self.ttl.load(Relaxed).max(self.stale.load(Relaxed));
        let before = map.len();
        map.retain(|_, e| {
            e.loading.is_some()
                || e.value
                    .as_ref()
                    .is_some_and(|(_, at)| now.saturating_sub(*at) < keep)
        });
        let mut dropped = before.saturating_sub(map.len());
        if map.len() >= capacity {
            let oldest = map
                .iter()
                .filter(|(_, e)| e.loading.is_none())
                .take(SAMPLE)
                .min_by_key(|(_, e)| e.value.as_ref().map_or(0, |(_, at)| *at))
                .map(|(k, _)| k);
            if let Some(k) = oldest {
                let removed = map.remove_if(k, |_, e| e.loading.is_none());
                if matches!(removed, Ok(Some(_))) {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            self.evictions.fetch_add(dropped as u64, Relaxed);
        }
    }

    /// Forgets `key`'s value: its next call runs. A load running for it finishes.
    pub fn invalidate<Q>(&self, key: &Q)
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + 'static,
    {
        let _ = self
            .map()
            .pin()
            .remove_if(&Probe::new(key), |_, e| e.loading.is_none());
    }

    /// Forgets every value (loads running finish).
    pub fn invalidate_all(&self) {
        self.map().pin().retain(|_, e| e.loading.is_some());
    }

    /// Replaces the settings, checked as [`CacheBuilder::check`] checks them. Values held stay;
    /// a shorter `ttl` applies to them at once.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `check` would return; nothing changes.
    pub fn reconfigure(&self, settings: CacheBuilder) -> Result<(), ConfigError> {
        let CheckedCache(checked) = CacheBuilder {
            name: self.name.get(),
            ..settings
        }
        .check()?;
        self.ttl.store(ticks(checked.ttl), Relaxed);
        self.stale.store(checked.stale.map_or(0, ticks), Relaxed);
        self.refresh
            .store(checked.refresh.map_or(0, ticks), Relaxed);
        self.capacity.store(checked.capacity, Relaxed);
        Ok(())
    }

    /// Makes the cache as it was built: its declared settings, no value held, counters at zero.
    pub fn reset(&self) {
        let _ = self.reconfigure(self.declared);
        self.invalidate_all();
        self.clock.restart();
        for counter in [
            &self.hits,
            &self.misses,
            &self.stale_served,
            &self.evictions,
            &self.refreshes,
        ] {
            counter.store(0, Relaxed);
        }
    }

    /// Its counters.
    pub fn metrics(&self) -> CacheMetrics {
        CacheMetrics {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            refreshes: self.refreshes.load(Relaxed),
            entries: self.map.get().map_or(0, papaya::HashMap::len),
        }
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.name())
            .field("settings", &self.settings())
            .field("metrics", &self.metrics())
            .finish()
    }
}
