//! An adaptive limit: a bulkhead whose `max` follows the dependency's latency.
//!
//! Each call that held a slot is a sample: how long it held it (from its first wait: a call
//! that answers at its first poll reads no clock and is no sample), how many calls were in
//! flight when it started, and whether it was dropped (a timeout inside the bulkhead cut it).
//! Samples are summed in atomics (a few relaxed adds per call, and two clock reads for a call
//! that waited); samples under 100µs are not counted (Netflix's `minRttThreshold`), so a
//! dependency that fast leaves the limit where it is. A window closes
//! once it is at least [`WINDOW`] old and holds at least [`WINDOW_SAMPLES`] samples (Netflix's
//! `WindowedLimit` defaults), and the caller that closes it computes the next limit under a
//! lock no other caller waits for (`try_lock`), then sets the bulkhead's `max` to it.
//!
//! # Algorithms
//!
//! - [`Algorithm::Gradient2`]: Netflix's Gradient2 with its published parameters
//!   (`gradient2.rs`), on each window's average RTT.
//! - [`Algorithm::Aimd`]: add one per window that used half the limit, times 0.9 per window
//!   with a drop (`aimd.rs`).
//!
//! # Guards against the failure modes users report
//!
//! - **Timeouts that push the limit up.** Gradient2 ignores drops, and a call cut by a timeout
//!   leaves no RTT behind, so a dependency that times out steadily looks fast and the limit
//!   climbs. Here a window with a drop (a call that ended in `TimedOut` or `DeadlineExceeded`
//!   inside the bulkhead) multiplies the limit by 0.9 (AIMD's backoff), whatever the
//!   algorithm, and the dropped call's time counts in the window's RTT. A call cancelled from
//!   outside (a timeout above the bulkhead, a hedge that lost) counts its time but is not a
//!   drop: put the timeout inside (`#[bulkhead] #[timeout]`) for it to be one. Calls rejected
//!   below (a breaker open) are not samples: a fast rejection says nothing of latency.
//! - **Slow ramp-up.** Gradient2 grows by 0.8 per window, so from 20 to 200 takes minutes.
//!   Here the limit starts at `initial`, and while a window is saturated (in flight at least
//!   half the limit), saw no drop and no queueing (gradient 1), the limit doubles, for the
//!   first windows after start or reset and again after three such windows in a row; the first
//!   window with queueing or a drop ends the doubling. The overshoot is bounded by `max` and
//!   undone by the gradient within a few windows.
//! - **Baseline drift.** The long-term RTT is an average over 600 windows, so a dependency that
//!   becomes slower for good becomes the new baseline and the limit recovers; after a long
//!   slow stretch, a long RTT more than twice the short one is cut by 5% per window
//!   (Gradient2's own rule), so a recovered dependency is not held down by its past.
//! - **App-limited windows** (fewer than half the limit in flight) leave the limit as it is:
//!   light traffic neither raises nor lowers it.

mod aimd;
mod gradient2;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::clock::Clock;

pub(crate) use gradient2::Gradient2;

/// A window closes no sooner than this.
pub const WINDOW: Duration = Duration::from_secs(1);
/// A window closes with no fewer samples than this.
pub const WINDOW_SAMPLES: u32 = 10;
/// Samples shorter than this are not counted (Netflix's `minRttThreshold`).
const MIN_RTT: u64 = 100_000;
/// Saturated windows without queueing in a row that start the doubling again.
const RAMP_AFTER: u32 = 3;

/// How an adaptive bulkhead moves its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Additive increase, multiplicative decrease: +1 per window that used half the limit,
    /// times 0.9 per window with a drop.
    Aimd,
    /// Netflix's Gradient2: the limit follows the ratio of the long-term RTT to the last
    /// window's.
    Gradient2,
}

impl Algorithm {
    /// As the attribute writes it: `aimd`, `gradient2`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Aimd => "aimd",
            Algorithm::Gradient2 => "gradient2",
        }
    }

    /// The algorithm named `name`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name.trim() {
            "aimd" => Some(Algorithm::Aimd),
            "gradient2" => Some(Algorithm::Gradient2),
            _ => None,
        }
    }

    const fn code(algorithm: Option<Algorithm>) -> u8 {
        match algorithm {
            None => 0,
            Some(Algorithm::Aimd) => 1,
            Some(Algorithm::Gradient2) => 2,
        }
    }
}

