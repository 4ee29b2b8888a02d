//! The settings, in atomics, and the window's shape: both changed at run time without a lock.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use super::{Config, Core};
use crate::circuit_breaker::State;
use crate::circuit_breaker::window::Spec;
use crate::circuit_breaker::word::Word;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, loom_const};

/// The settings, in atomics so a breaker can be reconfigured later without a lock. Every read
/// is `Relaxed`: a setting is an independent value, and a call that sees the old one is as
/// correct as one that ran a moment earlier.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) threshold: AtomicU32,
    pub(super) consecutive_failures: AtomicU32,
    pub(super) min_calls: AtomicU32,
    pub(super) slow: AtomicU64,
    pub(super) slow_threshold: AtomicU32,
    pub(super) open_initial: AtomicU64,
    pub(super) open_max: AtomicU64,
    pub(super) half_open: AtomicU32,
    pub(super) critical: AtomicBool,
    /// Read only by `settings()`: whether `min_calls` follows the window (see `Config`).
    pub(super) min_calls_given: AtomicBool,
}

impl Settings {
    loom_const! {
        pub(super) const fn new(c: Config) -> Self {
            Settings {
                threshold: AtomicU32::new(c.threshold),
                consecutive_failures: AtomicU32::new(c.consecutive_failures),
                min_calls: AtomicU32::new(c.min_calls),
                slow: AtomicU64::new(c.slow),
                slow_threshold: AtomicU32::new(c.slow_threshold),
                open_initial: AtomicU64::new(c.open_initial),
                open_max: AtomicU64::new(c.open_max),
                half_open: AtomicU32::new(c.half_open),
                critical: AtomicBool::new(c.critical),
                min_calls_given: AtomicBool::new(c.min_calls_given),
            }
        }
    }
}

impl Core {
    /// The settings now, as plain values.
    pub(crate) fn config(&self) -> Config {
        let s = &self.settings;
        Config {
            threshold: s.threshold.load(Relaxed),
            consecutive_failures: s.consecutive_failures.load(Relaxed),
            min_calls: s.min_calls.load(Relaxed),
            slow: s.slow.load(Relaxed),
            slow_threshold: s.slow_threshold.load(Relaxed),
            open_initial: s.open_initial.load(Relaxed),
            open_max: s.open_max.load(Relaxed),
            half_open: s.half_open.load(Relaxed),
            critical: s.critical.load(Relaxed),
            min_calls_given: s.min_calls_given.load(Relaxed),
        }
    }

    /// Replaces the settings (already validated). Each is stored on its own (see
    /// [`Settings`]): a call racing with this sees some old and some new values, each valid.
    /// The state, window and counters are kept; an open breaker keeps its current wait.
    pub(crate) fn set_config(&self, c: Config) {
        let s = &self.settings;
        s.threshold.store(c.threshold, Relaxed);
        s.consecutive_failures
            .store(c.consecutive_failures, Relaxed);
        s.min_calls.store(c.min_calls, Relaxed);
        s.slow.store(c.slow, Relaxed);
        s.slow_threshold.store(c.slow_threshold, Relaxed);
        s.open_initial.store(c.open_initial, Relaxed);
        s.open_max.store(c.open_max, Relaxed);
        s.half_open.store(c.half_open, Relaxed);
        s.critical.store(c.critical, Relaxed);
        s.min_calls_given.store(c.min_calls_given, Relaxed);
        // After the stores: a success may trip the breaker under new settings.
        self.window.settings_changed();
    }

    /// The slow-call duration in ticks, 0 when slow calls are not tracked.
    #[inline]
    pub(crate) fn slow(&self) -> u64 {
        self.settings.slow.load(Relaxed)
    }

    /// The window's shape now.
    pub(crate) fn window(&self) -> Spec {
        self.window.spec()
    }

    /// Changes the window's shape (already validated); nothing happens if it is the same.
    ///
    /// A new shape starts a fresh, empty window, as [`force`](Self::force) with `fresh` does,
    /// but keeps the state: an open breaker stays open with its deadline, a half-open one
    /// keeps its probe round, and the counters are kept. A closed (or metrics-only) breaker
    /// moves to a new generation of the same state, so a call admitted before the change
    /// that completes after it is counted but not recorded in the new window, and cannot
    /// trip it. In the other states no call records into the window, and the window is
    /// emptied again when the breaker closes.
    pub(crate) fn set_window(&self, spec: Spec) {
        if !self.window.reshape(spec) {
            return;
        }
        self.consecutive.0.store(0, Relaxed);
        // AcqRel: ordered with every transition by this one word; the new generation comes
        // after the new shape, so a call admitted in it (Acquire) records with that shape.
        let _ = self.word.0.fetch_update(AcqRel, Acquire, |w| {
            let w = Word(w);
            matches!(w.state(), State::Closed | State::MetricsOnly)
                .then(|| w.transition(w.state()).0)
        });
    }
}
