//! Idempotency keys: an operation with a key that was already processed is not processed
//! again; the caller gets the result the first call got.
//!
//! An [`Idempotency`] store, in front of a call that carries a key (a payment's idempotency
//! key, a message id):
//! - the **first** call with a key runs;
//! - a **concurrent duplicate** waits for it and gets the same result;
//! - a **later duplicate** within `ttl` gets the stored result without running the call;
//! - a **failed** first call is not stored: a retry with the key runs again; the duplicates
//!   that were waiting on it get a [`Duplicate`](crate::ErrorKind::Duplicate) rejection
//!   instead of running the call themselves (each would charge again), and may retry;
//! - at **capacity**, a new key is refused with [`KeyLimit`](crate::ErrorKind::KeyLimit): an
//!   unexpired entry is never evicted, since an evicted key would be charged twice. Expired
//!   entries are swept when the store is full, and as their keys come back.
//!
//! Only `Ok` values are stored (cloned out to each duplicate: wrap a large value in an `Arc`).
//! A call cancelled or panicking while it runs leaves nothing behind; its waiting duplicates
//! get `Duplicate` as for a failure.
//!
//! # Process-local
//!
//! The store is this process's memory: duplicates that reach two replicas both run. A store
//! shared by a fleet is the same contract over a shared backend (the `Store` seam the rate
//! limiter has); until then, route a key to one replica (sticky by key) or keep the store where
//! the duplicates arrive.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{Failure, Idempotency};
//!
//! static CHARGES: Idempotency = match Idempotency::builder("charges")
//!     .ttl(Duration::from_secs(24 * 3600))
//!     .check()
//! {
//!     Ok(checked) => checked.build(),
//!     Err(_) => panic!("invalid idempotency store"),
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let first: Result<u32, Failure<()>> = CHARGES.call("order-17", async { Ok(4200) }).await;
//! // Charged once: the duplicate gets the stored receipt without running.
//! let again: Result<u32, Failure<()>> = CHARGES.call("order-17", async { Ok(0) }).await;
//! assert_eq!((first.unwrap(), again.unwrap()), (4200, 4200));
//! # }
//! ```

mod registered;

use std::any::Any;
use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{Clock, ticks};
use crate::error::{ConfigError, Error, ErrorKind, Failure};
use crate::event::{EventKind, PolicyKind, emit};
use crate::keyed::KeyHasher;
use crate::keyed::key::{AnyKey, Probe};
use crate::name::Name;

/// A stored result, of whichever type the call's is.
type Stored = Arc<dyn Any + Send + Sync>;

/// What a duplicate waiting on a running first call sees: nothing yet, then the stored value
/// or `None` (the first call failed, was cancelled or panicked).
type Outcome = Option<Option<Stored>>;

#[derive(Clone)]
enum Slot {
    /// The first call is running; its duplicates wait on this.
    Running(watch::Receiver<Outcome>),
    /// It succeeded at `at` (the store's clock): its value, until `at + ttl`.
    Done { value: Stored, at: u64 },
}

type Map = papaya::HashMap<AnyKey, Slot, KeyHasher>;

/// An idempotency store: see the [module docs](self).
pub struct Idempotency {
    name: Name,
    ttl: AtomicU64,
    capacity: AtomicUsize,
    map: OnceLock<Map>,
    clock: Clock,
    first_runs: AtomicU64,
    replayed: AtomicU64,
    joined: AtomicU64,
    rejected: AtomicU64,
    full: AtomicU64,
    declared: IdempotencyBuilder,
}

/// Builds an [`Idempotency`] store; every method is `const`. Made by [`Idempotency::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `check` is called"]
pub struct IdempotencyBuilder {
    pub(crate) name: &'static str,
    pub(crate) ttl: Duration,
    pub(crate) capacity: usize,
}

