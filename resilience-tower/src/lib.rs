//! The resilience policies as [tower] layers.
//!
//! A layer runs the calls of a service through a policy: a `policy!` static (shared with the
//! attributes that name it) or any `&'static` policy. Same state, same registry entry, same
//! events and metrics, same semantics as the attribute:
//!
//! ```
//! use resilience_tower as tower_layers; // `resilience::tower` with the `tower` feature
//! use resilience_runtime::CircuitBreaker;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! static PAYMENTS: CircuitBreaker = match CircuitBreaker::builder("payments").build() {
//!     Ok(b) => b,
//!     Err(_) => panic!("invalid breaker"),
//! };
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let client = ServiceBuilder::new()
//!     .layer(tower_layers::layer(&PAYMENTS))
//!     .service(service_fn(|amount: u64| async move { Ok::<_, std::io::Error>(amount) }));
//! assert_eq!(client.oneshot(10).await.unwrap(), 10);
//! # }
//! ```
//!
//! # What each policy does as a layer
//!
//! | policy | the layer |
//! |---|---|
//! | [`CircuitBreaker`] | admits or rejects each call, counts its outcome by its [`Class`] |
//! | [`Retry`] | runs the request again (a clone of it, `Req: Clone`) on a retryable outcome, waiting for the inner service's readiness between attempts |
//! | [`Timeout`] | cancels the inner call past the duration (and sets the deadline the layers below read) |
//! | [`Bulkhead`] | holds a slot for the call, queueing as the bulkhead says |
//! | [`RateLimiter`] | takes a permit for the call, waiting as the limiter says |
//! | [`Hedge`] | sends a clone of the request (`Req: Clone`) to a clone of the inner service, made ready first, when no answer came after the hedge's delay; the first success is the answer, the others are dropped |
//! | a keyed family ([`keyed_layer`]`(&PER_TENANT, \|req\| tenant_of(req))`) | runs each request through its key's child: a tenant's own limiter, a host's own breaker |
//!
//! The inner service is called only once the policy admits the call: an open breaker never
//! calls it. Layers stack in the order of [`ServiceBuilder`](https://docs.rs/tower): the first
//! `.layer` is the outermost, as the first attribute of a stack is.
//!
//! # Classification
//!
//! What a response or an error means is a [`Classify`]: [`AnyError`] by default (every response
//! a success, every error a retryable failure), [`HttpStatus`] for `http::Response`s
//! ([`PolicyLayer::http`]: 5xx and 408 retryable failures, 429 a push back that a breaker does
//! not count, `Retry-After` honoured), or your own function ([`PolicyLayer::classify`]). A
//! response classified as a failure is still handed to the caller as it is: the layer counts
//! it, it does not replace it.
//!
//! # Errors
//!
//! By default ([`Boxed`]), the service's error is a [`BoxError`], as with tower's own
//! middleware: the inner service's error, or the policy's rejection, a
//! [`resilience_runtime::Error`] (`e.downcast_ref::<resilience::Error>()`). A layer above
//! recognises a rejection from a layer below as one, as the attributes do: a breaker does not
//! count the rejection of a full bulkhead below it, and a retry does not repeat an open
//! breaker. For servers, [`PolicyLayer::respond`] makes rejections HTTP responses (429, 503,
//! 504, with `Retry-After`) and keeps the inner service's error type, so an axum route's
//! `Infallible` stays one.
//!
//! # Drain
//!
//! A layer is a place of admission for [`registry::drain`](resilience_runtime::registry::drain)
//! like an annotated function: while the program drains, a new call is refused with a
//! `ShuttingDown` rejection (a 503 with [`PolicyLayer::respond`]) before the policy sees it,
//! and the calls in flight are reported under the policy's name.
//!
//! # Cost
//!
//! The breaker, bulkhead, rate limiter and timeout layers return named futures (no allocation
//! per call); the retry and hedge layers' futures are boxed, as they hold the request for the
//! next attempt, and so is a keyed layer's, which holds its child's handle.
//! See `BENCHMARKS.md` for the figures beside `tower-resilience`.
//!
//! [tower]: https://docs.rs/tower

mod classify;
mod future;
mod keyed;
mod output;

use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use resilience_runtime::drain::{Admitted, InFlight, admitted};
use resilience_runtime::{Bulkhead, CircuitBreaker, Hedge, RateLimiter, Retry, Timeout};
use resilience_runtime::{Failure, circuit_breaker, rate_limiter, retry};
use tower_layer::Layer;
use tower_service::Service;

