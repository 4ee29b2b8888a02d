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

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use super::State;
use super::window::{Active, Recorded, Spec, Tally, Window};
use super::word::Word;
use crate::event::{EventKind, PolicyKind, emit};
use crate::name::Name;
use crate::per_thread;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, loom_const};

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

/// The settings, in atomics so a breaker can be reconfigured later without a lock. Every read
/// is `Relaxed`: a setting is an independent value, and a call that sees the old one is as
/// correct as one that ran a moment earlier.
#[derive(Debug)]
struct Settings {
    threshold: AtomicU32,
    consecutive_failures: AtomicU32,
    min_calls: AtomicU32,
    slow: AtomicU64,
    slow_threshold: AtomicU32,
    open_initial: AtomicU64,
    open_max: AtomicU64,
    half_open: AtomicU32,
    critical: AtomicBool,
    /// Read only by `settings()`: whether `min_calls` follows the window (see `Config`).
    min_calls_given: AtomicBool,
}

impl Settings {
    loom_const! {
        const fn new(c: Config) -> Self {
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

/// Lifetime counters. `Relaxed`: each is an independent statistic. Successes recorded in the
/// window are not counted here but derived from the window's lifetime total, so a success
/// writes no counter.
#[derive(Debug)]
struct Counters {
    /// Successes not recorded in the window (probes, disabled state, stale generation).
    successes_unwindowed: AtomicU64,
    /// Failures recorded in the window.
    failures_windowed: AtomicU64,
    /// Failures not recorded in the window.
    failures_unwindowed: AtomicU64,
    ignored: AtomicU64,
    /// Per thread: an open breaker's rejection writes no shared line. A running total; a reset
    /// moves `rejections_before` up to it instead of zeroing it.
    rejections: per_thread::Counter,
    rejections_before: AtomicU64,
    cancelled: AtomicU64,
    slow: AtomicU64,
}

impl Counters {
    loom_const! {
        const fn new() -> Self {
            Counters {
                successes_unwindowed: AtomicU64::new(0),
                failures_windowed: AtomicU64::new(0),
                failures_unwindowed: AtomicU64::new(0),
                ignored: AtomicU64::new(0),
                rejections: per_thread::Counter::new(),
                rejections_before: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            }
        }
    }

    fn reset(&self) {
        for c in [
            &self.successes_unwindowed,
            &self.failures_windowed,
            &self.failures_unwindowed,
            &self.ignored,
            &self.cancelled,
            &self.slow,
        ] {
            c.store(0, Relaxed);
        }
        self.rejections_before.store(self.rejections.sum(), Relaxed);
    }

    fn rejections(&self) -> u64 {
        // Saturating: a read racing a reset may see the new base with an older sum.
        self.rejections
            .sum()
            .saturating_sub(self.rejections_before.load(Relaxed))
    }
}

/// What a completed call's trip check reads.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// What the count window held right after the call's record, read under its lock.
    Tallied(Tally),
    /// The window as it is now (a time window: its buckets are read at the check's time).
    ReadWindow,
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

/// What a round of probes has decided so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pending,
    Close,
    Reopen,
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

    pub(crate) fn is_critical(&self) -> bool {
        self.settings.critical.load(Relaxed)
    }

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

    /// The state as stored: an open breaker whose wait has passed still reads `Open` until a
    /// call arrives and turns it half-open.
    #[inline]
    pub(crate) fn state(&self) -> State {
        // Acquire: pairs with the transitions' Release, so what a transition prepared (a fresh
        // window, a published deadline) is visible to whoever sees its state.
        Word(self.word.0.load(Acquire)).state()
    }

    /// Decides whether a call may run. Reads the clock (`now`) only in the open state.
    #[inline]
    pub(crate) fn acquire(&self, now: impl FnMut() -> u64) -> Result<Permit, Rejected> {
        // Acquire: see `state`.
        let word = Word(self.word.0.load(Acquire));
        if word.is_closed() {
            return Ok(Permit {
                word,
                role: Role::Closed,
            });
        }
        self.acquire_not_closed(word, now)
    }

    fn acquire_not_closed(
        &self,
        mut word: Word,
        mut now: impl FnMut() -> u64,
    ) -> Result<Permit, Rejected> {
        loop {
            let generation = word.generation();
            let role = match word.state() {
                State::Closed => Role::Closed,
                State::MetricsOnly => Role::MetricsOnly,
                State::Disabled => Role::Disabled,
                State::ForcedOpen => return Err(self.reject(None)),
                State::Open => {
                    // Acquire: pairs with the opener's Release, making its deadline visible.
                    if self.open_generation.load(Acquire) != generation {
                        // The opener has not published its deadline yet: the wait just began.
                        return Err(self.reject(Some(self.open_wait.load(Relaxed))));
                    }
                    let deadline = self.open_deadline.load(Relaxed);
                    let t = now();
                    if t < deadline {
                        return Err(self.reject(Some(deadline - t)));
                    }
                    // The wait is over: this call turns the breaker half-open and is its first probe.
                    let next = word.transition(State::HalfOpen).with_taken(1);
                    // AcqRel: one winner per open state; it publishes the half-open round.
                    match self
                        .word
                        .0
                        .compare_exchange(word.0, next.0, AcqRel, Acquire)
                    {
                        Ok(_) => {
                            self.transitioned(State::Open, State::HalfOpen);
                            return Ok(Permit {
                                word: next,
                                role: Role::Probe,
                            });
                        }
                        Err(seen) => {
                            word = Word(seen);
                            continue;
                        }
                    }
                }
                State::HalfOpen => {
                    if word.taken() >= self.settings.half_open.load(Relaxed) {
                        return Err(self.reject(None));
                    }
                    let next = word.with_taken(word.taken() + 1);
                    // AcqRel: taking a slot is one CAS against completions and transitions.
                    match self
                        .word
                        .0
                        .compare_exchange_weak(word.0, next.0, AcqRel, Acquire)
                    {
                        Ok(_) => {
                            return Ok(Permit {
                                word: next,
                                role: Role::Probe,
                            });
                        }
                        Err(seen) => {
                            word = Word(seen);
                            continue;
                        }
                    }
                }
            };
            return Ok(Permit { word, role });
        }
    }

    #[cold]
    fn reject(&self, retry_after: Option<u64>) -> Rejected {
        self.counters.rejections.add(1);
        Rejected { retry_after }
    }

    /// Records how an admitted call ended. `slow` only counts for a success or a failure.
    /// Reads the clock (`now`) only for a time window, or to start an open wait.
    #[inline]
    pub(crate) fn complete(
        &self,
        permit: Permit,
        outcome: Outcome,
        slow: bool,
        mut now: impl FnMut() -> u64,
    ) {
        let recorded = matches!(outcome, Outcome::Success | Outcome::Failure);
        if recorded && matches!(permit.role, Role::Closed | Role::MetricsOnly) {
            if slow {
                self.counters.slow.fetch_add(1, Relaxed);
            }
            self.complete_closed(permit, outcome == Outcome::Failure, slow, &mut now);
        } else {
            self.complete_other(permit, outcome, slow && recorded, &mut now);
        }
    }

    /// The success of a call admitted closed when slow calls are not tracked (`slow` was 0
    /// when read by the caller): the path nearly every call takes, with the outcome and the
    /// slowness known, so nothing tests them again. Same effect as
    /// `complete(permit, Outcome::Success, false, now)` with slow calls untracked.
    /// `false`: the permit is not a closed one; nothing was done, call [`complete`](Self::complete).
    #[inline]
    pub(crate) fn complete_closed_success(
        &self,
        permit: Permit,
        mut now: impl FnMut() -> u64,
    ) -> bool {
        if permit.role != Role::Closed {
            return false;
        }
        // Inline, the common case of `complete_closed`: the same generation, no run of
        // consecutive failures to end, and a count window that holds `min_calls`.
        // Acquire: see `complete_closed`.
        if Word(self.word.0.load(Acquire)) == permit.word
            && let Some(w) = self.window.fast_lane()
        {
            w.count_success();
            return true;
        }
        self.complete_closed(permit, false, false, &mut now);
        true
    }

    /// Every completion but a closed call's success or failure.
    #[inline(never)]
    fn complete_other(
        &self,
        permit: Permit,
        outcome: Outcome,
        slow: bool,
        now: &mut impl FnMut() -> u64,
    ) {
        if slow {
            self.counters.slow.fetch_add(1, Relaxed);
        }
        match outcome {
            Outcome::Ignored => {
                self.counters.ignored.fetch_add(1, Relaxed);
            }
            Outcome::Cancelled => {
                self.counters.cancelled.fetch_add(1, Relaxed);
            }
            Outcome::Success | Outcome::Failure => {}
        }
        match permit.role {
            Role::Probe => {
                self.count_unwindowed(outcome);
                self.complete_probe(permit.generation(), outcome, slow, now);
            }
            Role::Disabled => self.count_unwindowed(outcome),
            // A closed call ignored or cancelled: counted above, nothing to record.
            Role::Closed | Role::MetricsOnly => {}
        }
    }

    #[inline]
    fn count_unwindowed(&self, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.counters.successes_unwindowed.fetch_add(1, Relaxed),
            Outcome::Failure => self.counters.failures_unwindowed.fetch_add(1, Relaxed),
            Outcome::Ignored | Outcome::Cancelled => return,
        };
    }

    /// A success or failure of a call admitted closed (or metrics-only).
    #[inline]
    fn complete_closed(
        &self,
        permit: Permit,
        failed: bool,
        slow: bool,
        now: &mut impl FnMut() -> u64,
    ) {
        // Acquire: see `state`. A closed or metrics-only word holds no tallies, so any change
        // is a transition: the breaker moved on without this call.
        let word = Word(self.word.0.load(Acquire));
        if word != permit.word {
            self.count_unwindowed(if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            });
            return;
        }
        let consecutive_limit = self.settings.consecutive_failures.load(Relaxed);
        let mut consecutive = 0;
        if consecutive_limit != 0 {
            // Relaxed: a counter of its own; a success only writes it when there is a run to end.
            if failed {
                consecutive = self.consecutive.0.fetch_add(1, Relaxed) + 1;
            } else if self.consecutive.0.load(Relaxed) != 0 {
                self.consecutive.0.store(0, Relaxed);
            }
        }
        let check = match self.window.active() {
            Active::Count(w, ring) => {
                if failed || slow || !w.is_filled() {
                    // Under the window's lock. A success checks when it completes `min_calls`.
                    w.record_then(
                        ring,
                        failed,
                        slow,
                        || self.settings.min_calls.load(Relaxed),
                        // Under the window's lock, after any change of settings' stores.
                        || {
                            if self.settings.consecutive_failures.load(Relaxed) == 0 {
                                self.window.open_lane(w);
                            }
                        },
                    )
                    .map(Check::Tallied)
                } else {
                    // Once the window holds `min_calls`, a plain success only lowers the rates:
                    // it adds 1 on a cache line this thread owns, and checks nothing.
                    w.count_success();
                    None
                }
            }
            Active::Time(w, span) => match w.record(span, now(), failed, slow) {
                // Buckets expire, so any call may be the one that completes `min_calls`.
                Recorded::Yes => Some(Check::ReadWindow),
                // Too late for the window, or its bucket is full: counted beside it.
                Recorded::Expired | Recorded::Full => {
                    self.count_unwindowed(if failed {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    });
                    return;
                }
            },
        };
        if failed {
            self.counters.failures_windowed.fetch_add(1, Relaxed);
        }
        if let Some(check) = check
            && permit.role == Role::Closed
        {
            self.check_trip(word, check, consecutive, consecutive_limit, now);
        }
    }