/// Settings checked by [`IdempotencyBuilder::check`], ready to [`build`](Self::build). (The
/// store holds a map, which a `const` cannot drop: so the check that may fail comes first, and
/// the building that cannot after it.)
#[derive(Clone, Copy, Debug)]
pub struct CheckedIdempotency(IdempotencyBuilder);

/// A snapshot of an idempotency store, from [`Idempotency::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdempotencyMetrics {
    /// First calls with their key: the ones that ran.
    pub first_runs: u64,
    /// Later duplicates served the stored result without running.
    pub replayed: u64,
    /// Concurrent duplicates that waited for the first call and got its result.
    pub joined: u64,
    /// Duplicates refused because the first call they waited on failed.
    pub rejected: u64,
    /// New keys refused because the store was full of unexpired entries.
    pub full: u64,
    /// Keys held now, running or stored (expired ones until swept).
    pub keys: usize,
}

impl IdempotencyBuilder {
    /// How long a result is kept for its duplicates (default 24 hours), from when the first
    /// call succeeded.
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The most keys held at once (default 10,000): past it, new keys are refused.
    pub const fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a `ttl` of zero or a `capacity` of zero.
    pub const fn check(self) -> Result<CheckedIdempotency, ConfigError> {
        if self.ttl.is_zero() {
            return Err(ConfigError::new(
                self.name,
                "ttl",
                "must be more than zero (how long a result serves its duplicates): write ttl = 24h",
            ));
        }
        if self.capacity == 0 {
            return Err(ConfigError::new(
                self.name,
                "capacity",
                "must be at least 1 (the most keys held at once): write capacity = 10_000",
            ));
        }
        Ok(CheckedIdempotency(self))
    }
}

impl CheckedIdempotency {
    /// The store.
    pub const fn build(self) -> Idempotency {
        let b = self.0;
        Idempotency {
            name: Name::new(b.name),
            ttl: AtomicU64::new(ticks(b.ttl)),
            capacity: AtomicUsize::new(b.capacity),
            map: OnceLock::new(),
            clock: Clock::new(),
            first_runs: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            joined: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            full: AtomicU64::new(0),
            declared: b,
        }
    }
}

/// Gives the key back, and tells the waiting duplicates, if the first call ends without a
/// result stored: failed, cancelled or panicking.
struct Running<'a, Q: Hash + Eq + ToOwned + ?Sized>
where
    Q::Owned: Borrow<Q> + 'static,
{
    store: &'a Idempotency,
    key: &'a Q,
    tell: watch::Sender<Outcome>,
    done: bool,
}

impl<Q: Hash + Eq + ToOwned + ?Sized> Drop for Running<'_, Q>
where
    Q::Owned: Borrow<Q> + 'static,
{
    fn drop(&mut self) {
        if !self.done {
            self.store.map().pin().remove(&Probe::new(self.key));
            self.tell.send_replace(Some(None));
        }
    }
}

