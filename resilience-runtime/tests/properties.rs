//! Property tests: random sequences of calls, outcomes, durations, cancellations and time
//! advances, driven through the public API in virtual time, with every decision compared with a
//! small reference model written here for the purpose: plain data, no atomics, one step at a
//! time, in the words of the policies' docs.

#![cfg(not(resilience_loom))]
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

mod common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use proptest::prelude::*;
use resilience_runtime::circuit_breaker::Classification;
use resilience_runtime::{
    Backoff, CircuitBreaker, Error, ErrorKind, Failure, Jitter, RateLimiter, Retry, State,
};

use common::paused_runtime;

const MS: u64 = 1_000_000;

/// Polls `fut` once.
async fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut fut = Some(fut);
    poll_fn(|cx| Poll::Ready(fut.take().unwrap().poll(cx))).await
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------------------------

/// The call's own error: the call site classifies it as a failure or as ignored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum CallError {
    Unavailable,
    Declined,
}

fn classify(e: &CallError) -> Classification {
    match e {
        CallError::Unavailable => Classification::Failure,
        CallError::Declined => Classification::Ignored,
    }
}

#[derive(Clone, Copy, Debug)]
enum WindowCfg {
    Calls(u32),
    Secs(u64),
}

#[derive(Clone, Copy, Debug)]
enum Trip {
    /// Failure rate in whole percent.
    Rate(u32),
    Consecutive(u32),
}

#[derive(Clone, Copy, Debug)]
struct BreakerCfg {
    window: WindowCfg,
    trip: Trip,
    min_calls: u32,
    /// Slow-call duration in ms, and the slow rate in percent.
    slow: Option<(u64, Option<u32>)>,
    /// Open wait, initial and max, in ms.
    open: (u64, u64),
    half_open: u32,
}

fn breaker_cfg() -> impl Strategy<Value = BreakerCfg> {
    let window = prop_oneof![
        (1u32..=8).prop_map(WindowCfg::Calls),
        (1u64..=10).prop_map(WindowCfg::Secs)
    ];
    let trip = prop_oneof![
        prop::sample::select(vec![25u32, 50, 75, 100]).prop_map(Trip::Rate),
        (1u32..=4).prop_map(Trip::Consecutive)
    ];
    let slow = prop::option::of((
        100u64..=1500,
        prop::option::of(prop::sample::select(vec![25u32, 50, 100])),
    ));
    let open = prop_oneof![
        (1u64..=5).prop_map(|s| (s * 1000, s * 1000)),
        (1u64..=3, 1u64..=4).prop_map(|(s, k)| (s * 1000, s * 1000 * k)),
    ];
    (window, trip, 1u32..=6, slow, open, 1u32..=3).prop_map(
        |(window, trip, min_calls, slow, open, half_open)| BreakerCfg {
            window,
            trip,
            min_calls,
            slow,
            open,
            half_open,
        },
    )
}

fn build_breaker(cfg: BreakerCfg) -> CircuitBreaker {
    // A min_calls above a count window is refused: the model takes the window's size then.
    let min_calls = match cfg.window {
        WindowCfg::Calls(n) => cfg.min_calls.min(n),
        WindowCfg::Secs(_) => cfg.min_calls,
    };
    let mut b = CircuitBreaker::builder("prop").min_calls(min_calls);
    b = match cfg.window {
        WindowCfg::Calls(n) => b.window_calls(n),
        WindowCfg::Secs(s) => b.window_time(Duration::from_secs(s)),
    };
    b = match cfg.trip {
        Trip::Rate(p) => b.threshold(f64::from(p)),
        Trip::Consecutive(n) => b.consecutive_failures(n),
    };
    if let Some((ms, rate)) = cfg.slow {
        b = b.slow(Duration::from_millis(ms));
        if let Some(p) = rate {
            b = b.slow_threshold(f64::from(p));
        }
    }
    let (initial, max) = cfg.open;
    b = if initial == max {
        b.open(Duration::from_millis(initial))
    } else {
        b.open_exponential(Duration::from_millis(initial), Duration::from_millis(max))
    };
    b.half_open(cfg.half_open).build().unwrap()
}

