//! The bulkhead: at most `max` calls at once, so one slow dependency cannot take every task,
//! connection or thread with it.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{Bulkhead, ErrorKind, Failure};
//!
//! // Ten queries at once; twenty more callers may wait up to 500ms for a slot.
//! static DATABASE: Bulkhead = match Bulkhead::builder("database")
//!     .max(10)
//!     .queue(20)
//!     .wait(Duration::from_millis(500))
//!     .build()
//! {
//!     Ok(bulkhead) => bulkhead,
//!     Err(_) => panic!("invalid bulkhead"),
//! };
//!
//! # #[derive(Debug)] struct DbError;
//! # async fn query(_sql: &str) -> Result<u64, DbError> { Ok(42) }
//! async fn count_orders() -> Result<u64, Failure<DbError>> {
//!     DATABASE.call(async { Ok(query("select count(*) from orders").await?) }).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! match count_orders().await {
//!     Ok(n) => assert_eq!(n, 42),
//!     Err(Failure::Rejected(e)) if e.kind() == ErrorKind::BulkheadFull => { /* shed the load */ }
//!     Err(other) => panic!("{other:?}"),
//! }
//! # }
//! ```
//!
//! # What a caller gets
//!
//! - A slot is free and nobody waits: the call runs at once. This path takes one
//!   compare-and-swap and, when the call ends, one atomic add; no lock, no allocation, no clock
//!   read.
//! - Every slot is taken: the caller waits in the queue if it has room (`queue`), for at most
//!   `wait`; otherwise, or when the wait runs out, it gets
//!   [`ErrorKind::BulkheadFull`] without running.
//! - Waiting callers are woken in the order they queued, and a caller that arrives while others
//!   wait joins the queue instead of overtaking it. The order is best effort at the instant a
//!   slot frees: a caller queueing at that very moment may take the slot ahead of the one being
//!   woken, which then waits again (a strict hand-off would need a lock on every release).
//! - The slot is released when the call returns, when it is cancelled (its future dropped,
//!   for instance by a timeout around it), and when it panics (the panic keeps unwinding).
//!   A caller cancelled while it waits leaves the queue at once.
//!
//! # An adaptive limit
//!
//! With [`BulkheadBuilder::adaptive`] (`#[bulkhead(adaptive = gradient2, max = 200)]`), `max`
//! is the highest the limit goes and the limit itself follows the dependency's latency,
//! between `min` and `max`, from `initial`; the queue and its wait work as for a fixed limit.
//! See [`adaptive`] for the algorithms and the guards against their known failure modes.
//! [`Bulkhead::limit`] reads the limit now; each change is a
//! [`LimitChanged`](crate::EventKind::LimitChanged) event.

pub mod adaptive;
mod builder;
mod call;
mod core;
pub(crate) mod keyed;
mod registered;

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::Notify;

use self::adaptive::{Adaptive, Algorithm};
pub use self::builder::BulkheadBuilder;
pub use self::call::Call;
use self::core::BulkheadCore;
pub use self::core::MAX_BULKHEAD_SLOTS;
use crate::error::{ConfigError, Error, ErrorKind, Failure};
use crate::event::{EventKind, PolicyKind, emit};
use crate::guard::Exit;
use crate::name::Name;

/// `wait` meaning "until a slot frees".
const UNTIL_A_SLOT_FREES: u64 = u64::MAX;

/// Limits how many calls run at once; see the [module docs](self) for an example.
///
/// All state is in atomics: a `Bulkhead` is `Send + Sync`, used through `&self`, and can be a
/// `static`.
#[derive(Debug)]
pub struct Bulkhead {
    name: Name,
    core: BulkheadCore,
    /// The longest wait in the queue, in nanoseconds; [`UNTIL_A_SLOT_FREES`] for no limit.
    wait: AtomicU64,
    /// Wakes a waiting caller when a slot frees (one per freed slot, all when `max` rises).
    slot_freed: Notify,
    counters: Counters,
    /// An adaptive limit's algorithm and state; off for a fixed `max`.
    adaptive: Adaptive,
    /// With an adaptive limit, the highest it goes (`max` in the settings); the core's `max`
    /// is the limit now.
    upper: std::sync::atomic::AtomicU32,
    /// The settings it was built with, for [`reset`](Self::reset).
    declared: BulkheadBuilder,
}