    /// Trips the breaker if the window (or the run of consecutive failures) says so.
    #[inline(never)]
    fn check_trip(
        &self,
        word: Word,
        check: Check,
        consecutive: u32,
        consecutive_limit: u32,
        now: &mut impl FnMut() -> u64,
    ) {
        let s = &self.settings;
        let tally = match check {
            // Read by the record, under the window's lock, which every outcome that can raise
            // a rate also takes (failures, slow calls, and successes while the window fills
            // to `min_calls`): of two calls recording at once, the later to take the lock
            // reads both outcomes, so a rate the two reach together trips. (This replaces a
            // SeqCst fence that the count window needed when its records were lock-free
            // atomics.)
            Check::Tallied(tally) => tally,
            Check::ReadWindow => match self.window.active() {
                Active::Count(w, ring) => w.tally(ring),
                Active::Time(w, span) => w.tally(span, now()),
            },
        };
        let ready = tally.calls >= s.min_calls.load(Relaxed) as u64;
        let failures = if consecutive_limit != 0 {
            consecutive >= consecutive_limit
        } else {
            ready && reaches(tally.failures, tally.calls, s.threshold.load(Relaxed))
        };
        let slow = self.slow() != 0
            && ready
            && reaches(tally.slow, tally.calls, s.slow_threshold.load(Relaxed));
        if !(failures || slow) {
            return;
        }
        let next = word.transition(State::Open);
        // AcqRel: only one call trips a given closed state; a stale word (another generation)
        // fails here, so a late failure cannot re-trip a breaker that moved on.
        if self
            .word
            .0
            .compare_exchange(word.0, next.0, AcqRel, Relaxed)
            .is_ok()
        {
            let wait = s.open_initial.load(Relaxed);
            self.publish_open(next, wait, now());
            self.transitioned(State::Closed, State::Open);
        }
    }

