//! Behaviour of the bulkhead, in virtual time.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_runtime::{Bulkhead, BulkheadBuilder, ErrorKind, Failure, MAX_BULKHEAD_SLOTS};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, yield_now};
use tokio::time::{Instant, sleep, timeout};

const SECOND: Duration = Duration::from_secs(1);

fn bulkhead(builder: BulkheadBuilder) -> &'static Bulkhead {
    Box::leak(Box::new(builder.build().unwrap()))
}

/// A call that takes `d` and returns when it started, as time since `origin`.
async fn work(origin: Instant, d: Duration) -> Result<Duration, Failure<()>> {
    let started = origin.elapsed();
    sleep(d).await;
    Ok(started)
}

/// Runs every spawned task until it waits.
async fn settle() {
    for _ in 0..10 {
        yield_now().await;
    }
}

fn spawn_call(
    b: &'static Bulkhead,
    origin: Instant,
    d: Duration,
) -> JoinHandle<Result<Duration, Failure<()>>> {
    tokio::spawn(b.call(work(origin, d)))
}

fn assert_full<T: std::fmt::Debug>(outcome: Result<T, Failure<()>>, b: &Bulkhead) {
    let rejection = *outcome.unwrap_err().rejection().unwrap();
    assert_eq!(rejection.kind(), ErrorKind::BulkheadFull);
    assert_eq!(rejection.policy(), b.name());
    assert_eq!(rejection.retry_after(), None);
}

#[tokio::test(start_paused = true)]
async fn admits_max_calls_and_rejects_the_next_at_once_without_a_queue() {
    let b = bulkhead(Bulkhead::builder("db").max(2));
    let origin = Instant::now();
    let running = [
        spawn_call(b, origin, 10 * SECOND),
        spawn_call(b, origin, 10 * SECOND),
    ];
    settle().await;
    assert_eq!(b.in_use(), 2);

    assert_full(b.call(work(origin, SECOND)).await, b);
    assert_eq!(origin.elapsed(), Duration::ZERO);

    for call in running {
        assert_eq!(call.await.unwrap().unwrap(), Duration::ZERO);
    }
    let m = b.metrics();
    assert_eq!(
        (m.calls, m.completed, m.rejections, m.in_use, m.queued),
        (3, 2, 1, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn queued_callers_get_slots_in_turn_as_calls_finish() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(2));
    let origin = Instant::now();
    let first = spawn_call(b, origin, 10 * SECOND);
    settle().await;
    let second = spawn_call(b, origin, 10 * SECOND);
    settle().await;
    let third = spawn_call(b, origin, 10 * SECOND);
    settle().await;
    assert_eq!((b.in_use(), b.queued()), (1, 2));

    assert_eq!(first.await.unwrap().unwrap(), Duration::ZERO);
    assert_eq!(second.await.unwrap().unwrap(), 10 * SECOND);
    assert_eq!(third.await.unwrap().unwrap(), 20 * SECOND);
    assert_eq!(b.metrics().completed, 3);
}

#[tokio::test(start_paused = true)]
async fn rejects_callers_beyond_the_queue_at_once() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(1));
    let origin = Instant::now();
    let _running = spawn_call(b, origin, 10 * SECOND);
    let _queued = spawn_call(b, origin, 10 * SECOND);
    settle().await;
    assert_eq!((b.in_use(), b.queued()), (1, 1));

    assert_full(b.call(work(origin, SECOND)).await, b);
    assert_eq!(origin.elapsed(), Duration::ZERO);
    assert_eq!(b.metrics().rejections, 1);
}

