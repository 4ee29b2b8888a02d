//! The future of a hedged call: the first attempt in place, the hedges boxed beside it (an
//! allocation only for a call that is hedged), and one timer, created at the first `Pending`.

use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::Hedge;
use crate::error::Failure;
use crate::event::{EventKind, PolicyKind, emit};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    Running,
    Done,
}

pin_project! {
    /// A call running under a [`Hedge`]; made by [`Hedge::call`].
    ///
    /// Dropping it drops every attempt still running (counted as cancelled).
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct HedgeFuture<'a, F, Fut: Future> {
        hedge: &'a Hedge,
        attempt: F,
        #[pin]
        first: Option<Fut>,
        // The hedges started, in order; `None` once one has failed.
        others: Vec<Option<Pin<Box<Fut>>>>,
        // Until the next hedge; `None` until the first `Pending`, and once no hedge is left.
        #[pin]
        timer: Option<Sleep>,
        // When the call first waited (its latency counts from there).
        started: Option<Instant>,
        // Hedges this call may still start.
        left: u32,
        // Attempts running.
        running: u32,
        // The last failure, returned if no attempt succeeds.
        failed: Option<Fut::Output>,
        stage: Stage,
    }

    impl<F, Fut: Future> PinnedDrop for HedgeFuture<'_, F, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.running > 0 {
                this.hedge.cancel(*this.running);
            }
        }
    }
}

impl<'a, F, Fut: Future> HedgeFuture<'a, F, Fut> {
    pub(super) fn new(hedge: &'a Hedge, attempt: F) -> Self {
        HedgeFuture {
            hedge,
            attempt,
            first: None,
            others: Vec::new(),
            timer: None,
            started: None,
            left: 0,
            running: 0,
            failed: None,
            stage: Stage::Idle,
        }
    }
}

/// What polling the attempts found.
enum Found<T> {
    /// An attempt succeeded: the call's value, and which attempt (0: the first).
    Won(T, usize),
    /// Nothing to return yet.
    Waiting,
}

impl<T, E, F, Fut> Future for HedgeFuture<'_, F, Fut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    type Output = Result<T, Failure<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let hedge = *this.hedge;
        match *this.stage {
            Stage::Running => {}
            Stage::Idle => {
                hedge.calls.add(1);
                if let Some(budget) = hedge.budget {
                    budget.deposit();
                }
                *this.left = hedge.max();
                this.first.set(Some((this.attempt)()));
                *this.running = 1;
                *this.stage = Stage::Running;
            }
            Stage::Done => panic!("hedged call polled after it completed"),
        }
        loop {
            // The attempts running, the first first.
            let mut found = Found::Waiting;
            if let Some(first) = this.first.as_mut().as_pin_mut()
                && let Poll::Ready(outcome) = first.poll(cx)
            {
                this.first.set(None);
                *this.running -= 1;
                match outcome {
                    Ok(value) => found = Found::Won(value, 0),
                    Err(failure) => *this.failed = Some(Err(failure)),
                }
            }
            if let Found::Waiting = found {
                for (i, slot) in this.others.iter_mut().enumerate() {
                    let Some(attempt) = slot else { continue };
                    if let Poll::Ready(outcome) = attempt.as_mut().poll(cx) {
                        *slot = None;
                        *this.running -= 1;
                        match outcome {
                            Ok(value) => {
                                found = Found::Won(value, i + 1);
                                break;
                            }
                            Err(failure) => *this.failed = Some(Err(failure)),
                        }
                    }
                }
            }
            if let Found::Won(value, winner) = found {
                // The others lose: dropped now, so what they hold is released before the
                // caller goes on.
                this.first.set(None);
                this.others.clear();
                let losers = std::mem::take(this.running);
                if losers > 0 {
                    hedge.cancel(losers);
                }
                if winner > 0 {
                    // Relaxed: a counter, read only for snapshots.
                    hedge.wins.fetch_add(1, Relaxed);
                }
                // A call that answered at its first poll (a cache hit above the dependency) is
                // not recorded: it says nothing of the dependency's tail, and a run of them
                // would pull the percentile to nothing and hedge every miss at once.
                let per_mille = hedge.per_mille.load(Relaxed);
                if let (true, Some(started)) = (per_mille != 0, *this.started) {
                    hedge.latencies.record(started.elapsed(), per_mille);
                }
                *this.stage = Stage::Done;
                return Poll::Ready(Ok(value));
            }
            if *this.running == 0 {
                // Every attempt started has failed, and none runs to be hedged: the last
                // failure is the call's.
                *this.stage = Stage::Done;
                this.others.clear();
                this.timer.set(None);
                return match this.failed.take() {
                    Some(outcome) => Poll::Ready(outcome),
                    None => unreachable!("no attempt runs, none succeeded, none failed"),
                };
            }
            if *this.left == 0 {
                return Poll::Pending;
            }
            // The next hedge's timer: made at the first `Pending`, then moved on at each hedge.
            if this.timer.is_none() {
                if tokio::runtime::Handle::try_current().is_err() {
                    // No timer outside a tokio runtime: the call runs unhedged. (Inside one
                    // built without `enable_time`, tokio panics making the timer, as for a
                    // timeout: that case cannot be told from here.)
                    *this.left = 0;
                    return Poll::Pending;
                }
                let delay = hedge.delay();
                let sleep = tokio::time::sleep(delay);
                *this.started = Some(sleep.deadline() - delay);
                this.timer.set(Some(sleep));
            }
            let Some(mut timer) = this.timer.as_mut().as_pin_mut() else {
                unreachable!("the timer was just set")
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(budget) = hedge.budget
                && !budget.withdraw()
            {
                // Skipped, not failed: the attempts running go on, unhedged.
                // Relaxed: a counter, read only for snapshots.
                hedge.skipped.fetch_add(1, Relaxed);
                *this.left = 0;
                this.timer.set(None);
                return Poll::Pending;
            }
            *this.left -= 1;
            // Relaxed: a counter, read only for snapshots.
            hedge.hedges.fetch_add(1, Relaxed);
            let number = this.others.len() as u32 + 2;
            emit(
                &hedge.name,
                PolicyKind::Hedge,
                EventKind::Hedged { attempt: number },
            );
            this.others.push(Some(Box::pin((this.attempt)())));
            *this.running += 1;
            if *this.left > 0 {
                timer.reset(Instant::now() + hedge.delay());
            }
            // Loop: the new attempt's first poll, and the timer registered again.
        }
    }
}

impl Hedge {
    /// Attempts dropped while running: counted and published.
    #[cold]
    fn cancel(&self, attempts: u32) {
        // Relaxed: a counter, read only for snapshots.
        self.cancelled.fetch_add(u64::from(attempts), Relaxed);
        for _ in 0..attempts {
            emit(&self.name, PolicyKind::Hedge, EventKind::Cancelled);
        }
    }
}
