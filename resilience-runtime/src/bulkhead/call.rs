//! The future of a call through a bulkhead: a slot taken on the first poll (or a place in the
//! queue, then a slot), the slot freed when the call returns, is dropped, or panics.
//!
//! Written by hand rather than as an `async fn`, so the call's future is polled where it lies:
//! an `async fn` moves its argument into its own state on the first poll, and that copy, read
//! back while its stores were still in flight, was a quarter of a bulkhead call's time.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::sync::futures::Notified;
use tokio::time::Sleep;

use super::adaptive::Sample;
use super::{Bulkhead, UNTIL_A_SLOT_FREES};
use crate::error::{ErrorKind, Failure};
use crate::event::{EventKind, PolicyKind, emit};
use crate::guard::{Exit, OnExit};

/// Where a call is.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Not polled yet: holds nothing.
    Idle,
    /// Waiting in the queue (in `wait`) for a slot.
    Waiting,
    /// Holds a slot; the call's future runs.
    Running,
    /// Rejected, returned, or panicked: holds nothing.
    Done,
}

pin_project! {
    /// The future returned by [`Bulkhead::call`].
    ///
    /// The bulkhead decides on the first poll, not when the future is created. Dropping it
    /// while it waits in the queue gives the place back; dropping it while it runs frees the
    /// slot (counted as `cancelled`); a panic in the call frees the slot (counted as
    /// `panicked`) and keeps unwinding.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F> {
        bulkhead: &'a Bulkhead,
        // Dropped as soon as the call returns, and before its slot is freed however it ends,
        // so what it holds counts against the bulkhead as long as it exists.
        #[pin]
        fut: Option<F>,
        stage: Stage,
        // Apart from `stage`, so a call that finds a free slot writes a plain `stage` and
        // never touches the queue's wake-up or a timer.
        #[pin]
        wait: Option<Wait<'a>>,
        // With an adaptive limit, when the call took its slot and how many were in flight.
        sample: Option<Sample>,
    }

    impl<F> PinnedDrop for Call<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Stage::Running = *this.stage {
                let bulkhead = *this.bulkhead;
                // The call's future first; the slot is freed even if its drop panics.
                let _slot = OnExit::new(|exit| bulkhead.abandon_slot(exit));
                // Cancelled from outside: its time counts, but it is not a drop (see
                // `adaptive`).
                if let Some(sample) = this.sample.take().filter(|s| s.started != 0) {
                    bulkhead.sampled(sample, false);
                }
                this.fut.set(None);
            }
        }
    }
}

impl<'a, F> Call<'a, F> {
    pub(super) fn new(bulkhead: &'a Bulkhead, fut: F) -> Self {
        Call {
            bulkhead,
            fut: Some(fut),
            stage: Stage::Idle,
            wait: None,
            sample: None,
        }
    }
}

impl<T, E, F> Future for Call<'_, F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let bulkhead = *this.bulkhead;
        match *this.stage {
            Stage::Running => {}
            Stage::Idle => {
                if !bulkhead.core.try_acquire() {
                    // No slot for a newcomer: queue if there is room, else reject at once.
                    if !bulkhead.core.try_enqueue() {
                        *this.stage = Stage::Done;
                        return Poll::Ready(Err(Failure::Rejected(bulkhead.reject())));
                    }
                    this.wait.set(Some(Wait::new(bulkhead)));
                    *this.stage = Stage::Waiting;
                    emit(&bulkhead.name, PolicyKind::Bulkhead, EventKind::Queued);
                    return poll_waiting(
                        bulkhead,
                        this.wait,
                        this.fut,
                        this.stage,
                        this.sample,
                        cx,
                    );
                }
                *this.stage = Stage::Running;
                if bulkhead.adaptive.algorithm().is_some() {
                    *this.sample = Some(bulkhead.adaptive.start(bulkhead.core.in_use()));
                }
            }
            Stage::Waiting => {
                return poll_waiting(bulkhead, this.wait, this.fut, this.stage, this.sample, cx);
            }
            Stage::Done => panic!("bulkhead call polled after it completed"),
        }
        poll_running(bulkhead, this.fut, this.stage, this.sample, cx)
    }
}

/// Waits in the queue, then runs the call with the slot it got or rejects it.
#[inline(never)]
fn poll_waiting<T, E, F>(
    bulkhead: &Bulkhead,
    mut wait: Pin<&mut Option<Wait<'_>>>,
    fut: Pin<&mut Option<F>>,
    stage: &mut Stage,
    sample: &mut Option<Sample>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Failure<E>>>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    let Some(waiting) = wait.as_mut().as_pin_mut() else {
        unreachable!("a waiting bulkhead call has its wait")
    };
    let admitted = ready!(waiting.poll(cx));
    // The wait left the queue; dropping it now only passes on a wake-up it may hold.
    wait.set(None);
    if !admitted {
        *stage = Stage::Done;
        return Poll::Ready(Err(Failure::Rejected(bulkhead.reject())));
    }
    *stage = Stage::Running;
    if bulkhead.adaptive.algorithm().is_some() {
        *sample = Some(bulkhead.adaptive.start(bulkhead.core.in_use()));
    }
    poll_running(bulkhead, fut, stage, sample, cx)
}