/// The algorithm's state, under the lock only the caller closing a window takes.
#[derive(Debug)]
struct State {
    limit: f64,
    gradient2: Gradient2,
    /// Doubling while nothing queues.
    ramping: bool,
    /// Saturated windows without queueing in a row.
    calm: u32,
}

/// The adaptive part of a bulkhead: off unless built with an algorithm.
#[derive(Debug)]
pub(crate) struct Adaptive {
    algorithm: AtomicU8,
    min: AtomicU32,
    initial: AtomicU32,
    clock: Clock,
    window_start: AtomicU64,
    rtt_sum: AtomicU64,
    samples: AtomicU32,
    max_inflight: AtomicU32,
    dropped: AtomicBool,
    state: Mutex<State>,
}

/// One call's part in a window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// When it first waited, holding its slot (the clock's ticks); 0 until then. A call that
    /// answers at its first poll reads no clock and is no sample: its time is below
    /// [`MIN_RTT`] but for the computing it did before its first `.await`.
    pub(crate) started: u64,
    /// Calls in flight when it started, itself included.
    pub(crate) inflight: u32,
}

impl Adaptive {
    pub(crate) const fn new(algorithm: Option<Algorithm>, min: u32, initial: u32) -> Self {
        Adaptive {
            algorithm: AtomicU8::new(Algorithm::code(algorithm)),
            min: AtomicU32::new(min),
            initial: AtomicU32::new(initial),
            clock: Clock::new(),
            window_start: AtomicU64::new(0),
            rtt_sum: AtomicU64::new(0),
            samples: AtomicU32::new(0),
            max_inflight: AtomicU32::new(0),
            dropped: AtomicBool::new(false),
            state: Mutex::new(State {
                limit: initial as f64,
                gradient2: Gradient2::new(initial as f64),
                ramping: true,
                calm: 0,
            }),
        }
    }

    /// The algorithm, if the bulkhead is adaptive.
    #[inline]
    pub(crate) fn algorithm(&self) -> Option<Algorithm> {
        // Relaxed (all settings here): independent values.
        match self.algorithm.load(Relaxed) {
            0 => None,
            1 => Some(Algorithm::Aimd),
            _ => Some(Algorithm::Gradient2),
        }
    }

    pub(crate) fn min(&self) -> u32 {
        self.min.load(Relaxed)
    }

    pub(crate) fn initial(&self) -> u32 {
        self.initial.load(Relaxed)
    }

    /// A call took a slot with `inflight` calls in flight: its sample, not started.
    #[inline]
    pub(crate) fn start(&self, inflight: u32) -> Sample {
        Sample {
            started: 0,
            inflight,
        }
    }

    /// The call waited for the first time: its time starts now.
    #[cold]
    pub(crate) fn waited(&self, sample: &mut Sample) {
        sample.started = self.clock.now();
    }

    /// A sampled call ended; `dropped` when a timeout inside cut it. When this call closes a
    /// window and the limit moves, `apply` gets the new limit, under the window's lock.
    pub(crate) fn end(
        &self,
        sample: Sample,
        dropped: bool,
        max: u32,
        apply: impl FnOnce(u32),
    ) -> Option<u32> {
        if sample.started == 0 {
            // Answered at its first poll.
            return None;
        }
        let now = self.clock.now();
        let rtt = now.saturating_sub(sample.started);
        if rtt < MIN_RTT && !dropped {
            return None;
        }
        // Relaxed (all): the window's sums, read by whoever closes it; a sample that lands
        // while it closes counts in this window or the next.
        self.rtt_sum.fetch_add(rtt, Relaxed);
        let samples = self.samples.fetch_add(1, Relaxed) + 1;
        self.max_inflight.fetch_max(sample.inflight, Relaxed);
        if dropped {
            self.dropped.store(true, Relaxed);
        }
        let start = match self.window_start.load(Relaxed) {
            0 => {
                let _ = self.window_start.compare_exchange(0, now, Relaxed, Relaxed);
                return None;
            }
            start => start,
        };
        if samples < WINDOW_SAMPLES || now.saturating_sub(start) < crate::clock::ticks(WINDOW) {
            return None;
        }
        self.close(now, max, apply)
    }

