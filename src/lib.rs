//! Resilience patterns as attributes on async functions.
//!
//! ```
//! use resilience::{circuit_breaker, retry, timeout};
//!
//! #[derive(Debug)]
//! enum ApiError { Unavailable, Rejected(resilience::Error) }
//! impl From<resilience::Error> for ApiError {
//!     fn from(e: resilience::Error) -> Self { ApiError::Rejected(e) }
//! }
//! impl ApiError {
//!     fn is_transient(&self) -> bool { matches!(self, ApiError::Unavailable) }
//! }
//!
//! #[retry(attempts = 3, backoff = exponential(100ms, max = 2s), when = ApiError::is_transient)]
//! #[circuit_breaker(threshold = 50%, open = 30s)]
//! #[timeout(800ms)]
//! async fn fetch_quote(sku: &str) -> Result<u32, ApiError> {
//!     Ok(sku.len() as u32)
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { assert_eq!(fetch_quote("abc").await.unwrap(), 3); }
//! ```
//!
//! # Stacking
//!
//! `#[a] #[b] #[c] async fn f` means `a(b(c(f)))`: the top attribute is the outermost layer.
//! The first attribute to expand takes the run of resilience attributes directly below it and
//! generates the whole stack at once, so inside it a rejection keeps its kind: a retry retries a
//! timed-out attempt, waits out a rate limit, and returns an open circuit or a full bulkhead at
//! once. Write the attributes together, one below the other. The recommended order is
//! fallback, total timeout, retry, circuit breaker, rate limiter, per-attempt timeout, bulkhead.
//!
//! # What the function must look like
//!
//! An `async fn` (free function, method with any receiver, trait-impl method, or a method under
//! `#[async_trait]`) returning a `Result<T, E>` (`io::Result<T>` and `anyhow::Result<T>` count).
//! A rejection (circuit open, bulkhead full, rate limited, timed out) reaches the caller as
//! `E::from(resilience::Error)`, so `E` implements `From<resilience::Error>`, unless a fallback
//! is the outermost layer. Under `#[retry]`, owned arguments are cloned for each attempt, so they
//! are `Clone`; references pass through. Policies live in `static`s: the function runs on a tokio
//! runtime with time enabled.
//!
//! A plain `fn` takes `#[circuit_breaker]`, `#[retry]`, `#[bulkhead]`, `#[rate_limiter]` and
//! `#[fallback]` too: the same stack runs on the calling thread, and its waits park the thread
//! in real time (see [`blocking`]); it is for code off the async runtime. `#[timeout]` on a
//! plain `fn` is a compile error (blocking code cannot be cancelled).
//!
//! # Shutting down
//!
//! [`registry::drain`] refuses new calls of every annotated function with a
//! [`ShuttingDown`](ErrorKind::ShuttingDown) rejection at the outermost layer, waits for the
//! calls in flight and reports what did not finish (see [`drain`]).
//!
//! # Features
//!
//! `config` (settings from a file and the environment), `metrics` (the `metrics` crate),
//! `chaos` (`#[chaos]` layers), `tower` (`resilience::tower`: any policy as a tower layer), `admin`
//! (`resilience::admin`: the HTTP admin and live dashboard), `redis` (`resilience::redis`:
//! fleet-wide rate limits on Redis).

#![deny(missing_docs)]

pub use resilience_runtime::*;

/// Any policy as a tower layer (feature `tower`): see [`resilience_tower`].
#[cfg(feature = "tower")]
pub use resilience_tower as tower;

/// The HTTP admin and live dashboard (feature `admin`): see [`resilience_admin`].
#[cfg(feature = "admin")]
pub use resilience_admin as admin;

/// Fleet-wide rate limits on Redis (feature `redis`): see [`resilience_redis`].
#[cfg(feature = "redis")]
pub use resilience_redis as redis;

/// Declares shared policies: `static`s that several functions name by path.
///
/// Any kind can be declared; the registry name is the static's name (or `name = "..."`).
/// Options that depend on a function's error type (`record`, `ignore`, `when`, `fallback`) are
/// given where the policy is used, beside its path.
///
/// ```
/// resilience::policy! {
///     /// The payment provider: one breaker for every call to it.
///     pub static PAYMENTS: CircuitBreaker = circuit_breaker(threshold = 50%, open = 30s);
///     pub static PAYMENTS_CONCURRENCY: Bulkhead = bulkhead(max = 10);
///     pub static PAYMENTS_RATE: RateLimiter = rate_limiter(100/s);
/// }
///
/// # #[derive(Debug)] struct PayError;
/// # impl From<resilience::Error> for PayError { fn from(_: resilience::Error) -> Self { PayError } }
/// #[resilience::circuit_breaker(PAYMENTS)]
/// #[resilience::rate_limiter(PAYMENTS_RATE)]
/// #[resilience::bulkhead(PAYMENTS_CONCURRENCY)]
/// async fn charge(cents: u64) -> Result<u64, PayError> { Ok(cents) }
/// ```
///
/// A retry budget (see [`retry_budget`]) is declared as `RetryBudget = retry_budget(..)` and
/// named by the retries that share it:
///
/// ```
/// resilience::policy! {
///     pub static API_RETRIES: RetryBudget = retry_budget(ratio = 20%, min = 10/s, window = 10s);
/// }
///
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// #[resilience::retry(attempts = 3, budget = API_RETRIES)]
/// async fn fetch(id: u64) -> Result<u64, ApiError> { Ok(id) }
/// ```
///
/// A keyed family, one policy per key, is declared with its `Keyed*` type
/// (`KeyedRateLimiter`, `KeyedBulkhead`, `KeyedCircuitBreaker`), may take `max_keys` (and a
/// breaker family `idle`), and is named with the key of each call (see [`keyed`]):
///
/// ```
/// resilience::policy! {
///     pub static PER_TENANT: KeyedRateLimiter = rate_limiter(1000/m, burst = 50, max_keys = 10_000);
/// }
///
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// # pub struct Tenant { id: String }
/// #[resilience::rate_limiter(PER_TENANT, key = tenant.id)]
/// async fn search(tenant: &Tenant, query: &str) -> Result<usize, ApiError> { Ok(query.len()) }
/// ```
pub use resilience_macros::policy;