/// The counters not kept by the core (which counts calls in flight, waiting and completed).
#[derive(Debug)]
struct Counters {
    rejections: AtomicU64,
    cancelled: AtomicU64,
    panicked: AtomicU64,
    /// The core's completed count at the last reset (the count lives in the slot word).
    completed_before: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Counters {
            rejections: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            completed_before: AtomicU64::new(0),
        }
    }
}

/// A snapshot of a bulkhead's counters and occupancy, for the registry and for metrics.
///
/// Each field is read on its own without a lock, so while calls run the sum below may be off by
/// the calls that move at that instant; at rest it is exact:
/// `calls = completed + rejections + cancelled + panicked + in_use + queued`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadMetrics {
    /// Every call that reached the bulkhead.
    pub calls: u64,
    /// Calls that ran and returned (with a value or an error: the bulkhead does not judge).
    /// Counted modulo 2^44.
    pub completed: u64,
    /// Calls rejected with `BulkheadFull` (full with a full queue, or the wait ran out).
    pub rejections: u64,
    /// Calls dropped before they returned, while running or while waiting in the queue.
    pub cancelled: u64,
    /// Calls that panicked while holding a slot.
    pub panicked: u64,
    /// Calls running now.
    pub in_use: u32,
    /// Callers waiting for a slot now.
    pub queued: u32,
    /// The most calls at once now: `max`, or with an adaptive limit, the limit now.
    pub max: u32,
}

impl Bulkhead {
    /// Starts configuring a bulkhead named `name` (its registry name); `max` is required.
    pub const fn builder(name: &'static str) -> BulkheadBuilder {
        BulkheadBuilder::new(name)
    }