    /// Closes the window if no other caller is closing it: the next limit from its samples.
    #[cold]
    fn close(&self, now: u64, max: u32, apply: impl FnOnce(u32)) -> Option<u32> {
        let mut state = self.state.try_lock().ok()?;
        let samples = self.samples.swap(0, Relaxed);
        if samples < WINDOW_SAMPLES {
            // Another caller closed it between our look and the lock.
            self.samples.fetch_add(samples, Relaxed);
            return None;
        }
        let rtt = self.rtt_sum.swap(0, Relaxed) as f64 / f64::from(samples);
        let inflight = self.max_inflight.swap(0, Relaxed);
        let dropped = self.dropped.swap(false, Relaxed);
        self.window_start.store(now, Relaxed);
        let algorithm = self.algorithm()?;
        let before = state.limit;
        let next = step(
            &mut state,
            algorithm,
            rtt,
            inflight,
            dropped,
            self.min(),
            max,
        );
        let moved = ((next as u32) != (before as u32)).then_some(next as u32);
        // Applied under the lock: a change of settings or a reset, which take it too, cannot
        // be overwritten by a limit worked out before it.
        if let Some(limit) = moved {
            apply(limit);
        }
        moved
    }

    /// New bounds for the same algorithm (and `initial`, where it follows them): the limit it
    /// learnt, moved into them. Returns the limit, if the bulkhead is adaptive.
    pub(crate) fn bound(&self, min: u32, max: u32, initial: u32) -> Option<u32> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.min.store(min, Relaxed);
        self.initial.store(initial, Relaxed);
        self.algorithm()?;
        state.limit = state.limit.clamp(f64::from(min), f64::from(max.max(min)));
        state.gradient2.estimate = state.limit;
        Some(state.limit as u32)
    }

    /// Starts over from `initial`: a reset, or a change of settings that moved the bounds.
    pub(crate) fn restart(&self, algorithm: Option<Algorithm>, min: u32, initial: u32) {
        self.algorithm.store(Algorithm::code(algorithm), Relaxed);
        self.min.store(min, Relaxed);
        self.initial.store(initial, Relaxed);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = State {
            limit: f64::from(initial),
            gradient2: Gradient2::new(f64::from(initial)),
            ramping: true,
            calm: 0,
        };
        self.window_start.store(0, Relaxed);
        self.rtt_sum.store(0, Relaxed);
        self.samples.store(0, Relaxed);
        self.max_inflight.store(0, Relaxed);
        self.dropped.store(false, Relaxed);
        self.clock.restart();
    }
}