/// The guide's examples (`docs/guide.md`), compiled and run as doc tests, so the guide cannot
/// drift from the code. Its examples use the optional integrations, so it is tested with them.
#[cfg(all(
    doctest,
    feature = "admin",
    feature = "chaos",
    feature = "redis",
    feature = "tower"
))]
#[doc = include_str!("../docs/guide.md")]
pub struct Guide;

/// The runbook's code (`docs/runbook.md`), compiled as doc tests (not run: it operates policies
/// a service declares).
#[cfg(all(doctest, feature = "admin", feature = "config"))]
#[doc = include_str!("../docs/runbook.md")]
pub struct Runbook;

/// A circuit breaker: stops calling a dependency that keeps failing, and probes it before
/// trusting it again.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `threshold = 50%` | 50% | failure rate, over the window, that opens the breaker |
/// | `failures = 5` | | open after this many consecutive failures instead of a rate |
/// | `window = 100` or `window = 60s` | 100 calls | the last N calls, or the calls of the last duration (10 buckets) |
/// | `min_calls = 20` | 20 | calls in the window before the rate counts |
/// | `slow = 2s` | off | a call taking at least this long is slow |
/// | `slow_threshold = 80%` | `threshold` | slow-call rate that opens the breaker |
/// | `open = 30s` or `open = exponential(5s, max = 5m)` | 30s | wait in the open state, fixed or growing each time a probe round fails |
/// | `half_open = 3` | 3 | probe calls admitted half-open |
/// | `record = path` | every error | `fn(&E) -> bool`: errors that count as failures (others as successes) |
/// | `ignore = path` | none | `fn(&E) -> bool`: errors that count as neither |
/// | `critical = true` | false | an open breaker makes health "down", not "degraded" |
/// | `shared = "payments"` | not shared | the name a fleet backend shares its trips under (`resilience::redis`, `RedisStore::share_declared`); without one it runs locally and says so once; never with `key` |
/// | `quorum = 2` | 1 | with `shared`: the replicas that must trip within one open wait for every replica's breaker to open |
/// | `name = "..."` | `module::fn/circuit_breaker` | registry name |
/// | `fallback = path` | none | a fallback around this breaker |
/// | `PATH` (positional) | | a shared breaker declared with [`policy!`]; beside it only `record`, `ignore`, `fallback`, `key` |
/// | `key = url.host()` | none | one breaker per key (an expression over the parameters, by reference): see [`keyed`]; never `critical` |
/// | `max_keys = 10_000` | 10,000 | with `key`: the most keys held at once |
/// | `idle = 10m` | 10 minutes | with `key`: how long a closed breaker goes without a call before it may be evicted |
///
/// A timeout below the breaker counts as a failure; a full bulkhead or a rate limit below it
/// counts as neither.
///
/// ```
/// # #[derive(Debug)] enum ApiError { NotFound, Down, Rejected(resilience::Error) }
/// # impl From<resilience::Error> for ApiError { fn from(e: resilience::Error) -> Self { ApiError::Rejected(e) } }
/// # impl ApiError { fn is_not_found(&self) -> bool { matches!(self, ApiError::NotFound) } }
/// #[resilience::circuit_breaker(threshold = 50%, window = 100, open = 30s, ignore = ApiError::is_not_found)]
/// async fn stock(sku: &str) -> Result<u32, ApiError> { Ok(1) }
/// ```
pub use resilience_macros::circuit_breaker;

/// Retries the function: runs the body again (with fresh clones of the owned arguments) while
/// it fails, up to `attempts` calls in all.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `attempts = 3` | 3 | calls in all, the first included |
/// | `backoff = fixed(500ms)` / `linear(100ms, max = 2s)` / `exponential(100ms, factor = 2, max = 2s)` | `exponential(100ms, max = 10s)` | delay before each new attempt |
/// | `jitter = none / full / equal / decorrelated` | `full` on exponential, `none` otherwise | randomisation of the delays (`decorrelated`: exponential only) |
/// | `when = path` | every error | `fn(&E) -> bool`: errors worth retrying (a path or a closure) |
/// | `when_ok = path` | none | `fn(&T) -> bool`: `Ok` values that mean "not yet", retried like failures |
/// | `retry_after = path` | none | `fn(&E) -> Option<Duration>`: the least delay an error asks for |
/// | `retry_timeouts = false` | true | a timeout below the retry is returned at once, not retried |
/// | `budget = API_RETRIES` or `budget = retry_budget(ratio = 20%, min = 10/s, window = 10s)` | none | retries taken from a [`RetryBudget`] shared with other retries; a refused retry returns the last error at once (see [`retry_budget`]) |
/// | `name = "..."` | `module::fn/retry` | registry name |
/// | `fallback = path` | none | a fallback around the retry |
/// | `PATH` (positional) | | a shared retry declared with [`policy!`]; beside it only the options above that take a function, `retry_timeouts` and `fallback` |
///
/// Below a retry, a timeout is retried like a failure (unless `retry_timeouts = false`), a rate
/// limit is waited out (at least its `retry_after`), and an open circuit or a full bulkhead ends
/// the retry at once. When every attempt fails, the last outcome is returned unchanged. Owned
/// arguments, and a receiver taken by value (`self`, `self: Arc<Self>`), are cloned for each
/// attempt but the last, which takes the caller's value; `self: Pin<&mut Self>` is reborrowed.
///
/// ```
/// # use std::time::Duration;
/// # #[derive(Debug)] enum ApiError { Busy(Duration), Rejected }
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError::Rejected } }
/// # impl ApiError { fn retry_after(&self) -> Option<Duration> { match self { ApiError::Busy(d) => Some(*d), _ => None } } }
/// # struct Job { done: bool }
/// #[resilience::retry(attempts = 4, backoff = exponential(100ms, max = 2s), jitter = equal)]
/// async fn fetch(id: u64) -> Result<String, ApiError> { Ok(id.to_string()) }
///
/// // Polls until the job is done, honouring the server's Retry-After.
/// #[resilience::retry(attempts = 10, backoff = fixed(1s), when_ok = |job: &Job| !job.done, retry_after = ApiError::retry_after)]
/// async fn poll(id: u64) -> Result<Job, ApiError> { Ok(Job { done: id > 0 }) }
/// ```
pub use resilience_macros::retry;