#[derive(Clone, Copy, Debug)]
enum End {
    Success,
    Failure,
    Ignored,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// A new call arrives and is polled once (the breaker decides on the first poll).
    Start,
    /// The in-flight call at this index (modulo their number) ends.
    Finish(usize, End),
    /// The in-flight call at this index is dropped.
    Cancel(usize),
    /// Virtual time moves on by this many ms.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let end = prop_oneof![Just(End::Success), Just(End::Failure), Just(End::Ignored)];
    prop_oneof![
        3 => Just(Op::Start),
        4 => (any::<usize>(), end).prop_map(|(i, e)| Op::Finish(i, e)),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => prop_oneof![0u64..=50, 0u64..=2000, 0u64..=12_000].prop_map(Op::Advance),
    ]
}

/// The reference model of a circuit breaker, written from the module docs.
#[derive(Debug)]
struct ModelBreaker {
    cfg: BreakerCfg,
    state: ModelState,
    /// Bumped on every transition: a call records only into the state it was admitted in.
    generation: u64,
    /// Count window: the last N outcomes, (failed, slow).
    calls: VecDeque<(bool, bool)>,
    /// Time window: every outcome with its bucket period.
    timed: Vec<(u64, bool, bool)>,
    consecutive: u32,
    open_wait: u64,
    successes: u64,
    failures: u64,
    ignored: u64,
    rejections: u64,
    cancelled: u64,
    slow: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModelState {
    Closed,
    Open {
        until: u64,
    },
    HalfOpen {
        taken: u32,
        succeeded: u32,
        failed: u32,
        slow: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct ModelCall {
    generation: u64,
    probe: bool,
    started: u64,
}

impl ModelBreaker {
    fn new(cfg: BreakerCfg) -> Self {
        ModelBreaker {
            cfg,
            state: ModelState::Closed,
            generation: 0,
            calls: VecDeque::new(),
            timed: Vec::new(),
            consecutive: 0,
            open_wait: cfg.open.0 * MS,
            successes: 0,
            failures: 0,
            ignored: 0,
            rejections: 0,
            cancelled: 0,
            slow: 0,
        }
    }

    fn min_calls(&self) -> u64 {
        match self.cfg.window {
            WindowCfg::Calls(n) => u64::from(self.cfg.min_calls.min(n)),
            WindowCfg::Secs(_) => u64::from(self.cfg.min_calls),
        }
    }

    fn threshold(&self) -> u64 {
        match self.cfg.trip {
            Trip::Rate(p) => u64::from(p),
            Trip::Consecutive(_) => 50,
        }
    }

    fn slow_threshold(&self) -> Option<u64> {
        self.cfg
            .slow
            .map(|(_, p)| p.map_or(self.threshold(), u64::from))
    }

    /// A time window's bucket period at `now` (ns since the breaker's clock started; the
    /// breaker counts ticks from 1).
    fn period(&self, now: u64) -> u64 {
        let WindowCfg::Secs(s) = self.cfg.window else {
            unreachable!()
        };
        (now + 1) / (s * 1000 * MS / 10) + 1
    }

    /// (calls, failures, slow) in the window at `now`.
    fn tally(&self, now: u64) -> (u64, u64, u64) {
        let records: Vec<(bool, bool)> = match self.cfg.window {
            WindowCfg::Calls(_) => self.calls.iter().copied().collect(),
            WindowCfg::Secs(_) => {
                let period = self.period(now);
                self.timed
                    .iter()
                    .filter(|(p, _, _)| p + 10 > period)
                    .map(|&(_, f, s)| (f, s))
                    .collect()
            }
        };
        let failures = records.iter().filter(|r| r.0).count() as u64;
        let slow = records.iter().filter(|r| r.1).count() as u64;
        (records.len() as u64, failures, slow)
    }

    fn open(&mut self, now: u64, wait: u64) {
        self.generation += 1;
        self.open_wait = wait;
        self.state = ModelState::Open { until: now + wait };
    }

    /// Admits a call or rejects it with its `retry_after` in ns.
    fn start(&mut self, now: u64) -> Result<ModelCall, Option<u64>> {
        let call = |generation, probe| ModelCall {
            generation,
            probe,
            started: now,
        };
        match self.state {
            ModelState::Closed => Ok(call(self.generation, false)),
            ModelState::Open { until } if now < until => {
                self.rejections += 1;
                Err(Some(until - now))
            }
            ModelState::Open { .. } => {
                self.generation += 1;
                self.state = ModelState::HalfOpen {
                    taken: 1,
                    succeeded: 0,
                    failed: 0,
                    slow: 0,
                };
                Ok(call(self.generation, true))
            }
            ModelState::HalfOpen { taken, .. } if taken >= self.cfg.half_open => {
                self.rejections += 1;
                Err(None)
            }
            ModelState::HalfOpen { ref mut taken, .. } => {
                *taken += 1;
                Ok(call(self.generation, true))
            }
        }
    }

    /// A call ends; `None` is a cancellation.
    fn finish(&mut self, call: ModelCall, end: Option<End>, now: u64) {
        let slow = matches!(end, Some(End::Success | End::Failure))
            && self
                .cfg
                .slow
                .is_some_and(|(ms, _)| now - call.started >= ms * MS);
        self.slow += u64::from(slow);
        match end {
            Some(End::Success) => self.successes += 1,
            Some(End::Failure) => self.failures += 1,
            Some(End::Ignored) => self.ignored += 1,
            None => self.cancelled += 1,
        }
        if call.generation != self.generation {
            return; // The state it was admitted in is over.
        }
        let failed = matches!(end, Some(End::Failure));
        match (call.probe, end) {
            (false, Some(End::Success | End::Failure)) => self.record(failed, slow, now),
            (false, _) => {}
            (true, Some(End::Success | End::Failure)) => self.probe_ended(failed, slow, now),
            (true, _) => {
                if let ModelState::HalfOpen { ref mut taken, .. } = self.state {
                    *taken -= 1;
                }
            }
        }
    }

    fn record(&mut self, failed: bool, slow: bool, now: u64) {
        match self.cfg.window {
            WindowCfg::Calls(n) => {
                self.calls.push_back((failed, slow));
                if self.calls.len() > n as usize {
                    self.calls.pop_front();
                }
            }
            WindowCfg::Secs(_) => self.timed.push((self.period(now), failed, slow)),
        }
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        let (calls, failures, slow_calls) = self.tally(now);
        let ready = calls >= self.min_calls();
        let too_many_failures = match self.cfg.trip {
            Trip::Consecutive(n) => self.consecutive >= n,
            Trip::Rate(p) => ready && failures * 100 >= u64::from(p) * calls,
        };
        let too_slow = self
            .slow_threshold()
            .is_some_and(|p| ready && slow_calls * 100 >= p * calls);
        if too_many_failures || too_slow {
            self.open(now, self.cfg.open.0 * MS);
        }
    }

    fn probe_ended(&mut self, failed: bool, slow: bool, now: u64) {
        let ModelState::HalfOpen {
            taken,
            mut succeeded,
            failed: mut failed_probes,
            slow: mut slow_probes,
        } = self.state
        else {
            unreachable!("a probe of the current generation runs in half-open")
        };
        if failed {
            failed_probes += 1;
        } else {
            succeeded += 1;
        }
        slow_probes += u32::from(slow);
        let probes = u64::from(self.cfg.half_open);
        // Re-open as soon as the failures (or slow calls) reach the threshold counted over all
        // the probes: the remaining ones cannot change that.
        let reopen = match self.cfg.trip {
            Trip::Consecutive(_) => failed_probes > 0,
            Trip::Rate(p) => u64::from(failed_probes) * 100 >= u64::from(p) * probes,
        } || self
            .slow_threshold()
            .is_some_and(|p| u64::from(slow_probes) * 100 >= p * probes);
        if reopen {
            let (_, max) = self.cfg.open;
            self.open(now, (self.open_wait * 2).min(max * MS));
        } else if u64::from(succeeded + failed_probes) >= probes {
            self.generation += 1;
            self.state = ModelState::Closed;
            self.calls.clear();
            self.timed.clear();
            self.consecutive = 0;
        } else {
            self.state = ModelState::HalfOpen {
                taken,
                succeeded,
                failed: failed_probes,
                slow: slow_probes,
            };
        }
    }

    fn state(&self) -> State {
        match self.state {
            ModelState::Closed => State::Closed,
            ModelState::Open { .. } => State::Open,
            ModelState::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn probes_in_flight(&self) -> u32 {
        match self.state {
            ModelState::HalfOpen {
                taken,
                succeeded,
                failed,
                ..
            } => taken - succeeded - failed,
            _ => 0,
        }
    }
}

type Outcome = Result<(), Failure<CallError>>;
type InFlight<'a> = Pin<Box<dyn Future<Output = Outcome> + 'a>>;
/// A call in flight: its future, the cell its body's outcome is put in, and its model twin.
type Running<'a> = (InFlight<'a>, Rc<Cell<Option<Outcome>>>, ModelCall);
/// A rate-limited call waiting for its permit: its future, its op number and its due tick.
type Waiting<'a> = (
    Pin<Box<dyn Future<Output = Result<(), Failure<()>>> + 'a>>,
    usize,
    u64,
);

fn check_breaker(cfg: BreakerCfg, ops: Vec<Op>) -> Result<(), TestCaseError> {
    paused_runtime().block_on(async {
        let breaker = build_breaker(cfg);
        let mut model = ModelBreaker::new(cfg);
        // The breaker's clock starts at its first call (reading it starts nothing), so the
        // model's does too: its ticks are then the model's nanoseconds.
        let origin: Cell<Option<tokio::time::Instant>> = Cell::new(None);
        let now = || {
            origin
                .get()
                .map_or(0, |o| (tokio::time::Instant::now() - o).as_nanos() as u64)
        };
        let mut in_flight: Vec<Running<'_>> = Vec::new();

        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Start => {
                    let end = Rc::new(Cell::new(None));
                    let body = {
                        let end = end.clone();
                        poll_fn(move |_| end.take().map_or(Poll::Pending, Poll::Ready))
                    };
                    if origin.get().is_none() {
                        origin.set(Some(tokio::time::Instant::now()));
                    }
                    let mut call: InFlight<'_> = Box::pin(breaker.call_classified(body, classify));
                    let decided = poll_once(call.as_mut()).await;
                    match (model.start(now()), decided) {
                        (Ok(m), Poll::Pending) => in_flight.push((call, end, m)),
                        (Err(retry_after), Poll::Ready(Err(Failure::Rejected(e)))) => {
                            prop_assert_eq!(e.kind(), ErrorKind::CircuitOpen);
                            prop_assert_eq!(e.retry_after(), retry_after.map(Duration::from_nanos));
                        }
                        (m, b) => prop_assert!(false, "step {step}: model {m:?}, breaker {b:?}"),
                    }
                }
                Op::Finish(i, end) if !in_flight.is_empty() => {
                    let (mut call, cell, m) = in_flight.remove(i % in_flight.len());
                    cell.set(Some(match end {
                        End::Success => Ok(()),
                        End::Failure => Err(Failure::Error(CallError::Unavailable)),
                        End::Ignored => Err(Failure::Error(CallError::Declined)),
                    }));
                    prop_assert!(poll_once(call.as_mut()).await.is_ready());
                    model.finish(m, Some(end), now());
                }
                Op::Cancel(i) if !in_flight.is_empty() => {
                    let (call, _, m) = in_flight.remove(i % in_flight.len());
                    drop(call);
                    model.finish(m, None, now());
                }
                Op::Finish(..) | Op::Cancel(_) => {}
                Op::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
            }
            let got = breaker.metrics();
            let (window_calls, _, _) = model.tally(now());
            prop_assert_eq!(
                got.state,
                model.state(),
                "state after step {}: {:?}",
                step,
                op
            );
            prop_assert_eq!(
                (
                    got.successes,
                    got.failures,
                    got.ignored,
                    got.rejections,
                    got.cancelled,
                    got.slow
                ),
                (
                    model.successes,
                    model.failures,
                    model.ignored,
                    model.rejections,
                    model.cancelled,
                    model.slow
                ),
                "counters after step {}: {:?}",
                step,
                op
            );
            prop_assert_eq!(got.window_calls, window_calls, "window after step {}", step);
            prop_assert_eq!(got.probes_in_flight, model.probes_in_flight());
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn circuit_breaker_decides_every_call_as_the_reference_model(
        cfg in breaker_cfg(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        check_breaker(cfg, ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum BackoffCfg {
    Fixed(u64),
    Linear(u64, u64),
    /// initial, factor (num / 2), max; in ms.
    Exponential(u64, u64, u64),
}

fn backoff_cfg() -> impl Strategy<Value = BackoffCfg> {
    prop_oneof![
        (1u64..=1000).prop_map(BackoffCfg::Fixed),
        (1u64..=500, 1u64..=20).prop_map(|(s, k)| BackoffCfg::Linear(s, s * k)),
        (
            1u64..=500,
            prop::sample::select(vec![2u64, 3, 4, 6]),
            1u64..=100
        )
            .prop_map(|(i, f, k)| BackoffCfg::Exponential(i, f, i * k)),
    ]
}

/// The backoff's delay before retry `n`, in ns, from the table in `Backoff`'s docs, in exact
/// integer arithmetic.
fn model_delay(cfg: BackoffCfg, n: u32) -> u64 {
    match cfg {
        BackoffCfg::Fixed(d) => d * MS,
        BackoffCfg::Linear(step, max) => (step * u64::from(n)).min(max) * MS,
        BackoffCfg::Exponential(initial, factor_x2, max) => {
            let mut d = u128::from(initial * MS);
            for _ in 1..n {
                d = d * u128::from(factor_x2) / 2;
                if d >= u128::from(max * MS) {
                    break;
                }
            }
            d.min(u128::from(max * MS)) as u64
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn retry_delays_stay_within_the_bounds_of_their_jitter(
        backoff in backoff_cfg(),
        jitter in prop::sample::select(vec![Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated]),
        attempts in 1u32..=10,
        rate_limited in prop::collection::vec(prop::option::of(0u64..=3000), 10),
    ) {
        let (b, initial, max) = match backoff {
            BackoffCfg::Fixed(d) => (Backoff::fixed(Duration::from_millis(d)), d, d),
            BackoffCfg::Linear(s, m) => (Backoff::linear(Duration::from_millis(s), Duration::from_millis(m)), s, m),
            BackoffCfg::Exponential(i, f, m) => (
                Backoff::exponential(Duration::from_millis(i), Duration::from_millis(m)).factor(f as f64 / 2.0),
                i,
                m,
            ),
        };
        let (initial, max) = (initial * MS, max * MS);
        let built = Retry::builder("prop").attempts(attempts).backoff(b).jitter(jitter).build();
        if jitter == Jitter::Decorrelated && !matches!(backoff, BackoffCfg::Exponential(..)) {
            prop_assert!(built.is_err());
            return Ok(());
        }
        let retry = built.unwrap();
        let rt = paused_runtime();
        let _inside = rt.enter();
        let mut calls = retry.start();
        // Decorrelated jitter: an upper bound of the previous draw (exactly it, unless a longer
        // rate-limit wait hid it).
        let mut previous_draw = initial;
        for n in 1..=attempts {
            let outcome: Result<(), Failure<()>> = match rate_limited[n as usize - 1] {
                Some(ms) => Err(Failure::Rejected(
                    Error::new(ErrorKind::RateLimited, "limiter").with_retry_after(Duration::from_millis(ms)),
                )),
                None => Err(Failure::Error(())),
            };
            let at_least = rate_limited[n as usize - 1].map_or(0, |ms| ms * MS);
            let Some(delay) = calls.next(&outcome, |_| true) else {
                prop_assert_eq!(n, attempts, "gave up before the last attempt");
                break;
            };
            prop_assert!(n < attempts, "retried after the last attempt");
            let delay = delay.as_nanos() as u64;
            let d = model_delay(backoff, n);
            // f64 arithmetic in the policy may differ from the exact value by a rounding step.
            let slack = 1 + d / (1 << 40);
            let (lo, hi) = match jitter {
                Jitter::None => (d.saturating_sub(slack), d + slack),
                Jitter::Full => (0, d + slack),
                Jitter::Equal => ((d / 2).saturating_sub(slack), d + slack),
                _ => (initial, (3 * previous_draw).min(max)),
            };
            // A rate limiter's `retry_after` is a floor: the delay is max(draw, retry_after).
            prop_assert!(
                delay >= at_least && delay >= lo && delay <= hi.max(at_least),
                "retry {n}: {delay} not in [{lo}, {hi}] (at least {at_least})"
            );
            previous_draw = delay.min(hi);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum LimiterOp {
    Call,
    Advance(u64),
    /// Cancels the waiting caller at this index (modulo their number).
    Cancel(usize),
}

/// The reference model: a token bucket (capacity `burst` permits, refilled continuously at one
/// permit every `interval`) whose balance may go negative by the reservations of callers that
/// wait, plus the rule of the docs for giving a reservation back: only the latest one, and only
/// before it is due.
#[derive(Debug)]
struct ModelLimiter {
    interval: u64,
    burst: u64,
    wait: u64,
    /// Credit in ns of permits (`interval` per permit), as of `at`.
    credit: i128,
    at: u64,
    /// Every state change, newest last: `Some(due)` for a reservation still waiting, `None` for
    /// anything that cannot be given back.
    changes: Vec<(usize, Option<u64>)>,
    admitted: u64,
    rejections: u64,
    cancelled: u64,
}

#[derive(Debug, PartialEq)]
enum LimiterDecision {
    Admitted,
    Waiting { due: u64 },
    Rejected { retry_after: u64 },
}

impl ModelLimiter {
    fn refill(&mut self, now: u64) {
        let cap = i128::from(self.burst * self.interval);
        self.credit = (self.credit + i128::from(now - self.at)).min(cap);
        self.at = now;
    }

    fn call(&mut self, id: usize, now: u64) -> LimiterDecision {
        self.refill(now);
        let t = i128::from(self.interval);
        let short = t - self.credit;
        if short > i128::from(self.wait) {
            self.rejections += 1;
            return LimiterDecision::Rejected {
                retry_after: short as u64,
            };
        }
        self.credit -= t;
        if short <= 0 {
            self.admitted += 1;
            self.changes.push((id, None));
            LimiterDecision::Admitted
        } else {
            let due = now + short as u64;
            self.changes.push((id, Some(due)));
            LimiterDecision::Waiting { due }
        }
    }

    fn cancel(&mut self, id: usize, due: u64, now: u64) {
        self.refill(now);
        self.cancelled += 1;
        if now < due && self.changes.last() == Some(&(id, Some(due))) {
            self.changes.pop();
            self.credit += i128::from(self.interval);
        } else if let Some(entry) = self.changes.iter_mut().find(|(i, _)| *i == id) {
            entry.1 = None;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rate_limiter_admits_as_a_token_bucket_with_reservations(
        interval_ms in 1u64..=50,
        count in 1u32..=5,
        burst in 1u32..=5,
        wait_intervals in 0u64..=3,
        ops in prop::collection::vec(
            prop_oneof![
                4 => Just(LimiterOp::Call),
                3 => (0u64..=120).prop_map(LimiterOp::Advance),
                1 => any::<usize>().prop_map(LimiterOp::Cancel),
            ],
            1..80,
        ),
    ) {
        paused_runtime().block_on(async {
            let limiter = RateLimiter::builder("prop")
                .rate(count, Duration::from_millis(interval_ms * u64::from(count)))
                .burst(burst)
                .wait(Duration::from_millis(interval_ms * wait_intervals))
                .build()
                .unwrap();
            let interval = interval_ms * MS;
            let mut model = ModelLimiter {
                interval,
                burst: u64::from(burst),
                wait: interval * wait_intervals,
                credit: i128::from(u64::from(burst) * interval),
                at: 0,
                changes: Vec::new(),
                admitted: 0,
                rejections: 0,
                cancelled: 0,
            };
            // The limiter's clock starts at its first call; the GCRA's decisions do not depend
            // on where its ticks start, so the model counts from here.
            let origin = tokio::time::Instant::now();
            let now = || (tokio::time::Instant::now() - origin).as_nanos() as u64;
            let mut waiting: Vec<Waiting<'_>> = Vec::new();
            for (id, op) in ops.into_iter().enumerate() {
                match op {
                    LimiterOp::Call => {
                        let mut call: Pin<Box<dyn Future<Output = Result<(), Failure<()>>>>> =
                            Box::pin(limiter.call(async { Ok(()) }));
                        let got = poll_once(call.as_mut()).await;
                        match (model.call(id, now()), got) {
                            (LimiterDecision::Admitted, Poll::Ready(Ok(()))) => {}
                            (LimiterDecision::Waiting { due }, Poll::Pending) => waiting.push((call, id, due)),
                            (LimiterDecision::Rejected { retry_after }, Poll::Ready(Err(Failure::Rejected(e)))) => {
                                prop_assert_eq!(e.retry_after(), Some(Duration::from_nanos(retry_after)));
                            }
                            (m, l) => prop_assert!(false, "op {id}: model {m:?}, limiter {l:?}"),
                        }
                    }
                    LimiterOp::Advance(ms) => {
                        tokio::time::advance(Duration::from_millis(ms)).await;
                        // Waiting callers whose permit is due run now; the others still wait.
                        let mut still = Vec::new();
                        for (mut call, id, due) in waiting.drain(..) {
                            let got = poll_once(call.as_mut()).await;
                            prop_assert_eq!(got.is_ready(), due <= now(), "caller {} due at {}", id, due);
                            if got.is_ready() {
                                model.admitted += 1;
                                if let Some(entry) = model.changes.iter_mut().find(|(i, _)| *i == id) {
                                    entry.1 = None;
                                }
                            } else {
                                still.push((call, id, due));
                            }
                        }
                        waiting = still;
                    }
                    LimiterOp::Cancel(i) if !waiting.is_empty() => {
                        let (call, id, due) = waiting.remove(i % waiting.len());
                        drop(call);
                        model.cancel(id, due, now());
                    }
                    LimiterOp::Cancel(_) => {}
                }
                let m = limiter.metrics();
                prop_assert_eq!(
                    (m.admitted, m.rejections, m.cancelled, m.waiting),
                    (model.admitted, model.rejections, model.cancelled, waiting.len() as u64)
                );
            }
            Ok(())
        })?;
    }
}