#[tokio::test(start_paused = true)]
async fn queued_caller_is_rejected_at_exactly_its_wait() {
    let b = bulkhead(
        Bulkhead::builder("db")
            .max(1)
            .queue(1)
            .wait(Duration::from_millis(500)),
    );
    let origin = Instant::now();
    let _running = spawn_call(b, origin, 10 * SECOND);
    settle().await;

    assert_full(b.call(work(origin, SECOND)).await, b);
    assert_eq!(origin.elapsed(), Duration::from_millis(500));
    assert_eq!((b.queued(), b.metrics().rejections), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn queued_caller_gets_a_slot_that_frees_within_its_wait() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(1).wait(2 * SECOND));
    let origin = Instant::now();
    let _running = spawn_call(b, origin, SECOND);
    settle().await;

    assert_eq!(b.call(work(origin, SECOND)).await.unwrap(), SECOND);
}

#[tokio::test(start_paused = true)]
async fn cancelled_running_call_frees_its_slot_at_once() {
    let b = bulkhead(Bulkhead::builder("db").max(1));
    let origin = Instant::now();
    let running = spawn_call(b, origin, 10 * SECOND);
    settle().await;
    assert_eq!(b.in_use(), 1);

    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    assert_eq!(b.in_use(), 0);
    assert_eq!(
        b.call(work(origin, Duration::ZERO)).await.unwrap(),
        Duration::ZERO
    );
    let m = b.metrics();
    assert_eq!((m.calls, m.completed, m.cancelled), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn call_cut_short_by_a_timeout_frees_its_slot() {
    let b = bulkhead(Bulkhead::builder("db").max(1));
    let origin = Instant::now();
    assert!(
        timeout(SECOND, b.call(work(origin, 10 * SECOND)))
            .await
            .is_err()
    );
    assert_eq!((b.in_use(), b.metrics().cancelled), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn cancelled_queued_caller_leaves_the_queue() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(1));
    let origin = Instant::now();
    let _running = spawn_call(b, origin, 10 * SECOND);
    settle().await;

    assert!(timeout(SECOND, b.call(work(origin, SECOND))).await.is_err());
    assert_eq!(b.queued(), 0);
    let m = b.metrics();
    assert_eq!((m.cancelled, m.rejections), (1, 0));

    // Its place is free again: the next caller queues and runs when the slot frees.
    assert_eq!(b.call(work(origin, SECOND)).await.unwrap(), 10 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn queued_caller_cancelled_as_it_is_woken_passes_the_slot_to_the_next() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(2));
    let origin = Instant::now();
    let (finish, finished) = oneshot::channel::<()>();
    let mut held = pin!(b.call(async move {
        finished.await.unwrap();
        Ok::<_, Failure<()>>(())
    }));
    assert!(poll_fn(|cx| Poll::Ready(held.as_mut().poll(cx).is_pending())).await);
    let woken_first = spawn_call(b, origin, SECOND);
    settle().await;
    let next = spawn_call(b, origin, SECOND);
    settle().await;
    assert_eq!(b.queued(), 2);

    // The slot frees and wakes the first waiter, which is cancelled before it runs.
    finish.send(()).unwrap();
    held.await.unwrap();
    woken_first.abort();

    let started = timeout(60 * SECOND, next)
        .await
        .expect("the next waiter was never woken");
    assert_eq!(started.unwrap().unwrap(), Duration::ZERO);
    assert_eq!(b.metrics().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn panicking_call_frees_its_slot_and_the_panic_propagates() {
    let b = bulkhead(Bulkhead::builder("db").max(1));
    let panicking = tokio::spawn(b.call(async {
        if b.in_use() == 1 {
            panic!("the call panics while it holds the slot");
        }
        Ok::<(), Failure<()>>(())
    }));

    assert!(panicking.await.unwrap_err().is_panic());
    assert_eq!(b.in_use(), 0);
    let m = b.metrics();
    assert_eq!((m.calls, m.panicked, m.completed), (1, 1, 0));
    assert_eq!(
        b.call(work(Instant::now(), SECOND)).await.unwrap(),
        Duration::ZERO
    );
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A call's future that records, when dropped, how many slots were in use.
struct Holds {
    bulkhead: &'static Bulkhead,
    in_use_at_drop: Arc<AtomicU32>,
    ready: bool,
}

impl Future for Holds {
    type Output = Result<(), Failure<()>>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        if self.ready {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Holds {
    fn drop(&mut self) {
        self.in_use_at_drop.store(self.bulkhead.in_use(), SeqCst);
    }
}

#[test]
fn the_calls_future_is_dropped_while_it_still_holds_its_slot() {
    let b = bulkhead(Bulkhead::builder("pool").max(1));
    let in_use_at_drop = Arc::new(AtomicU32::new(u32::MAX));
    let holds = |ready| Holds {
        bulkhead: b,
        in_use_at_drop: Arc::clone(&in_use_at_drop),
        ready,
    };

    // Returned: dropped when it returns, not when the bulkhead's future is.
    let mut returned = pin!(b.call(holds(true)));
    assert!(poll_once(returned.as_mut()).is_ready());
    assert_eq!(in_use_at_drop.load(SeqCst), 1);
    assert_eq!(b.in_use(), 0);

    // Cancelled: what the call holds goes before its slot, so no waiter starts beside it.
    let mut cancelled = Box::pin(b.call(holds(false)));
    assert!(poll_once(cancelled.as_mut()).is_pending());
    in_use_at_drop.store(u32::MAX, SeqCst);
    drop(cancelled);
    assert_eq!(in_use_at_drop.load(SeqCst), 1);
    assert_eq!((b.in_use(), b.metrics().cancelled), (0, 1));
}

#[test]
fn calls_dropped_while_a_panic_unwinds_count_as_panicked() {
    let b = bulkhead(Bulkhead::builder("pool").max(1).queue(1));
    let unwound = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut running = pin!(b.call(std::future::pending::<Result<(), Failure<()>>>()));
        assert!(poll_once(running.as_mut()).is_pending());
        let mut queued = pin!(b.call(async { Ok::<_, Failure<()>>(()) }));
        assert!(poll_once(queued.as_mut()).is_pending());
        assert_eq!((b.in_use(), b.queued()), (1, 1));
        panic!("the task panics while one call runs and one waits");
    }));
    assert!(unwound.is_err());
    let m = b.metrics();
    assert_eq!((m.panicked, m.cancelled, m.in_use, m.queued), (2, 0, 0, 0));
}

#[test]
fn a_panic_while_joining_the_queue_gives_the_place_back_at_once() {
    // No timer: the queued caller's deadline cannot be set, and tokio panics.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let b = bulkhead(Bulkhead::builder("pool").max(1).queue(1).wait(SECOND));
        let mut running = pin!(b.call(std::future::pending::<Result<(), Failure<()>>>()));
        assert!(poll_once(running.as_mut()).is_pending());
        let mut queued = pin!(b.call(async { Ok::<_, Failure<()>>(()) }));
        let joined = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(queued.as_mut())));
        assert!(joined.is_err());
        let m = b.metrics();
        assert_eq!((m.queued, m.panicked, m.in_use), (0, 1, 1));

        // A caller polled again after its panic panics again, and the count does not move.
        let again = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(queued.as_mut())));
        assert!(again.is_err());
        assert_eq!(b.queued(), 0);

        // Once the slot frees, a newcomer runs: nothing was left behind in the queue.
        running.set(b.call(std::future::pending()));
        assert_eq!(b.in_use(), 0);
        assert!(b.call(async { Ok::<_, Failure<()>>(()) }).await.is_ok());
    });
}

