//! Retry budget: retries capped to a share of first attempts over a sliding window, so
//! retries cannot multiply load on a dependency that is already failing (a retry storm).
//!
//! Per-call attempt limits do not prevent a storm: with 3 attempts at every layer of a
//! 3-deep call chain, a failing leaf sees 27 calls per request. A budget shared by the
//! retries of a service allows, over its `window`, at most `ratio` retries per first attempt,
//! plus a floor of `min` retries per second so a quiet service can still retry. A retry the
//! budget refuses ends at once with the last outcome.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{Backoff, Failure, Retry, RetryBudget};
//!
//! static API_RETRIES: RetryBudget = match RetryBudget::builder("API_RETRIES")
//!     .ratio(20.0)
//!     .min(10, Duration::from_secs(1))
//!     .window(Duration::from_secs(10))
//!     .build()
//! {
//!     Ok(budget) => budget,
//!     Err(_) => panic!("invalid retry budget"),
//! };
//!
//! static FETCH: Retry = match Retry::builder("fetch").attempts(3).budget(&API_RETRIES).build() {
//!     Ok(retry) => retry,
//!     Err(_) => panic!("invalid retry"),
//! };
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let r: Result<u32, Failure<()>> = FETCH.call(|| async { Ok(1) }).await;
//! assert_eq!(r.unwrap(), 1);
//! assert_eq!(API_RETRIES.metrics().deposits, 1);
//! # }
//! ```
//!
//! # The accounting
//!
//! The defaults are Finagle's and tower's: `ratio = 20%`, `min = 10/s`, `window = 10s`. A
//! retry is allowed when, over the window, `retries + 1 <= first attempts * ratio + min *
//! window`, computed in integers (the ratio in parts per million), so no rounding of a
//! fractional ratio ever lets a retry through that the ratio refuses.
//!
//! The window is ten buckets. A first attempt deposits with one add to a counter cell its
//! thread owns ([`per_thread`](crate::per_thread)): no locked instruction, no clock read. A
//! withdrawal (a retry, which is about to wait anyway) reads the clock, moves the window on
//! and decides, under the budget's lock. The deposits made since the previous read are placed
//! then: all in the newest bucket when that read was less than a window ago (they are all in
//! the window), else the share of them that falls in the window, taken as spread evenly since
//! that read (a budget idle for an hour does not wake up with an hour of deposits).
//!
//! # Nested retries
//!
//! Only first attempts that are not themselves inside a retry governed by the same budget
//! deposit: when an annotated function with `#[retry(budget = B)]` calls another one with
//! the same budget, the inner retry's first attempts are the outer's attempts already, and
//! would otherwise pay for the inner's retries.

mod registered;

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::clock::{Clock, ticks};
use crate::error::ConfigError;
use crate::event::{EventKind, PolicyKind, emit};
use crate::name::Name;
use crate::per_thread;

/// Buckets of the sliding window.
const BUCKETS: usize = 10;

/// Parts per million in a whole.
const PPM: u128 = 1_000_000;

/// A retry budget: see the [module docs](self).
pub struct RetryBudget {
    name: Name,
    /// Retries allowed per first attempt, in parts per million.
    ratio_ppm: AtomicU32,
    /// Retries allowed per `min_per` whatever the traffic.
    min_count: AtomicU32,
    /// The floor's period, in nanoseconds.
    min_per: AtomicU64,
    /// The window, in nanoseconds.
    window: AtomicU64,
    /// First attempts: a running total, never reset, in per-thread cells.
    deposits: per_thread::Counter,
    ring: Mutex<Ring>,
    clock: Clock,
    withdrawals: AtomicU64,
    refused: AtomicU64,
    /// The settings it was built with, for [`reset`](Self::reset).
    declared: RetryBudgetBuilder,
}

