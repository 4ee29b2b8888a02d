//! The futures a layer's service returns: the inner call, made on the first poll and
//! classified for the policies ([`Deferred`]), and the outcome handed back in the service's
//! own terms ([`Restore`]).

use std::any::Any;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use resilience_runtime::{Classification, Error, Failure};
use tower_service::Service;

use crate::classify::{Class, Classify};
use crate::output::Output;

/// An outcome of the inner service that is not a success, as the policies see it: an error of
/// theirs, kept with its class, to be handed back as it was.
#[derive(Debug)]
pub enum Classified<Res, E> {
    /// A response classified as a failure (a 503): the caller still gets the response.
    Response(Res, Class),
    /// An error of the inner service.
    Error(E, Class),
}

impl<Res, E> Classified<Res, E> {
    /// Its class.
    pub fn class(&self) -> Class {
        match self {
            Classified::Response(_, class) | Classified::Error(_, class) => *class,
        }
    }

    /// How a breaker counts it (a `fn` the breaker's `call_classified` takes).
    pub fn breaker(&self) -> Classification {
        self.class().breaker()
    }
}

/// The breaker's classification, as the `fn` pointer type its future names.
pub type BreakerClass<Res, E> = fn(&Classified<Res, E>) -> Classification;

/// A rejection by a layer below, as the inner service's error: a [`resilience_runtime::Error`]
/// itself, or one boxed (what a layer's service returns with the default output).
fn inner_rejection<E: 'static>(error: &E) -> Option<Error> {
    let any = error as &dyn Any;
    if let Some(rejection) = any.downcast_ref::<Error>() {
        return Some(*rejection);
    }
    any.downcast_ref::<crate::BoxError>()
        .and_then(|boxed| boxed.downcast_ref::<Error>())
        .copied()
}

pin_project_lite::pin_project! {
    /// The inner service's call, made on the first poll (so a policy that rejects never calls
    /// it), with its outcome classified: a success as `Ok`, anything else as the
    /// [`Classified`] error the policies count, and a rejection by a layer below as that
    /// rejection.
    #[must_use = "futures do nothing unless polled"]
    pub struct Deferred<S, Req, C>
    where
        S: Service<Req>,
    {
        start: Option<(S, Req)>,
        #[pin]
        call: Option<S::Future>,
        classify: C,
    }
}

impl<S: Service<Req>, Req, C> Deferred<S, Req, C> {
    /// The call of `req` on `service`, which must be ready.
    pub(crate) fn new(service: S, req: Req, classify: C) -> Self {
        Deferred {
            start: Some((service, req)),
            call: None,
            classify,
        }
    }
}

impl<S, Req, C> Future for Deferred<S, Req, C>
where
    S: Service<Req>,
    S::Error: 'static,
    C: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, Failure<Classified<S::Response, S::Error>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some((mut service, req)) = this.start.take() {
            this.call.set(Some(service.call(req)));
        }
        let Some(call) = this.call.as_mut().as_pin_mut() else {
            // Polled again after it completed.
            return Poll::Pending;
        };
        let outcome = ready!(call.poll(cx));
        this.call.set(None);
        Poll::Ready(match outcome {
            Ok(response) => {
                if let Some(rejection) = this.classify.rejection(&response) {
                    Err(Failure::Rejected(rejection))
                } else {
                    match this.classify.classify(Ok(&response)) {
                        Class::Success => Ok(response),
                        class => Err(Failure::Error(Classified::Response(response, class))),
                    }
                }
            }
            Err(error) => match inner_rejection(&error) {
                Some(rejection) => Err(Failure::Rejected(rejection)),
                None => {
                    let class = this.classify.classify(Err(&error));
                    Err(Failure::Error(Classified::Error(error, class)))
                }
            },
        })
    }
}

pin_project_lite::pin_project! {
    /// A policy's outcome handed back as the service's: a response classified as a failure is
    /// the caller's response again, an error the inner service's error, a rejection what the
    /// layer's [`Output`] makes of it.
    #[must_use = "futures do nothing unless polled"]
    pub struct Restore<F, O> {
        #[pin]
        inner: F,
        output: PhantomData<fn() -> O>,
    }
}

impl<F, O> Restore<F, O> {
    pub(crate) fn new(inner: F) -> Self {
        Restore {
            inner,
            output: PhantomData,
        }
    }
}

impl<F, O, Res, E> Future for Restore<F, O>
where
    F: Future<Output = Result<Res, Failure<Classified<Res, E>>>>,
    O: Output<Res, E>,
{
    type Output = Result<Res, O::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = ready!(self.project().inner.poll(cx));
        Poll::Ready(restore::<O, Res, E>(outcome))
    }
}

/// The outcome of the policies as the service's.
pub(crate) fn restore<O, Res, E>(
    outcome: Result<Res, Failure<Classified<Res, E>>>,
) -> Result<Res, O::Error>
where
    O: Output<Res, E>,
{
    match outcome {
        Ok(response) | Err(Failure::Error(Classified::Response(response, _))) => Ok(response),
        Err(Failure::Error(Classified::Error(error, _))) => Err(O::error(error)),
        Err(Failure::Rejected(rejection)) => O::rejected(rejection),
    }
}
