//! Permits from elsewhere: a rate limiter whose state lives outside the process (a server a
//! fleet shares), so that `100/s` is a limit for every replica together.
//!
//! A limiter starts with its state in the process: the GCRA's atomic word.
//! [`RateLimiter::share_through`](super::RateLimiter::share_through) attaches a
//! [`PermitStore`]; from then on the limiter takes its permits from **leases**: batches of
//! permits the store grants for a while, spent locally without asking the store again. Only a
//! call that finds the lease empty asks the store, asynchronously and with a deadline; calls
//! never wait on the store beyond that deadline and never hold anything across it.
//!
//! - The store grants some permits: the call takes one; the rest stay in the lease until it
//!   expires (unused permits are lost, which errs towards admitting less than the rate).
//! - The store grants none: the call waits for the store's `retry_after` if its `wait` allows,
//!   and asks again; otherwise it is rejected with that `retry_after`.
//! - The store fails or misses the deadline: the call is decided locally, as the store says
//!   ([`PermitStore::when_unavailable`]): by the limiter's own GCRA, as if no store were
//!   attached (the default); by a **share** of its rate (the rate divided by the replicas the
//!   store has seen, so the fleet stays near its rate while the store is away; no waiting for a
//!   permit then); or every call admitted, or every call refused. [`RateLimiterMetrics::store_fallbacks`](super::RateLimiterMetrics::store_fallbacks)
//!   counts them.
//!
//! Whether a store is attached is a bit of a word every call reads anyway; a limiter without
//! one runs exactly as before, its state as small as before (a store's lease is kept apart,
//! for the limiters that have one).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// What a limiter asks its store for: permits of the limiter named `limiter`, whose fleet-wide
/// rate is `count` per `per` with bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseRequest {
    /// The limiter's name: the key of its state in the store.
    pub limiter: &'static str,
    /// The rate's count.
    pub count: u32,
    /// The rate's period.
    pub per: Duration,
    /// The burst.
    pub burst: u32,
    /// How many permits the limiter would like (at least 1).
    pub want: u32,
}

/// What a store grants: `permits` (perhaps fewer than wanted, perhaps none), usable for
/// `valid_for`; with none, `retry_after` says when one frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The permits granted.
    pub permits: u32,
    /// How long the permits may be spent.
    pub valid_for: Duration,
    /// With no permit granted: how long until one frees.
    pub retry_after: Duration,
}

/// Why a store gave no answer: the call is then decided by the limiter's own GCRA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "permit store unavailable: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// The future a [`PermitStore`] answers with.
pub type LeaseFuture = Pin<Box<dyn Future<Output = Result<Lease, StoreError>> + Send>>;

/// Where a shared limiter's permits come from. A store keeps each limiter's state (for
/// example a GCRA's theoretical arrival time, decided as the limiter decides it) and grants
/// leases of permits.
pub trait PermitStore: Send + Sync + 'static {
    /// Asks for permits. The limiter waits at most its deadline for the answer.
    fn lease(&self, request: LeaseRequest) -> LeaseFuture;

    /// How limiter `limiter`'s calls are decided while this store fails or is late: by the
    /// limiter's own rate unless the store says otherwise. Answers at once.
    fn when_unavailable(&self, limiter: &'static str) -> Unavailable {
        let _ = limiter;
        Unavailable::OwnRate
    }
}

/// How a shared limiter decides while its store is unavailable ([`PermitStore::when_unavailable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// By the limiter's own rate, as if no store were attached.
    OwnRate,
    /// By a share of its rate: the rate divided by `replicas` (and the burst, at least 1), with
    /// no waiting for a permit.
    Share {
        /// The replicas sharing the rate (at least 1).
        replicas: u32,
    },
    /// Every call admitted.
    Allow,
    /// Every call refused, with the deadline as its `retry_after`.
    Deny,
}

/// Every store attached to a limiter, in order; a limiter holds its store's index + 1.
static STORES: Mutex<Vec<&'static dyn PermitStore>> = Mutex::new(Vec::new());

/// The limiters that were ever shared, by address, with their store and lease: apart from the
/// limiters, so a limiter without a store is no bigger for it.
static SHARED: Mutex<Vec<(usize, &'static Shared)>> = Mutex::new(Vec::new());

/// The store and lease of `limiter`, if it was ever shared.
pub(super) fn of(limiter: &super::RateLimiter) -> Option<&'static Shared> {
    let address = std::ptr::from_ref(limiter) as usize;
    let shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    shared.iter().find(|(a, _)| *a == address).map(|(_, s)| *s)
}

