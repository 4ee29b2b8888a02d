//! Deadlines that flow through nested calls, in virtual time.

#![allow(clippy::unwrap_used)] // tests may unwrap (see the workspace lints)

use std::time::Duration;

use resilience_runtime::{
    Backoff, CircuitBreaker, ErrorKind, Failure, RateLimiter, Retry, Timeout, deadline,
};
use tokio::time::{Instant, sleep};

fn timeout(name: &'static str, d: Duration) -> Timeout {
    Timeout::builder(name).duration(d).build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_one_second_outer_timeout_ends_a_five_second_inner_one_at_one_second() {
    let outer = timeout("outer", ms(1000));
    let inner = timeout("inner", ms(5000));
    let started = Instant::now();
    let outcome: Result<(), Failure<()>> = outer
        .call(inner.call(async {
            sleep(ms(10_000)).await;
            Ok(())
        }))
        .await;
    assert_eq!(started.elapsed(), ms(1000));
    let rejection = *outcome.unwrap_err().rejection().unwrap();
    // The outer timeout's own second ran out: it says so, in its own name.
    assert_eq!(rejection.kind(), ErrorKind::TimedOut);
    assert_eq!(rejection.policy(), "outer");
    assert_eq!(outer.metrics().timed_out, 1);
    assert_eq!(inner.metrics().timed_out, 0);
}

#[tokio::test(start_paused = true)]
async fn an_inner_timeout_shorter_than_the_deadline_keeps_its_own() {
    let outer = timeout("outer", ms(1000));
    let inner = timeout("inner", ms(200));
    let started = Instant::now();
    let outcome: Result<(), Failure<()>> = outer
        .call(inner.call(async {
            sleep(ms(10_000)).await;
            Ok(())
        }))
        .await;
    assert_eq!(started.elapsed(), ms(200));
    let rejection = *outcome.unwrap_err().rejection().unwrap();
    assert_eq!(
        (rejection.kind(), rejection.policy()),
        (ErrorKind::TimedOut, "inner")
    );
    assert_eq!(inner.metrics().timed_out, 1);
    assert_eq!(outer.metrics().timed_out, 0);
}

#[tokio::test(start_paused = true)]
async fn remaining_is_the_nearest_deadline_and_shrinks_as_time_passes() {
    let outer = timeout("outer", ms(1000));
    let inner = timeout("inner", ms(5000));
    assert_eq!(deadline::remaining(), None);
    let outcome: Result<(), Failure<()>> = outer
        .call(inner.call(async {
            assert_eq!(deadline::remaining(), Some(ms(1000)));
            sleep(ms(300)).await;
            assert_eq!(deadline::remaining(), Some(ms(700)));
            Ok(())
        }))
        .await;
    assert!(outcome.is_ok());
    assert_eq!(
        deadline::remaining(),
        None,
        "the deadline ends with its call"
    );
}

#[tokio::test(start_paused = true)]
async fn a_backoff_that_would_cross_the_deadline_is_not_slept() {
    let outer = timeout("outer", ms(1000));
    let retry = Retry::builder("retry")
        .attempts(10)
        .backoff(Backoff::fixed(ms(400)))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut attempts = 0;
    let outcome: Result<(), Failure<&str>> = outer
        .call(retry.call(|| {
            attempts += 1;
            async { Err(Failure::Error("unavailable")) }
        }))
        .await;
    // Attempts at 0, 400 and 800 ms; the next would start at 1200 ms, past the deadline: the
    // last error comes back at 800 ms, not the timeout's rejection at 1000.
    assert_eq!(attempts, 3);
    assert_eq!(started.elapsed(), ms(800));
    assert!(matches!(outcome, Err(Failure::Error("unavailable"))));
    assert_eq!(retry.metrics().past_deadline, 1);
    assert_eq!(outer.metrics().timed_out, 0);
}

#[tokio::test(start_paused = true)]
async fn the_inherited_deadline_running_out_is_no_failure_of_a_breaker_inside_it() {
    let outer = timeout("outer", ms(1000));
    let breaker = CircuitBreaker::builder("breaker")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let inner = timeout("inner", ms(5000));
    let outcome: Result<(), Failure<()>> = outer
        .call(breaker.call(inner.call(async {
            sleep(ms(10_000)).await;
            Ok(())
        })))
        .await;
    let rejection = *outcome.unwrap_err().rejection().unwrap();
    assert_eq!(
        (rejection.kind(), rejection.policy()),
        (ErrorKind::TimedOut, "outer")
    );
    // The inner timeout stopped for the deadline it inherited: the breaker under the outer
    // timeout saw `DeadlineExceeded`, which is not the dependency's failure.
    assert_eq!(breaker.metrics().failures, 0);
    assert_eq!(breaker.metrics().ignored, 1);
    assert_eq!(breaker.metrics().state, resilience_runtime::State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_layer_inside_says_deadline_exceeded_naming_who_set_it() {
    let outer = timeout("outer", ms(1000));
    let inner = timeout("inner", ms(5000));
    // What the layers between the two see, caught before it reaches the outer timeout.
    let outcome: Result<Result<(), Failure<()>>, Failure<()>> = outer
        .call(async {
            let seen = inner
                .call(async {
                    sleep(ms(10_000)).await;
                    Ok::<(), Failure<()>>(())
                })
                .await;
            Ok(seen)
        })
        .await;
    let seen = outcome.unwrap_or(Ok(()));
    // The outer timeout polls its call first at the deadline, so the inner one answers.
    let rejection = *seen.unwrap_err().rejection().unwrap();
    assert_eq!(
        (rejection.kind(), rejection.policy()),
        (ErrorKind::DeadlineExceeded, "outer")
    );
    assert_eq!(inner.metrics().timed_out, 0);
}

#[tokio::test(start_paused = true)]
async fn within_sets_a_deadline_by_hand() {
    let inner = timeout("inner", ms(5000));
    let started = Instant::now();
    let outcome: Result<(), Failure<()>> = deadline::within(
        ms(250),
        inner.call(async {
            sleep(ms(10_000)).await;
            Ok(())
        }),
    )
    .await;
    assert_eq!(started.elapsed(), ms(250));
    let rejection = *outcome.unwrap_err().rejection().unwrap();
    assert_eq!(
        (rejection.kind(), rejection.policy()),
        (ErrorKind::DeadlineExceeded, deadline::WITHIN)
    );
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_inherits_the_deadline_only_when_asked() {
    let outer = timeout("outer", ms(1000));
    type Seen = (Option<Duration>, Option<Duration>, Option<Duration>);
    let outcome: Result<Seen, Failure<()>> = outer
        .call(async {
            sleep(ms(100)).await;
            let plain = tokio::spawn(async { deadline::remaining() });
            let scoped = tokio::spawn(deadline::scope(async { deadline::remaining() }));
            let detached = deadline::detach(async { deadline::remaining() }).await;
            Ok((plain.await.unwrap(), scoped.await.unwrap(), detached))
        })
        .await;
    let (plain, scoped, detached) = outcome.unwrap();
    assert_eq!(plain, None);
    assert_eq!(scoped, Some(ms(900)));
    assert_eq!(detached, None);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_does_not_wait_for_a_permit_due_after_the_deadline() {
    let limiter = RateLimiter::builder("limiter")
        .rate(1, Duration::from_secs(1))
        .burst(1)
        .wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let outer = timeout("outer", ms(500));
    let first: Result<(), Failure<()>> = limiter.call(async { Ok(()) }).await;
    assert!(first.is_ok());
    let started = Instant::now();
    // The next permit is due in a second, after the half second left: refused now.
    let second: Result<(), Failure<()>> = outer.call(limiter.call(async { Ok(()) })).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(
        second.unwrap_err().rejection().unwrap().kind(),
        ErrorKind::RateLimited
    );
    // Outside any deadline it waits for it, as its `wait` allows.
    let third: Result<(), Failure<()>> = limiter.call(async { Ok(()) }).await;
    assert!(third.is_ok());
    assert_eq!(started.elapsed(), ms(1000));
}

#[tokio::test(start_paused = true)]
async fn a_panic_inside_a_deadline_leaves_no_deadline_behind() {
    let outer = timeout("outer", ms(1000));
    let caught = std::panic::AssertUnwindSafe(outer.call(async {
        if deadline::remaining().is_some() {
            panic!("the call panics");
        }
        Ok::<(), Failure<()>>(())
    }));
    let outcome = futures_catch(caught).await;
    assert!(outcome.is_err(), "the call panicked");
    assert_eq!(deadline::remaining(), None);
}

/// Polls `fut` once per wake, catching a panic.
async fn futures_catch<F: std::future::Future>(fut: F) -> std::thread::Result<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn the_deadline_counts_from_the_first_clock_read_inside_for_every_layer() {
    // `advance` moves the clock before the call first waits. A timeout counts from its call's
    // first wait, unless a layer inside read the deadline earlier: then every enclosing
    // timeout counts from that read.
    let outer = timeout("outer", ms(1000));
    let started = Instant::now();
    let lazy: Result<(), Failure<()>> = outer
        .call(async {
            tokio::time::advance(ms(300)).await;
            sleep(ms(10_000)).await;
            Ok(())
        })
        .await;
    assert!(lazy.is_err());
    assert_eq!(started.elapsed(), ms(1300), "counted from the first wait");

    let outer = timeout("outer", ms(1000));
    let inner = timeout("inner", ms(5000));
    let started = Instant::now();
    let read_early: Result<(), Failure<()>> = outer
        .call(inner.call(async {
            assert_eq!(deadline::remaining(), Some(ms(1000)));
            tokio::time::advance(ms(300)).await;
            sleep(ms(10_000)).await;
            Ok(())
        }))
        .await;
    assert!(read_early.is_err());
    assert_eq!(
        started.elapsed(),
        ms(1000),
        "counted from the read, by both"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_holds_a_queued_callers_place_no_longer_than_its_deadline() {
    use resilience_runtime::Bulkhead;
    // One slot, a queue, and no wait of its own: a queued caller waits until a slot frees.
    let pool: &'static Bulkhead = Box::leak(Box::new(
        Bulkhead::builder("pool").max(1).queue(4).build().unwrap(),
    ));
    let outer = timeout("outer", ms(1000));
    let busy = tokio::spawn(pool.call(async {
        sleep(ms(10_000)).await;
        Ok::<(), Failure<()>>(())
    }));
    tokio::task::yield_now().await;
    // A task given the deadline by `scope`: nothing but the bulkhead itself would end its wait
    // at the deadline.
    let started = Instant::now();
    let task: Result<_, Failure<()>> = outer
        .call(async {
            sleep(ms(200)).await;
            Ok(tokio::spawn(deadline::scope(
                pool.call(async { Ok::<(), Failure<()>>(()) }),
            )))
        })
        .await;
    let queued = task.unwrap().await.unwrap();
    assert_eq!(started.elapsed(), ms(1000));
    assert_eq!(
        queued.unwrap_err().rejection().unwrap().kind(),
        ErrorKind::BulkheadFull
    );
    assert_eq!(pool.metrics().queued, 0);
    busy.abort();
}

#[test]
fn within_outside_tokio_ends_the_call_instead_of_panicking_in_the_timer() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut call = std::pin::pin!(deadline::within(
        ms(100),
        std::future::pending::<Result<(), Failure<()>>>()
    ));
    let mut cx = Context::from_waker(Waker::noop());
    match call.as_mut().poll(&mut cx) {
        Poll::Ready(Err(failure)) => {
            let rejection = failure.rejection().unwrap();
            assert_eq!(rejection.kind(), ErrorKind::DeadlineExceeded);
            assert_eq!(rejection.policy(), deadline::WITHIN);
        }
        other => panic!("expected the deadline's rejection, got {other:?}"),
    }
}