/// The window's buckets: the newest at `head`.
#[derive(Clone, Debug)]
struct Ring {
    buckets: [Bucket; BUCKETS],
    head: usize,
    /// When the newest bucket began (the budget's clock); 0 before the first withdrawal.
    head_start: u64,
    /// The last clock read, and the deposits' running total then: the deposits since are
    /// placed in the window when the clock is read next (see [`RetryBudget::advance`]).
    last_read: u64,
    last_total: u64,
    /// What [`RetryBudget::metrics`] reported as deposits at the last reset.
    deposits_before: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// The deposits' running total when the bucket began.
    deposits_at_start: u64,
    /// Retries allowed while it was the newest.
    withdrawals: u64,
}

/// A snapshot of a retry budget, from [`RetryBudget::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryBudgetMetrics {
    /// First attempts that deposited, since it was built or reset.
    pub deposits: u64,
    /// Retries it allowed.
    pub withdrawals: u64,
    /// Retries it refused: each ended its call with the last outcome.
    pub refused: u64,
    /// Retries it would allow now, over the window as of its last clock read.
    pub available: u64,
}

/// Builds a [`RetryBudget`]; every method is `const`. Made by [`RetryBudget::builder`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryBudgetBuilder {
    pub(crate) name: &'static str,
    pub(crate) ratio: f64,
    pub(crate) min: (u32, Duration),
    pub(crate) window: Duration,
}

impl RetryBudgetBuilder {
    /// Retries allowed per hundred first attempts, as a percentage (default 20): `ratio(20.0)`
    /// is `ratio = 20%`. In `(0, 100]`.
    pub const fn ratio(mut self, percent: f64) -> Self {
        self.ratio = percent;
        self
    }

    /// Retries allowed per `per` whatever the traffic (default 10 per second), so a quiet
    /// service can still retry: `min(10, Duration::from_secs(1))` is `min = 10/s`. A count of
    /// 0 allows only what the ratio earns.
    pub const fn min(mut self, count: u32, per: Duration) -> Self {
        self.min = (count, per);
        self
    }

    /// The sliding window the ratio and the floor count over (default 10 s); from 1 s to 1 h.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Checks the configuration and builds the budget.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `ratio` outside `(0, 100]` percent, a `min` over a period of
    /// zero, or `window` outside 1 s to 1 h.
    pub const fn build(self) -> Result<RetryBudget, ConfigError> {
        let ppm = match ratio_ppm(self.ratio) {
            Some(ppm) => ppm,
            None => {
                return Err(ConfigError::new(
                    self.name,
                    "ratio",
                    "must be above 0% and at most 100% (retries per hundred first attempts): write ratio = 20%",
                ));
            }
        };
        if self.min.1.is_zero() {
            return Err(ConfigError::new(
                self.name,
                "min",
                "must be a count per period longer than zero: write min = 10/s",
            ));
        }
        let window = self.window.as_nanos();
        if window < 1_000_000_000 || window > 3_600_000_000_000 {
            return Err(ConfigError::new(
                self.name,
                "window",
                "must be from 1s to 1h (the span the ratio counts over): write window = 10s",
            ));
        }
        Ok(RetryBudget {
            name: Name::new(self.name),
            ratio_ppm: AtomicU32::new(ppm),
            min_count: AtomicU32::new(self.min.0),
            min_per: AtomicU64::new(ticks(self.min.1)),
            window: AtomicU64::new(ticks(self.window)),
            deposits: per_thread::Counter::new(),
            ring: Mutex::new(Ring {
                buckets: [Bucket {
                    deposits_at_start: 0,
                    withdrawals: 0,
                }; BUCKETS],
                head: 0,
                head_start: 0,
                last_read: 0,
                last_total: 0,
                deposits_before: 0,
            }),
            clock: Clock::new(),
            withdrawals: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            declared: self,
        })
    }
}

/// A percentage in parts per million, if in `(0, 100]`.
const fn ratio_ppm(percent: f64) -> Option<u32> {
    if !(percent > 0.0 && percent <= 100.0) {
        return None;
    }
    let ppm = (percent * 10_000.0) as u32;
    Some(if ppm == 0 { 1 } else { ppm })
}