pub use classify::{AnyError, Class, Classify, HttpStatus};
pub use future::{BreakerClass, Classified, Deferred, Restore};
pub use keyed::{KeyedFuture, KeyedLayer, KeyedPolicy, KeyedService, keyed_layer};
pub use output::{Boxed, Output, Respond};

/// The error of a layer's service with the default output: the inner service's error or a
/// policy's rejection.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A policy a layer can run calls through: [`CircuitBreaker`], [`Retry`], [`Timeout`],
/// [`Bulkhead`], [`RateLimiter`], [`Hedge`].
pub trait Policy: Sync + 'static + sealed::Sealed {
    /// The name it is registered under.
    fn policy_name(&self) -> &'static str;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! policies {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Policy for $ty {
            fn policy_name(&self) -> &'static str {
                self.name()
            }
        }
    )*};
}

policies!(CircuitBreaker, Retry, Timeout, Bulkhead, RateLimiter, Hedge);

/// A layer that runs every call of the service it wraps through `policy`. See the
/// [crate docs](crate).
pub fn layer<P: Policy>(policy: &'static P) -> PolicyLayer<P> {
    PolicyLayer {
        policy,
        classify: AnyError,
        // One place of admission per policy, named after it: building a layer again (per
        // connection, per test) makes no other, and allocates nothing.
        site: InFlight::named(policy.policy_name()),
        output: PhantomData,
    }
}

/// A [`Layer`] running calls through a policy: made by [`layer`], set with
/// [`classify`](Self::classify), [`http`](Self::http) and [`respond`](Self::respond).
#[derive(Debug)]
pub struct PolicyLayer<P: 'static, C = AnyError, O = Boxed> {
    policy: &'static P,
    classify: C,
    site: &'static InFlight,
    output: PhantomData<fn() -> O>,
}

impl<P, C: Clone, O> Clone for PolicyLayer<P, C, O> {
    fn clone(&self) -> Self {
        PolicyLayer {
            policy: self.policy,
            classify: self.classify.clone(),
            site: self.site,
            output: PhantomData,
        }
    }
}

impl<P, C, O> PolicyLayer<P, C, O> {
    /// Classifies outcomes with `classify` (see [`Classify`]).
    pub fn classify<C2>(self, classify: C2) -> PolicyLayer<P, C2, O> {
        PolicyLayer {
            policy: self.policy,
            classify,
            site: self.site,
            output: PhantomData,
        }
    }

    /// Classifies `http::Response`s by status, with `Retry-After` ([`HttpStatus`]).
    pub fn http(self) -> PolicyLayer<P, HttpStatus, O> {
        self.classify(HttpStatus)
    }

    /// Answers rejections with HTTP responses and keeps the inner service's error type
    /// ([`Respond`]): for servers.
    pub fn respond(self) -> PolicyLayer<P, C, Respond> {
        PolicyLayer {
            policy: self.policy,
            classify: self.classify,
            site: self.site,
            output: PhantomData,
        }
    }

    /// The policy it runs calls through.
    pub fn policy(&self) -> &'static P {
        self.policy
    }
}

impl<S, P, C: Clone, O> Layer<S> for PolicyLayer<P, C, O> {
    type Service = Protected<S, P, C, O>;

    fn layer(&self, inner: S) -> Self::Service {
        Protected {
            inner,
            policy: self.policy,
            classify: self.classify.clone(),
            site: self.site,
            output: PhantomData,
        }
    }
}

/// The service a [`PolicyLayer`] makes: `inner`, each call run through the policy.
#[derive(Debug)]
pub struct Protected<S, P: 'static, C, O> {
    inner: S,
    policy: &'static P,
    classify: C,
    site: &'static InFlight,
    output: PhantomData<fn() -> O>,
}

impl<S: Clone, P, C: Clone, O> Clone for Protected<S, P, C, O> {
    fn clone(&self) -> Self {
        Protected {
            inner: self.inner.clone(),
            policy: self.policy,
            classify: self.classify.clone(),
            site: self.site,
            output: PhantomData,
        }
    }
}

impl<S: Clone, P, C, O> Protected<S, P, C, O> {
    /// The inner service that was polled ready, leaving a clone in its place (tower's way to
    /// move a ready service into a future).
    fn take_ready(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

/// The inner call as the policies take it.
type Inner<S, Req, C> = Deferred<S, Req, C>;

/// A layer's future for a policy that wraps the call once.
type Wrapped<F, O> = Restore<Admitted<'static, F>, O>;

/// The `Service` impl of a policy that wraps the inner call once, with the future it names.
macro_rules! once {
    ($policy:ty, $future:ty, |$p:ident, $call:ident| $wrap:expr) => {
        impl<S, Req, C, O> Service<Req> for Protected<S, $policy, C, O>
        where
            S: Service<Req> + Clone,
            S::Error: 'static,
            C: Classify<S::Response, S::Error>,
            O: Output<S::Response, S::Error>,
        {
            type Response = S::Response;
            type Error = O::Error;
            type Future = Wrapped<$future, O>;

            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx).map_err(O::error)
            }

            fn call(&mut self, req: Req) -> Self::Future {
                let $call = Deferred::new(self.take_ready(), req, self.classify.clone());
                let $p = self.policy;
                Restore::new(admitted(self.site, $wrap))
            }
        }
    };
}

