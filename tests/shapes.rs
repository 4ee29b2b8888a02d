//! Every function shape the attributes accept: free functions with generics, lifetimes and
//! `impl Trait`, methods with every receiver, trait-impl `async fn`, `#[async_trait]`, argument
//! patterns; and the returned future is `Send` when the body's is.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ApiError, Calls};
use resilience::{Failure, bulkhead, circuit_breaker, fallback, retry, timeout};
use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

static GENERIC: Calls = Calls::new();

#[allow(clippy::needless_lifetimes)]
#[retry(attempts = 3, backoff = fixed(1ms))]
#[timeout(1s)]
async fn generic<'a, T>(
    prefix: &'a str,
    items: Vec<T>,
    suffix: impl Display + Clone,
) -> Result<String, ApiError>
where
    T: Display + Clone,
{
    if GENERIC.hit() < 2 {
        return Err(ApiError::Down);
    }
    let joined: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    Ok(format!("{prefix}{}{suffix}", joined.join(",")))
}

#[tokio::test(start_paused = true)]
async fn generic_functions_with_lifetimes_and_impl_trait_are_retried_with_fresh_clones() {
    assert_eq!(generic("<", vec![1, 2], ">").await, Ok("<1,2>".to_owned()));
    assert_eq!(GENERIC.get(), 2);
}

#[retry(attempts = 2, backoff = fixed(1ms))]
async fn consumes(
    mut names: Vec<String>,
    (a, b): (u32, u32),
) -> Result<(Vec<String>, u32), ApiError> {
    names.push("pushed".to_owned());
    Ok((names, a + b))
}

#[tokio::test(start_paused = true)]
async fn owned_and_destructured_arguments_may_be_consumed_by_the_body() {
    let (names, sum) = consumes(vec!["a".to_owned()], (1, 2)).await.unwrap();
    assert_eq!((names.len(), sum), (2, 3));
}

struct Client {
    hits: AtomicU32,
    total: u32,
}

impl Client {
    fn new() -> Self {
        Client {
            hits: AtomicU32::new(0),
            total: 0,
        }
    }

    #[retry(attempts = 3, backoff = fixed(1ms))]
    #[circuit_breaker(failures = 10)]
    async fn by_ref(&self, fail: u32) -> Result<u32, ApiError> {
        let n = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= fail {
            Err(ApiError::Down)
        } else {
            Ok(n)
        }
    }

    #[retry(attempts = 3, backoff = fixed(1ms))]
    async fn by_mut(&mut self, add: u32) -> Result<u32, ApiError> {
        self.total += add;
        if self.total < 3 * add {
            Err(ApiError::Down)
        } else {
            Ok(self.total)
        }
    }

