//! The closed-state windows of outcomes a breaker decides on: the last N calls (a ring of
//! outcome bits) or the last D of time (ten buckets of D/10).
//!
//! A window is a statistic: the breaker's decisions are serialised by the state word, not by
//! the window. What the windows do guarantee is that every outcome is counted exactly once, and
//! that the aggregate counts always equal what the bits and buckets hold.
//!
//! A count window's plain success (once the window holds `min_calls` calls) writes only to a
//! cache line the current thread owns ([`per_thread::Counter`](crate::per_thread::Counter)): no
//! locked instruction, no line shared with another thread. Failures, slow calls, every outcome
//! while the window fills up to `min_calls` (after it is emptied, or after a change of
//! settings) and reads take a lock and write the successes into the ring lazily (see
//! [`CountWindow`](count::CountWindow)). A time window costs more: every record reads the clock
//! and changes its bucket with a compare-and-swap.
//! No tokio here: time arrives as `u64` ticks (nanoseconds), so the module can be model-checked.
//!
//! One concept to a file: [`ring`], a count window's ring of outcome bits; [`count`], the count
//! window, its lock and the successes counted without it; [`buckets`], the time window;
//! [`shape`], the breaker's windows and the shape word that says which of them records, with
//! the fast lane.

mod buckets;
mod count;
mod ring;
mod shape;

#[cfg(test)]
mod fixed;
#[cfg(all(test, resilience_loom))]
mod loom_tests;
#[cfg(all(test, not(resilience_loom)))]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests;

pub(crate) use shape::{Active, Spec, Window};

/// The most calls a count window can hold.
pub const MAX_WINDOW_CALLS: u32 = 1000;

/// What a window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Calls recorded in the window.
    pub(crate) calls: u64,
    /// Of which failures.
    pub(crate) failures: u64,
    /// Of which slow (slow successes and slow failures alike).
    pub(crate) slow: u64,
}

/// Where a recorded outcome landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Recorded.
    Yes,
    /// Not recorded: the outcome's time is already outside a time window (a call that finished
    /// before a concurrent one moved the window on).
    Expired,
    /// Not recorded: the outcome's bucket already holds [`MAX_BUCKET_CALLS`](buckets::MAX_BUCKET_CALLS) calls.
    Full,
}