/// Cancels the call when it takes longer than the duration, returning a `TimedOut` rejection.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `2s` (positional, required) | | the longest the call may take (`ms`, `s`, `m`, `h`) |
/// | `name = "..."` | `module::fn/timeout` | registry name |
/// | `fallback = path` | none | a fallback around the timeout |
/// | `PATH` (positional) | | a shared timeout declared with [`policy!`] |
///
/// Above a `#[retry]` it bounds the whole call; below it, each attempt.
///
/// ```
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// #[resilience::timeout(5s)]
/// #[resilience::retry(attempts = 3)]
/// #[resilience::timeout(800ms)]
/// async fn fetch(id: u64) -> Result<String, ApiError> { Ok(id.to_string()) }
/// ```
pub use resilience_macros::timeout;

/// Limits the calls running at once; the others wait in a bounded queue or are rejected with
/// `BulkheadFull`.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `max = 10` (required) | | calls running at once |
/// | `queue = 20` | 0 | callers that may wait for a slot (0: reject at once when full) |
/// | `wait = 500ms` | until a slot frees | longest wait in the queue |
/// | `name = "..."` | `module::fn/bulkhead` | registry name |
/// | `fallback = path` | none | a fallback around the bulkhead |
/// | `PATH` (positional) | | a shared bulkhead declared with [`policy!`] |
/// | `key = tenant.id` | none | one bulkhead per key (an expression over the parameters, by reference): see [`keyed`] |
/// | `max_keys = 10_000` | 10,000 | with `key`: the most keys held at once |
/// | `adaptive = gradient2` or `adaptive = aimd` | off | the limit follows the dependency's latency, `max` being the highest it goes: see [`bulkhead::adaptive`](mod@crate::bulkhead::adaptive) |
/// | `min = 5` | 1 | with `adaptive`: the lowest the limit goes |
/// | `initial = 20` | 20, within `min..=max` | with `adaptive`: where the limit starts |
///
/// ```
/// # #[derive(Debug)] struct DbError;
/// # impl From<resilience::Error> for DbError { fn from(_: resilience::Error) -> Self { DbError } }
/// #[resilience::bulkhead(max = 10, queue = 20, wait = 500ms)]
/// async fn query(sql: &str) -> Result<u64, DbError> { Ok(sql.len() as u64) }
///
/// // The limit between 5 and 200, from 20, by Netflix's Gradient2.
/// #[resilience::bulkhead(adaptive = gradient2, min = 5, max = 200, queue = 50)]
/// async fn search(q: &str) -> Result<u64, DbError> { Ok(q.len() as u64) }
/// ```
pub use resilience_macros::bulkhead;

/// Admits calls at a rate (GCRA); the others wait for a permit up to `wait`, or are rejected
/// with `RateLimited` and a `retry_after`.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `100/s` (positional, required) | | calls per `s`, `m` or `h` |
/// | `burst = 10` | the rate's count | calls admitted at once |
/// | `wait = 500ms` | 0 (reject at once) | longest wait for a permit |
/// | `shared = "partner-api"` | not shared | the name a fleet backend shares its rate under (`resilience::redis`, `RedisStore::share_declared`); without one it runs locally and says so once; never with `key` |
/// | `name = "..."` | `module::fn/rate_limiter` | registry name |
/// | `fallback = path` | none | a fallback around the limiter |
/// | `PATH` (positional) | | a shared limiter declared with [`policy!`] |
/// | `key = tenant.id` | none | one limiter per key (an expression over the parameters, by reference): see [`keyed`] |
/// | `max_keys = 10_000` | 10,000 | with `key`: the most keys held at once |
///
/// ```
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// #[resilience::rate_limiter(6000/m, burst = 20, wait = 100ms)]
/// async fn send(msg: &str) -> Result<(), ApiError> { Ok(()) }
/// ```
pub use resilience_macros::rate_limiter;

/// A fallback at this position of the stack: when the layers below it fail (the call's own
/// error or a rejection), calls the given function instead.
///
/// The fallback takes the annotated function's parameters (receiver included, same types, by
/// value) followed by the failure, a [`Failure<E>`], and returns the annotated function's
/// return type; it may be sync or `async`. Owned arguments are cloned before the call, so they
/// are `Clone`. `fallback = path` on any other attribute puts a fallback around that attribute.
///
/// With `degraded = TOGGLE` (a [`Toggle`] declared in [`policy!`]), while the toggle is on the
/// fallback is served at once, handed a `Degraded` rejection naming the toggle, and nothing
/// below it runs: a degraded mode an operator switches by name (see [`toggle`](mod@crate::toggle)).
///
/// ```
/// # use resilience::Failure;
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// resilience::policy! {
///     static RECOMMENDATIONS_OFF: Toggle = toggle();
/// }
///
/// fn popular(_user: u64, _failure: Failure<ApiError>) -> Result<Vec<u64>, ApiError> {
///     Ok(vec![1, 2, 3])
/// }
///
/// #[resilience::fallback(popular, degraded = RECOMMENDATIONS_OFF)]
/// async fn recommendations(user: u64) -> Result<Vec<u64>, ApiError> { Ok(vec![user]) }
/// ```
///
/// ```
/// use resilience::Failure;
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// fn cached_quote(_sku: &str, _failure: Failure<ApiError>) -> Result<u32, ApiError> {
///     Ok(0)
/// }
///
/// #[resilience::fallback(cached_quote)]
/// #[resilience::timeout(800ms)]
/// async fn quote(sku: &str) -> Result<u32, ApiError> { Ok(1) }
/// ```
pub use resilience_macros::fallback;

