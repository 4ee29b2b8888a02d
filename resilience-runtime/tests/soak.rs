//! Soak: many calls through the recommended stack (circuit breaker, rate limiter, timeout,
//! bulkhead) with random failures, latencies and cancellations, checking at every call and at
//! the end that the bulkhead never runs more than `max` calls, that nothing stays held, that the
//! counters add up to exactly what the callers saw, and that nothing deadlocks.
//!
//! Two runs: in virtual time on a current-thread runtime, and in real time on a two-thread
//! runtime with bounded latencies (it asserts invariants, never times). `cargo test` runs a
//! modest number of calls; `.ci/run` runs the million-call soak in release:
//! `RESILIENCE_SOAK_CALLS=1000000 cargo test --release -p resilience-runtime --test soak`.

#![cfg(not(resilience_loom))]
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::ops::AddAssign;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use resilience_runtime::circuit_breaker::Classification;
use resilience_runtime::{Bulkhead, CircuitBreaker, ErrorKind, Failure, RateLimiter, Timeout};

/// Calls per run: `RESILIENCE_SOAK_CALLS`, or a number that keeps a debug `cargo test` short.
fn calls(default: u64) -> u64 {
    std::env::var("RESILIENCE_SOAK_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug)]
enum CallError {
    Unavailable,
    Declined,
}

/// xorshift64*: cheap randomness, reproducible from the seed printed on failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// What the callers saw, in the breaker's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    successes: u64,
    failures: u64,
    ignored: u64,
    rejections: u64,
    cancelled: u64,
}

impl AddAssign for Seen {
    fn add_assign(&mut self, o: Seen) {
        self.successes += o.successes;
        self.failures += o.failures;
        self.ignored += o.ignored;
        self.rejections += o.rejections;
        self.cancelled += o.cancelled;
    }
}

struct Stack {
    breaker: CircuitBreaker,
    limiter: RateLimiter,
    timeout: Timeout,
    bulkhead: Bulkhead,
    /// Bodies running now, and the most at once.
    running: AtomicU32,
    peak: AtomicU32,
}

const MAX: u32 = 8;

impl Stack {
    fn new(open: Duration, rate: u32) -> Stack {
        Stack {
            breaker: CircuitBreaker::builder("soak/cb")
                .threshold(50.0)
                .window_calls(50)
                .min_calls(10)
                .slow(Duration::from_millis(15))
                .slow_threshold(80.0)
                .open(open)
                .half_open(3)
                .build()
                .unwrap(),
            limiter: RateLimiter::builder("soak/rl")
                .rate(rate, Duration::from_secs(1))
                .burst(rate / 20)
                .wait(Duration::from_millis(5))
                .build()
                .unwrap(),
            timeout: Timeout::builder("soak/to")
                .duration(Duration::from_millis(20))
                .build()
                .unwrap(),
            bulkhead: Bulkhead::builder("soak/bh")
                .max(MAX)
                .queue(16)
                .wait(Duration::from_millis(10))
                .build()
                .unwrap(),
            running: AtomicU32::new(0),
            peak: AtomicU32::new(0),
        }
    }

    /// One body: a random latency (`sleep` is false: yield instead), then a random outcome.
    async fn body(&self, rng: &mut Rng, sleep: bool) -> Result<(), Failure<CallError>> {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        assert!(now <= MAX, "{now} calls in a bulkhead of {MAX}");
        self.peak.fetch_max(now, SeqCst);
        // Counts the body out however it ends, cancellation included.
        struct Out<'a>(&'a AtomicU32);
        impl Drop for Out<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        let _out = Out(&self.running);
        let latency = rng.below(16);
        if sleep {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        } else if latency < 14 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        match rng.below(100) {
            0..28 => Err(Failure::Error(CallError::Unavailable)),
            28..33 => Err(Failure::Error(CallError::Declined)),
            _ => Ok(()),
        }
    }

    /// One call through the stack, cancelled by the caller after a random time (sometimes).
    async fn call(&self, rng: &mut Rng, sleep: bool) -> Seen {
        let mut body_rng = Rng(rng.below(u64::MAX) | 1);
        let call = self.breaker.call_classified(
            self.limiter.call(
                self.timeout
                    .call(self.bulkhead.call(self.body(&mut body_rng, sleep))),
            ),
            |e: &CallError| match e {
                CallError::Unavailable => Classification::Failure,
                CallError::Declined => Classification::Ignored,
            },
        );
        let cancel_after = match rng.below(10) {
            0 => Some(Duration::from_millis(1 + rng.below(25))),
            _ => None,
        };
        let outcome = match cancel_after {
            Some(after) => match tokio::time::timeout(after, call).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Seen {
                        cancelled: 1,
                        ..Seen::default()
                    };
                }
            },
            None => call.await,
        };
        let mut seen = Seen::default();
        match outcome {
            Ok(()) => seen.successes = 1,
            Err(Failure::Error(CallError::Unavailable)) => seen.failures = 1,
            Err(Failure::Error(CallError::Declined)) => seen.ignored = 1,
            Err(Failure::Rejected(e)) => match e.kind() {
                ErrorKind::CircuitOpen => seen.rejections = 1,
                ErrorKind::TimedOut => seen.failures = 1,
                _ => seen.ignored = 1,
            },
        }
        seen
    }

    /// The invariants at rest, after `seen` was everything the callers saw.
    fn check(&self, seen: Seen, calls: u64) {
        let total =
            seen.successes + seen.failures + seen.ignored + seen.rejections + seen.cancelled;
        assert_eq!(total, calls);
        let cb = self.breaker.metrics();
        assert_eq!(
            Seen {
                successes: cb.successes,
                failures: cb.failures,
                ignored: cb.ignored,
                rejections: cb.rejections,
                cancelled: cb.cancelled,
            },
            seen,
            "the breaker's counters are what the callers saw"
        );
        assert_eq!(cb.calls, calls);
        assert_eq!(cb.probes_in_flight, 0, "no probe slot leaked");
        let rl = self.limiter.metrics();
        assert_eq!(rl.waiting, 0, "no reservation leaked");
        assert_eq!(
            rl.calls,
            calls - seen.rejections,
            "every admitted call reached the limiter"
        );
        assert_eq!(rl.calls, rl.admitted + rl.rejections + rl.cancelled);
        let bh = self.bulkhead.metrics();
        assert_eq!((bh.in_use, bh.queued), (0, 0), "no slot leaked: {bh:?}");
        assert_eq!(
            bh.calls, rl.admitted,
            "every permitted call reached the bulkhead"
        );
        assert_eq!(
            bh.calls,
            bh.completed + bh.rejections + bh.cancelled + bh.panicked
        );
        assert_eq!(self.running.load(SeqCst), 0);
        assert!(self.peak.load(SeqCst) <= MAX);
        eprintln!(
            "soak: {calls} calls: {seen:?}; bulkhead {bh:?}; limiter {rl:?}; breaker state {}",
            cb.state
        );
    }
}