    /// The winner of a transition to open publishes the wait it starts.
    fn publish_open(&self, word: Word, wait: u64, now: u64) {
        self.open_wait.store(wait, Relaxed);
        self.open_deadline.store(now.saturating_add(wait), Relaxed);
        // Release: publishes the wait and deadline above to whoever reads this generation.
        self.open_generation.store(word.generation(), Release);
    }

    fn verdict(&self, w: Word) -> Verdict {
        let s = &self.settings;
        let probes = s.half_open.load(Relaxed) as u64;
        // Failed probes reach the threshold even if every remaining one succeeds: re-open now.
        let failures = if s.consecutive_failures.load(Relaxed) != 0 {
            w.failed() > 0
        } else {
            reaches(w.failed() as u64, probes, s.threshold.load(Relaxed))
        };
        let slow =
            self.slow() != 0 && reaches(w.slow() as u64, probes, s.slow_threshold.load(Relaxed));
        if failures || slow {
            Verdict::Reopen
        } else if (w.succeeded() + w.failed()) as u64 >= probes {
            Verdict::Close
        } else {
            Verdict::Pending
        }
    }

    /// A probe ended: tally it, and close or re-open the breaker when the round has decided.
    fn complete_probe(
        &self,
        generation: u32,
        outcome: Outcome,
        slow: bool,
        now: &mut impl FnMut() -> u64,
    ) {
        // Acquire: see `state`.
        let mut word = Word(self.word.0.load(Acquire));
        loop {
            if word.state() != State::HalfOpen || word.generation() != generation {
                return; // The round this probe belonged to is over.
            }
            let next = match outcome {
                // Neutral: the slot goes back, another probe may take it.
                Outcome::Ignored | Outcome::Cancelled => {
                    word.with_taken(word.taken().saturating_sub(1))
                }
                Outcome::Success | Outcome::Failure => {
                    let mut w = if outcome == Outcome::Failure {
                        word.with_failed(word.failed() + 1)
                    } else {
                        word.with_succeeded(word.succeeded() + 1)
                    };
                    if slow {
                        w = w.with_slow(w.slow() + 1);
                    }
                    match self.verdict(w) {
                        Verdict::Pending => w,
                        Verdict::Close => {
                            // Fresh before anyone can see the closed state.
                            self.clear_window();
                            word.transition(State::Closed)
                        }
                        Verdict::Reopen => word.transition(State::Open),
                    }
                }
            };
            // AcqRel: tallies and the verdict change in one step, so exactly one probe decides.
            match self
                .word
                .0
                .compare_exchange_weak(word.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => {
                    match next.state() {
                        State::Open => {
                            let max = self.settings.open_max.load(Relaxed);
                            let wait = self.open_wait.load(Relaxed).saturating_mul(2).min(max);
                            self.publish_open(next, wait, now());
                            self.transitioned(State::HalfOpen, State::Open);
                        }
                        State::Closed => self.transitioned(State::HalfOpen, State::Closed),
                        _ => {}
                    }
                    return;
                }
                Err(seen) => word = Word(seen),
            }
        }
    }