/// Faults injected at this position of the stack, to test that the layers above handle them:
/// errors, latency and outcomes at the rates given, from a seeded generator. Compiled to
/// nothing unless this crate's `chaos` feature is on; off at run time until enabled by name
/// (`registry::set("NAME", "enabled", "true")` or the configuration file). See
/// [`chaos`](mod@crate::chaos) for what it does.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `error = 5%`, `error_with = path` | off | share of calls replaced by the error `fn() -> E` makes |
/// | `latency = 10%`, `delay = 200ms..2s` | off | share of calls delayed first, by a delay drawn in the range |
/// | `outcome = 1%`, `outcome_with = path` | off | share of calls replaced by the `Ok` value `fn() -> T` makes |
/// | `seed = 42` | 0 | the generator's seed: the same seed, the same faults |
/// | `name = "..."` | `module::fn/chaos` | registry name, by which it is enabled |
/// | `PATH` (positional) | | a shared layer declared with [`policy!`]; beside it `error_with` and `outcome_with` |
///
/// ```
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// impl ApiError {
///     fn injected() -> Self { ApiError }
/// }
///
/// #[resilience::retry(attempts = 3)]
/// #[resilience::chaos(error = 20%, error_with = ApiError::injected, seed = 42)]
/// async fn quote(sku: &str) -> Result<u32, ApiError> { Ok(1) }
/// ```
pub use resilience_macros::chaos;

/// A cache at this position of the stack: a value fetched less than `ttl` ago is served
/// without running the layers below; concurrent misses for one key run once; with `stale`,
/// the last good value is served when the layers below fail; with `refresh`, a value is
/// refreshed ahead of its expiry. See [`cache`](mod@crate::cache).
///
/// | option | default | meaning |
/// |---|---|---|
/// | `ttl = 30s` (required) | | how long a fetched value is served without running the layers below |
/// | `key = sku` | one entry for every call | the key of each call: an expression over the parameters |
/// | `stale = 5m` | off | serve the last good value when the layers below fail, up to this long after it was fetched |
/// | `refresh = 25s` | off | the first call after a value is this old refreshes it; the others are still served it |
/// | `capacity = 10_000` | 10000 | the most entries |
/// | `name = "..."` | `module::fn/cache` | registry name |
/// | `PATH` (positional) | | a shared cache declared with [`policy!`]; beside it `key` |
///
/// ```
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// #[resilience::cache(ttl = 30s, key = sku, stale = 5m)]
/// #[resilience::retry(attempts = 3)]
/// async fn price(sku: &str) -> Result<u64, ApiError> { Ok(4200) }
/// ```
pub use resilience_macros::cache;

/// An idempotency key: the first call with it runs; a concurrent duplicate waits for it and
/// gets its result; a later one within `ttl` gets the stored result without running; a failed
/// first call is not stored. See [`idempotency`](mod@crate::idempotency).
///
/// | option | default | meaning |
/// |---|---|---|
/// | `key = req.idempotency_key` (required) | | the key of each call: an expression over the parameters |
/// | `ttl = 24h` | 24h | how long a result serves its duplicates |
/// | `capacity = 100_000` | 10000 | the most keys held; past it new keys are refused (`KeyLimit`) |
/// | `name = "..."` | `module::fn/idempotent` | registry name |
/// | `PATH` (positional) | | a shared store declared with [`policy!`]; beside it `key` |
///
/// ```
/// # #[derive(Debug)] struct PayError;
/// # impl From<resilience::Error> for PayError { fn from(_: resilience::Error) -> Self { PayError } }
/// # struct Payment { idempotency_key: String, cents: u64 }
/// #[resilience::idempotent(key = payment.idempotency_key, ttl = 24h)]
/// async fn charge(payment: &Payment) -> Result<u64, PayError> { Ok(payment.cents) }
/// ```
pub use resilience_macros::idempotent;

/// Hedging at this position of the stack: when a call has not answered after `after`, another
/// attempt starts beside it (the body run again, as `#[retry]` runs it, each attempt with its
/// own clones of the owned arguments), up to `max`; the first success wins and the others are
/// cancelled. For tails, not errors. See [`hedge`](mod@crate::hedge).
///
/// | option | default | meaning |
/// |---|---|---|
/// | `after = 50ms` or `after = p95` (required) | | when the next attempt starts: a delay, or a percentile (`p50` to `p99.9`) of the last 256 successful calls' latencies that waited, worked out every 32 from the 128th |
/// | `initial = 100ms` | 100ms | with a percentile: the delay until it is known |
/// | `max = 1` | 1 | the most hedges one call starts (1 to 10) |
/// | `budget = API_RETRIES` or `budget = retry_budget(..)` | none | every call deposits, every hedge withdraws; a hedge it refuses is skipped, not failed |
/// | `name = "..."` | `module::fn/hedge` | registry name |
/// | `PATH` (positional) | | a shared hedge declared with [`policy!`] |
///
/// Attempts run at the same time, so a hedged function cannot take `&mut` arguments or
/// `&mut self` (a compile error says so); owned arguments must be `Clone`. A timeout below the
/// hedge bounds each attempt; one above it bounds the call.
///
/// ```
/// # #[derive(Debug)] struct ApiError;
/// # impl From<resilience::Error> for ApiError { fn from(_: resilience::Error) -> Self { ApiError } }
/// #[resilience::hedge(after = p95, max = 1)]
/// #[resilience::timeout(1s)]
/// async fn quote(sku: &str) -> Result<u32, ApiError> { Ok(1) }
/// ```
pub use resilience_macros::hedge;