thread_local! {
    /// The budget whose retry is polling an attempt on this thread (its address; 0 for none):
    /// a retry under the same budget inside it does not deposit.
    static GOVERNING: Cell<usize> = const { Cell::new(0) };
}

impl RetryBudget {
    /// Starts building a budget named `name` (its registry name), with the defaults: `ratio =
    /// 20%`, `min = 10/s`, `window = 10s`.
    pub const fn builder(name: &'static str) -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            name,
            ratio: 20.0,
            min: (10, Duration::from_secs(1)),
            window: Duration::from_secs(10),
        }
    }

    /// The name it reports in events, and is listed under in the registry.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    /// Retries allowed per hundred first attempts.
    pub fn ratio(&self) -> f64 {
        f64::from(self.ratio_ppm.load(Relaxed)) / 10_000.0
    }

    /// Retries allowed per period whatever the traffic: `(10, 1s)` is `min = 10/s`.
    pub fn min(&self) -> (u32, Duration) {
        (
            self.min_count.load(Relaxed),
            Duration::from_nanos(self.min_per.load(Relaxed)),
        )
    }

    /// The window the ratio and the floor count over.
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.window.load(Relaxed))
    }

    /// The settings now, as a builder, for [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> RetryBudgetBuilder {
        RetryBudget::builder(self.name.get())
            .ratio(self.ratio())
            .min(self.min().0, self.min().1)
            .window(self.window())
    }

    /// Replaces the settings, checked as [`RetryBudgetBuilder::build`] checks them. The
    /// deposits and withdrawals in the window stay.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return; nothing changes.
    pub fn reconfigure(&self, settings: RetryBudgetBuilder) -> Result<(), ConfigError> {
        let checked = RetryBudgetBuilder {
            name: self.name.get(),
            ..settings
        }
        .build()?;
        let _ring = lock(&self.ring);
        self.ratio_ppm
            .store(checked.ratio_ppm.load(Relaxed), Relaxed);
        self.min_count
            .store(checked.min_count.load(Relaxed), Relaxed);
        self.min_per.store(checked.min_per.load(Relaxed), Relaxed);
        self.window.store(checked.window.load(Relaxed), Relaxed);
        Ok(())
    }

    /// Makes the budget as it was built: its declared settings, an empty window and its
    /// counters at zero.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        let total = self.deposits.sum();
        let mut ring = lock(&self.ring);
        ring.buckets = [Bucket {
            deposits_at_start: total,
            withdrawals: 0,
        }; BUCKETS];
        ring.head_start = 0;
        ring.last_read = 0;
        ring.last_total = total;
        ring.deposits_before = total;
        // Under the lock: a withdrawal between the two would start the window on the old
        // clock.
        self.clock.restart();
        drop(ring);
        self.withdrawals.store(0, Relaxed);
        self.refused.store(0, Relaxed);
    }

    /// Its counters, and what it would allow now.
    pub fn metrics(&self) -> RetryBudgetMetrics {
        let now = self.clock.now();
        let total = self.deposits.sum();
        let ring = lock(&self.ring);
        // What a retry asking now would find, without moving the window itself.
        let mut at_now = ring.clone();
        self.advance(&mut at_now, now, total);
        let available = self.allowance(&at_now, total);
        RetryBudgetMetrics {
            deposits: total.saturating_sub(ring.deposits_before),
            withdrawals: self.withdrawals.load(Relaxed),
            refused: self.refused.load(Relaxed),
            available,
        }
    }

    /// A first attempt: one add to this thread's cell, unless it is inside a retry under this
    /// same budget. The budget's clock starts at its first deposit (the one clock read a
    /// deposit ever makes; after that, one relaxed load), so the first withdrawal knows how long
    /// the deposits before it took.
    #[inline]
    pub(crate) fn deposit(&self) {
        if GOVERNING.try_with(Cell::get).unwrap_or(0) != self.id() {
            self.clock.start();
            self.deposits.add(1);
        }
    }

    /// Asks for one retry: `true` takes it from the budget; `false` refuses it (counted and
    /// published).
    pub(crate) fn withdraw(&self) -> bool {
        let now = self.clock.now();
        let total = self.deposits.sum();
        let mut ring = lock(&self.ring);
        self.advance(&mut ring, now, total);
        if self.allowance(&ring, total) > 0 {
            let head = ring.head;
            ring.buckets[head].withdrawals += 1;
            drop(ring);
            self.withdrawals.fetch_add(1, Relaxed);
            return true;
        }
        drop(ring);
        self.refused.fetch_add(1, Relaxed);
        emit(
            &self.name,
            PolicyKind::RetryBudget,
            EventKind::BudgetRefused,
        );
        false
    }

    /// Moves the window up to `now`, and places the deposits made since the last clock read.
    ///
    /// Those were made at some instant after that read. If it was less than a window ago, all
    /// of them are in the window: they count in the newest bucket (so they leave the window up
    /// to one read's gap late). If it was longer ago, their instants are unknown: they are
    /// taken as spread evenly since the read, and the share that falls in the window counts (a
    /// budget idle for an hour does not wake up with an hour of deposits).
    fn advance(&self, ring: &mut Ring, now: u64, total: u64) {
        let window = self.window.load(Relaxed).max(1);
        let span = (window / BUCKETS as u64).max(1);
        let since = total.saturating_sub(ring.last_total);
        let gap = now.saturating_sub(ring.last_read);
        ring.last_read = now;
        ring.last_total = total;
        if ring.head_start == 0 {
            // The first read: the deposits since the clock started (at the first deposit) are
            // placed as those since any read are, and the window starts now.
            ring.buckets = [Bucket {
                deposits_at_start: total - in_window(since, gap, window),
                withdrawals: 0,
            }; BUCKETS];
            ring.head_start = now;
            return;
        }
        let elapsed = now.saturating_sub(ring.head_start) / span;
        if elapsed == 0 {
            // Still the newest bucket: the deposits since the last read are in it already.
            return;
        }
        if elapsed >= BUCKETS as u64 {
            // Nothing of the window as it was counts any more.
            ring.buckets = [Bucket {
                deposits_at_start: total - in_window(since, gap, window),
                withdrawals: 0,
            }; BUCKETS];
        } else {
            // The new buckets start at the last read: the deposits since are in the newest.
            let fresh = Bucket {
                deposits_at_start: total - since,
                withdrawals: 0,
            };
            for _ in 0..elapsed {
                ring.head = (ring.head + 1) % BUCKETS;
                let head = ring.head;
                ring.buckets[head] = fresh;
            }
        }
        ring.head_start += elapsed * span;
    }

    /// Retries allowed now over the window: `deposits * ratio + min * window - withdrawals`.
    fn allowance(&self, ring: &Ring, total: u64) -> u64 {
        let oldest = ring.buckets[(ring.head + 1) % BUCKETS];
        let deposited = u128::from(total.saturating_sub(oldest.deposits_at_start));
        let withdrawn: u128 = ring.buckets.iter().map(|b| u128::from(b.withdrawals)).sum();
        let floor = u128::from(self.min_count.load(Relaxed))
            * u128::from(self.window.load(Relaxed))
            / u128::from(self.min_per.load(Relaxed).max(1));
        let earned = deposited * u128::from(self.ratio_ppm.load(Relaxed)) / PPM;
        u64::try_from((earned + floor).saturating_sub(withdrawn)).unwrap_or(u64::MAX)
    }

    /// What tells this budget from another on a thread: its address.
    #[inline]
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }
}