    #[bulkhead(max = 1)]
    #[retry(attempts = 2, backoff = fixed(1ms))]
    async fn by_arc(self: Arc<Self>) -> Result<u32, ApiError> {
        Ok(self.hits.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn stale(&self, id: u64, _failure: Failure<ApiError>) -> Result<u64, ApiError> {
        Ok(id + u64::from(self.total))
    }

    #[fallback(Self::stale)]
    async fn with_method_fallback(&self, id: u64) -> Result<u64, ApiError> {
        let _ = id;
        Err(ApiError::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn methods_with_every_receiver_work() {
    let mut client = Client::new();
    assert_eq!(client.by_ref(2).await, Ok(3));
    assert_eq!(
        client.by_mut(5).await,
        Ok(15),
        "each attempt saw the previous one's changes"
    );
    client.total = 1;
    assert_eq!(client.with_method_fallback(41).await, Ok(42));
    let client = Arc::new(client);
    assert_eq!(client.clone().by_arc().await, Ok(4));
}

trait Quotes {
    fn quote(&self, sku: String) -> impl Future<Output = Result<usize, ApiError>> + Send;
}

struct Shop;

impl Quotes for Shop {
    #[retry(attempts = 2, backoff = fixed(1ms))]
    #[timeout(1s)]
    async fn quote(&self, sku: String) -> Result<usize, ApiError> {
        Ok(sku.len())
    }
}

#[tokio::test(start_paused = true)]
async fn trait_impl_async_fns_work() {
    assert_eq!(Shop.quote("abc".to_owned()).await, Ok(3));
}

#[async_trait::async_trait]
trait Stock {
    async fn level(&self, sku: String) -> Result<usize, ApiError>;
}

static LEVEL: Calls = Calls::new();

#[async_trait::async_trait]
impl Stock for Shop {
    #[retry(attempts = 3, backoff = fixed(1ms))]
    #[timeout(1s)]
    async fn level(&self, sku: String) -> Result<usize, ApiError> {
        if LEVEL.hit() == 1 {
            return Err(ApiError::Down);
        }
        Ok(sku.len())
    }
}

#[tokio::test(start_paused = true)]
async fn async_trait_methods_work() {
    let shop: Box<dyn Stock + Send + Sync> = Box::new(Shop);
    assert_eq!(shop.level("abcd".to_owned()).await, Ok(4));
    assert_eq!(LEVEL.get(), 2);
}

#[retry(attempts = 3, backoff = fixed(1ms))]
#[circuit_breaker(threshold = 50%)]
#[timeout(1s)]
#[bulkhead(max = 8)]
async fn sendable(id: Arc<String>) -> Result<usize, ApiError> {
    tokio::task::yield_now().await;
    Ok(id.len())
}

#[test]
fn futures_are_send_and_run_on_a_multi_thread_runtime() {
    fn assert_send<F: Future + Send>(f: F) -> F {
        f
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let total = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|i| tokio::spawn(assert_send(sendable(Arc::new("x".repeat(i))))))
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap().unwrap();
        }
        total
    });
    assert_eq!(total, (0..8).sum::<usize>());
}

// Receivers under `#[retry]` and fallbacks, in `#[async_trait]` and plain `async fn`s.

#[async_trait::async_trait]
trait Account {
    async fn deposit(&mut self, cents: u32) -> Result<u32, ApiError>;
    async fn balance_later(self: Arc<Self>) -> Result<u32, ApiError>;
    async fn withdraw(&mut self, cents: u32) -> Result<u32, ApiError>;
}

struct Wallet {
    cents: u32,
    attempts: AtomicU32,
}

impl Wallet {
    fn declined(&mut self, cents: u32, _failure: Failure<ApiError>) -> Result<u32, ApiError> {
        self.cents += 1;
        Ok(cents)
    }
}

#[async_trait::async_trait]
impl Account for Wallet {
    #[retry(attempts = 3, backoff = fixed(1ms))]
    async fn deposit(&mut self, cents: u32) -> Result<u32, ApiError> {
        self.cents += cents;
        if self.cents < 3 * cents {
            return Err(ApiError::Down);
        }
        Ok(self.cents)
    }

    #[retry(attempts = 3, backoff = fixed(1ms))]
    async fn balance_later(self: Arc<Self>) -> Result<u32, ApiError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        // The body hands its receiver on: each attempt has its own clone of the Arc.
        let cents = tokio::spawn(async move { self.cents }).await.unwrap();
        if attempt < 2 {
            return Err(ApiError::Down);
        }
        Ok(cents)
    }

    #[fallback(Self::declined)]
    #[timeout(10ms)]
    async fn withdraw(&mut self, cents: u32) -> Result<u32, ApiError> {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        self.cents -= cents;
        Ok(self.cents)
    }
}

#[tokio::test(start_paused = true)]
async fn async_trait_methods_with_mut_self_are_retried_on_the_same_receiver() {
    let mut wallet = Wallet {
        cents: 0,
        attempts: AtomicU32::new(0),
    };
    assert_eq!(wallet.deposit(5).await, Ok(15));
    assert_eq!(wallet.withdraw(7).await, Ok(7), "the fallback served");
    assert_eq!(wallet.cents, 16, "the fallback got the same receiver");
}

#[tokio::test(start_paused = true)]
async fn async_trait_methods_that_move_an_arc_receiver_are_retried_with_clones() {
    let wallet = Arc::new(Wallet {
        cents: 9,
        attempts: AtomicU32::new(0),
    });
    assert_eq!(wallet.clone().balance_later().await, Ok(9));
    assert_eq!(wallet.attempts.load(Ordering::SeqCst), 2);
    assert_eq!(Arc::strong_count(&wallet), 1, "every clone was dropped");
}

#[derive(Clone, Default)]
struct Request {
    sent: u32,
}

static SENT: Calls = Calls::new();

impl Request {
    #[retry(attempts = 3, backoff = fixed(1ms))]
    async fn send(mut self) -> Result<u32, ApiError> {
        // `mut self` stays mutable, and the body may consume its own clone.
        self.sent += 1;
        let consumed = self;
        if SENT.hit() < 3 {
            return Err(ApiError::Down);
        }
        Ok(consumed.sent)
    }

