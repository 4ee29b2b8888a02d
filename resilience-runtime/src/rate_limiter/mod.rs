//! The rate limiter: at most `count` calls per period, with bursts up to `burst`, by the
//! Generic Cell Rate Algorithm (GCRA, ITU-T I.371; `src/rate_limiter/gcra.rs` explains it and
//! why it is written here rather than taken from governor).
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{ErrorKind, Failure, RateLimiter};
//!
//! // 100 calls a second, 10 at once; a caller waits up to 50ms for a permit.
//! static GEOCODER: RateLimiter = match RateLimiter::builder("geocoder")
//!     .rate(100, Duration::from_secs(1))
//!     .burst(10)
//!     .wait(Duration::from_millis(50))
//!     .build()
//! {
//!     Ok(limiter) => limiter,
//!     Err(_) => panic!("invalid rate limiter"),
//! };
//!
//! # #[derive(Debug)] struct GeoError;
//! # async fn geocode(_address: &str) -> Result<(f64, f64), GeoError> { Ok((48.85, 2.35)) }
//! async fn locate(address: &str) -> Result<(f64, f64), Failure<GeoError>> {
//!     GEOCODER.call(async { Ok(geocode(address).await?) }).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! match locate("1 rue de Rivoli, Paris").await {
//!     Ok(position) => assert_eq!(position, (48.85, 2.35)),
//!     Err(Failure::Rejected(e)) if e.kind() == ErrorKind::RateLimited => {
//!         // `e.retry_after()` says when a permit frees.
//!     }
//!     Err(other) => panic!("{other:?}"),
//! }
//! # }
//! ```
//!
//! # What a caller gets
//!
//! - A permit is free: the call runs at once. This path reads the clock once and takes one
//!   compare-and-swap; no lock, no allocation.
//! - No permit is free, and none frees within `wait` (default 0): the call is rejected without
//!   running, with [`ErrorKind::RateLimited`] and
//!   [`retry_after`](crate::Error::retry_after) = the time until a permit frees.
//! - A permit frees within `wait`: the caller reserves it (callers behind it queue after it, in
//!   arrival order) and sleeps until it is due; then the call runs.
//! - A caller cancelled while it sleeps gives its reservation back, so the next caller can take
//!   it, unless another caller has already reserved behind it: then that permit's time stays
//!   unused, as the limiter never admits more than the rate. A granted permit is spent, whatever
//!   the call then does.
//! - Shared through a [`store::PermitStore`] ([`RateLimiter::share_through`]), its permits come
//!   from a store that several processes use, leased in batches; see [`store`].
//! - Time is tokio's, so the limiter runs in virtual time under
//!   `#[tokio::test(start_paused = true)]`; sleeps have tokio's timer resolution of 1ms.

mod builder;
mod gcra;
pub(crate) mod keyed;
mod registered;
pub mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

pub use self::builder::RateLimiterBuilder;
use self::gcra::{Decision, Gcra, Reservation};
use self::store::{LeaseRequest, PermitStore};

/// Bit 63 of a limiter's `wait`: its permits come from a store. Waits are held below it (292
/// years).
const SHARED: u64 = 1 << 63;
use crate::clock::{Clock, ticks};
use crate::error::{ConfigError, Error, ErrorKind, Failure};
use crate::event::{EventKind, PolicyKind, emit};
use crate::name::Name;
use crate::per_thread;

/// Limits the rate of calls; see the [module docs](self) for an example.
///
/// All state is in atomics: a `RateLimiter` is `Send + Sync`, used through `&self`, and can be
/// a `static`.
#[derive(Debug)]
pub struct RateLimiter {
    name: Name,
    gcra: Gcra,
    /// The rate as configured (`count` per `per` nanoseconds), for settings and snapshots; the
    /// limiter itself runs on the interval in `gcra`.
    count: AtomicU32,
    per: AtomicU64,
    /// The longest wait for a permit, in nanoseconds, and in bit 63 ([`SHARED`]) whether its
    /// permits come from a store: the word every call reads anyway, so a limiter without a
    /// store pays nothing to know it.
    wait: AtomicU64,
    clock: Clock,
    counters: Counters,
    /// The settings it was built with, for [`reset`](Self::reset).
    declared: RateLimiterBuilder,
}

