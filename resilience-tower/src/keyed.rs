//! Keyed families as layers: each request runs through the child of its key (a tenant's own
//! limiter, a host's own breaker), the key taken from the request by a function.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use resilience_runtime::drain::{InFlight, admitted};
use resilience_runtime::keyed::Keyable;
use resilience_runtime::{Bulkhead, CircuitBreaker, Failure, Keyed, RateLimiter};
use tower_layer::Layer;
use tower_service::Service;

use crate::future::{BreakerClass, Classified, Deferred, restore};
use crate::{AnyError, Boxed, Classify, HttpStatus, Output, Respond};

/// A kind whose keyed family a layer can run calls through: [`CircuitBreaker`], [`Bulkhead`],
/// [`RateLimiter`].
pub trait KeyedPolicy: Keyable + sealed::Sealed {
    /// The child's call of `fut`.
    #[doc(hidden)]
    fn run<'a, Res, E, F>(
        &'a self,
        fut: F,
    ) -> impl Future<Output = Result<Res, Failure<Classified<Res, E>>>> + Send + 'a
    where
        F: Future<Output = Result<Res, Failure<Classified<Res, E>>>> + Send + 'a,
        Res: Send + 'a,
        E: Send + 'a;
}

mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for CircuitBreaker {}
impl sealed::Sealed for Bulkhead {}
impl sealed::Sealed for RateLimiter {}

/// `KeyedPolicy` for `$ty`, whose child runs the call as `$run(child, fut)` says.
macro_rules! keyed_policy {
    ($ty:ty, |$child:ident, $fut:ident| $run:expr) => {
        impl KeyedPolicy for $ty {
            fn run<'a, Res, E, F>(
                &'a self,
                $fut: F,
            ) -> impl Future<Output = Result<Res, Failure<Classified<Res, E>>>> + Send + 'a
            where
                F: Future<Output = Result<Res, Failure<Classified<Res, E>>>> + Send + 'a,
                Res: Send + 'a,
                E: Send + 'a,
            {
                let $child = self;
                $run
            }
        }
    };
}

keyed_policy!(CircuitBreaker, |child, fut| child
    .call_classified(fut, Classified::breaker as BreakerClass<Res, E>));
keyed_policy!(Bulkhead, |child, fut| child.call(fut));
keyed_policy!(RateLimiter, |child, fut| child.call(fut));

/// A layer that runs each request through the child of its key in a keyed family. `key` takes
/// the key from the request (`|req: &Request<Body>| tenant_of(req)`).
///
/// A family that holds its most keys and can evict none rejects a request under a new key
/// with `KeyLimit` (a 429 with [`respond`](KeyedLayer::respond)); requests under the keys it
/// holds go on.
pub fn keyed_layer<P, X>(family: &'static Keyed<P>, key: X) -> KeyedLayer<P, X>
where
    P: KeyedPolicy,
{
    KeyedLayer {
        family,
        key,
        classify: AnyError,
        site: InFlight::named(family.name()),
        output: PhantomData,
    }
}

/// A [`Layer`] running each request through its key's child: made by [`keyed_layer`].
pub struct KeyedLayer<P: Keyable, X, C = AnyError, O = Boxed> {
    family: &'static Keyed<P>,
    key: X,
    classify: C,
    site: &'static InFlight,
    output: PhantomData<fn() -> O>,
}

impl<P: Keyable, X, C, O> fmt::Debug for KeyedLayer<P, X, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLayer")
            .field("family", &self.family.name())
            .finish_non_exhaustive()
    }
}

impl<P: Keyable, X: Clone, C: Clone, O> Clone for KeyedLayer<P, X, C, O> {
    fn clone(&self) -> Self {
        KeyedLayer {
            family: self.family,
            key: self.key.clone(),
            classify: self.classify.clone(),
            site: self.site,
            output: PhantomData,
        }
    }
}

impl<P: Keyable, X, C, O> KeyedLayer<P, X, C, O> {
    /// Classifies outcomes with `classify` (see [`Classify`]).
    pub fn classify<C2>(self, classify: C2) -> KeyedLayer<P, X, C2, O> {
        KeyedLayer {
            family: self.family,
            key: self.key,
            classify,
            site: self.site,
            output: PhantomData,
        }
    }

    /// Classifies `http::Response`s by status ([`HttpStatus`]).
    pub fn http(self) -> KeyedLayer<P, X, HttpStatus, O> {
        self.classify(HttpStatus)
    }

    /// Answers rejections with HTTP responses ([`Respond`]).
    pub fn respond(self) -> KeyedLayer<P, X, C, Respond> {
        KeyedLayer {
            family: self.family,
            key: self.key,
            classify: self.classify,
            site: self.site,
            output: PhantomData,
        }
    }
}

impl<S, P: Keyable, X: Clone, C: Clone, O> Layer<S> for KeyedLayer<P, X, C, O> {
    type Service = KeyedService<S, P, X, C, O>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service a [`KeyedLayer`] makes.
pub struct KeyedService<S, P: Keyable, X, C, O> {
    inner: S,
    layer: KeyedLayer<P, X, C, O>,
}

impl<S, P: Keyable, X, C, O> fmt::Debug for KeyedService<S, P, X, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedService")
            .field("family", &self.layer.family.name())
            .finish_non_exhaustive()
    }
}

impl<S: Clone, P: Keyable, X: Clone, C: Clone, O> Clone for KeyedService<S, P, X, C, O> {
    fn clone(&self) -> Self {
        KeyedService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

/// The keyed layer's future: boxed, as it holds the child's handle across the call.
pub type KeyedFuture<Res, E> = Pin<Box<dyn Future<Output = Result<Res, E>> + Send>>;

impl<S, P, X, K, C, O, Req> Service<Req> for KeyedService<S, P, X, C, O>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Send + 'static,
    P: KeyedPolicy,
    X: Fn(&Req) -> K,
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
    C: Classify<S::Response, S::Error> + Send + 'static,
    O: Output<S::Response, S::Error> + 'static,
{
    type Response = S::Response;
    type Error = O::Error;
    type Future = KeyedFuture<S::Response, O::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(O::error)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.layer.key)(&req);
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let call = Deferred::new(ready, req, self.layer.classify.clone());
        let (family, site) = (self.layer.family, self.layer.site);
        Box::pin(async move {
            let outcome = admitted(site, async move {
                // The key's child, looked up (or made) before anything runs.
                let child = family.child(&key).map_err(Failure::Rejected)?;
                child.run(call).await
            })
            .await;
            restore::<O, S::Response, S::Error>(outcome)
        })
    }
}