/// Runs `calls` calls from `tasks` tasks on `rt`, with a watchdog in real time against deadlock.
fn soak(rt: tokio::runtime::Runtime, stack: Arc<Stack>, calls: u64, tasks: u64, sleep: bool) {
    let (done, finished) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let seen = rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let stack = stack.clone();
                    let share = calls / tasks + u64::from(t < calls % tasks);
                    tokio::spawn(async move {
                        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                        let mut seen = Seen::default();
                        for _ in 0..share {
                            if sleep {
                                // Callers pause between calls, so virtual time moves on even
                                // while every call is rejected at once.
                                let pause = rng.below(10);
                                tokio::time::sleep(Duration::from_millis(pause)).await;
                            }
                            seen += stack.call(&mut rng, sleep).await;
                        }
                        seen
                    })
                })
                .collect();
            let mut seen = Seen::default();
            for h in handles {
                seen += h.await.unwrap();
            }
            seen
        });
        stack.check(seen, calls);
        done.send(()).unwrap();
    });
    if finished.recv_timeout(Duration::from_secs(600)).is_err() {
        panic!("the soak did not finish in 10 minutes: a deadlock, or a lost wake-up");
    }
    runner.join().unwrap();
}

#[test]
fn soak_in_virtual_time_on_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    soak(
        rt,
        Arc::new(Stack::new(Duration::from_millis(200), 1500)),
        calls(50_000),
        24,
        true,
    );
}

#[test]
fn soak_in_real_time_across_threads() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    soak(
        rt,
        Arc::new(Stack::new(Duration::from_millis(5), 10_000)),
        calls(20_000),
        24,
        false,
    );
}