#[derive(Debug)]
struct Counters {
    /// Per thread: the one counter the admitted path writes.
    admitted: per_thread::Counter,
    /// `admitted` at the last reset (its per-thread cells are written by their threads only).
    admitted_before: AtomicU64,
    rejections: AtomicU64,
    cancelled: AtomicU64,
    waiting: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Counters {
            admitted: per_thread::Counter::new(),
            admitted_before: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
        }
    }
}

/// A snapshot of a rate limiter's counters, for the registry and for metrics.
///
/// Each field is read on its own without a lock, so while calls arrive the sum below may be off
/// by the calls that move at that instant; at rest it is exact:
/// `calls = admitted + rejections + cancelled + waiting`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimiterMetrics {
    /// Every call that reached the limiter.
    pub calls: u64,
    /// Calls that got a permit (at once or after waiting) and ran.
    pub admitted: u64,
    /// Calls rejected with `RateLimited`.
    pub rejections: u64,
    /// Calls dropped while they waited for their reserved permit.
    pub cancelled: u64,
    /// Callers sleeping until their reserved permit is due, now.
    pub waiting: u64,
    /// Calls that would be admitted at once now (at most `burst`).
    pub available: u32,
    /// Calls decided by the limiter's own rate because its [`PermitStore`] failed or missed
    /// its deadline (0 without a store).
    pub store_fallbacks: u64,
}

impl RateLimiter {
    /// Starts configuring a rate limiter named `name` (its registry name); the rate is required.
    pub const fn builder(name: &'static str) -> RateLimiterBuilder {
        RateLimiterBuilder::new(name)
    }

