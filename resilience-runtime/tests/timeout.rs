//! Behaviour of the timeout policy, in virtual time.
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_runtime::{Error, ErrorKind, Failure, Timeout};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn timeout(d: Duration) -> Timeout {
    Timeout::builder("test/timeout")
        .duration(d)
        .build()
        .unwrap()
}

fn timed_out() -> Failure<&'static str> {
    Failure::Rejected(Error::new(ErrorKind::TimedOut, "test/timeout"))
}

/// Sets its flag when dropped, to see when a call's future is dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A call that waits `d`, holding a [`DropFlag`], then succeeds.
fn slow_call(
    d: Duration,
    dropped: &Arc<AtomicBool>,
) -> impl Future<Output = Result<u32, Failure<&'static str>>> + use<> {
    let flag = DropFlag(Arc::clone(dropped));
    async move {
        let _flag = flag;
        tokio::time::sleep(d).await;
        Ok(7)
    }
}

/// A future that is `Pending` at its first poll and ready with `Ok(1)` at the next.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = Result<u32, Failure<&'static str>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Ok(1))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_within_its_deadline_returns_its_own_outcome() {
    let dropped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    assert_eq!(
        timeout(ms(800)).call(slow_call(ms(300), &dropped)).await,
        Ok(7)
    );
    assert_eq!(start.elapsed(), ms(300));

    let failing = async { Err::<u32, _>(Failure::Error("boom")) };
    assert_eq!(
        timeout(ms(800)).call(failing).await,
        Err(Failure::Error("boom"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_rejection_from_inside_passes_through_unchanged() {
    let open: Failure<&str> = Failure::Rejected(Error::new(ErrorKind::CircuitOpen, "breaker"));
    assert_eq!(
        timeout(ms(800)).call(async { Err::<u32, _>(open) }).await,
        Err(open)
    );
}

#[tokio::test(start_paused = true)]
async fn the_timeout_fires_at_exactly_the_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let outcome = timeout(ms(800))
        .call(slow_call(Duration::from_secs(60), &dropped))
        .await;
    assert_eq!(outcome, Err(timed_out()));
    assert_eq!(start.elapsed(), ms(800));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_drops_the_call_at_the_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let policy = timeout(ms(100));
    let mut call = pin!(policy.call(slow_call(Duration::from_secs(60), &dropped)));

    tokio::time::advance(ms(99)).await;
    assert!(
        !dropped.load(Ordering::SeqCst),
        "the call runs until the deadline"
    );

    // Awaiting through `&mut` keeps the timeout future alive: the call must be dropped by the
    // timeout itself, not by the caller dropping the timeout future.
    assert_eq!(call.as_mut().await, Err(timed_out()));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the call was dropped at the deadline"
    );
    assert_eq!(
        call.await,
        Err(timed_out()),
        "polled again, it answers the same"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_completing_at_its_deadline_keeps_its_outcome() {
    let dropped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    assert_eq!(
        timeout(ms(500)).call(slow_call(ms(500), &dropped)).await,
        Ok(7)
    );
    assert_eq!(start.elapsed(), ms(500));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_counts_from_the_first_poll_of_a_waiting_call() {
    let dropped = Arc::new(AtomicBool::new(false));
    let policy = timeout(ms(200));
    let call = policy.call(slow_call(Duration::from_secs(60), &dropped));
    // Time passing between making the future and polling it does not count.
    tokio::time::advance(Duration::from_secs(5)).await;
    let first_poll = Instant::now();
    assert_eq!(call.await, Err(timed_out()));
    assert_eq!(first_poll.elapsed(), ms(200));
}

#[test]
fn a_ready_call_never_touches_the_timer_and_needs_no_runtime() {
    let policy = timeout(ms(10));
    let call = pin!(policy.call(async { Ok::<u32, Failure<&'static str>>(3) }));
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(call.poll(&mut cx), Poll::Ready(Ok(3)));
}

#[test]
fn a_call_that_waits_outside_a_runtime_is_rejected_instead_of_panicking() {
    let policy = timeout(ms(10));
    let mut call = pin!(policy.call(PendingOnce(false)));
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Err(timed_out())));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_needs_several_polls_is_timed_from_the_first() {
    let start = Instant::now();
    assert_eq!(timeout(ms(10)).call(PendingOnce(false)).await, Ok(1));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[test]
fn a_timeout_without_a_duration_or_of_zero_is_a_config_error() {
    let missing = Timeout::builder("t").build().unwrap_err();
    assert_eq!((missing.policy(), missing.field()), ("t", "duration"));
    let zero = Timeout::builder("t")
        .duration(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(zero.field(), "duration");
    assert!(zero.to_string().contains("above zero"), "{zero}");
}

#[test]
fn a_timeout_can_be_a_static() {
    static TIMEOUT: Timeout = match Timeout::builder("static")
        .duration(Duration::from_millis(800))
        .build()
    {
        Ok(t) => t,
        Err(_) => panic!("invalid"),
    };
    assert_eq!(TIMEOUT.duration(), ms(800));
    assert_eq!(TIMEOUT.name(), "static");
}

#[test]
fn the_timeout_future_is_send_when_the_call_is() {
    fn assert_send<T: Send>(_: &T) {}
    let policy = timeout(ms(10));
    let dropped = Arc::new(AtomicBool::new(false));
    assert_send(&policy.call(slow_call(ms(1), &dropped)));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_spends_the_task_budget_still_times_out() {
    // The call never completes and uses up tokio's cooperative budget at every poll, so a timer
    // polled within that budget would never fire.
    let busy = tokio::spawn(async {
        timeout(ms(100))
            .call(async {
                let mut spins = 0u64;
                while spins < u64::MAX {
                    tokio::task::consume_budget().await;
                    spins += 1;
                }
                Ok(0)
            })
            .await
    });
    // Let the busy call start its deadline. It never lets the runtime idle, so virtual time
    // does not move on its own: move it by hand.
    tokio::task::yield_now().await;
    tokio::time::advance(ms(100)).await;
    assert_eq!(busy.await.unwrap(), Err(timed_out()));
}