/// Attaches `store` to `limiter` (its lease made once, kept for the life of the process).
pub(super) fn attach(limiter: &super::RateLimiter, store: &'static dyn PermitStore, deadline: u64) {
    let address = std::ptr::from_ref(limiter) as usize;
    let shared = {
        let mut all = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        match all.iter().find(|(a, _)| *a == address) {
            Some((_, s)) => *s,
            None => {
                let s: &'static Shared = Box::leak(Box::new(Shared::new()));
                all.push((address, s));
                s
            }
        }
    };
    shared.attach(store, deadline);
}

/// The store of a limiter, and its lease.
#[derive(Debug)]
pub(super) struct Shared {
    /// 1 + the index of the limiter's store in [`STORES`]; 0 when its state is local.
    store: AtomicUsize,
    /// How long the limiter waits for its store, in ticks.
    deadline: AtomicU64,
    /// Permits left in the lease.
    permits: AtomicU32,
    /// The tick until which the lease's permits may be spent.
    until: AtomicU64,
    /// Calls decided by the local GCRA because the store failed or was late.
    pub(super) fallbacks: AtomicU64,
    /// The share of the rate decided locally while the store is away
    /// ([`Unavailable::Share`]), and the replicas it was set up for.
    share: super::gcra::Gcra,
    share_replicas: AtomicU32,
}

impl Shared {
    const fn new() -> Self {
        Shared {
            store: AtomicUsize::new(0),
            deadline: AtomicU64::new(0),
            permits: AtomicU32::new(0),
            until: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            share: super::gcra::Gcra::new(1, 1),
            share_replicas: AtomicU32::new(0),
        }
    }

    /// A permit from the share of the rate (`interval` and `burst` the limiter's) that this
    /// replica holds among `replicas`, at `now`, without waiting.
    pub(super) fn take_share(
        &self,
        interval: u64,
        burst: u32,
        replicas: u32,
        now: u64,
    ) -> Result<(), u64> {
        let replicas = replicas.max(1);
        // Relaxed: the divisor of a setting; a call racing a change decides with either.
        if self.share_replicas.swap(replicas, Relaxed) != replicas {
            let burst = (burst / replicas).max(1);
            self.share
                .set_rate(interval.saturating_mul(u64::from(replicas)), burst, || now);
        }
        match self.share.acquire(now, 0) {
            super::gcra::Decision::Admitted => Ok(()),
            super::gcra::Decision::Rejected { retry_after } => Err(retry_after),
            // No wait was allowed: a reservation is not made.
            super::gcra::Decision::Reserved(reservation) => {
                Err(reservation.due.saturating_sub(now))
            }
        }
    }

    pub(super) fn attach(&self, store: &'static dyn PermitStore, deadline: u64) {
        let mut stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
        stores.push(store);
        // Relaxed (both): settings read by later calls; a call racing the attachment decides
        // locally, as it would have a moment earlier.
        self.deadline.store(deadline.max(1), Relaxed);
        self.store.store(stores.len(), Relaxed);
    }

    pub(super) fn detach(&self) {
        // Relaxed: as in `attach`.
        self.store.store(0, Relaxed);
        self.permits.store(0, Relaxed);
    }

    pub(super) fn store(&self) -> Option<&'static dyn PermitStore> {
        // Relaxed: as in `attached`.
        let index = self.store.load(Relaxed).checked_sub(1)?;
        let stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
        stores.get(index).copied()
    }

    pub(super) fn deadline(&self) -> u64 {
        // Relaxed: a setting.
        self.deadline.load(Relaxed)
    }

    /// Takes a permit from the lease, if one is left and the lease has not expired at `now`.
    pub(super) fn take(&self, now: u64) -> bool {
        // Relaxed (all): the lease is a count; a permit taken is never taken twice (the
        // decrement is one read-modify-write), and a lease read as expired only sends the call
        // to the store, which errs towards admitting less.
        if now >= self.until.load(Relaxed) {
            return false;
        }
        self.permits
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Keeps `permits` granted at `now` for `valid_for` ticks.
    pub(super) fn keep(&self, permits: u32, now: u64, valid_for: u64) {
        // Relaxed (both): see `take`. Permits left from an older lease are replaced.
        self.until.store(now.saturating_add(valid_for), Relaxed);
        self.permits.store(permits, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_says_the_store_is_unavailable_and_why() {
        let e = StoreError("connection refused".to_owned());
        assert_eq!(
            e.to_string(),
            "permit store unavailable: connection refused"
        );
    }

    #[test]
    fn a_lease_is_spent_one_permit_at_a_time_until_it_expires() {
        let shared = Shared::new();
        assert!(shared.store().is_none());
        assert!(!shared.take(1));
        shared.keep(2, 10, 5);
        assert!(shared.take(10));
        assert!(shared.take(14));
        assert!(!shared.take(14), "two permits, both spent");
        shared.keep(3, 20, 5);
        assert!(!shared.take(25), "expired at its end");
    }
}