/// A chaos layer's code, kept with the `chaos` feature: its statics (`items { .. }`), and the
/// layer around the call (`wrap (HANDLE) [ERROR_WITH] [OUTCOME_WITH] CALL`). Not a public API.
#[cfg(feature = "chaos")]
#[doc(hidden)]
#[macro_export]
macro_rules! __chaos {
    (items { $($item:item)* }) => { $($item)* };
    (wrap ($($handle:tt)*) [$($error_with:expr)?] [$($outcome_with:expr)?] $call:expr) => {
        $crate::__private::Chaos::call(
            &$($handle)*,
            $call,
            ::core::option::Option::None $(.or(::core::option::Option::Some($error_with as fn() -> _)))?,
            ::core::option::Option::None $(.or(::core::option::Option::Some($outcome_with as fn() -> _)))?,
        )
    };
}

/// Without the `chaos` feature, a chaos layer is nothing: the call as it is (its makers
/// named, so they are not unused code).
#[cfg(not(feature = "chaos"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __chaos {
    (items { $($item:item)* }) => {};
    (wrap ($($handle:tt)*) [$($error_with:expr)?] [$($outcome_with:expr)?] $call:expr) => {{
        $(let _ = $error_with;)?
        $(let _ = $outcome_with;)?
        $call
    }};
}

/// What code generated by the attributes calls. Not a public API.
#[doc(hidden)]
pub mod __private {
    use core::future::{Future, Ready, ready};
    use core::marker::PhantomData;

    pub use crate::__chaos as chaos;
    pub use resilience_runtime::__private::{
        DECLARED, Declared, HoldsNoRejection, HoldsRejection, InFlight, Probe, admitted, blocking,
        drain, linkme, own_errors,
    };
    pub use resilience_runtime::bulkhead;
    pub use resilience_runtime::registry;
    pub use resilience_runtime::retry;
    pub use resilience_runtime::{
        Backoff, Bulkhead, Cache, Chaos, ChildHandle, CircuitBreaker, Classification, Error,
        Failure, Hedge, Idempotency, Jitter, KeyedBulkhead, KeyedCircuitBreaker, KeyedRateLimiter,
        RateLimiter, Retry, RetryBudget, Timeout, Toggle,
    };