/// Polls the call's future while it holds a slot; when it returns, drops it, then frees the
/// slot.
#[inline(always)]
fn poll_running<T, E, F>(
    bulkhead: &Bulkhead,
    mut fut: Pin<&mut Option<F>>,
    stage: &mut Stage,
    sample: &mut Option<Sample>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Failure<E>>>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    let Some(running) = fut.as_mut().as_pin_mut() else {
        unreachable!("a running bulkhead call has its future")
    };
    // Runs only if the call's poll or its drop unwinds: the slot is freed, counted as
    // panicked, and the stage moves on so the later drop of this future does not free it
    // again. (A future that panicked in its poll is dropped with this one, after the slot.)
    let unwinding = OnExit::new(|exit| {
        *stage = Stage::Done;
        bulkhead.abandon_slot(exit);
    });
    let poll = running.poll(cx);
    if poll.is_ready() {
        fut.set(None);
    }
    unwinding.complete();
    if let Some(sample) = sample.as_mut().filter(|s| s.started == 0)
        && poll.is_pending()
    {
        bulkhead.adaptive.waited(sample);
    }
    let outcome = ready!(poll);
    *stage = Stage::Done;
    // The slot first: nothing after it (a sample, an event) can keep it.
    bulkhead.release(true);
    if let Some(sample) = sample.take().filter(|s| s.started != 0) {
        // A rejection from below says nothing of latency; a timeout inside is a drop.
        match &outcome {
            Err(Failure::Rejected(e))
                if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::DeadlineExceeded) =>
            {
                bulkhead.sampled(sample, true);
            }
            Err(Failure::Rejected(_)) => {}
            _ => bulkhead.sampled(sample, false),
        }
    }
    Poll::Ready(outcome)
}

pin_project! {
    /// A caller counted in the queue, waiting for a slot until its deadline (if the bulkhead
    /// has a `wait`). Dropped while it still holds its place, it gives the place back.
    struct Wait<'a> {
        bulkhead: &'a Bulkhead,
        // The bulkhead's `wait` when the caller joined the queue, no longer than what remained
        // of the call's deadline then (see `deadline`).
        wait: u64,
        // Set on the first poll, unless `wait` is "until a slot frees".
        #[pin]
        deadline: Option<Sleep>,
        // Registered before each look for a slot, so a slot freed between the look and the
        // sleep still wakes this caller (see the core's module docs).
        #[pin]
        slot_freed: Notified<'a>,
        // `slot_freed` is registered and a slot was looked for since.
        armed: bool,
        // Counted in the queue: until the wait ends, or a panic in its poll.
        queued: bool,
    }

    impl PinnedDrop for Wait<'_> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.queued {
                this.bulkhead.core.leave_queue();
                this.bulkhead.count_exit(Exit::of_drop());
            }
        }
    }
}

impl<'a> Wait<'a> {
    /// For a caller just counted in the queue.
    fn new(bulkhead: &'a Bulkhead) -> Self {
        Wait {
            bulkhead,
            // Relaxed: a snapshot of the configuration. Under a deadline, a place in the queue
            // is held no longer than what remains of it (the one clock read a queued caller
            // adds).
            wait: match crate::deadline::remaining() {
                Some(left) => bulkhead
                    .wait
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .min(crate::clock::ticks(left)),
                None => bulkhead.wait.load(std::sync::atomic::Ordering::Relaxed),
            },
            deadline: None,
            slot_freed: bulkhead.slot_freed.notified(),
            armed: false,
            queued: true,
        }
    }
}

impl Future for Wait<'_> {
    /// Whether the caller took a slot (`false`: its wait ran out). Either way it has left the
    /// queue.
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut this = self.project();
        let bulkhead = *this.bulkhead;
        let queued = this.queued;
        assert!(*queued, "bulkhead call polled after it panicked");
        // A panic in here (creating the timer in a runtime built without one, say) gives the
        // place in the queue back at once, counted as panicked.
        let unwinding = OnExit::new(|exit| {
            *queued = false;
            bulkhead.core.leave_queue();
            bulkhead.count_exit(exit);
        });
        if *this.wait != UNTIL_A_SLOT_FREES && this.deadline.is_none() {
            // The deadline is fixed once, at the first poll, when the caller joined the queue.
            let wait = Duration::from_nanos(*this.wait);
            this.deadline.set(Some(tokio::time::sleep(wait)));
        }
        let polled = loop {
            if !*this.armed {
                this.slot_freed.as_mut().enable();
                if bulkhead.core.try_acquire_slot() {
                    break Poll::Ready(true);
                }
                *this.armed = true;
            }
            // The wake-up first: a slot that frees at the deadline is still taken.
            if this.slot_freed.as_mut().poll(cx).is_ready() {
                // Woken for a freed slot: register again, then look.
                this.slot_freed.set(bulkhead.slot_freed.notified());
                *this.armed = false;
                continue;
            }
            let ran_out = match this.deadline.as_mut().as_pin_mut() {
                Some(sleep) => sleep.poll(cx).is_ready(),
                None => false,
            };
            if !ran_out {
                break Poll::Pending;
            }
            // The wait ran out: one last look, then reject. The registration, dropped with
            // this wait, passes a wake-up that raced with the deadline on to the next waiter.
            break Poll::Ready(bulkhead.core.try_acquire_slot());
        };
        unwinding.complete();
        let admitted = ready!(polled);
        bulkhead.core.leave_queue();
        *queued = false;
        Poll::Ready(admitted)
    }
}