    /// Runs `fut` in a slot of the bulkhead, waiting for one if the configuration allows.
    ///
    /// # Errors
    ///
    /// `Err(Failure::Rejected(e))` with `e.kind() == ErrorKind::BulkheadFull`, without running
    /// `fut`, when every slot is taken and the queue is full or the wait ran out; otherwise
    /// whatever `fut` returns.
    pub fn call<T, E, F>(&self, fut: F) -> Call<'_, F>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        Call::new(self, fut)
    }

    /// The name it reports in errors and events, and is listed under in the registry (see
    /// [`registry`](crate::registry#names)).
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// Its name as built and as reported, for the registry.
    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    /// Calls running now.
    pub fn in_use(&self) -> u32 {
        self.core.in_use()
    }

    /// Callers waiting for a slot now.
    pub fn queued(&self) -> u32 {
        self.core.queued()
    }

    /// The most calls at once: `max` as set; with an adaptive limit, the highest the limit
    /// goes (the limit now is [`limit`](Self::limit)).
    pub fn max(&self) -> u32 {
        match self.adaptive.algorithm() {
            // Relaxed: a setting.
            Some(_) => self.upper.load(Relaxed),
            None => self.core.max(),
        }
    }

    /// The most calls at once now: `max`, or the adaptive limit where it is now.
    pub fn limit(&self) -> u32 {
        self.core.max()
    }

    /// The algorithm of an adaptive limit, if it has one.
    pub fn adaptive(&self) -> Option<Algorithm> {
        self.adaptive.algorithm()
    }

    /// The lowest an adaptive limit goes (1 for a fixed `max`).
    pub fn min(&self) -> u32 {
        match self.adaptive.algorithm() {
            Some(_) => self.adaptive.min(),
            None => 1,
        }
    }

    /// The limit an adaptive bulkhead starts from (and goes back to on a reset).
    pub fn initial(&self) -> Option<u32> {
        self.adaptive.algorithm().map(|_| self.adaptive.initial())
    }

    /// The most callers that may wait for a slot.
    pub fn queue(&self) -> u32 {
        self.core.queue()
    }

    /// The longest a caller waits in the queue; `None` for "until a slot frees".
    pub fn wait(&self) -> Option<Duration> {
        // Relaxed: a snapshot of the configuration.
        match self.wait.load(Relaxed) {
            UNTIL_A_SLOT_FREES => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Changes the most calls at once, without a lock. Raising it wakes the waiting callers
    /// at once; lowering it lets the calls in flight finish and admits no new one until fewer
    /// than the new `max` run.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `max` is 0 or above [`MAX_BULKHEAD_SLOTS`]; nothing changes.
    pub fn set_max(&self, max: u32) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().max(max))
    }

    /// Changes the most callers that may wait for a slot, without a lock. Raising it lets more
    /// callers queue at once; lowering it below the number already waiting keeps them (they
    /// have their place) and queues no new caller until fewer than `queue` wait. `0` rejects
    /// at once when every slot is taken, and drops the `wait` (it has no queue to apply to).
    pub fn set_queue(&self, queue: u32) {
        let mut settings = self.settings().queue(queue);
        if queue == 0 {
            settings = settings.until_a_slot_frees();
        }
        // Every bound is valid, and the other settings are the bulkhead's own.
        let _ = self.reconfigure(settings);
    }

    /// Changes the longest wait in the queue (`None`: until a slot frees), for callers that
    /// queue from now on.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `wait` when it is zero or the bulkhead has no queue.
    pub fn set_wait(&self, wait: Option<Duration>) -> Result<(), ConfigError> {
        let settings = match wait {
            Some(wait) => self.settings().wait(wait),
            None => self.settings().until_a_slot_frees(),
        };
        self.reconfigure(settings)
    }

    /// Makes the bulkhead as it was built: the settings it was declared with, and its counters
    /// at zero. Calls in flight or queued keep their places and are counted when they end, so
    /// until then `calls` may be below the sum of its parts.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        self.restart_adaptive();
        let c = &self.counters;
        // Relaxed (all): counters, read only for snapshots.
        for counter in [&c.rejections, &c.cancelled, &c.panicked] {
            counter.store(0, Relaxed);
        }
        c.completed_before.store(self.core.completed(), Relaxed);
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> BulkheadMetrics {
        // Relaxed (all loads): independent counters, read for a snapshot.
        // Modulo 2^44, as the core counts: a reset's base may be above a count that wrapped.
        let completed = self
            .core
            .completed()
            .wrapping_sub(self.counters.completed_before.load(Relaxed))
            & ((1 << 44) - 1);
        let rejections = self.counters.rejections.load(Relaxed);
        let cancelled = self.counters.cancelled.load(Relaxed);
        let panicked = self.counters.panicked.load(Relaxed);
        let in_use = self.core.in_use();
        let queued = self.core.queued();
        BulkheadMetrics {
            calls: completed
                + rejections
                + cancelled
                + panicked
                + u64::from(in_use)
                + u64::from(queued),
            completed,
            rejections,
            cancelled,
            panicked,
            in_use,
            queued,
            max: self.core.max(),
        }
    }

    /// An adaptive limit's new value: the core's `max`, waiters woken when it rose.
    #[cold]
    fn set_limit(&self, limit: u32) {
        let before = self.core.set_max(limit);
        if before < limit {
            self.slot_freed.notify_waiters();
        }
        if before != limit {
            emit(
                &self.name,
                PolicyKind::Bulkhead,
                EventKind::LimitChanged {
                    from: before,
                    to: limit,
                },
            );
        }
    }

    /// A sampled call ended (`dropped`: cut by a timeout inside): its part in the window.
    #[cold]
    fn sampled(&self, sample: adaptive::Sample, dropped: bool) {
        // Relaxed: a setting.
        self.adaptive
            .end(sample, dropped, self.upper.load(Relaxed), |limit| {
                self.set_limit(limit);
            });
    }

    /// Frees a slot and wakes a waiting caller, if any, to take it.
    #[inline]
    fn release(&self, completed: bool) {
        if self.core.release(completed) {
            self.slot_freed.notify_one();
        }
    }

    /// A running call was dropped or panicked: count it, then free its slot.
    #[cold]
    fn abandon_slot(&self, exit: Exit) {
        self.count_exit(exit);
        self.release(false);
    }

    #[cold]
    fn count_exit(&self, exit: Exit) {
        // Relaxed (both adds): counters, read only for snapshots.
        match exit {
            Exit::Cancelled => {
                self.counters.cancelled.fetch_add(1, Relaxed);
                emit(&self.name, PolicyKind::Bulkhead, EventKind::Cancelled);
            }
            Exit::Panicked => {
                self.counters.panicked.fetch_add(1, Relaxed);
                emit(&self.name, PolicyKind::Bulkhead, EventKind::Panicked);
            }
        }
    }

    #[cold]
    fn reject(&self) -> Error {
        // Relaxed: a counter, read only for snapshots.
        self.counters.rejections.fetch_add(1, Relaxed);
        emit(
            &self.name,
            PolicyKind::Bulkhead,
            EventKind::Rejected {
                reason: ErrorKind::BulkheadFull,
            },
        );
        Error::named(ErrorKind::BulkheadFull, &self.name)
    }
}
