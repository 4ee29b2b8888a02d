//! The breaker's atomic core: the state machine over one packed state word, the window of
//! outcomes, the settings and the counters. Allocation-free, lock-free but for a count
//! window's lock (taken by failures, slow calls and reads, never by a plain success once the
//! window holds `min_calls` calls; see `window/count.rs`), and free of tokio:
//! time arrives as `u64` ticks (nanoseconds) through a closure, read only where the semantics
//! need it, so the core can be model-checked and the clock is never read on a closed count
//! window's success path.
//!
//! Every transition is one compare-and-swap on the state word, which also bumps its
//! generation. A call remembers the generation it was admitted in and records its outcome only
//! if that generation is still current, so a call admitted before a transition never pollutes
//! the new state's window or probe round.
//!
//! One concept to a file: [`settings`], the settings and the window's shape, changed at run
//! time; [`counters`], the lifetime counters and the snapshot; [`admit`], deciding whether a
//! call may run; [`complete`], recording how a call ended and tripping the breaker;
//! [`probe`], the half-open round; [`transitions`], publishing a transition and the manual
//! ones.

mod admit;
mod complete;
mod counters;
mod probe;
mod settings;
mod transitions;

#[cfg(all(test, resilience_loom))]
mod loom_tests;
#[cfg(all(test, not(resilience_loom)))]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests;

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use self::counters::Counters;
use self::settings::Settings;
use super::State;
use super::window::{Tally, Window};
use super::word::Word;
use crate::name::Name;
use crate::sync::{AtomicU32, AtomicU64, loom_const};

/// Rates are kept in hundredths of a percent: 5000 is 50%, 10000 is 100%.
pub(crate) const RATE_SCALE: u64 = 10_000;

/// Keeps the state word, read by every call, off the cache lines that calls write.
#[derive(Debug)]
#[repr(align(128))]
struct Padded<T>(T);

/// The settings a breaker is built with, as plain values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Failure rate that trips, in hundredths of a percent; unused when `consecutive_failures` is set.
    pub(crate) threshold: u32,
    /// Consecutive failures that trip; 0 = trip on the failure rate instead.
    pub(crate) consecutive_failures: u32,
    /// Calls the window must hold before a rate may trip (at most a count window's size).
    pub(crate) min_calls: u32,
    /// Whether `min_calls` was given, rather than the default that follows the window.
    pub(crate) min_calls_given: bool,
    /// A call taking at least this many ticks is slow; 0 = slow calls are not tracked.
    pub(crate) slow: u64,
    /// Slow-call rate that trips, in hundredths of a percent.
    pub(crate) slow_threshold: u32,
    /// The first open wait, in ticks.
    pub(crate) open_initial: u64,
    /// The longest open wait, in ticks (= `open_initial` for a fixed wait).
    pub(crate) open_max: u64,
    /// Probe calls a half-open breaker admits.
    pub(crate) half_open: u32,
    /// Whether an open breaker makes health "down".
    pub(crate) critical: bool,
}

/// How a call admitted by [`Core::acquire`] takes part in the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// A word, so a `Permit` (and the results and stages holding one) has no padding; see `Error`.
#[repr(u64)]
pub(crate) enum Role {
    /// Closed: recorded in the window, may trip the breaker.
    Closed,
    /// Metrics only: recorded in the window, never trips it.
    MetricsOnly,
    /// Half-open: holds one of the probe slots.
    Probe,
    /// Disabled: counted, not recorded.
    Disabled,
}

/// An admitted call: the state word it was admitted in, and its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Permit {
    word: Word,
    pub(crate) role: Role,
}

impl Permit {
    fn generation(self) -> u32 {
        self.word.generation()
    }
}

/// A rejected call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// Ticks until the open wait ends; `None` when no wait is known (forced open, half-open
    /// with every probe slot taken).
    pub(crate) retry_after: Option<u64>,
}

/// How an admitted call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// Neither success nor failure: frees a probe slot, is not recorded.
    Ignored,
    /// Dropped before completing: like `Ignored`, counted apart.
    Cancelled,
}

/// A consistent-enough picture of the core for metrics: each field is read once, in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) state: State,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) ignored: u64,
    pub(crate) rejections: u64,
    pub(crate) cancelled: u64,
    pub(crate) slow: u64,
    pub(crate) window: Tally,
    pub(crate) min_calls: u32,
    pub(crate) slow_tracked: bool,
    pub(crate) probes_in_flight: u32,
}

/// Whether `part` out of `whole` is at least `threshold` hundredths of a percent.
#[inline]
const fn reaches(part: u64, whole: u64, threshold: u32) -> bool {
    whole > 0 && part * RATE_SCALE >= threshold as u64 * whole
}

/// The circuit breaker's state machine and statistics.
#[derive(Debug)]
pub(crate) struct Core {
    name: Name,
    /// The packed state word ([`Word`]).
    word: Padded<AtomicU64>,
    /// When the current open wait ends, in ticks. Valid for the open state whose generation
    /// is in `open_generation`.
    open_deadline: AtomicU64,
    /// The generation of the open state that last published `open_deadline` and `open_wait`.
    open_generation: AtomicU32,
    /// The current open wait, in ticks: doubled (up to the maximum) each time a probe round
    /// re-opens the breaker, back to the initial wait each time it trips from closed.
    open_wait: AtomicU64,
    settings: Settings,
    /// Consecutive failures recorded in the closed state (consecutive-failures mode only).
    consecutive: Padded<AtomicU32>,
    window: Window,
    counters: Counters,
}

impl Core {
    loom_const! {
        pub(crate) const fn new(name: &'static str, config: Config, window: Window) -> Self {
            Core {
                name: Name::new(name),
                word: Padded(AtomicU64::new(Word::INITIAL.0)),
                open_deadline: AtomicU64::new(0),
                // No open state has published yet: matches no generation (they have 21 bits).
                open_generation: AtomicU32::new(u32::MAX),
                open_wait: AtomicU64::new(config.open_initial),
                settings: Settings::new(config),
                consecutive: Padded(AtomicU32::new(0)),
                window,
                counters: Counters::new(),
            }
        }
    }

    pub(crate) fn name(&self) -> &Name {
        &self.name
    }

    /// Reports as `name` from now on: a keyed family's child, made before it is shared.
    pub(crate) fn rename(&mut self, name: Name) {
        self.name = name;
    }

    pub(crate) fn is_critical(&self) -> bool {
        self.settings.critical.load(Relaxed)
    }

    /// The state as stored: an open breaker whose wait has passed still reads `Open` until a
    /// call arrives and turns it half-open.
    #[inline]
    pub(crate) fn state(&self) -> State {
        // Acquire: pairs with the transitions' Release, so what a transition prepared (a fresh
        // window, a published deadline) is visible to whoever sees its state.
        Word(self.word.0.load(Acquire)).state()
    }

    /// Until when an open breaker stays open, at `now`; `None` when it is not open. An open
    /// state whose opener has not published its deadline yet has just begun its whole wait.
    pub(crate) fn open_until(&self, now: u64) -> Option<u64> {
        // Acquire: see `state`.
        let word = Word(self.word.0.load(Acquire));
        if word.state() != State::Open {
            return None;
        }
        // Acquire: pairs with the opener's Release, making its deadline visible.
        if self.open_generation.load(Acquire) != word.generation() {
            return Some(now.saturating_add(self.open_wait.load(Relaxed)));
        }
        Some(self.open_deadline.load(Relaxed))
    }
}