/// One window's step: the algorithm, then the guards (see the module docs). Returns the new
/// limit, within `[min, max]`.
fn step(
    state: &mut State,
    algorithm: Algorithm,
    rtt: f64,
    inflight: u32,
    dropped: bool,
    min: u32,
    max: u32,
) -> f64 {
    let (min, max) = (f64::from(min), f64::from(max.max(min)));
    let saturated = f64::from(inflight) * 2.0 >= state.limit;
    let mut next = match algorithm {
        Algorithm::Aimd => aimd::update(state.limit, inflight, dropped, min, max),
        Algorithm::Gradient2 => {
            state.gradient2.estimate = state.limit;
            let update = state.gradient2.update(rtt, inflight, min, max);
            let calm = update.gradient.is_some_and(|g| g >= 1.0);
            if dropped || (saturated && !calm) {
                state.ramping = false;
                state.calm = 0;
            } else if saturated && calm {
                state.calm += 1;
                if state.calm >= RAMP_AFTER {
                    state.ramping = true;
                }
            } else {
                // A quiet window breaks the run of calm ones.
                state.calm = 0;
            }
            let mut next = state.gradient2.estimate;
            if state.ramping && saturated && calm && !dropped {
                next = (state.limit * 2.0).max(next);
            }
            if dropped {
                next = (state.limit * aimd::BACKOFF).min(next);
            }
            next
        }
    };
    next = next.clamp(min, max);
    state.limit = next;
    state.gradient2.estimate = next;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(limit: f64) -> State {
        State {
            limit,
            gradient2: Gradient2::new(limit),
            ramping: true,
            calm: 0,
        }
    }

    #[test]
    fn a_drop_backs_off_whatever_the_gradient() {
        let mut s = state(100.0);
        let next = step(&mut s, Algorithm::Gradient2, 10.0, 100, true, 1, 200);
        assert!(next <= 90.0, "{next}");
        assert!(!s.ramping, "a drop ends the ramp");
    }

    #[test]
    fn a_saturated_calm_window_doubles_while_ramping() {
        let mut s = state(20.0);
        assert_eq!(
            step(&mut s, Algorithm::Gradient2, 10.0, 20, false, 1, 200),
            40.0
        );
        assert_eq!(
            step(&mut s, Algorithm::Gradient2, 10.0, 40, false, 1, 200),
            80.0
        );
        // Queueing (an RTT twice the long one) ends the ramp.
        let cut = step(&mut s, Algorithm::Gradient2, 40.0, 80, false, 1, 200);
        assert!(cut < 80.0, "{cut}");
        assert!(!s.ramping);
        // Gradient2's own growth, until three calm saturated windows in a row.
        let a = step(&mut s, Algorithm::Gradient2, 10.0, 200, false, 1, 200);
        assert!(a < cut + 1.0, "{cut} -> {a}");
        step(&mut s, Algorithm::Gradient2, 10.0, 200, false, 1, 200);
        let c = step(&mut s, Algorithm::Gradient2, 10.0, 200, false, 1, 200);
        assert!(c >= 2.0 * a, "ramping again: {a} -> {c}");
    }

    #[test]
    fn a_window_with_less_than_half_the_limit_in_flight_does_not_ramp() {
        // 1 in flight of 3: app-limited, whatever the latency says.
        let mut s = state(3.0);
        assert_eq!(
            step(&mut s, Algorithm::Gradient2, 10.0, 1, false, 1, 200),
            3.0
        );
        // 2 of 3: busy, and nothing queues: it doubles.
        assert_eq!(
            step(&mut s, Algorithm::Gradient2, 10.0, 2, false, 1, 200),
            6.0
        );
    }

    #[test]
    fn a_quiet_window_breaks_a_run_of_calm_ones() {
        let mut s = state(40.0);
        // Queueing ends the first ramp.
        step(&mut s, Algorithm::Gradient2, 10.0, 40, false, 1, 200);
        step(&mut s, Algorithm::Gradient2, 100.0, 40, false, 1, 200);
        assert!(!s.ramping);
        // Two calm busy windows, a quiet one, two calm busy ones: no three in a row.
        let busy = |s: &mut State| {
            let limit = s.limit as u32;
            step(s, Algorithm::Gradient2, 1.0, limit, false, 1, 200)
        };
        busy(&mut s);
        busy(&mut s);
        step(&mut s, Algorithm::Gradient2, 1.0, 1, false, 1, 200);
        let before = busy(&mut s);
        let after = busy(&mut s);
        assert!(after < before * 1.5, "no ramp: {before} -> {after}");
        // The third in a row ramps.
        assert!(busy(&mut s) >= 2.0 * after - 1.0);
    }

    proptest! {
        /// Whatever the latencies, drops and traffic, the limit stays within its bounds.
        #[test]
        fn the_limit_stays_within_its_bounds(
            gradient2 in any::<bool>(),
            min in 1u32..50,
            span in 0u32..500,
            initial in 0u32..600,
            windows in proptest::collection::vec((1u64..10_000_000_000, 0u32..2_000, any::<bool>()), 1..200),
        ) {
            let max = min + span;
            let initial = initial.clamp(min, max);
            let algorithm = if gradient2 { Algorithm::Gradient2 } else { Algorithm::Aimd };
            let mut s = state(f64::from(initial));
            for (rtt, inflight, dropped) in windows {
                let next = step(&mut s, algorithm, rtt as f64, inflight, dropped, min, max);
                prop_assert!(next >= f64::from(min) && next <= f64::from(max), "{next} outside {min}..={max}");
                prop_assert!(next.is_finite());
            }
        }
    }
}