    fn clear_window(&self) {
        self.consecutive.0.store(0, Relaxed);
        self.window.clear();
    }

    fn transitioned(&self, from: State, to: State) {
        emit(
            &self.name,
            PolicyKind::CircuitBreaker,
            EventKind::StateTransition { from, to },
        );
    }

    /// Sets the state by hand. `fresh` empties the window first (and moves to a new generation
    /// even if the state does not change, so calls in flight do not record into it).
    pub(crate) fn force(&self, to: State, fresh: bool) {
        if fresh {
            self.clear_window();
        }
        // AcqRel: a manual transition is ordered with every automatic one by this one word.
        let result = self.word.0.fetch_update(AcqRel, Acquire, |w| {
            let w = Word(w);
            (fresh || w.state() != to).then(|| w.transition(to).0)
        });
        if let Ok(previous) = result {
            let from = Word(previous).state();
            if from != to {
                self.transitioned(from, to);
            }
        }
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

    /// Back to closed with an empty window and every counter at zero.
    pub(crate) fn reset(&self) {
        self.consecutive.0.store(0, Relaxed);
        self.window.reset();
        self.counters.reset();
        self.force(State::Closed, false);
    }

    /// The counters and the window's rates. Reads the clock (`now`) for a time window only.
    pub(crate) fn snapshot(&self, now: impl FnMut() -> u64) -> Snapshot {
        let word = Word(self.word.0.load(Acquire));
        let (window, lifetime) = (self.window.tally(now), self.window.lifetime_calls());
        let c = &self.counters;
        let failures_windowed = c.failures_windowed.load(Relaxed);
        Snapshot {
            state: word.state(),
            successes: lifetime.saturating_sub(failures_windowed)
                + c.successes_unwindowed.load(Relaxed),
            failures: failures_windowed + c.failures_unwindowed.load(Relaxed),
            ignored: c.ignored.load(Relaxed),
            rejections: c.rejections(),
            cancelled: c.cancelled.load(Relaxed),
            slow: c.slow.load(Relaxed),
            window,
            min_calls: self.settings.min_calls.load(Relaxed),
            slow_tracked: self.slow() != 0,
            probes_in_flight: if word.state() == State::HalfOpen {
                word.in_flight()
            } else {
                0
            },
        }
    }
}

#[cfg(all(test, not(resilience_loom)))]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_permit_is_its_two_words_without_padding() {
        use std::mem::size_of;
        // The fields fill the struct: no padding after the role for a move of an admission's
        // result to copy in pieces (see `Error`).
        assert_eq!(size_of::<Permit>(), size_of::<Word>() + size_of::<Role>());
        assert_eq!(size_of::<Permit>(), 2 * size_of::<u64>());
        assert_eq!(
            size_of::<Result<(Permit, u64), crate::Error>>(),
            size_of::<crate::Error>()
        );
    }

    fn config() -> Config {
        Config {
            threshold: 5000,
            consecutive_failures: 0,
            min_calls: 4,
            slow: 0,
            slow_threshold: 5000,
            open_initial: 10 * SECOND,
            open_max: 10 * SECOND,
            half_open: 2,
            critical: false,
            min_calls_given: true,
        }
    }

    fn count_core(config: Config, size: u32) -> Core {
        Core::new("core", config, Window::new(Spec::Calls(size)))
    }

    fn at(t: u64) -> impl FnMut() -> u64 {
        move || t
    }

    fn never() -> impl FnMut() -> u64 {
        || panic!("the clock must not be read here")
    }

    fn run(core: &Core, outcome: Outcome, t: u64) -> Result<Permit, Rejected> {
        let permit = core.acquire(at(t))?;
        core.complete(permit, outcome, false, at(t));
        Ok(permit)
    }

    #[test]
    fn closed_count_window_success_reads_no_clock() {
        let core = count_core(config(), 10);
        for _ in 0..20 {
            let permit = core.acquire(never()).unwrap();
            core.complete(permit, Outcome::Success, false, never());
        }
        assert_eq!(core.snapshot(never()).successes, 20);
    }

    #[test]
    fn trips_at_the_threshold_once_min_calls_are_in() {
        let core = count_core(config(), 10);
        run(&core, Outcome::Failure, 1).unwrap();
        run(&core, Outcome::Failure, 1).unwrap();
        run(&core, Outcome::Success, 1).unwrap();
        assert_eq!(core.state(), State::Closed);
        // The fourth call completes min_calls with 2 of 4 failed: 50% trips.
        run(&core, Outcome::Success, 1).unwrap();
        assert_eq!(core.state(), State::Open);
        assert_eq!(
            core.acquire(at(SECOND + 1)),
            Err(Rejected {
                retry_after: Some(9 * SECOND)
            })
        );
    }

    #[test]
    fn open_turns_half_open_on_the_first_call_after_the_wait() {
        let core = count_core(
            Config {
                consecutive_failures: 1,
                ..config()
            },
            10,
        );
        run(&core, Outcome::Failure, 1).unwrap();
        assert_eq!(core.state(), State::Open);
        let probe = core.acquire(at(10 * SECOND + 1)).unwrap();
        assert_eq!(probe.role, Role::Probe);
        assert_eq!(core.state(), State::HalfOpen);
        let second = core.acquire(at(10 * SECOND + 1)).unwrap();
        assert_eq!(
            core.acquire(at(10 * SECOND + 1)),
            Err(Rejected { retry_after: None })
        );
        core.complete(probe, Outcome::Success, false, never());
        assert_eq!(core.state(), State::HalfOpen);
        core.complete(second, Outcome::Success, false, never());
        assert_eq!(core.state(), State::Closed);
    }

    #[test]
    fn a_call_from_an_old_generation_does_not_record_into_the_new_window() {
        let core = count_core(config(), 10);
        let old = core.acquire(never()).unwrap();
        core.force(State::Closed, true);
        core.complete(old, Outcome::Failure, false, never());
        let s = core.snapshot(never());
        assert_eq!((s.window.calls, s.failures), (0, 1));
    }

    #[test]
    fn a_neutral_probe_gives_its_slot_back() {
        let core = count_core(
            Config {
                consecutive_failures: 1,
                half_open: 1,
                ..config()
            },
            10,
        );
        run(&core, Outcome::Failure, 1).unwrap();
        let probe = core.acquire(at(11 * SECOND)).unwrap();
        assert!(core.acquire(at(11 * SECOND)).is_err());
        core.complete(probe, Outcome::Cancelled, false, never());
        assert_eq!(core.snapshot(never()).probes_in_flight, 0);
        let probe = core.acquire(at(11 * SECOND)).unwrap();
        core.complete(probe, Outcome::Ignored, false, never());
        let probe = core.acquire(at(11 * SECOND)).unwrap();
        core.complete(probe, Outcome::Success, false, never());
        assert_eq!(core.state(), State::Closed);
    }

    #[test]
    fn a_failed_round_doubles_the_wait_up_to_the_cap() {
        let config = Config {
            consecutive_failures: 1,
            half_open: 1,
            open_max: 25 * SECOND,
            ..config()
        };
        let core = count_core(config, 10);
        run(&core, Outcome::Failure, 1).unwrap();
        let mut t = 1;
        for wait in [10, 20, 25, 25] {
            assert_eq!(
                core.acquire(at(t)),
                Err(Rejected {
                    retry_after: Some(wait * SECOND)
                })
            );
            t += wait * SECOND;
            run(&core, Outcome::Failure, t).unwrap();
            assert_eq!(core.state(), State::Open);
        }
    }

    #[test]
    fn time_window_trips_on_a_success_that_completes_min_calls() {
        let core = Core::new("core", config(), Window::new(Spec::Time(10 * SECOND)));
        for _ in 0..3 {
            run(&core, Outcome::Failure, SECOND).unwrap();
        }
        assert_eq!(core.state(), State::Closed);
        run(&core, Outcome::Success, 2 * SECOND).unwrap();
        assert_eq!(core.state(), State::Open);
    }

    #[test]
    fn counters_add_up_across_states() {
        let core = count_core(
            Config {
                consecutive_failures: 2,
                half_open: 1,
                ..config()
            },
            10,
        );
        run(&core, Outcome::Success, 1).unwrap();
        run(&core, Outcome::Ignored, 1).unwrap();
        let cancelled = core.acquire(at(1)).unwrap();
        core.complete(cancelled, Outcome::Cancelled, false, never());
        run(&core, Outcome::Failure, 1).unwrap();
        run(&core, Outcome::Failure, 1).unwrap();
        assert!(run(&core, Outcome::Success, 2).is_err());
        run(&core, Outcome::Success, 20 * SECOND).unwrap();
        let s = core.snapshot(never());
        assert_eq!(s.state, State::Closed);
        assert_eq!(
            (
                s.successes,
                s.failures,
                s.ignored,
                s.rejections,
                s.cancelled
            ),
            (2, 2, 1, 1, 1)
        );
        core.reset();
        let s = core.snapshot(never());
        assert_eq!(
            (
                s.successes,
                s.failures,
                s.ignored,
                s.rejections,
                s.cancelled
            ),
            (0, 0, 0, 0, 0)
        );
    }
}