    /// Runs `fut` once a permit is granted, waiting for one if the configuration allows.
    ///
    /// # Errors
    ///
    /// `Err(Failure::Rejected(e))` with `e.kind() == ErrorKind::RateLimited` and
    /// `e.retry_after()` set, without running `fut`, when no permit frees within the wait;
    /// otherwise whatever `fut` returns.
    pub fn call<T, E, F>(&self, fut: F) -> Call<'_, F>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        Call {
            limiter: self,
            fut,
            stage: Stage::Idle,
            wait: None,
        }
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

    /// How many calls would be admitted at once now (at most `burst`).
    pub fn available(&self) -> u32 {
        self.gcra.available(self.clock.peek())
    }

    /// How many permits an idle limiter admits at once.
    pub fn burst(&self) -> u32 {
        self.gcra.burst()
    }

    /// Changes the rate and burst at run time, without a lock: from now on, permits come every
    /// `per / count` and an idle limiter admits `burst` at once.
    ///
    /// The limiter's debt is rebased, so the new rate applies from now: the permits handed
    /// out that have not yet refilled count as that many permits of the new rate, at most one
    /// full new burst. Raising the rate (`1/m`, one call, then `1000/s`) leaves 999 permits
    /// free at once, not a wait of a minute; lowering it (`10/s` with 4 permits out, then
    /// `1/s` with a burst of 2) leaves the limiter full, its next permit one new interval
    /// away. Callers already waiting for a reserved permit keep their due times.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `count`, `per` or `burst` is 0; nothing changes.
    pub fn set_rate(&self, count: u32, per: Duration, burst: u32) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().rate(count, per).burst(burst))
    }

    /// Changes the longest a caller waits for a permit (zero: rejected at once), for calls
    /// from now on.
    pub fn set_wait(&self, wait: Duration) {
        // A wait cannot be invalid.
        let _ = self.reconfigure(self.settings().wait(wait));
    }

    /// The rate: `(count, per)`, as in `count/per`.
    pub fn rate(&self) -> (u32, Duration) {
        // Relaxed (both): configuration, read for display.
        (
            self.count.load(Relaxed),
            Duration::from_nanos(self.per.load(Relaxed)),
        )
    }

    /// The limiter's settings now, as a builder: change what you need and pass it to
    /// [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> RateLimiterBuilder {
        let (count, per) = self.rate();
        RateLimiter::builder(self.name.get())
            .rate(count, per)
            .burst(self.burst())
            .wait(self.wait())
    }

    /// Replaces the settings, checked as [`RateLimiterBuilder::build`] checks them, without a
    /// lock, from the next call on (see [`set_rate`](Self::set_rate)).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return; nothing changes.
    pub fn reconfigure(&self, settings: RateLimiterBuilder) -> Result<(), ConfigError> {
        let checked = settings.renamed(self.name.get()).build()?;
        let (count, per) = checked.rate();
        let (interval, burst) =
            builder::validate_rate(self.name.get(), count, per, checked.burst())?;
        // Relaxed (all): independent settings; a call racing with the change sees the old or
        // the new interval and burst, each valid.
        self.count.store(count, Relaxed);
        self.per.store(checked.per.load(Relaxed), Relaxed);
        let wait = checked.wait_ticks();
        // Relaxed: as the settings above; the store's bit stays as it is.
        let _ = self
            .wait
            .fetch_update(Relaxed, Relaxed, |w| Some(wait | (w & SHARED)));
        self.gcra.set_rate(interval, burst, || self.clock.peek());
        Ok(())
    }

    /// The longest a caller waits for a permit (zero: rejected at once).
    pub fn wait(&self) -> Duration {
        Duration::from_nanos(self.wait_ticks())
    }

    /// Makes the limiter as it was built: the settings it was declared with, idle (a whole
    /// burst free), its counters at zero, and a fresh time origin, set by the next call in
    /// whatever runtime makes it (so a test under a paused clock can reuse a limiter another
    /// runtime used). Callers already waiting keep their due times.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        self.gcra.reset();
        self.clock.restart();
        let c = &self.counters;
        // Relaxed (all): counters, read only for snapshots.
        c.rejections.store(0, Relaxed);
        c.cancelled.store(0, Relaxed);
        c.admitted_before.store(c.admitted.sum(), Relaxed);
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> RateLimiterMetrics {
        // Relaxed (all loads): independent counters, read for a snapshot.
        // Saturating: a read racing a reset may see the new base with an older sum.
        let admitted = self
            .counters
            .admitted
            .sum()
            .saturating_sub(self.counters.admitted_before.load(Relaxed));
        let rejections = self.counters.rejections.load(Relaxed);
        let cancelled = self.counters.cancelled.load(Relaxed);
        let waiting = self.counters.waiting.load(Relaxed);
        RateLimiterMetrics {
            calls: admitted + rejections + cancelled + waiting,
            admitted,
            rejections,
            cancelled,
            waiting,
            available: self.available(),
            // Relaxed: a counter, read for a snapshot.
            store_fallbacks: store::of(self).map_or(0, |s| s.fallbacks.load(Relaxed)),
        }
    }

    /// Takes this limiter's permits from `store` from now on, so that its rate is shared by
    /// every process that uses the same store (see [`store`]). A call asks the store only when
    /// the permits it leased last are spent, and waits for it at most `deadline`; a store that
    /// fails or is late leaves the call to this limiter's own rate.
    pub fn share_through(&self, store: &'static dyn PermitStore, deadline: Duration) {
        store::attach(self, store, ticks(deadline));
        // Relaxed: a call racing the attachment decides locally, as a moment earlier.
        self.wait.fetch_or(SHARED, Relaxed);
    }

    /// The name it was declared shared under (`shared = "partner-api"`), if any: what a fleet
    /// backend shares it as.
    pub fn shared_name(&self) -> Option<&'static str> {
        self.declared.shared
    }

    /// Takes this limiter's permits from its own state again, as built.
    pub fn unshare(&self) {
        // Relaxed: as in `share_through`.
        self.wait.fetch_and(!SHARED, Relaxed);
        if let Some(shared) = store::of(self) {
            shared.detach();
        }
    }

    /// The future of a permit through the store, boxed out of line so the call's `poll`
    /// stays small for the limiters without one.
    #[cold]
    #[inline(never)]
    fn start_sharing(&self) -> Sharing<'_> {
        Box::pin(self.acquire_shared())
    }

    /// A permit through the store (see [`store`]): `Ok` once the call may run.
    #[cold]
    #[inline(never)]
    async fn acquire_shared(&self) -> Result<(), Error> {
        let Some(shared) = store::of(self) else {
            return self.acquire_local().await;
        };
        let waited_from = self.clock.now();
        loop {
            let now = self.clock.now();
            if shared.take(now) {
                break;
            }
            let Some(store) = shared.store() else {
                return self.acquire_local().await;
            };
            let (count, per) = self.rate();
            let burst = self.burst();
            let request = LeaseRequest {
                limiter: self.name.get(),
                count,
                per,
                burst,
                // A quarter of the burst at a time: few round trips, little left unused.
                want: (burst / 4).max(1),
            };
            let deadline = Duration::from_nanos(shared.deadline());
            let lease = match tokio::time::timeout(deadline, store.lease(request)).await {
                Ok(Ok(lease)) => lease,
                // Failed or late: decided here, as the store says.
                Ok(Err(_)) | Err(_) => {
                    // Relaxed: a counter, read only for snapshots.
                    shared.fallbacks.fetch_add(1, Relaxed);
                    return self
                        .acquire_unavailable(
                            shared,
                            store.when_unavailable(request.limiter),
                            deadline,
                        )
                        .await;
                }
            };
            let now = self.clock.now();
            if lease.permits > 0 {
                // One for this call, the rest for the calls after it.
                shared.keep(lease.permits - 1, now, ticks(lease.valid_for));
                break;
            }
            let retry_after = ticks(lease.retry_after).max(1);
            let waited = now.saturating_sub(waited_from);
            // Not past the limiter's wait, nor past the call's deadline.
            if waited.saturating_add(retry_after) > self.wait_ticks()
                || crate::deadline::remaining().is_some_and(|left| retry_after > ticks(left))
            {
                return Err(self.reject(retry_after));
            }
            // Relaxed (both): a counter, read only for snapshots.
            self.counters.waiting.fetch_add(1, Relaxed);
            emit(&self.name, PolicyKind::RateLimiter, EventKind::Queued);
            let sleep = tokio::time::sleep(Duration::from_nanos(retry_after));
            let _waiting = StillWaiting(self);
            sleep.await;
        }
        self.count_admitted();
        Ok(())
    }

    /// A permit while the store is unavailable, decided as it says.
    #[cold]
    async fn acquire_unavailable(
        &self,
        shared: &store::Shared,
        unavailable: store::Unavailable,
        deadline: Duration,
    ) -> Result<(), Error> {
        match unavailable {
            store::Unavailable::Share { replicas } => {
                let (count, per) = self.rate();
                let interval = u64::try_from(per.as_nanos() / u128::from(count.max(1)))
                    .unwrap_or(u64::MAX)
                    .max(1);
                match shared.take_share(interval, self.burst(), replicas, self.clock.now()) {
                    Ok(()) => {
                        self.count_admitted();
                        Ok(())
                    }
                    Err(retry_after) => Err(self.reject(retry_after.max(1))),
                }
            }
            store::Unavailable::Allow => {
                self.count_admitted();
                Ok(())
            }
            store::Unavailable::Deny => Err(self.reject(ticks(deadline).max(1))),
            _ => self.acquire_local().await,
        }
    }

    /// A permit from this limiter's own state, as a call without a store gets it.
    async fn acquire_local(&self) -> Result<(), Error> {
        match self.gcra.acquire(self.clock.now(), self.allowed_wait()) {
            Decision::Admitted => {
                self.count_admitted();
                Ok(())
            }
            Decision::Reserved(reservation) => {
                let mut wait = std::pin::pin!(Wait {
                    limiter: self,
                    reservation,
                    admitted: false,
                    sleep: self.start_waiting(reservation),
                });
                wait.as_mut().project().sleep.await;
                *wait.project().admitted = true;
                self.done_waiting();
                Ok(())
            }
            Decision::Rejected { retry_after } => Err(self.reject(retry_after)),
        }
    }

    /// Whether its permits come from a store (see [`store`]).
    #[inline(always)]
    fn shared(&self) -> bool {
        // Relaxed: the setting is read by later calls; one racing it decides locally.
        self.wait.load(Relaxed) & SHARED != 0
    }

    #[inline]
    fn wait_ticks(&self) -> u64 {
        // Relaxed: configuration, published with nothing.
        self.wait.load(Relaxed) & !SHARED
    }

    /// The longest this call may wait for a permit: the limiter's `wait`, and no longer than
    /// what remains of the call's deadline (see [`deadline`](crate::deadline)), so a permit
    /// due after the deadline is refused now rather than waited for.
    #[inline]
    fn allowed_wait(&self) -> u64 {
        match self.wait_ticks() {
            0 => 0,
            wait => Self::within_deadline(wait),
        }
    }

    #[cold]
    fn within_deadline(wait: u64) -> u64 {
        crate::deadline::remaining().map_or(wait, |left| wait.min(ticks(left)))
    }

    #[inline]
    fn count_admitted(&self) {
        // Per thread: no locked instruction, no cache line shared with another thread.
        self.counters.admitted.add(1);
    }

    /// A caller starts sleeping until its reserved permit is due.
    #[cold]
    fn start_waiting(&self, reservation: Reservation) -> Sleep {
        // Relaxed: a counter, read only for snapshots.
        self.counters.waiting.fetch_add(1, Relaxed);
        emit(&self.name, PolicyKind::RateLimiter, EventKind::Queued);
        tokio::time::sleep_until(self.clock.instant(reservation.due))
    }

    /// A waiting caller's permit is due: it is admitted.
    #[cold]
    fn done_waiting(&self) {
        // Relaxed: a counter, read only for snapshots.
        self.counters.waiting.fetch_sub(1, Relaxed);
        self.count_admitted();
    }

    /// A caller dropped while it waited gives its reservation back.
    #[cold]
    fn abandon_wait(&self, reservation: Reservation) {
        self.gcra.give_back(reservation, self.clock.now());
        // Relaxed (both): counters, read only for snapshots.
        self.counters.waiting.fetch_sub(1, Relaxed);
        self.counters.cancelled.fetch_add(1, Relaxed);
        emit(&self.name, PolicyKind::RateLimiter, EventKind::Cancelled);
    }

    #[cold]
    fn reject(&self, retry_after: u64) -> Error {
        // Relaxed: a counter, read only for snapshots.
        self.counters.rejections.fetch_add(1, Relaxed);
        if let Some(shared) = self.declared.shared
            && !self.shared()
        {
            crate::shared_name::running_locally(self.name(), shared);
        }
        emit(
            &self.name,
            PolicyKind::RateLimiter,
            EventKind::Rejected {
                reason: ErrorKind::RateLimited,
            },
        );
        Error::named(ErrorKind::RateLimited, &self.name)
            .with_retry_after(Duration::from_nanos(retry_after))
    }
}