once!(
    CircuitBreaker,
    circuit_breaker::Call<'static, Inner<S, Req, C>, BreakerClass<S::Response, S::Error>>,
    |policy, call| policy.call_classified(call, Classified::breaker as BreakerClass<_, _>)
);
once!(
    Bulkhead,
    resilience_runtime::bulkhead::Call<'static, Inner<S, Req, C>>,
    |policy, call| policy.call(call)
);
once!(
    RateLimiter,
    rate_limiter::Call<'static, Inner<S, Req, C>>,
    |policy, call| policy.call(call)
);
once!(
    Timeout,
    resilience_runtime::TimeoutFuture<'static, Inner<S, Req, C>>,
    |policy, call| policy.call(call)
);

/// The retry layer's future.
pub type RetryFuture<Res, E> = Pin<Box<dyn Future<Output = Result<Res, E>> + Send>>;

impl<S, Req, C, O> Service<Req> for Protected<S, Retry, C, O>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Clone + Send + 'static,
    C: Classify<S::Response, S::Error> + Send + 'static,
    O: Output<S::Response, S::Error> + 'static,
{
    type Response = S::Response;
    type Error = O::Error;
    type Future = RetryFuture<S::Response, O::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(O::error)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut service = self.take_ready();
        let classify = self.classify.clone();
        let policy = self.policy;
        let site = self.site;
        Box::pin(async move {
            let outcome = admitted(site, async move {
                let mut attempts = policy.start();
                loop {
                    // The ready service makes the attempt; a clone waits for the next one.
                    let spare = service.clone();
                    let ready = std::mem::replace(&mut service, spare);
                    let call = Deferred::new(ready, req.clone(), classify.clone());
                    let outcome = attempts.run(call).await;
                    let next = attempts.next_with(
                        &outcome,
                        |e: &Classified<S::Response, S::Error>| e.class().retryable(),
                        retry::never,
                        |e: &Classified<S::Response, S::Error>| e.class().retry_after(),
                        true,
                    );
                    let Some(delay) = next else {
                        break outcome;
                    };
                    attempts.wait(delay).await;
                    // The next attempt's service must be ready first.
                    if let Err(error) = poll_fn(|cx| service.poll_ready(cx)).await {
                        break Err(Failure::Error(Classified::Error(error, Class::Failure)));
                    }
                }
            })
            .await;
            future::restore::<O, S::Response, S::Error>(outcome)
        })
    }
}

/// The hedge layer's future.
pub type HedgeFuture<Res, E> = Pin<Box<dyn Future<Output = Result<Res, E>> + Send>>;

impl<S, Req, C, O> Service<Req> for Protected<S, Hedge, C, O>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Clone + Send + 'static,
    C: Classify<S::Response, S::Error> + Send + 'static,
    O: Output<S::Response, S::Error> + 'static,
{
    type Response = S::Response;
    type Error = O::Error;
    type Future = HedgeFuture<S::Response, O::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(O::error)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The first attempt takes the service polled ready; each hedge a clone of it, polled
        // ready before it is called.
        let mut ready = Some(self.take_ready());
        let service = self.inner.clone();
        let classify = self.classify.clone();
        let policy = self.policy;
        let site = self.site;
        Box::pin(async move {
            let outcome = admitted(
                site,
                // A `move` closure: it owns what every attempt clones, so the future is `Send`
                // without asking `Sync` of the service or the request.
                policy.call(move || {
                    let first = ready.take();
                    let mut next = service.clone();
                    let (req, classify) = (req.clone(), classify.clone());
                    async move {
                        let svc = match first {
                            Some(svc) => svc,
                            None => {
                                if let Err(error) = poll_fn(|cx| next.poll_ready(cx)).await {
                                    return Err(Failure::Error(Classified::Error(
                                        error,
                                        Class::Failure,
                                    )));
                                }
                                next
                            }
                        };
                        Deferred::new(svc, req, classify).await
                    }
                }),
            )
            .await;
            future::restore::<O, S::Response, S::Error>(outcome)
        })
    }
}