impl Idempotency {
    /// Starts building a store named `name` (its registry name): `ttl` 24 hours, `capacity`
    /// 10,000.
    pub const fn builder(name: &'static str) -> IdempotencyBuilder {
        IdempotencyBuilder {
            name,
            ttl: Duration::from_secs(24 * 3600),
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

    /// How long a result serves its duplicates.
    pub fn ttl(&self) -> Duration {
        Duration::from_nanos(self.ttl.load(Relaxed))
    }

    /// The most keys held at once.
    pub fn capacity(&self) -> usize {
        self.capacity.load(Relaxed)
    }

    /// Runs `fut` as the call with idempotency key `key`: the first with it runs, a
    /// duplicate gets the first's result (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// `fut`'s own error; a [`Duplicate`](ErrorKind::Duplicate) rejection for a duplicate
    /// whose first call failed; a [`KeyLimit`](ErrorKind::KeyLimit) rejection for a new key
    /// when the store is full of unexpired results.
    pub async fn call<Q, T, E, F>(&self, key: &Q, fut: F) -> Result<T, Failure<E>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, Failure<E>>>,
    {
        loop {
            let found = self.map().pin().get(&Probe::new(key)).cloned();
            match found {
                Some(Slot::Done { value, at }) => {
                    if self.clock.now().saturating_sub(at) < self.ttl.load(Relaxed) {
                        if let Some(value) = value.downcast_ref::<T>() {
                            self.replayed.fetch_add(1, Relaxed);
                            emit(&self.name, PolicyKind::Idempotency, EventKind::Replayed);
                            return Ok(value.clone());
                        }
                        // A result of another type under the same key (two functions sharing
                        // a store): not this call's; it runs, and stores nothing.
                        return fut.await;
                    }
                    // Expired: gone, unless another call replaced it meanwhile.
                    self.map()
                        .pin()
                        .remove_if(
                            &Probe::new(key),
                            |_, slot| matches!(slot, Slot::Done { at: a, .. } if *a == at),
                        )
                        .ok();
                }
                Some(Slot::Running(mut waiting)) => {
                    let outcome = waiting
                        .wait_for(Option::is_some)
                        .await
                        .map(|o| o.clone().flatten());
                    match outcome {
                        Ok(Some(value)) => {
                            if let Some(value) = value.downcast_ref::<T>() {
                                self.joined.fetch_add(1, Relaxed);
                                emit(&self.name, PolicyKind::Idempotency, EventKind::Replayed);
                                return Ok(value.clone());
                            }
                            return fut.await;
                        }
                        _ => {
                            self.rejected.fetch_add(1, Relaxed);
                            return Err(Failure::Rejected(Error::named(
                                ErrorKind::Duplicate,
                                &self.name,
                            )));
                        }
                    }
                }
                None => {
                    if !self.has_room() {
                        self.full.fetch_add(1, Relaxed);
                        let e = Error::named(ErrorKind::KeyLimit, &self.name);
                        emit(
                            &self.name,
                            PolicyKind::Idempotency,
                            EventKind::Rejected { reason: e.kind() },
                        );
                        return Err(Failure::Rejected(e));
                    }
                    let (tell, waiting) = watch::channel(None);
                    let inserted = self
                        .map()
                        .pin()
                        .try_insert(AnyKey::new(key.to_owned()), Slot::Running(waiting))
                        .is_ok();
                    if inserted {
                        return self.first(key, tell, fut).await;
                    }
                    // Another first call took the key meanwhile: look again.
                }
            }
        }
    }

    /// Runs the first call with `key`, stores its `Ok` value, and tells its duplicates.
    async fn first<Q, T, E, F>(
        &self,
        key: &Q,
        tell: watch::Sender<Outcome>,
        fut: F,
    ) -> Result<T, Failure<E>>
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + Hash + Eq + fmt::Display + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, Failure<E>>>,
    {
        self.first_runs.fetch_add(1, Relaxed);
        let mut running = Running {
            store: self,
            key,
            tell,
            done: false,
        };
        let outcome = fut.await;
        if let Ok(value) = &outcome {
            let stored: Stored = Arc::new(value.clone());
            let at = self.clock.now();
            self.map().pin().insert(
                AnyKey::new(key.to_owned()),
                Slot::Done {
                    value: stored.clone(),
                    at,
                },
            );
            running.tell.send_replace(Some(Some(stored)));
            running.done = true;
        }
        // Failed: `running` gives the key back and tells the duplicates as it drops.
        outcome
    }

    /// Whether a new key may be held: below capacity, after sweeping the expired results if
    /// it is full.
    fn has_room(&self) -> bool {
        let capacity = self.capacity.load(Relaxed);
        if self.map().len() < capacity {
            return true;
        }
        let now = self.clock.now();
        let ttl = self.ttl.load(Relaxed);
        self.map().pin().retain(
            |_, slot| !matches!(slot, Slot::Done { at, .. } if now.saturating_sub(*at) >= ttl),
        );
        self.map().len() < capacity
    }

    /// Forgets `key`'s stored result (a refund made by hand, say), so its next call runs. A
    /// running first call is left alone.
    pub fn forget<Q>(&self, key: &Q)
    where
        Q: Hash + Eq + ToOwned + ?Sized,
        Q::Owned: Borrow<Q> + 'static,
    {
        self.map()
            .pin()
            .remove_if(&Probe::new(key), |_, slot| {
                matches!(slot, Slot::Done { .. })
            })
            .ok();
    }

    /// The settings now, as a builder, for [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> IdempotencyBuilder {
        Idempotency::builder(self.name.get())
            .ttl(self.ttl())
            .capacity(self.capacity())
    }

    /// Replaces the settings, checked as [`IdempotencyBuilder::check`] checks them. Stored
    /// results stay; a shorter `ttl` applies to them at once.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `check` would return; nothing changes.
    pub fn reconfigure(&self, settings: IdempotencyBuilder) -> Result<(), ConfigError> {
        let CheckedIdempotency(checked) = IdempotencyBuilder {
            name: self.name.get(),
            ..settings
        }
        .check()?;
        self.ttl.store(ticks(checked.ttl), Relaxed);
        self.capacity.store(checked.capacity, Relaxed);
        Ok(())
    }

    /// Makes the store as it was built: its declared settings, no key held (running first
    /// calls finish, and their duplicates still get their result), its counters at zero.
    pub fn reset(&self) {
        let _ = self.reconfigure(self.declared);
        self.map()
            .pin()
            .retain(|_, slot| matches!(slot, Slot::Running(_)));
        self.clock.restart();
        for counter in [
            &self.first_runs,
            &self.replayed,
            &self.joined,
            &self.rejected,
            &self.full,
        ] {
            counter.store(0, Relaxed);
        }
    }

    /// Its counters.
    pub fn metrics(&self) -> IdempotencyMetrics {
        IdempotencyMetrics {
            first_runs: self.first_runs.load(Relaxed),
            replayed: self.replayed.load(Relaxed),
            joined: self.joined.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            full: self.full.load(Relaxed),
            keys: self.map.get().map_or(0, papaya::HashMap::len),
        }
    }
}

impl fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("name", &self.name())
            .field("ttl", &self.ttl())
            .field("capacity", &self.capacity())
            .field("metrics", &self.metrics())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    fn store(capacity: usize) -> &'static Idempotency {
        Box::leak(Box::new(
            Idempotency::builder("s")
                .ttl(Duration::from_secs(60))
                .capacity(capacity)
                .check()
                .unwrap()
                .build(),
        ))
    }

    #[test]
    fn settings_are_checked_and_named() {
        let e = Idempotency::builder("s")
            .ttl(Duration::ZERO)
            .check()
            .unwrap_err();
        assert_eq!(e.field(), "ttl");
        let e = Idempotency::builder("s").capacity(0).check().unwrap_err();
        assert_eq!(e.field(), "capacity");
        let s = store(5);
        s.reconfigure(s.settings().capacity(7)).unwrap();
        assert_eq!(s.capacity(), 7);
        assert!(s.reconfigure(s.settings().ttl(Duration::ZERO)).is_err());
        assert_eq!(s.ttl(), Duration::from_secs(60));
        s.reset();
        assert_eq!(s.capacity(), 5);
        assert!(format!("{s:?}").contains("\"s\""));
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_of_another_type_under_the_key_is_not_served() {
        let s = store(5);
        let first: Result<u32, Failure<()>> = s.call(&"k", async { Ok(1) }).await;
        assert_eq!(first.unwrap(), 1);
        let other: Result<&'static str, Failure<()>> = s.call(&"k", async { Ok("ran") }).await;
        assert_eq!(other.unwrap(), "ran");
        s.forget(&"k");
        let again: Result<u32, Failure<()>> = s.call(&"k", async { Ok(2) }).await;
        assert_eq!(again.unwrap(), 2);
    }
}