/// A caller waiting for its store's permit; dropped, it waits no more.
struct StillWaiting<'a>(&'a RateLimiter);

impl Drop for StillWaiting<'_> {
    fn drop(&mut self) {
        // Relaxed: a counter, read only for snapshots.
        self.0.counters.waiting.fetch_sub(1, Relaxed);
    }
}

/// A permit on its way from a [`PermitStore`].
type Sharing<'a> = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;

pin_project! {
    /// The future returned by [`RateLimiter::call`].
    ///
    /// The limiter decides on the first poll, not when the future is created. A caller that
    /// must wait for its permit sleeps in this future; dropping it while it sleeps gives the
    /// permit back (counted as `cancelled`).
    ///
    /// Written by hand rather than as an `async fn`, so the call's future is polled where it
    /// lies: an `async fn` would move it once more, into its own state, on the first poll.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F> {
        limiter: &'a RateLimiter,
        #[pin]
        fut: F,
        stage: Stage,
        // Apart from `stage`, so an admitted call's path writes a plain `stage` and never
        // touches a timer; its drop gives a reservation back.
        // A permit on its way from the limiter's store (see [`store`]) takes the same room,
        // so a limiter without a store has a future no bigger than before.
        #[pin]
        wait: Option<Waiting<'a>>,
    }
}