/// Of `since` deposits made over the last `gap` ticks, those taken to be in the last `window`:
/// all when the gap is within it, else their share of it (spread evenly). At most `since`.
fn in_window(since: u64, gap: u64, window: u64) -> u64 {
    if gap <= window {
        return since;
    }
    u64::try_from(u128::from(since) * u128::from(window) / u128::from(gap)).unwrap_or(since)
}

/// Marks the attempts a retry under `budget` polls, so a retry under the same budget inside
/// them does not deposit. Made by [`governed`].
pub(crate) struct Governing {
    before: usize,
}

/// While the returned guard lives, retries under `budget` polled on this thread are nested.
#[inline]
pub(crate) fn governed(budget: &RetryBudget) -> Governing {
    let before = GOVERNING.try_with(|g| g.replace(budget.id())).unwrap_or(0);
    Governing { before }
}

impl Drop for Governing {
    #[inline]
    fn drop(&mut self) {
        let _ = GOVERNING.try_with(|g| g.set(self.before));
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("name", &self.name())
            .field("ratio", &self.ratio())
            .field("min", &self.min())
            .field("window", &self.window())
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A poisoned lock only means a panic elsewhere while it was held: the ring is whole (every
/// change to it is a few stores that cannot panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    fn budget(ratio: f64, min: u32) -> RetryBudget {
        RetryBudget::builder("b")
            .ratio(ratio)
            .min(min, Duration::from_secs(1))
            .window(Duration::from_secs(10))
            .build()
            .expect("valid")
    }

    #[test]
    fn a_fractional_ratio_allows_exactly_its_share() {
        // 10% of 95 first attempts is 9.5 retries: 9 are allowed, not 10.
        let b = budget(10.0, 0);
        for _ in 0..95 {
            b.deposit();
        }
        let allowed = (0..20).filter(|_| b.withdraw()).count();
        assert_eq!(allowed, 9);
        assert_eq!(b.metrics().refused, 11);
    }

    #[test]
    fn the_floor_allows_retries_with_no_traffic() {
        // 2 per second over 10 seconds.
        let b = budget(20.0, 2);
        let allowed = (0..30).filter(|_| b.withdraw()).count();
        assert_eq!(allowed, 20);
    }

    #[test]
    fn invalid_settings_name_the_option_and_the_fix() {
        let e = RetryBudget::builder("b").ratio(0.0).build().unwrap_err();
        assert_eq!(e.field(), "ratio");
        let e = RetryBudget::builder("b")
            .window(Duration::from_millis(10))
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "window");
        assert!(RetryBudget::builder("b").ratio(f64::NAN).build().is_err());
    }

