//! The future of a call through a circuit breaker: admission on the first poll, the outcome
//! recorded when the inner future completes, a probe slot freed when it is dropped or panics.
//!
//! Written by hand rather than as an `async fn` so the success path pays for no state-machine
//! moves, and so a drop (cancelled) and a panic (a failure) are told apart exactly.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::core::{Outcome, Permit};
use super::{CircuitBreaker, Classification};
use crate::error::{ErrorKind, Failure};
use crate::guard::{Exit, OnExit};

/// Where a call is.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Not polled yet: not admitted.
    Idle,
    /// Admitted; the inner future is running. `started` is a tick, or 0 when slow calls are
    /// not tracked.
    Running { permit: Permit, started: u64 },
    /// Rejected, completed, or panicked: nothing more to record.
    Done,
}

pin_project! {
    /// The future returned by [`CircuitBreaker::call`] and [`CircuitBreaker::call_classified`].
    ///
    /// The breaker decides on the first poll, not when the future is created. Dropping it
    /// before it completes counts the call as `cancelled` and frees its half-open probe slot
    /// at once; a panic in the inner future counts as a failure, frees the slot, and keeps
    /// unwinding.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F, C> {
        breaker: &'a CircuitBreaker,
        #[pin]
        fut: F,
        classify: C,
        stage: Stage,
    }

    impl<F, C> PinnedDrop for Call<'_, F, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Stage::Running { permit, .. } = *this.stage {
                this.breaker.exited(permit, Exit::Cancelled);
            }
        }
    }
}

impl<'a, F, C> Call<'a, F, C> {
    pub(super) fn new(breaker: &'a CircuitBreaker, fut: F, classify: C) -> Self {
        Call {
            breaker,
            fut,
            classify,
            stage: Stage::Idle,
        }
    }
}

impl<T, E, F, C> Future for Call<'_, F, C>
where
    F: Future<Output = Result<T, Failure<E>>>,
    C: Fn(&E) -> Classification,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let breaker = *this.breaker;
        let (permit, started) = match *this.stage {
            Stage::Running { permit, started } => (permit, started),
            Stage::Idle => match breaker.admit() {
                Ok((permit, started)) => {
                    *this.stage = Stage::Running { permit, started };
                    (permit, started)
                }
                Err(rejection) => {
                    *this.stage = Stage::Done;
                    return Poll::Ready(Err(Failure::Rejected(rejection)));
                }
            },
            Stage::Done => panic!("circuit breaker call polled after it completed"),
        };

        let stage = &mut *this.stage;
        // Runs only if the inner poll unwinds: the call panicked, so it is a failure, and the
        // stage moves on so the later drop of this future does not count it again. It reads
        // the permit back from the stage, so the guard holds two pointers and nothing more.
        let unwinding = OnExit::new(move |exit| {
            if let Stage::Running { permit, .. } = std::mem::replace(stage, Stage::Done) {
                breaker.exited(permit, exit);
            }
        });
        let poll = this.fut.poll(cx);
        unwinding.complete();
        let result = ready!(poll);
        *this.stage = Stage::Done;

        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(Failure::Error(e)) => match (this.classify)(e) {
                Classification::Success => Outcome::Success,
                Classification::Failure => Outcome::Failure,
                Classification::Ignored => Outcome::Ignored,
            },
            Err(Failure::Rejected(r)) => match r.kind() {
                ErrorKind::TimedOut => Outcome::Failure,
                // Local throttling (bulkhead, rate limiter, an inner breaker) says nothing
                // about the dependency, and neither does a caller's deadline running out.
                _ => Outcome::Ignored,
            },
        };
        breaker.finish(permit, outcome, started);
        Poll::Ready(result)
    }
}