pin_project! {
    /// What a caller waits for: its reserved permit, or a permit from the store.
    #[project = WaitingProj]
    enum Waiting<'a> {
        Reserved {
            #[pin]
            wait: Wait<'a>,
        },
        Shared {
            permit: Sharing<'a>,
        },
    }
}

pin_project! {
    /// A caller sleeping until its reserved permit is due. Dropped before it is
    /// [`admitted`](Wait::admitted), it gives the reservation back.
    struct Wait<'a> {
        limiter: &'a RateLimiter,
        reservation: Reservation,
        admitted: bool,
        #[pin]
        sleep: Sleep,
    }

    impl PinnedDrop for Wait<'_> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.admitted {
                this.limiter.abandon_wait(*this.reservation);
            }
        }
    }
}

/// Where a call is.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Not polled yet: not decided.
    Idle,
    /// Sleeping (in `wait`) until the reserved permit is due.
    Waiting,
    /// Waiting (in `wait`) for a permit from the limiter's store.
    Sharing,
    /// Admitted: the call's future runs.
    Running,
    /// Rejected: nothing more to do.
    Done,
}

/// Polls the permit on its way from the store, then the call.
#[cold]
fn poll_sharing<T, E, F>(
    stage: &mut Stage,
    mut wait: Pin<&mut Option<Waiting<'_>>>,
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Failure<E>>>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    if let Some(waiting) = wait.as_mut().as_pin_mut()
        && let WaitingProj::Shared { permit } = waiting.project()
    {
        let permit = ready!(permit.as_mut().poll(cx));
        wait.set(None);
        if let Err(e) = permit {
            *stage = Stage::Done;
            return Poll::Ready(Err(Failure::Rejected(e)));
        }
    }
    *stage = Stage::Running;
    fut.poll(cx)
}

