//! The future a [`Timeout`] wraps a call in: the call first, the timer only once it waits.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::coop;
use tokio::time::Sleep;

use super::Timeout;
use crate::deadline::{self, Own};
use crate::error::{ErrorKind, Failure};
use crate::event::PolicyKind;

pin_project! {
    /// A call running under a [`Timeout`]; made by [`Timeout::call`].
    ///
    /// Yields the call's outcome, or `Err(Failure::Rejected(_))` of kind
    /// [`TimedOut`](crate::ErrorKind::TimedOut) at the deadline. The timer lives inside this
    /// future (no allocation) and is created only when the call first returns `Pending`.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[project = TimeoutFutureProj]
    pub struct TimeoutFuture<'a, F> {
        // `None` once the deadline passed: the call is dropped right then, not when this future is.
        #[pin]
        call: Option<F>,
        // `None` until the call first returns `Pending`.
        #[pin]
        deadline: Option<Sleep>,
        timeout: &'a Timeout,
        // When its own duration started counting (the deadline's ticks): at its first
        // `Pending`, or earlier if a layer inside read the clock for the deadline first.
        started: Option<u64>,
        // The policy whose deadline, inherited, ends before this timeout's own: set at the
        // first `Pending`.
        inherited: Option<&'static str>,
    }
}

impl<'a, F> TimeoutFuture<'a, F> {
    #[inline]
    pub(super) fn new(timeout: &'a Timeout, call: F) -> Self {
        TimeoutFuture {
            call: Some(call),
            deadline: None,
            timeout,
            started: None,
            inherited: None,
        }
    }
}

impl<T, E, F> Future for TimeoutFuture<'_, F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    type Output = Result<T, Failure<E>>;

    /// The call first, with the deadline it carries in place for the layers inside: a call
    /// that completes at once costs this and nothing more, inlined into the caller; the timer
    /// and everything after a `Pending` are out of line.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let timeout = *this.timeout;
        let Some(call) = this.call.as_mut().as_pin_mut() else {
            // Polled again after timing out: the answer has not changed.
            return Poll::Ready(Err(Failure::Rejected(this.timeout.rejection())));
        };
        // The built name: a plain field (the reported one is resolved once per process, a
        // check that would cost a third of this path).
        let own = match *this.started {
            Some(t) => Own::Fixed(deadline::after(t, timeout.duration()), timeout.name.built()),
            None => Own::Lazy(timeout.duration(), timeout.name.built()),
        };
        let mut entered = deadline::enter(own);
        let poll = call.poll(cx);
        let started = entered.exit();
        if this.started.is_none() {
            *this.started = started;
        }
        if poll.is_ready() {
            // The deadline this timeout set ran out inside it: its own timeout, said as such.
            // Looked at by reference, and the outcome handed on as it was written, not copied.
            if let Poll::Ready(Err(Failure::Rejected(r))) = &poll
                && r.kind() == ErrorKind::DeadlineExceeded
            {
                return Poll::Ready(Err(own_deadline(timeout, *r)));
            }
            return poll;
        }
        Self::poll_deadline(this, cx)
    }
}

/// A `DeadlineExceeded` that reached `timeout`: its own `TimedOut` if the deadline was its
/// own, else handed on.
#[cold]
#[inline(never)]
fn own_deadline<E>(timeout: &Timeout, r: crate::Error) -> Failure<E> {
    if r.policy() == timeout.name.built() {
        Failure::Rejected(timeout.expired())
    } else {
        Failure::Rejected(r)
    }
}

impl<T, E, F> TimeoutFuture<'_, F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    /// After the call returned `Pending`: starts the timer on the first `Pending`, polls it,
    /// and cancels the call at the deadline.
    #[inline(never)]
    fn poll_deadline(
        mut this: TimeoutFutureProj<'_, '_, F>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Failure<E>>> {
        let timeout = *this.timeout;
        let expired = match this.deadline.as_mut().as_pin_mut() {
            Some(deadline) => {
                if !coop::has_budget_remaining() {
                    // The task's budget is spent (most likely by the call), so the timer would
                    // refuse to fire and a busy call could never time out: poll it unconstrained,
                    // as tokio's own `Timeout` does. Checked only after a `Pending`, so a call
                    // that completes pays nothing for it.
                    pin!(coop::unconstrained(deadline)).poll(cx).is_ready()
                } else {
                    deadline.poll(cx).is_ready()
                }
            }
            None => {
                if tokio::runtime::Handle::try_current().is_err() {
                    tracing::error!(
                        target: "resilience",
                        policy = timeout.name(),
                        kind = PolicyKind::Timeout.as_str(),
                        "timeout rejected the call: a timeout needs a tokio runtime with time enabled, \
                         and this call waited outside any tokio runtime"
                    );
                    true
                } else {
                    // The deadline counts from here, the call's first `Pending` (or from when a
                    // layer inside fixed it), and ends no later than the inherited one.
                    let (start, inherited) = deadline::first_wait(*this.started);
                    *this.started = Some(start);
                    let own = deadline::after(start, timeout.duration());
                    let at = match inherited {
                        Some((at, by)) if at < own => {
                            *this.inherited = Some(by);
                            at
                        }
                        _ => own,
                    };
                    this.deadline
                        .set(Some(tokio::time::sleep_until(deadline::instant(at))));
                    match this.deadline.as_mut().as_pin_mut() {
                        Some(deadline) => deadline.poll(cx).is_ready(),
                        None => false,
                    }
                }
            }
        };
        if !expired {
            return Poll::Pending;
        }

        this.call.set(None);
        if let Some(by) = *this.inherited {
            // The deadline it inherited ran out first: the policy that set it says so.
            return Poll::Ready(Err(Failure::Rejected(deadline::exceeded(by))));
        }
        Poll::Ready(Err(Failure::Rejected(timeout.expired())))
    }
}

impl<F> fmt::Debug for TimeoutFuture<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutFuture")
            .field("timeout", &self.timeout.name())
            .field("duration", &self.timeout.duration())
            .field(
                "deadline",
                &self.deadline.as_ref().map(|sleep| sleep.deadline()),
            )
            .field("timed_out", &self.call.is_none())
            .finish()
    }
}
