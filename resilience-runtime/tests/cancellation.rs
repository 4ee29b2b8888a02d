//! Cancellation and panics: a call dropped at any of its await points, or whose body panics,
//! leaves no bulkhead slot, rate-limit reservation or half-open probe slot held, for every
//! policy alone and for the recommended stack, as the policies' `metrics()` show.
//!
//! Each policy is set up under contention so that every await point it has is reached: the
//! breaker half-open (the call is a probe), the rate limiter's burst spent (the call waits for a
//! reservation), the bulkhead's slot taken (the call waits in the queue), the first attempt
//! failing (retry waits between attempts). The call is polled by hand, one await point at a
//! time, in virtual time, and dropped after 0, 1, 2, ... polls until it completes.

#![cfg(not(resilience_loom))]
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

mod common;

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use resilience_runtime::{
    Backoff, Bulkhead, CircuitBreaker, Failure, RateLimiter, Retry, State, Timeout,
};

use common::paused_runtime;

#[derive(Debug)]
struct Boom;

type Outcome = Result<(), Failure<Boom>>;
type Call<'a> = Pin<Box<dyn Future<Output = Outcome> + 'a>>;

const STEP: Duration = Duration::from_millis(10);

struct Policies {
    breaker: CircuitBreaker,
    limiter: RateLimiter,
    timeout: Timeout,
    bulkhead: Bulkhead,
    retry: Retry,
    /// Attempts the body has started.
    attempts: Cell<u32>,
    /// The body panics at this await point of its first attempt.
    panic_at: Option<u32>,
}

impl Policies {
    /// Fresh policies under contention (see the module docs).
    async fn contended(panic_at: Option<u32>) -> Policies {
        let p = Policies {
            breaker: CircuitBreaker::builder("cb")
                .consecutive_failures(1)
                .open(Duration::from_secs(1))
                .half_open(1)
                .build()
                .unwrap(),
            limiter: RateLimiter::builder("rl")
                .rate(1, Duration::from_millis(30))
                .wait(Duration::from_secs(1))
                .build()
                .unwrap(),
            timeout: Timeout::builder("to")
                .duration(Duration::from_millis(500))
                .build()
                .unwrap(),
            bulkhead: Bulkhead::builder("bh").max(1).queue(1).build().unwrap(),
            retry: Retry::builder("re")
                .attempts(3)
                .backoff(Backoff::fixed(Duration::from_millis(20)))
                .build()
                .unwrap(),
            attempts: Cell::new(0),
            panic_at,
        };
        // Trip the breaker and wait out its open state: the next call is a probe.
        let _ = p
            .breaker
            .call(async { Err::<(), _>(Failure::Error(Boom)) })
            .await;
        tokio::time::advance(Duration::from_secs(1)).await;
        // Spend the limiter's burst: the next call reserves a permit and waits for it.
        p.limiter.call(async { Outcome::Ok(()) }).await.unwrap();
        p
    }

    /// The body: three yields and a sleep; the first attempt fails (or panics).
    async fn body(&self) -> Outcome {
        let attempt = self.attempts.get() + 1;
        self.attempts.set(attempt);
        for point in 0..3 {
            if attempt == 1 && self.panic_at == Some(point) {
                panic!("the body panicked");
            }
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
        if attempt == 1 {
            Err(Failure::Error(Boom))
        } else {
            Ok(())
        }
    }

    /// Nothing is held, and each policy's counters add up.
    fn assert_nothing_held(&self, case: &str) {
        let b = self.bulkhead.metrics();
        assert_eq!((b.in_use, b.queued), (0, 0), "{case}: bulkhead {b:?}");
        assert_eq!(
            b.calls,
            b.completed + b.rejections + b.cancelled + b.panicked,
            "{case}"
        );
        let r = self.limiter.metrics();
        assert_eq!(r.waiting, 0, "{case}: rate limiter {r:?}");
        let c = self.breaker.metrics();
        assert_eq!(c.probes_in_flight, 0, "{case}: breaker {c:?}");
        // A freed probe slot (or a decided round) lets the breaker go on deciding.
        assert!(
            matches!(c.state, State::HalfOpen | State::Open | State::Closed),
            "{case}"
        );
    }
}

/// Polls `fut` once.
async fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut fut = Some(fut);
    poll_fn(|cx| Poll::Ready(fut.take().unwrap().poll(cx))).await
}

type Stack = for<'a> fn(&'a Policies) -> Call<'a>;

fn breaker_alone(p: &Policies) -> Call<'_> {
    Box::pin(p.breaker.call(p.body()))
}