impl<T, E, F> Future for Call<'_, F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let limiter = *this.limiter;
        match *this.stage {
            Stage::Running => return this.fut.poll(cx),
            Stage::Idle if limiter.shared() => {
                this.wait.set(Some(Waiting::Shared {
                    permit: limiter.start_sharing(),
                }));
                *this.stage = Stage::Sharing;
                return self::poll_sharing(this.stage, this.wait, this.fut, cx);
            }
            Stage::Sharing => return self::poll_sharing(this.stage, this.wait, this.fut, cx),
            Stage::Idle => match limiter
                .gcra
                .acquire(limiter.clock.now(), limiter.allowed_wait())
            {
                Decision::Admitted => {
                    limiter.count_admitted();
                    *this.stage = Stage::Running;
                    return this.fut.poll(cx);
                }
                Decision::Reserved(reservation) => {
                    this.wait.set(Some(Waiting::Reserved {
                        wait: Wait {
                            limiter,
                            reservation,
                            admitted: false,
                            sleep: limiter.start_waiting(reservation),
                        },
                    }));
                    *this.stage = Stage::Waiting;
                }
                Decision::Rejected { retry_after } => {
                    *this.stage = Stage::Done;
                    return Poll::Ready(Err(Failure::Rejected(limiter.reject(retry_after))));
                }
            },
            Stage::Waiting => {}
            Stage::Done => panic!("rate limiter call polled after it completed"),
        }
        // Waiting for the reserved permit.
        if let Some(waiting) = this.wait.as_mut().as_pin_mut()
            && let WaitingProj::Reserved { wait } = waiting.project()
        {
            let wait = wait.project();
            ready!(wait.sleep.poll(cx));
            // The permit is used from here on: the drop must not give it back.
            *wait.admitted = true;
        }
        *this.stage = Stage::Running;
        this.wait.set(None);
        limiter.done_waiting();
        this.fut.poll(cx)
    }
}