/// Model checks of the state machine (`--cfg resilience_loom`; see `.ci/run`): every
/// interleaving of a few concurrent calls, including stale reads of the `Relaxed` atomics.
#[cfg(all(test, resilience_loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// The open wait, in ticks.
    const WAIT: u64 = 10;

    /// Trips at a failure rate of `threshold` (hundredths of a percent) over at least
    /// `min_calls` calls; one probe.
    fn rate(threshold: u32, min_calls: u32) -> Config {
        Config {
            threshold,
            consecutive_failures: 0,
            min_calls,
            ..consecutive(1)
        }
    }

    fn consecutive(half_open: u32) -> Config {
        Config {
            threshold: 5000,
            consecutive_failures: 1,
            min_calls: 1,
            slow: 0,
            slow_threshold: 5000,
            open_initial: WAIT,
            open_max: 4 * WAIT,
            half_open,
            critical: false,
            min_calls_given: true,
        }
    }

    fn breaker(config: Config) -> Arc<Core> {
        Arc::new(Core::new("loom", config, Window::new(Spec::Calls(4))))
    }

    fn word(core: &Core) -> Word {
        Word(core.word.0.load(Acquire))
    }

    fn at(t: u64) -> impl FnMut() -> u64 {
        move || t
    }

    /// One call of a closed breaker at tick 1, completed with `outcome`.
    fn record(core: &Core, outcome: Outcome) {
        let permit = core.acquire(at(1)).expect("closed");
        core.complete(permit, outcome, false, at(1));
    }

    /// Trips the breaker at tick 1: it is open (generation 1) until tick `1 + WAIT`.
    fn trip(core: &Core) {
        let permit = core.acquire(at(1)).expect("a closed breaker admits");
        core.complete(permit, Outcome::Failure, false, at(1));
        assert_eq!(core.state(), State::Open);
    }

    /// One call per outcome, each on its own thread, all at tick 1: each is admitted or
    /// rejected, and an admitted one completes with its outcome.
    fn calls_at_once(core: &Arc<Core>, outcomes: [Outcome; 2]) {
        let threads: Vec<_> = outcomes
            .into_iter()
            .map(|outcome| {
                let core = core.clone();
                thread::spawn(move || {
                    if let Ok(permit) = core.acquire(at(1)) {
                        core.complete(permit, outcome, false, at(1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
    }

    /// Trips the breaker and turns it half-open with `probes` probe slots taken.
    fn half_open_with(core: &Core, probes: u32) -> Vec<Permit> {
        trip(core);
        (0..probes)
            .map(|_| core.acquire(at(1 + WAIT)).expect("a probe slot is free"))
            .collect()
    }

    #[test]
    fn loom_concurrent_failures_trip_the_breaker_exactly_once() {
        loom::model(|| {
            let core = breaker(consecutive(1));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let core = core.clone();
                    thread::spawn(move || match core.acquire(at(1)) {
                        Ok(permit) => core.complete(permit, Outcome::Failure, false, at(1)),
                        Err(rejected) => assert_eq!(rejected.retry_after, Some(WAIT)),
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("no panic");
            }
            let w = word(&core);
            assert_eq!((w.state(), w.generation()), (State::Open, 1));
            assert_eq!(core.open_generation.load(Acquire), 1);
            assert_eq!(core.open_deadline.load(Relaxed), 1 + WAIT);
            let s = core.snapshot(at(1));
            assert_eq!(s.failures + s.rejections, 2);
        });
    }

    #[test]
    fn loom_a_rate_reaching_the_threshold_trips_even_when_its_calls_race() {
        loom::model(|| {
            // Both calls must fail for the rate (100% of 2) to trip.
            let core = breaker(rate(10_000, 2));
            // Neither can be rejected: one failure cannot trip before `min_calls`.
            calls_at_once(&core, [Outcome::Failure, Outcome::Failure]);
            assert_eq!(core.state(), State::Open);
        });
    }

    /// The success that completes `min_calls` checks for a trip as a failure does: racing a
    /// failure, whichever records second sees a rate of 50% over 2 calls and trips.
    #[test]
    fn loom_the_success_completing_min_calls_trips_when_it_races_a_failure() {
        loom::model(|| {
            let core = breaker(rate(5000, 2));
            calls_at_once(&core, [Outcome::Failure, Outcome::Success]);
            assert_eq!(core.state(), State::Open);
            let s = core.snapshot(at(1));
            // Both were admitted: neither call alone reaches `min_calls`.
            assert_eq!((s.successes, s.failures, s.rejections), (1, 1, 0));
        });
    }

    /// Once the window holds `min_calls`, successes skip its lock. A failure racing such a
    /// success counts it or not (either order is a valid history), and trips if the rate it
    /// then reads reaches the threshold: with 25%, both [S F] and [S S F] trip.
    #[test]
    fn loom_a_success_without_the_lock_racing_a_failure_is_counted_once_and_the_failure_trips() {
        loom::model(|| {
            let core = breaker(rate(2500, 1));
            let first = core.acquire(at(1)).expect("closed");
            core.complete(first, Outcome::Success, false, at(1));
            // The success may come after the trip, and be rejected.
            calls_at_once(&core, [Outcome::Failure, Outcome::Success]);
            assert_eq!(core.state(), State::Open);
            let s = core.snapshot(at(1));
            assert_eq!(s.failures, 1);
            assert_eq!(s.successes + s.rejections, 2);
        });
    }

    /// A plain success of a filled window skips its lock (the fast lane); a change of settings
    /// closes the lane, so some success after it checks for a trip under the new threshold,
    /// whichever way it races the change.
    #[test]
    fn loom_a_change_of_settings_racing_a_plain_success_closes_the_fast_lane() {
        loom::model(|| {
            let core = breaker(rate(5000, 2));
            for outcome in [
                Outcome::Success,
                Outcome::Success,
                Outcome::Success,
                Outcome::Failure,
            ] {
                record(&core, outcome);
            }
            assert_eq!(core.state(), State::Closed); // 25% failed, below 50%
            let success = |core: &Core| {
                if let Ok(permit) = core.acquire(at(1)) {
                    assert!(core.complete_closed_success(permit, at(1)));
                }
            };
            let changer = {
                let core = core.clone();
                thread::spawn(move || {
                    core.set_config(Config {
                        threshold: 2500,
                        ..rate(5000, 2)
                    })
                })
            };
            let racer = {
                let core = core.clone();
                thread::spawn(move || success(&core))
            };
            changer.join().expect("no panic");
            racer.join().expect("no panic");
            success(&core);
            // The window still holds one failure in 4: at the new threshold of 25%.
            assert_eq!(core.state(), State::Open);
        });
    }

    /// The lane opens when the window becomes filled, only if consecutive failures are not
    /// counted; turning them on races that opening, and whichever way it goes, the lane is
    /// closed once both are done.
    #[test]
    fn loom_turning_on_consecutive_failures_racing_the_filling_success_leaves_the_lane_closed() {
        loom::model(|| {
            let core = breaker(rate(5000, 4));
            for _ in 0..3 {
                record(&core, Outcome::Success);
            }
            assert!(core.window.fast_lane().is_none()); // 3 of `min_calls` 4
            let changer = {
                let core = core.clone();
                thread::spawn(move || {
                    core.set_config(Config {
                        consecutive_failures: 2,
                        ..rate(5000, 4)
                    });
                })
            };
            let filler = {
                let core = core.clone();
                thread::spawn(move || record(&core, Outcome::Success))
            };
            changer.join().expect("no panic");
            filler.join().expect("no panic");
            assert!(core.window.fast_lane().is_none());
        });
    }

    #[test]
    fn loom_a_caller_that_sees_the_breaker_open_sees_its_deadline() {
        loom::model(|| {
            let core = breaker(consecutive(1));
            let tripper = {
                let core = core.clone();
                thread::spawn(move || trip(&core))
            };
            // Tick 5 is inside the wait: whatever this call sees, it must not turn the breaker
            // half-open (as it would if it read the open state but not its deadline).
            match core.acquire(at(5)) {
                Ok(permit) => {
                    assert_eq!(permit.role, Role::Closed);
                    core.complete(permit, Outcome::Success, false, at(5));
                }
                // The deadline is published (1 + WAIT - 5), or not yet (the whole wait).
                Err(rejected) => assert!(
                    matches!(rejected.retry_after, Some(r) if r == WAIT - 4 || r == WAIT),
                    "{rejected:?}"
                ),
            }
            tripper.join().expect("no panic");
            assert_eq!(core.state(), State::Open);
        });
    }

    #[test]
    fn loom_half_open_admits_exactly_the_probe_limit() {
        loom::model(|| {
            let core = breaker(consecutive(2));
            trip(&core);
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let core = core.clone();
                    thread::spawn(move || core.acquire(at(1 + WAIT)))
                })
                .collect();
            let results: Vec<_> = threads
                .into_iter()
                .map(|t| t.join().expect("no panic"))
                .collect();
            let probes = results
                .iter()
                .filter(|r| matches!(r, Ok(p) if p.role == Role::Probe))
                .count();
            assert_eq!(probes, 2, "{results:?}");
            assert!(results.contains(&Err(Rejected { retry_after: None })));
            let w = word(&core);
            // One transition from open: generation 1 was the trip.
            assert_eq!(
                (w.state(), w.generation(), w.taken()),
                (State::HalfOpen, 2, 2)
            );
        });
    }

    #[test]
    fn loom_concurrent_probe_successes_close_the_breaker_exactly_once() {
        loom::model(|| {
            let core = breaker(consecutive(2));
            let probes = half_open_with(&core, 2);
            let threads: Vec<_> = probes
                .into_iter()
                .map(|probe| {
                    let core = core.clone();
                    thread::spawn(move || {
                        core.complete(probe, Outcome::Success, false, at(1 + WAIT))
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("no panic");
            }
            let w = word(&core);
            assert_eq!((w.state(), w.generation()), (State::Closed, 3));
            assert_eq!(core.snapshot(at(1 + WAIT)).successes, 2);
        });
    }

    #[test]
    fn loom_a_failed_probe_racing_a_successful_one_reopens_once_with_the_doubled_wait() {
        loom::model(|| {
            let core = breaker(consecutive(2));
            let probes = half_open_with(&core, 2);
            let threads: Vec<_> = probes
                .into_iter()
                .zip([Outcome::Success, Outcome::Failure])
                .map(|(probe, outcome)| {
                    let core = core.clone();
                    thread::spawn(move || core.complete(probe, outcome, false, at(1 + WAIT)))
                })
                .collect();
            for t in threads {
                t.join().expect("no panic");
            }
            let w = word(&core);
            assert_eq!((w.state(), w.generation()), (State::Open, 3));
            assert_eq!(core.open_generation.load(Acquire), 3);
            assert_eq!(core.open_wait.load(Relaxed), 2 * WAIT);
            assert_eq!(core.open_deadline.load(Relaxed), 1 + 3 * WAIT);
        });
    }

    #[test]
    fn loom_a_cancelled_probe_frees_its_slot_and_never_more_than_the_limit_run() {
        loom::model(|| {
            let core = breaker(consecutive(1));
            let probe = half_open_with(&core, 1).remove(0);
            let canceller = {
                let core = core.clone();
                thread::spawn(move || core.complete(probe, Outcome::Cancelled, false, at(1)))
            };
            let newcomer = core.acquire(at(1 + WAIT));
            canceller.join().expect("no panic");
            let w = word(&core);
            assert_eq!(w.state(), State::HalfOpen);
            match newcomer {
                // It took the freed slot: one probe in flight, as before.
                Ok(permit) => {
                    assert_eq!(permit.role, Role::Probe);
                    assert_eq!((w.taken(), w.in_flight()), (1, 1));
                }
                // It came before the slot was freed.
                Err(rejected) => {
                    assert_eq!(rejected.retry_after, None);
                    assert_eq!((w.taken(), w.in_flight()), (0, 0));
                }
            }
            assert_eq!(core.snapshot(at(1)).cancelled, 1);
        });
    }

    #[test]
    fn loom_a_late_failure_from_the_closed_state_does_not_disturb_the_probe_round() {
        loom::model(|| {
            let core = breaker(consecutive(1));
            // Admitted while closed, still running when another call trips the breaker.
            let late = core.acquire(at(1)).expect("closed");
            trip(&core);
            let finisher = {
                let core = core.clone();
                thread::spawn(move || core.complete(late, Outcome::Failure, false, at(1 + WAIT)))
            };
            let probe = core.acquire(at(1 + WAIT)).expect("the wait is over");
            finisher.join().expect("no panic");
            assert_eq!(probe.role, Role::Probe);
            let w = word(&core);
            assert_eq!(
                (w.state(), w.generation(), w.taken()),
                (State::HalfOpen, 2, 1)
            );
            assert_eq!(core.snapshot(at(1 + WAIT)).failures, 2);
        });
    }
}