fn limiter_alone(p: &Policies) -> Call<'_> {
    Box::pin(p.limiter.call(p.body()))
}

fn timeout_alone(p: &Policies) -> Call<'_> {
    Box::pin(p.timeout.call(p.body()))
}

fn bulkhead_alone(p: &Policies) -> Call<'_> {
    Box::pin(p.bulkhead.call(p.body()))
}

fn retry_alone(p: &Policies) -> Call<'_> {
    Box::pin(p.retry.call(|| p.body()))
}

fn fallback_alone(p: &Policies) -> Call<'_> {
    Box::pin(resilience_runtime::fallback("fb", p.body(), |_| async {
        tokio::task::yield_now().await;
        Ok(())
    }))
}

/// The recommended order: fallback, retry, circuit breaker, rate limiter, timeout, bulkhead.
fn full_stack(p: &Policies) -> Call<'_> {
    Box::pin(resilience_runtime::fallback(
        "fb",
        p.retry.call(|| {
            p.breaker
                .call(p.limiter.call(p.timeout.call(p.bulkhead.call(p.body()))))
        }),
        |_failure| async { Err(Boom) },
    ))
}

const STACKS: [(&str, Stack); 7] = [
    ("circuit breaker", breaker_alone),
    ("rate limiter", limiter_alone),
    ("timeout", timeout_alone),
    ("bulkhead", bulkhead_alone),
    ("retry", retry_alone),
    ("fallback", fallback_alone),
    ("full stack", full_stack),
];

/// Runs `stack` once under contention; drops it after `polls` polls, or catches its panic.
/// Returns whether it completed (or panicked) before being dropped.
async fn run(stack: Stack, case: &str, polls: usize, panic_at: Option<u32>) -> bool {
    let p = Policies::contended(panic_at).await;
    // Takes the bulkhead's one slot for 30ms, so the call waits in the queue.
    let mut holder: Call<'_> = Box::pin(p.bulkhead.call(async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Outcome::Ok(())
    }));
    let mut holder_done = poll_once(holder.as_mut()).await.is_ready();
    let mut call = stack(&p);
    let mut ended = false;
    for _ in 0..polls {
        match catch_unwind(AssertUnwindSafe(|| {
            let waker = std::task::Waker::noop();
            call.as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
        })) {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(_)) | Err(_) => {
                ended = true;
                break;
            }
        }
        tokio::time::advance(STEP).await;
        if !holder_done {
            holder_done = poll_once(holder.as_mut()).await.is_ready();
        }
    }
    drop(call);
    tokio::time::advance(Duration::from_millis(100)).await;
    if !holder_done {
        assert!(poll_once(holder.as_mut()).await.is_ready());
    }
    p.assert_nothing_held(&format!("{case}, dropped after {polls} polls"));
    if panic_at.is_some() && ended {
        let b = p.bulkhead.metrics();
        if case == "bulkhead" || case == "full stack" {
            assert_eq!(b.panicked, 1, "{case}: the panic is counted");
        }
    }
    ended
}

#[test]
fn a_call_dropped_at_any_await_point_holds_nothing() {
    let rt = paused_runtime();
    for (case, stack) in STACKS {
        rt.block_on(async {
            let mut polls = 0;
            while !run(stack, case, polls, None).await {
                polls += 1;
                assert!(polls < 200, "{case} never completed");
            }
            // The call takes several await points under contention.
            assert!(polls >= 3, "{case} completed after {polls} polls");
        });
    }
}

#[test]
fn a_body_panicking_at_any_await_point_holds_nothing() {
    let rt = paused_runtime();
    for (case, stack) in STACKS {
        for panic_at in 0..3 {
            rt.block_on(async {
                assert!(
                    run(stack, case, 200, Some(panic_at)).await,
                    "{case}: the panic reached the caller"
                );
            });
        }
    }
}

#[test]
fn a_panicking_probe_is_a_failure_and_frees_its_slot() {
    paused_runtime().block_on(async {
        let p = Policies::contended(Some(0)).await;
        let mut call = breaker_alone(&p);
        let waker = std::task::Waker::noop();
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            call.as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
        }));
        assert!(unwound.is_err());
        drop(call);
        let m = p.breaker.metrics();
        // The trip's failure, then the probe's panic: a failed probe re-opens the breaker.
        assert_eq!((m.failures, m.cancelled, m.probes_in_flight), (2, 0, 0));
        assert_eq!(m.state, State::Open);
    });
}
