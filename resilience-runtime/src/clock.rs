//! Time for the policies: `tokio::time`, so every policy runs in virtual time under
//! `#[tokio::test(start_paused = true)]`.
//!
//! The atomic cores take time as plain nanoseconds (`u64`) so they do not depend on tokio;
//! [`Clock`] turns a `tokio::time::Instant` into those ticks, counted from the policy's time
//! origin: the instant of the policy's first call (or of the first call that needed the time,
//! for the policies that do not start their clock on admission), in whatever (possibly paused)
//! clock that call's runtime has. Reading a policy's state ([`Clock::peek`]) never sets the
//! origin, so a snapshot taken in one test's runtime cannot freeze a policy another runtime
//! uses; [`Clock::restart`] (a policy's reset) clears it, so the runtime that uses the policy
//! next gives it a fresh one.

use std::sync::OnceLock;
use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

/// The instant every origin is stored relative to: the first instant any policy read. Fixed
/// for the process (instants of every runtime, paused or not, are `std` instants, comparable).
static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// An origin not set yet.
const UNSET: i64 = i64::MIN;

/// Signed nanoseconds from [`ANCHOR`] to `t` (saturating at about 292 years either way).
fn since_anchor(t: Instant) -> i64 {
    let anchor = *ANCHOR.get_or_init(|| t);
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    match t.checked_duration_since(anchor) {
        Some(after) => nanos(after),
        // Never UNSET: -i64::MAX is above it.
        None => -nanos(anchor.saturating_duration_since(t)),
    }
}

/// A policy's own time origin. Reading it costs one clock read and two atomic loads.
#[derive(Debug)]
pub(crate) struct Clock {
    /// Nanoseconds from [`ANCHOR`] to the origin, or [`UNSET`]. Relaxed everywhere: the origin
    /// is the whole value, and two first calls racing agree on whichever set it (the CAS).
    origin: AtomicI64,
}

impl Clock {
    pub(crate) const fn new() -> Self {
        Clock {
            origin: AtomicI64::new(UNSET),
        }
    }

    /// Nanoseconds since this clock's origin, setting it to now if unset. Never 0, so 0 can
    /// mean "never" in the cores.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        let now = since_anchor(Instant::now());
        let mut origin = self.origin.load(Relaxed);
        if origin == UNSET {
            origin = match self.origin.compare_exchange(UNSET, now, Relaxed, Relaxed) {
                Ok(_) => now,
                Err(set) => set,
            };
        }
        Self::ticks_between(origin, now)
    }

    /// Sets the origin to now if it is unset, so a policy's time starts at its first call
    /// even when that call needs no time (a closed breaker's admission): where its time
    /// window's buckets fall is then a matter of when it was first used, not of which later
    /// call first read the clock. One relaxed load once the origin is set.
    #[inline(always)]
    pub(crate) fn start(&self) {
        if self.origin.load(Relaxed) == UNSET {
            self.start_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn start_now(&self) {
        self.now();
    }

    /// As [`now`](Self::now) for a read of the state, which must not set the origin: with no
    /// origin yet, the policy has recorded nothing in time, and tick 1 (its first) stands in.
    pub(crate) fn peek(&self) -> u64 {
        match self.origin.load(Relaxed) {
            UNSET => 1,
            origin => Self::ticks_between(origin, since_anchor(Instant::now())),
        }
    }

    /// Forgets the origin: the next call that needs the time sets a fresh one, in its runtime.
    /// Only for a reset, which also forgets every tick the policy holds.
    pub(crate) fn restart(&self) {
        self.origin.store(UNSET, Relaxed);
    }

    /// The instant that tick `t` (as returned by [`Clock::now`]) stands for.
    pub(crate) fn instant(&self, t: u64) -> Instant {
        let after = Duration::from_nanos(t.saturating_sub(1));
        let origin = match self.origin.load(Relaxed) {
            UNSET => Instant::now(),
            origin => {
                let anchor = *ANCHOR.get_or_init(Instant::now);
                let offset = Duration::from_nanos(origin.unsigned_abs());
                let origin = if origin >= 0 {
                    anchor.checked_add(offset)
                } else {
                    anchor.checked_sub(offset)
                };
                origin.unwrap_or(anchor)
            }
        };
        // An instant beyond what the platform holds: as far as it goes, about now + 30 years.
        origin
            .checked_add(after)
            .unwrap_or_else(|| origin + Duration::from_secs(30 * 365 * 86_400))
    }

    /// Ticks from `origin` to `now` (both from the anchor), plus 1; 1 before the origin.
    #[inline]
    fn ticks_between(origin: i64, now: i64) -> u64 {
        u64::try_from(now.saturating_sub(origin)).unwrap_or(0) + 1
    }
}

/// A duration as ticks (nanoseconds), saturating at `u64::MAX` (584 years).
#[inline]
pub(crate) const fn ticks(d: Duration) -> u64 {
    let n = d.as_nanos();
    if n > u64::MAX as u128 {
        u64::MAX
    } else {
        n as u64
    }
}