    /// A key as the attribute's expression gives it: a value (`tenant.id`, `shard(t)`) or a
    /// reference (`host: &str`). [`KeyByDeref`] and [`KeyByValue`] take the key by reference
    /// either way: `(&&KeyExpr(&expr)).key()` finds the first when the expression is a
    /// reference (its key is what it points to: a `&str` is looked up as a `str`, the borrowed
    /// form of a `String`), else the second.
    pub struct KeyExpr<'a, T: ?Sized>(pub &'a T);

    /// A key given as a reference: the key is what it points to.
    pub trait KeyByDeref<'a> {
        /// The key's type.
        type Key: ?Sized;
        /// The key.
        fn key(self) -> &'a Self::Key;
    }

    impl<'a, 'b: 'a, U: ?Sized> KeyByDeref<'a> for &&KeyExpr<'a, &'b U> {
        type Key = U;
        #[inline]
        fn key(self) -> &'a U {
            self.0
        }
    }

    /// A key given as a value.
    pub trait KeyByValue<'a> {
        /// The key's type.
        type Key: ?Sized;
        /// The key.
        fn key(self) -> &'a Self::Key;
    }

    impl<'a, T: ?Sized> KeyByValue<'a> for &KeyExpr<'a, T> {
        type Key = T;
        #[inline]
        fn key(self) -> &'a T {
            self.0
        }
    }

    /// What a keyed policy's key must be, said at the key when it is not.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be the key of a keyed policy",
        label = "not a key",
        note = "a key is `Hash + Eq + Display + Send + Sync + 'static`, and `Clone` (or a borrowed form of such a type, as `str` is of `String`): the family keeps one copy per child, and `Display` names the child",
        note = "derive what is missing on the key's type, or key by one of its fields: key = tenant.id"
    )]
    pub trait IsKey {}

    impl<Q> IsKey for Q
    where
        Q: core::hash::Hash + Eq + ToOwned + ?Sized,
        Q::Owned: core::borrow::Borrow<Q>
            + core::hash::Hash
            + Eq
            + core::fmt::Display
            + Send
            + Sync
            + 'static,
    {
    }

    /// `key`, checked to be one (an error at the key's expression otherwise).
    #[inline]
    pub fn key<Q: IsKey + ?Sized>(key: &Q) -> &Q {
        key
    }

    /// An idempotent layer's key, owned: made once per call before the body, so the body may
    /// move what it was borrowed from.
    #[inline]
    pub fn owned_key<Q: IsKey + ToOwned + ?Sized>(key: &Q) -> Q::Owned {
        key.to_owned()
    }

    /// The child a keyed layer runs through, looked up once per call before the body: the
    /// policy, or the rejection to hand on (`ErrorKind::KeyLimit`).
    #[inline]
    pub fn keyed_child<P: resilience_runtime::keyed::Keyable>(
        lookup: &Result<ChildHandle<P>, Error>,
    ) -> Result<&P, Error> {
        match lookup {
            Ok(child) => Ok(child),
            Err(e) => Err(*e),
        }
    }

    /// The error type of an annotated function, which a rejection is converted into.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot carry a rejection from a resilience policy",
        label = "the error type of this function must implement `From<resilience::Error>`",
        note = "add `impl From<resilience::Error> for {Self}` (e.g. a variant holding the rejection), or put a #[fallback] outermost to handle every failure"
    )]
    pub trait CarriesRejection: From<Error> {}
    impl<E: From<Error>> CarriesRejection for E {}

    /// A function's return type that the macros could not see to be a `Result` (an alias).
    #[diagnostic::on_unimplemented(
        message = "a function under a resilience attribute returns a Result, and `{Self}` is not one",
        label = "this is not a `Result<T, E>`",
        note = "return `Result<T, E>` (or `io::Result<T>`, `anyhow::Result<T>`, an alias of a Result), so a failure can reach the caller"
    )]
    pub trait ReturnsResult {}
    impl<T, E> ReturnsResult for Result<T, E> {}

    /// Asks the type system whether `R` is a `Result`, where the macros saw an alias.
    #[inline(always)]
    pub fn returns_result<R: ReturnsResult>() {}

    /// The outermost layer: a failure as the function's own error.
    #[inline]
    pub fn into_error<E: CarriesRejection>(failure: Failure<E>) -> E {
        failure.into_error()
    }

    /// An owned argument of a function under `#[retry]`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not `Clone`, and #[retry] runs the body again with a clone of each owned argument",
        label = "this argument is cloned for each attempt",
        note = "implement or derive `Clone` for `{Self}`, or take the argument by reference"
    )]
    pub trait RetryArgument: Clone {}
    impl<T: Clone> RetryArgument for T {}

    /// Calls a predicate written as a closure (`when = |e| e.is_transient()`); the bound gives
    /// the closure the type of its parameter, which a direct call would not.
    #[inline(always)]
    pub fn predicate<E: ?Sized, F: FnOnce(&E) -> bool>(error: &E, predicate: F) -> bool {
        predicate(error)
    }

    /// Calls a `retry_after` written as a closure, giving it its parameter's type.
    #[inline(always)]
    pub fn hint<E: ?Sized, F: FnOnce(&E) -> Option<std::time::Duration>>(
        error: &E,
        hint: F,
    ) -> Option<std::time::Duration> {
        hint(error)
    }

    /// An owned argument for one attempt, and what is kept for the next: a clone for this
    /// attempt and the original kept, or on the last attempt the original and nothing.
    #[inline]
    pub fn split_for_retry<T: RetryArgument>(held: T, last: bool) -> (T, Option<T>) {
        if last {
            (held, None)
        } else {
            (held.clone(), Some(held))
        }
    }

    /// A receiver taken by value (`self`, `mut self`, `self: Arc<Self>`) of a method under
    /// `#[retry]`: each attempt gets its own clone, so the body may consume it.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not `Clone`, and #[retry] runs the body again with its own clone of `self` for each attempt",
        label = "this receiver is cloned for each attempt",
        note = "take `&self` or `&mut self`, take `self: Arc<Self>` (an `Arc` is cloned cheaply), or implement `Clone` for `{Self}`"
    )]
    pub trait RetryReceiver: Clone {}
    impl<T: Clone> RetryReceiver for T {}

    /// A fresh copy of a receiver taken by value, for one attempt.
    #[inline]
    pub fn clone_receiver_for_retry<T: RetryReceiver>(receiver: &T) -> T {
        receiver.clone()
    }

    /// An owned argument (or receiver) of a function under `#[hedge]`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not `Clone`, and #[hedge] runs attempts side by side, each with its own clone of the owned arguments",
        label = "this argument is cloned for each attempt",
        note = "implement or derive `Clone` for `{Self}`, or take the argument by reference"
    )]
    pub trait HedgeArgument: Clone {}
    impl<T: Clone> HedgeArgument for T {}

    /// One attempt's own copy of `arg`.
    #[inline]
    pub fn clone_for_hedge<T: HedgeArgument>(arg: &T) -> T {
        arg.clone()
    }

    /// An owned argument of a function with a fallback.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not `Clone`, and a fallback receives the function's owned arguments, cloned before the call",
        label = "this argument is cloned for the fallback",
        note = "implement or derive `Clone` for `{Self}`, or take the argument by reference"
    )]
    pub trait FallbackArgument: Clone {}
    impl<T: Clone> FallbackArgument for T {}

    /// A copy of an owned argument kept for the fallback.
    #[inline]
    pub fn clone_for_fallback<T: FallbackArgument>(arg: &T) -> T {
        arg.clone()
    }

    /// Reports that a fallback serves the call.
    #[inline]
    pub fn fallback_used<E>(policy: &'static str, failure: &Failure<E>) {
        // A cache around this fallback must not keep what it serves.
        resilience_runtime::cache::fallback_served();
        resilience_runtime::fallback::used(policy, failure)
    }

    /// What a fallback at a layer of `Result<T, Failure<E>>` must produce: `Result<T, E>`.
    /// Taken before the failure is handed over, so the fallback's checks know `T` and `E`.
    #[inline]
    pub fn fallback_expects<T, E>(
        outcome: &Result<T, Failure<E>>,
    ) -> PhantomData<fn() -> Result<T, E>> {
        let _ = outcome;
        PhantomData
    }

    /// Marks the way a fallback returns its result: as it is (a sync fallback).
    pub enum SyncFallback {}

    /// Marks the way a fallback returns its result: as a future (an `async` fallback).
    pub enum AsyncFallback {}

    pub use resilience_runtime::__private::{AwaitFallback, FallbackOutput};

    /// A sync fallback's result, as a ready future.
    #[inline]
    pub fn ready_fallback<R>(result: R) -> Ready<R> {
        ready(result)
    }

    /// An `async` fallback's future, its output taken as the result it must be.
    #[inline]
    pub fn await_fallback<F: Future<Output: FallbackOutput<R>>, R>(
        future: F,
    ) -> AwaitFallback<F, R> {
        AwaitFallback::new(future)
    }

    /// Checks that a path given to an attribute names a shared policy of its kind.
    pub mod shared {
        use super::*;

        /// A shared `CircuitBreaker`.
        #[diagnostic::on_unimplemented(
            message = "#[circuit_breaker] needs a shared `CircuitBreaker`, but this is a `{Self}`",
            label = "not a `CircuitBreaker`",
            note = "declare one with resilience::policy! {{ static NAME: CircuitBreaker = circuit_breaker(threshold = 50%); }}, or use the attribute of this policy's kind",
            note = "a keyed family (`KeyedCircuitBreaker`) needs the key of each call: #[circuit_breaker(HOSTS, key = url.host())]"
        )]
        pub trait SharedCircuitBreaker {
            /// The `CircuitBreaker`.
            fn circuit_breaker(&self) -> &CircuitBreaker;
        }

        impl SharedCircuitBreaker for CircuitBreaker {
            #[inline]
            fn circuit_breaker(&self) -> &CircuitBreaker {
                self
            }
        }

        /// `policy` as a `CircuitBreaker`, or an error at its path.
        #[inline]
        pub fn circuit_breaker<P: SharedCircuitBreaker + ?Sized>(policy: &P) -> &CircuitBreaker {
            policy.circuit_breaker()
        }

        /// A shared `Retry`.
        #[diagnostic::on_unimplemented(
            message = "#[retry] needs a shared `Retry`, but this is a `{Self}`",
            label = "not a `Retry`",
            note = "declare one with resilience::policy! {{ static NAME: Retry = retry(attempts = 3); }}, or use the attribute of this policy's kind"
        )]
        pub trait SharedRetry {
            /// The `Retry`.
            fn retry(&self) -> &Retry;
        }

        impl SharedRetry for Retry {
            #[inline]
            fn retry(&self) -> &Retry {
                self
            }
        }

        /// `policy` as a `Retry`, or an error at its path.
        #[inline]
        pub fn retry<P: SharedRetry + ?Sized>(policy: &P) -> &Retry {
            policy.retry()
        }

        /// A shared `Hedge`.
        #[diagnostic::on_unimplemented(
            message = "#[hedge] needs a shared `Hedge`, but this is a `{Self}`",
            label = "not a `Hedge`",
            note = "declare one with resilience::policy! {{ static NAME: Hedge = hedge(after = 50ms); }}, or use the attribute of this policy's kind"
        )]
        pub trait SharedHedge {
            /// The hedge.
            fn hedge(&self) -> &Hedge;
        }

        impl SharedHedge for Hedge {
            #[inline]
            fn hedge(&self) -> &Hedge {
                self
            }
        }

        /// `policy` as a `Hedge`, or an error at its path.
        #[inline]
        pub fn hedge<P: SharedHedge + ?Sized>(policy: &P) -> &Hedge {
            policy.hedge()
        }

        /// A shared `Cache`.
        #[diagnostic::on_unimplemented(
            message = "#[cache] needs a shared `Cache`, but this is a `{Self}`",
            label = "not a `Cache`",
            note = "declare one with resilience::policy! {{ static NAME: Cache = cache(ttl = 30s); }}, or use the attribute of this policy's kind"
        )]
        pub trait SharedCache {
            /// The cache.
            fn cache(&self) -> &Cache;
        }

        impl SharedCache for Cache {
            #[inline]
            fn cache(&self) -> &Cache {
                self
            }
        }

        /// `policy` as a `Cache`, or an error at its path.
        #[inline]
        pub fn cache<P: SharedCache + ?Sized>(policy: &P) -> &Cache {
            policy.cache()
        }

        /// A shared `Idempotency` store.
        #[diagnostic::on_unimplemented(
            message = "#[idempotent] needs a shared `Idempotency` store, but this is a `{Self}`",
            label = "not an `Idempotency`",
            note = "declare one with resilience::policy! {{ static NAME: Idempotency = idempotent(ttl = 24h); }}, or use the attribute of this policy's kind"
        )]
        pub trait SharedIdempotency {
            /// The store.
            fn idempotent(&self) -> &Idempotency;
        }

        impl SharedIdempotency for Idempotency {
            #[inline]
            fn idempotent(&self) -> &Idempotency {
                self
            }
        }

        /// `policy` as an `Idempotency` store, or an error at its path.
        #[inline]
        pub fn idempotent<P: SharedIdempotency + ?Sized>(policy: &P) -> &Idempotency {
            policy.idempotent()
        }

        /// A shared `Chaos` layer.
        #[diagnostic::on_unimplemented(
            message = "#[chaos] needs a shared `Chaos`, but this is a `{Self}`",
            label = "not a `Chaos`",
            note = "declare one with resilience::policy! {{ static NAME: Chaos = chaos(error = 5%); }}, or use the attribute of this policy's kind"
        )]
        pub trait SharedChaos {
            /// The `Chaos` layer.
            fn chaos(&self) -> &Chaos;
        }

        impl SharedChaos for Chaos {
            #[inline]
            fn chaos(&self) -> &Chaos {
                self
            }
        }

        /// `policy` as a `Chaos` layer, or an error at its path.
        #[inline]
        pub fn chaos<P: SharedChaos + ?Sized>(policy: &P) -> &Chaos {
            policy.chaos()
        }

        /// A shared `Timeout`.
        #[diagnostic::on_unimplemented(
            message = "#[timeout] needs a shared `Timeout`, but this is a `{Self}`",
            label = "not a `Timeout`",
            note = "declare one with resilience::policy! {{ static NAME: Timeout = timeout(2s); }}, or use the attribute of this policy's kind"
        )]
        pub trait SharedTimeout {
            /// The `Timeout`.
            fn timeout(&self) -> &Timeout;
        }

        impl SharedTimeout for Timeout {
            #[inline]
            fn timeout(&self) -> &Timeout {
                self
            }
        }

        /// `policy` as a `Timeout`, or an error at its path.
        #[inline]
        pub fn timeout<P: SharedTimeout + ?Sized>(policy: &P) -> &Timeout {
            policy.timeout()
        }

        /// A shared `Bulkhead`.
        #[diagnostic::on_unimplemented(
            message = "#[bulkhead] needs a shared `Bulkhead`, but this is a `{Self}`",
            label = "not a `Bulkhead`",
            note = "declare one with resilience::policy! {{ static NAME: Bulkhead = bulkhead(max = 10); }}, or use the attribute of this policy's kind",
            note = "a keyed family (`KeyedBulkhead`) needs the key of each call: #[bulkhead(PER_TENANT, key = tenant.id)]"
        )]
        pub trait SharedBulkhead {
            /// The `Bulkhead`.
            fn bulkhead(&self) -> &Bulkhead;
        }

        impl SharedBulkhead for Bulkhead {
            #[inline]
            fn bulkhead(&self) -> &Bulkhead {
                self
            }
        }

        /// `policy` as a `Bulkhead`, or an error at its path.
        #[inline]
        pub fn bulkhead<P: SharedBulkhead + ?Sized>(policy: &P) -> &Bulkhead {
            policy.bulkhead()
        }

        /// A shared `RateLimiter`.
        #[diagnostic::on_unimplemented(
            message = "#[rate_limiter] needs a shared `RateLimiter`, but this is a `{Self}`",
            label = "not a `RateLimiter`",
            note = "declare one with resilience::policy! {{ static NAME: RateLimiter = rate_limiter(100/s); }}, or use the attribute of this policy's kind",
            note = "a keyed family (`KeyedRateLimiter`) needs the key of each call: #[rate_limiter(PER_TENANT, key = tenant.id)]"
        )]
        pub trait SharedRateLimiter {
            /// The `RateLimiter`.
            fn rate_limiter(&self) -> &RateLimiter;
        }

        impl SharedRateLimiter for RateLimiter {
            #[inline]
            fn rate_limiter(&self) -> &RateLimiter {
                self
            }
        }

        /// `policy` as a `RateLimiter`, or an error at its path.
        #[inline]
        pub fn rate_limiter<P: SharedRateLimiter + ?Sized>(policy: &P) -> &RateLimiter {
            policy.rate_limiter()
        }

        /// A shared `KeyedCircuitBreaker`, named beside `key`.
        #[diagnostic::on_unimplemented(
            message = "#[circuit_breaker(.., key = ..)] needs a shared `KeyedCircuitBreaker`, but this is a `{Self}`",
            label = "not a `KeyedCircuitBreaker`",
            note = "a breaker per key is declared keyed: resilience::policy! {{ static HOSTS: KeyedCircuitBreaker = circuit_breaker(threshold = 50%); }}",
            note = "or remove `key` to use this one breaker for every call"
        )]
        pub trait SharedKeyedCircuitBreaker {
            /// The `KeyedCircuitBreaker`.
            fn keyed_circuit_breaker(&self) -> &KeyedCircuitBreaker;
        }

        impl SharedKeyedCircuitBreaker for KeyedCircuitBreaker {
            #[inline]
            fn keyed_circuit_breaker(&self) -> &KeyedCircuitBreaker {
                self
            }
        }

        /// `policy` as a `KeyedCircuitBreaker`, or an error at its path.
        #[inline]
        pub fn keyed_circuit_breaker<P: SharedKeyedCircuitBreaker + ?Sized>(
            policy: &P,
        ) -> &KeyedCircuitBreaker {
            policy.keyed_circuit_breaker()
        }

        /// A shared `KeyedBulkhead`, named beside `key`.
        #[diagnostic::on_unimplemented(
            message = "#[bulkhead(.., key = ..)] needs a shared `KeyedBulkhead`, but this is a `{Self}`",
            label = "not a `KeyedBulkhead`",
            note = "a bulkhead per key is declared keyed: resilience::policy! {{ static PER_TENANT: KeyedBulkhead = bulkhead(max = 10); }}",
            note = "or remove `key` to use this one bulkhead for every call"
        )]
        pub trait SharedKeyedBulkhead {
            /// The `KeyedBulkhead`.
            fn keyed_bulkhead(&self) -> &KeyedBulkhead;
        }

        impl SharedKeyedBulkhead for KeyedBulkhead {
            #[inline]
            fn keyed_bulkhead(&self) -> &KeyedBulkhead {
                self
            }
        }

        /// `policy` as a `KeyedBulkhead`, or an error at its path.
        #[inline]
        pub fn keyed_bulkhead<P: SharedKeyedBulkhead + ?Sized>(policy: &P) -> &KeyedBulkhead {
            policy.keyed_bulkhead()
        }

        /// A shared `KeyedRateLimiter`, named beside `key`.
        #[diagnostic::on_unimplemented(
            message = "#[rate_limiter(.., key = ..)] needs a shared `KeyedRateLimiter`, but this is a `{Self}`",
            label = "not a `KeyedRateLimiter`",
            note = "a rate limiter per key is declared keyed: resilience::policy! {{ static PER_TENANT: KeyedRateLimiter = rate_limiter(1000/m); }}",
            note = "or remove `key` to use this one limiter for every call"
        )]
        pub trait SharedKeyedRateLimiter {
            /// The `KeyedRateLimiter`.
            fn keyed_rate_limiter(&self) -> &KeyedRateLimiter;
        }

        impl SharedKeyedRateLimiter for KeyedRateLimiter {
            #[inline]
            fn keyed_rate_limiter(&self) -> &KeyedRateLimiter {
                self
            }
        }

        /// `policy` as a `KeyedRateLimiter`, or an error at its path.
        #[inline]
        pub fn keyed_rate_limiter<P: SharedKeyedRateLimiter + ?Sized>(
            policy: &P,
        ) -> &KeyedRateLimiter {
            policy.keyed_rate_limiter()
        }
    }
}