    #[test]
    fn a_nested_retry_under_the_same_budget_does_not_deposit() {
        let b = budget(20.0, 0);
        let other = budget(20.0, 0);
        {
            let _outer = governed(&b);
            b.deposit();
            other.deposit();
        }
        b.deposit();
        assert_eq!(b.metrics().deposits, 1);
        assert_eq!(other.metrics().deposits, 1);
    }

    fn take(b: &RetryBudget, n: usize) -> usize {
        (0..n).filter(|_| b.withdraw()).count()
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_and_retries_leave_the_window_a_bucket_at_a_time() {
        use tokio::time::advance;
        // One retry per first attempt, no floor, ten buckets of 1 s.
        let b = budget(100.0, 0);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(take(&b, 12), 10);
        // 9.5 s on, all of it is still in the window.
        advance(Duration::from_millis(9_500)).await;
        assert_eq!(take(&b, 1), 0);
        b.deposit();
        b.deposit();
        assert_eq!(take(&b, 3), 2);
        // 10.5 s on, the first second's 10 deposits and 10 retries have left; the last two
        // of each are still in.
        advance(Duration::from_secs(1)).await;
        assert_eq!(take(&b, 1), 0);
        b.deposit();
        assert_eq!(take(&b, 2), 1);
        // 25 s later, nothing of that window counts any more; of the 5 deposits made since
        // the last clock read, 25 s ago, the share in the last 10 s counts (their instants are
        // unknown: taken as spread evenly): 2.
        advance(Duration::from_secs(25)).await;
        for _ in 0..5 {
            b.deposit();
        }
        assert_eq!(b.metrics().available, 2);
        assert_eq!(take(&b, 5), 2);
        let m = b.metrics();
        assert_eq!((m.deposits, m.withdrawals, m.refused), (18, 15, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_counts_over_the_window_and_comes_back_as_it_slides() {
        use tokio::time::advance;
        // 1 retry per second, over a window of 10 s, and no ratio worth a retry.
        let b = RetryBudget::builder("b")
            .ratio(0.0001)
            .min(1, Duration::from_secs(1))
            .window(Duration::from_secs(10))
            .build()
            .unwrap();
        assert_eq!(take(&b, 15), 10);
        advance(Duration::from_secs(5)).await;
        assert_eq!(take(&b, 1), 0);
        // Once the first bucket has left the window, its ten retries come back.
        advance(Duration::from_secs(6)).await;
        assert_eq!(take(&b, 15), 10);
    }

    #[test]
    fn reconfigure_changes_the_settings_and_keeps_the_window() {
        let b = budget(10.0, 0);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(take(&b, 1), 1);
        b.reconfigure(
            RetryBudget::builder("ignored")
                .ratio(50.0)
                .min(5, Duration::from_secs(60))
                .window(Duration::from_secs(30)),
        )
        .unwrap();
        assert_eq!(b.ratio(), 50.0);
        assert_eq!(b.min(), (5, Duration::from_secs(60)));
        assert_eq!(b.window(), Duration::from_secs(30));
        assert_eq!(b.settings().name, "b");
        // 50% of the 10 deposits, and 5 per minute over 30 s (2.5: 2), less the 1 taken.
        assert_eq!(b.metrics().available, 5 + 2 - 1);
        // A refused change names this budget and changes nothing.
        let e = b
            .reconfigure(RetryBudget::builder("ignored").ratio(0.0))
            .unwrap_err();
        assert_eq!(e.policy(), "b");
        assert_eq!(b.ratio(), 50.0);
    }

    #[test]
    fn reset_makes_the_budget_as_it_was_built() {
        let b = budget(10.0, 2);
        b.reconfigure(b.settings().ratio(80.0)).unwrap();
        for _ in 0..10 {
            b.deposit();
        }
        assert!(take(&b, 100) > 0);
        b.reset();
        assert_eq!(b.ratio(), 10.0);
        assert_eq!(
            b.metrics(),
            RetryBudgetMetrics {
                deposits: 0,
                withdrawals: 0,
                refused: 0,
                available: 20,
            }
        );
        assert!(format!("{b:?}").contains("\"b\""));
    }

    #[test]
    fn a_window_is_from_one_second_to_one_hour() {
        let with = |w: Duration| RetryBudget::builder("b").window(w).build().is_ok();
        assert!(with(Duration::from_secs(1)));
        assert!(with(Duration::from_secs(3600)));
        assert!(!with(Duration::from_millis(999)));
        assert!(!with(Duration::from_millis(3_600_001)));
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_between_reads_count_from_the_bucket_of_the_read_that_places_them() {
        use tokio::time::advance;
        let b = budget(100.0, 0);
        // The first read: the window starts.
        assert_eq!(take(&b, 1), 0);
        advance(Duration::from_millis(500)).await;
        for _ in 0..4 {
            b.deposit();
        }
        // Read in the second bucket (1 s to 2 s): the 4 deposits are placed there.
        advance(Duration::from_secs(1)).await;
        assert_eq!(take(&b, 1), 1);
        // At 10.7 s the first bucket has left the window, the second not yet.
        advance(Duration::from_millis(9_200)).await;
        assert_eq!(take(&b, 1), 1);
        // At 11.7 s the second has left too: its deposits with it.
        advance(Duration::from_secs(1)).await;
        assert_eq!(take(&b, 1), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_quiet_since_start_up_does_not_wake_with_every_deposit() {
        use tokio::time::advance;
        let b = budget(20.0, 0);
        // An hour's worth of successes before the first failure: 100 s at 100 per second.
        for _ in 0..10_000 {
            b.deposit();
        }
        advance(Duration::from_secs(100)).await;
        // Taken as spread over the 100 s: the last 10 s hold 1,000 of them (999: the clock's
        // first tick is one nanosecond in), 20% is 200; not 20% of all 10,000.
        assert!((199..=200).contains(&take(&b, 1_000)));
    }
}