    #[retry(attempts = 2, backoff = fixed(1ms))]
    async fn spawned(self: Arc<Self>) -> Result<u32, ApiError> {
        let request = tokio::spawn(async move { self.sent }).await.unwrap();
        Ok(request + 1)
    }
}

#[tokio::test(start_paused = true)]
async fn a_receiver_by_value_is_cloned_for_each_attempt() {
    assert_eq!(
        Request::default().send().await,
        Ok(1),
        "each attempt started from the caller's request"
    );
    assert_eq!(SENT.get(), 3);
    assert_eq!(Arc::new(Request { sent: 4 }).spawned().await, Ok(5));
}

// A return type through an alias.

type Res<T> = Result<T, ApiError>;

static ALIASED: Calls = Calls::new();

#[retry(attempts = 2, backoff = fixed(1ms))]
async fn through_an_alias() -> Res<u32> {
    if ALIASED.hit() < 2 {
        return Err(ApiError::Down);
    }
    Ok(7)
}

#[tokio::test(start_paused = true)]
async fn a_result_through_an_alias_is_accepted() {
    assert_eq!(through_an_alias().await, Ok(7));
    assert_eq!(ALIASED.get(), 2);
}

// Owned arguments under `#[retry]`: cloned for every attempt but the last, which takes the
// caller's value itself.

static CLONES: AtomicU32 = AtomicU32::new(0);

/// A payload that counts its clones.
struct Payload(Vec<u8>);

impl Clone for Payload {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Payload(self.0.clone())
    }
}

#[retry(attempts = 3, backoff = fixed(1ms), name = "shapes::upload/retry")]
async fn upload(payload: Payload, fail_times: u32) -> Result<usize, ApiError> {
    static TRIES: Calls = Calls::new();
    let consumed = payload; // the body may consume its argument
    if TRIES.hit() <= fail_times {
        return Err(ApiError::Down);
    }
    Ok(consumed.0.len())
}

#[tokio::test(start_paused = true)]
async fn owned_arguments_are_cloned_for_every_attempt_but_the_last() {
    // upload's attempts are counted across these calls, so each waits for the previous one.
    CLONES.store(0, Ordering::SeqCst);
    assert_eq!(upload(Payload(vec![1; 10]), 0).await, Ok(10));
    assert_eq!(
        CLONES.swap(0, Ordering::SeqCst),
        1,
        "a first-try success with attempts left cloned once"
    );
    // Two failures (tries 2 and 3), then the third attempt, the last, succeeds.
    assert_eq!(upload(Payload(vec![1; 10]), 3).await, Ok(10));
    assert_eq!(
        CLONES.swap(0, Ordering::SeqCst),
        2,
        "three attempts, the last one moved the caller's payload"
    );
}

static RAISED: Calls = Calls::new();

#[retry(attempts = 2, backoff = fixed(1ms), name = "shapes::raised/retry")]
async fn raised_during_the_last_attempt(payload: Payload) -> Result<usize, ApiError> {
    if RAISED.hit() == 2 {
        // The last attempt (2 of 2) took the payload; more attempts now cannot have it.
        resilience::registry::set("shapes::raised/retry", "attempts", "5").unwrap();
    }
    let _ = payload;
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn attempts_raised_during_the_last_attempt_end_the_call_with_its_outcome() {
    assert_eq!(
        raised_during_the_last_attempt(Payload(Vec::new())).await,
        Err(ApiError::Down)
    );
    assert_eq!(RAISED.get(), 2);
}

struct Pinned {
    polls: u32,
}

impl Pinned {
    #[retry(attempts = 3, backoff = fixed(1ms))]
    async fn pinned(self: std::pin::Pin<&mut Self>) -> Result<u32, ApiError> {
        // Each attempt gets a reborrow of the pinned reference, which it may consume.
        let this = self.get_mut();
        this.polls += 1;
        if this.polls < 2 {
            return Err(ApiError::Down);
        }
        Ok(this.polls)
    }
}

#[tokio::test(start_paused = true)]
async fn a_pinned_receiver_is_reborrowed_for_each_attempt() {
    let mut pinned = Pinned { polls: 0 };
    assert_eq!(std::pin::Pin::new(&mut pinned).pinned().await, Ok(2));
}

// An error type that is a generic parameter: nothing is known of it but what its bounds say.

#[retry(attempts = 2, backoff = fixed(1ms))]
#[timeout(1s)]
async fn generic_error<E: From<resilience::Error> + std::fmt::Debug>(
    fail: bool,
    error: fn() -> E,
) -> Result<u32, E> {
    if fail {
        return Err(error());
    }
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_generic_error_type_works_whether_or_not_it_holds_a_rejection() {
    assert_eq!(generic_error(false, || ApiError::Down).await, Ok(1));
    assert_eq!(
        generic_error(true, || ApiError::Down).await,
        Err(ApiError::Down)
    );
    let err = generic_error(true, || std::io::Error::other("down"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Other);
}
