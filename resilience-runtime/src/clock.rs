//! Time for the policies: `tokio::time`, so every policy runs in virtual time under
//! `#[tokio::test(start_paused = true)]`.
//!
//! The atomic cores take time as plain nanoseconds (`u64`) so they do not depend on tokio;
//! [`Clock`] turns a `tokio::time::Instant` into those ticks, counted from the first time the
//! policy read the clock.

use std::mem::ManuallyDrop;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// A policy's own time origin. Reading it costs one clock read plus one atomic load.
#[derive(Debug)]
pub(crate) struct Clock {
    // Set on the first read, so a policy built in a `static` before any runtime exists counts
    // from the time it is first used, in whatever (possibly paused) clock that runtime has.
    // ManuallyDrop: `OnceLock` has a destructor, which forbids the `match P::builder(..).build()
    // { Ok(p) => p, Err(_) => panic!() }` of a `static`; an `Instant` needs no drop.
    origin: ManuallyDrop<OnceLock<Instant>>,
}

impl Clock {
    pub(crate) const fn new() -> Self {
        Clock {
            origin: ManuallyDrop::new(OnceLock::new()),
        }
    }

    /// Nanoseconds since this clock's origin. Never 0, so 0 can mean "never" in the cores.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        let now = Instant::now();
        let origin = *self.origin.get_or_init(|| now);
        ticks(now.saturating_duration_since(origin)) + 1
    }

    /// The instant that tick `t` (as returned by [`Clock::now`]) stands for.
    pub(crate) fn instant(&self, t: u64) -> Instant {
        let origin = *self.origin.get_or_init(Instant::now);
        origin + Duration::from_nanos(t.saturating_sub(1))
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