#[test]
#[should_panic(expected = "bulkhead call polled after it completed")]
fn a_call_polled_after_it_completed_panics() {
    let b = bulkhead(Bulkhead::builder("pool").max(1));
    let mut call = pin!(b.call(async { Ok::<_, Failure<()>>(()) }));
    assert!(poll_once(call.as_mut()).is_ready());
    let _ = poll_once(call.as_mut());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_taking_turns_through_one_slot_never_lose_a_wake_up() {
    // Each call yields once while it holds the only slot, so the other task queues behind it
    // nearly every time, and only its release can wake it: a waiter that missed or ignored a
    // wake-up would sleep for good (the timeout turns that hang into a failure). A queue of two: a caller
    // back for its next turn queues behind the one it just woke, which still counts as queued
    // until it takes the slot.
    let b = bulkhead(Bulkhead::builder("turns").max(1).queue(2));
    let turns = |n| {
        tokio::spawn(async move {
            for _ in 0..n {
                b.call(async {
                    yield_now().await;
                    Ok::<_, Failure<()>>(())
                })
                .await
                .unwrap();
            }
        })
    };
    let (first, second) = (turns(20_000), turns(20_000));
    timeout(Duration::from_secs(60), async {
        first.await.unwrap();
        second.await.unwrap();
    })
    .await
    .expect("a waiter was never woken");
    let m = b.metrics();
    assert_eq!((m.completed, m.in_use, m.queued), (40_000, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_on_a_multi_thread_runtime_never_exceed_max() {
    const MAX: u32 = 3;
    const TASKS: u32 = 64;
    const CALLS: u32 = 50;
    let b = bulkhead(Bulkhead::builder("db").max(MAX).queue(TASKS));
    let in_flight = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));

    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            tokio::spawn(async move {
                for _ in 0..CALLS {
                    b.call(async {
                        peak.fetch_max(in_flight.fetch_add(1, SeqCst) + 1, SeqCst);
                        yield_now().await;
                        in_flight.fetch_sub(1, SeqCst);
                        Ok::<(), Failure<()>>(())
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    assert!(
        peak.load(SeqCst) <= MAX,
        "peak {} > max {MAX}",
        peak.load(SeqCst)
    );
    let m = b.metrics();
    assert_eq!(
        (m.completed, m.rejections, m.in_use, m.queued),
        (u64::from(TASKS * CALLS), 0, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn raising_max_admits_queued_callers_at_once() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(2));
    let origin = Instant::now();
    let _running = spawn_call(b, origin, 10 * SECOND);
    settle().await;
    let queued = [spawn_call(b, origin, SECOND), spawn_call(b, origin, SECOND)];
    settle().await;
    assert_eq!(b.queued(), 2);

    b.set_max(3).unwrap();
    for call in queued {
        assert_eq!(call.await.unwrap().unwrap(), Duration::ZERO);
    }
    assert_eq!(b.max(), 3);
}

#[tokio::test(start_paused = true)]
async fn lowering_max_admits_nothing_until_fewer_than_the_new_max_run() {
    let b = bulkhead(Bulkhead::builder("db").max(2));
    let origin = Instant::now();
    let _short = spawn_call(b, origin, SECOND);
    let _long = spawn_call(b, origin, 2 * SECOND);
    settle().await;

    b.set_max(1).unwrap();
    sleep(SECOND).await;
    settle().await;
    assert_eq!(b.in_use(), 1);
    assert_full(b.call(work(origin, SECOND)).await, b);

    sleep(SECOND).await;
    settle().await;
    assert_eq!(b.call(work(origin, SECOND)).await.unwrap(), 2 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn lowering_queue_keeps_the_waiting_callers_and_queues_no_new_one_until_below_it() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(3));
    let origin = Instant::now();
    let _running = spawn_call(b, origin, SECOND);
    settle().await;
    let waiting = [
        spawn_call(b, origin, SECOND),
        spawn_call(b, origin, SECOND),
        spawn_call(b, origin, SECOND),
    ];
    settle().await;
    assert_eq!(b.queued(), 3);

    b.set_queue(1);
    assert_eq!(b.queue(), 1);
    // Three wait where one may: they keep their places, a newcomer is rejected at once.
    assert_eq!(b.queued(), 3);
    assert_full(b.call(work(origin, SECOND)).await, b);
    assert_eq!(origin.elapsed(), Duration::ZERO);

    // Two have had their turn: one waits, and the queue of one is full again.
    sleep(2 * SECOND).await;
    settle().await;
    assert_eq!(b.queued(), 1);
    assert_full(b.call(work(origin, SECOND)).await, b);

    // The last one runs: the queue has room for a newcomer again.
    sleep(SECOND).await;
    settle().await;
    assert_eq!((b.in_use(), b.queued()), (1, 0));
    let newcomer = spawn_call(b, origin, SECOND);
    settle().await;
    assert_eq!(b.queued(), 1);
    let starts: Vec<_> = starts_of(waiting).await;
    assert_eq!(starts, [SECOND, 2 * SECOND, 3 * SECOND]);
    assert_eq!(newcomer.await.unwrap().unwrap(), 4 * SECOND);
    assert_eq!(b.metrics().rejections, 2);
}

#[tokio::test(start_paused = true)]
async fn raising_queue_lets_more_callers_wait_at_once() {
    let b = bulkhead(Bulkhead::builder("db").max(1));
    let origin = Instant::now();
    let _running = spawn_call(b, origin, SECOND);
    settle().await;
    assert_full(b.call(work(origin, SECOND)).await, b);

    b.set_queue(2);
    let waiting = [spawn_call(b, origin, SECOND), spawn_call(b, origin, SECOND)];
    settle().await;
    assert_eq!(b.queued(), 2);
    assert_full(b.call(work(origin, SECOND)).await, b);
    assert_eq!(starts_of(waiting).await, [SECOND, 2 * SECOND]);
}

#[test]
fn a_queue_of_zero_drops_the_wait_and_an_invalid_change_keeps_the_queue() {
    let b = bulkhead(Bulkhead::builder("db").max(1).queue(2).wait(SECOND));
    b.set_queue(0);
    assert_eq!((b.queue(), b.wait()), (0, None));
    b.reconfigure(b.settings().queue(4).wait(SECOND)).unwrap();
    assert_eq!((b.queue(), b.wait()), (4, Some(SECOND)));
    // An invalid change elsewhere leaves the queue as it was.
    let err = b.reconfigure(b.settings().queue(9).max(0)).unwrap_err();
    assert_eq!(err.field(), "max");
    assert_eq!(b.queue(), 4);
}

/// The start of every call, in the order given.
async fn starts_of<const N: usize>(
    calls: [JoinHandle<Result<Duration, Failure<()>>>; N],
) -> Vec<Duration> {
    let mut starts = Vec::with_capacity(N);
    for call in calls {
        starts.push(call.await.unwrap().unwrap());
    }
    starts
}

#[test]
fn config_errors_name_the_option_and_the_fix() {
    let cases = [
        (
            Bulkhead::builder("db"),
            "max",
            "is required (the most calls at once): write max = 10",
        ),
        (
            Bulkhead::builder("db").max(0),
            "max",
            "must be at least 1: write max = 10",
        ),
        (
            Bulkhead::builder("db").max(MAX_BULKHEAD_SLOTS + 1),
            "max",
            "must be at most 1048575",
        ),
        (
            Bulkhead::builder("db").max(1).wait(SECOND),
            "wait",
            "has no effect without a queue",
        ),
        (
            Bulkhead::builder("db").max(1).queue(1).wait(Duration::ZERO),
            "wait",
            "must be more than 0",
        ),
    ];
    for (builder, field, message) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!((err.policy(), err.field()), ("db", field));
        assert!(err.message().starts_with(message), "{err}");
    }
    let b = bulkhead(Bulkhead::builder("db").max(2));
    assert_eq!(b.set_max(0).unwrap_err().field(), "max");
    assert_eq!(b.max(), 2);
}

#[test]
fn defaults_reject_at_once_and_wait_until_a_slot_frees_when_queued() {
    let b = Bulkhead::builder("db").max(4).build().unwrap();
    assert_eq!((b.max(), b.queue(), b.wait()), (4, 0, None));
    let b = Bulkhead::builder("db").max(4).queue(8).build().unwrap();
    assert_eq!((b.queue(), b.wait()), (8, None));
}

#[test]
fn bulkhead_can_be_a_static() {
    static DB: Bulkhead = match Bulkhead::builder("db").max(1).build() {
        Ok(b) => b,
        Err(_) => panic!("invalid bulkhead"),
    };
    assert_eq!(DB.name(), "db");
}
