//! The policies as tower layers, beside the attributes: one state for both, the same decisions
//! on the same scenarios, HTTP classification and rejection responses; in virtual time.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use common::ApiError;
use resilience::registry;
use resilience::{ErrorKind, State, circuit_breaker, retry, tower as layers};
use tower::{ServiceBuilder, ServiceExt, service_fn};

resilience::policy! {
    /// One breaker for the attribute and the layer.
    static PAYMENTS: CircuitBreaker = circuit_breaker(failures = 2, open = 30s);
    /// Counts HTTP outcomes by status.
    static UPSTREAM: CircuitBreaker = circuit_breaker(failures = 3, open = 10s);
    static RETRIES: Retry = retry(attempts = 3, backoff = fixed(100ms));
    static ATTRIBUTE_RETRIES: Retry = retry(attempts = 3, backoff = fixed(100ms));
    static QUICK: Timeout = timeout(1s);
    static ONE_SLOT: Bulkhead = bulkhead(max = 1);
    static GUARD: CircuitBreaker = circuit_breaker(failures = 1, open = 10s);
    static PER_SECOND: RateLimiter = rate_limiter(1/s);
    static STOPPED: CircuitBreaker = circuit_breaker(failures = 1, open = 10s);
    static STOPPED_RETRIES: Retry = retry(attempts = 3, backoff = fixed(100ms));
    static HEDGED: Hedge = hedge(after = 50ms, max = 1);
    static SLOTS: Bulkhead = bulkhead(max = 4);
}

/// The kind of a layer's rejection, from its boxed error.
fn rejection(error: &layers::BoxError) -> Option<ErrorKind> {
    error.downcast_ref::<resilience::Error>().map(|e| e.kind())
}

fn response(status: u16) -> http::Response<String> {
    http::Response::builder()
        .status(status)
        .body(String::new())
        .unwrap()
}

#[circuit_breaker(PAYMENTS)]
async fn charge_by_attribute(fail: bool) -> Result<u64, ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

#[tokio::test(start_paused = true)]
async fn a_layer_and_an_attribute_share_one_breaker() {
    PAYMENTS.reset();
    let calls = Arc::new(AtomicU32::new(0));
    let inner = {
        let calls = Arc::clone(&calls);
        service_fn(move |fail: bool| {
            calls.fetch_add(1, Relaxed);
            async move {
                if fail {
                    Err(std::io::Error::other("down"))
                } else {
                    Ok(2u64)
                }
            }
        })
    };
    let client = ServiceBuilder::new()
        .layer(layers::layer(&PAYMENTS))
        .service(inner);

    assert_eq!(client.clone().oneshot(false).await.unwrap(), 2);
    // Two failures through the layer open the breaker the attribute uses.
    for _ in 0..2 {
        let e = client.clone().oneshot(true).await.unwrap_err();
        assert_eq!(e.to_string(), "down", "the inner error, as it was");
    }
    assert_eq!(PAYMENTS.state(), State::Open);
    let e = charge_by_attribute(false).await.unwrap_err();
    assert_eq!(e.rejection(), Some(ErrorKind::CircuitOpen));

    // Open: the layer rejects without calling the inner service.
    let before = calls.load(Relaxed);
    let e = client.clone().oneshot(false).await.unwrap_err();
    assert_eq!(rejection(&e), Some(ErrorKind::CircuitOpen));
    assert_eq!(calls.load(Relaxed), before, "not called while open");
    let rejected = e.downcast_ref::<resilience::Error>().unwrap();
    assert_eq!(rejected.policy(), "PAYMENTS");
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(30)));

    // One registry entry, counting both callers.
    let snapshot = registry::snapshot();
    let entry = snapshot.get("PAYMENTS").unwrap();
    assert_eq!(entry.calls(), Some(5));
    assert_eq!(entry.failures(), Some(2));
    assert_eq!(entry.rejections(), Some(2));
}

#[tokio::test(start_paused = true)]
async fn http_statuses_count_as_the_classification_says_and_reach_the_caller() {
    UPSTREAM.reset();
    let client = ServiceBuilder::new()
        .layer(layers::layer(&UPSTREAM).http())
        .service(service_fn(|status: u16| async move {
            Ok::<_, std::io::Error>(response(status))
        }));
    // 404 is the caller's mistake, 429 a push back: neither counts as a failure.
    for status in [200, 404, 429, 429, 429] {
        let r = client.clone().oneshot(status).await.unwrap();
        assert_eq!(r.status(), status);
    }
    assert_eq!(UPSTREAM.state(), State::Closed);
    // A 503 is a failure, and the caller still gets the 503 itself.
    for _ in 0..3 {
        let r = client.clone().oneshot(503).await.unwrap();
        assert_eq!(r.status(), 503);
    }
    assert_eq!(UPSTREAM.state(), State::Open);
    let m = UPSTREAM.metrics();
    assert_eq!((m.successes, m.failures, m.ignored), (2, 3, 3));
}

#[retry(ATTRIBUTE_RETRIES)]
async fn flaky_by_attribute(attempts: Arc<AtomicU32>) -> Result<u64, ApiError> {
    if attempts.fetch_add(1, Relaxed) < 2 {
        Err(ApiError::Down)
    } else {
        Ok(7)
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_repeats_what_the_attribute_repeats() {
    RETRIES.reset();
    ATTRIBUTE_RETRIES.reset();
    // By attribute: two failures, then a success, after two waits of 100ms.
    let by_attribute = Arc::new(AtomicU32::new(0));
    let started = tokio::time::Instant::now();
    assert_eq!(flaky_by_attribute(Arc::clone(&by_attribute)).await, Ok(7));
    assert_eq!(started.elapsed(), Duration::from_millis(200));

    // By layer: the same, each attempt a clone of the request.
    let attempts = Arc::new(AtomicU32::new(0));
    let inner = {
        let attempts = Arc::clone(&attempts);
        service_fn(move |id: String| {
            let n = attempts.fetch_add(1, Relaxed);
            async move {
                if n < 2 {
                    Err(std::io::Error::other("down"))
                } else {
                    Ok(id)
                }
            }
        })
    };
    let client = ServiceBuilder::new()
        .layer(layers::layer(&RETRIES))
        .service(inner);
    let started = tokio::time::Instant::now();
    assert_eq!(
        client.oneshot("order-1".to_owned()).await.unwrap(),
        "order-1"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(attempts.load(Relaxed), by_attribute.load(Relaxed));
    assert_eq!(
        RETRIES.metrics().retries,
        ATTRIBUTE_RETRIES.metrics().retries
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_honours_retry_after_and_gives_the_last_response() {
    let statuses = Arc::new(AtomicU32::new(0));
    let inner = {
        let statuses = Arc::clone(&statuses);
        service_fn(move |_: ()| {
            let n = statuses.fetch_add(1, Relaxed);
            async move {
                let mut r = response(if n == 0 { 429 } else { 503 });
                r.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("2"),
                );
                Ok::<_, std::io::Error>(r)
            }
        })
    };
    let retry = resilience::Retry::builder("tower::retry_after")
        .attempts(3)
        .backoff(resilience::Backoff::fixed(Duration::from_millis(100)))
        .build()
        .unwrap();
    let retry: &'static resilience::Retry = Box::leak(Box::new(retry));
    let client = ServiceBuilder::new()
        .layer(layers::layer(retry).http())
        .service(inner);
    let started = tokio::time::Instant::now();
    let last = client.oneshot(()).await.unwrap();
    assert_eq!(last.status(), 503, "the last attempt's response");
    assert_eq!(statuses.load(Relaxed), 3);
    assert_eq!(started.elapsed(), Duration::from_secs(4), "2s after each");
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_does_not_repeat_an_open_breaker_below_it() {
    STOPPED.reset();
    STOPPED_RETRIES.reset();
    STOPPED.force_open();
    let calls = Arc::new(AtomicU32::new(0));
    let inner = {
        let calls = Arc::clone(&calls);
        service_fn(move |_: ()| {
            calls.fetch_add(1, Relaxed);
            async { Ok::<_, std::io::Error>(()) }
        })
    };
    let client = ServiceBuilder::new()
        .layer(layers::layer(&STOPPED_RETRIES))
        .layer(layers::layer(&STOPPED))
        .service(inner);
    let e = client.oneshot(()).await.unwrap_err();
    assert_eq!(rejection(&e), Some(ErrorKind::CircuitOpen));
    assert_eq!(calls.load(Relaxed), 0);
    assert_eq!(STOPPED_RETRIES.metrics().retries, 0, "not retried");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_layer_cancels_the_inner_call() {
    let client = ServiceBuilder::new()
        .layer(layers::layer(&QUICK))
        .service(service_fn(|secs: u64| async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok::<_, std::io::Error>(secs)
        }));
    assert_eq!(client.clone().oneshot(0).await.unwrap(), 0);
    let started = tokio::time::Instant::now();
    let e = client.oneshot(5).await.unwrap_err();
    assert_eq!(rejection(&e), Some(ErrorKind::TimedOut));
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_server_answers_rejections_and_a_breaker_above_does_not_count_them() {
    GUARD.reset();
    ONE_SLOT.reset();
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let wait = Arc::new(tokio::sync::Mutex::new(Some(wait)));
    let handler = service_fn(move |_: ()| {
        let wait = Arc::clone(&wait);
        async move {
            if let Some(wait) = wait.lock().await.take() {
                let _ = wait.await;
            }
            Ok::<_, std::convert::Infallible>(response(200))
        }
    });
    let server = ServiceBuilder::new()
        .layer(layers::layer(&GUARD).http().respond())
        .layer(layers::layer(&ONE_SLOT).http().respond())
        .service(handler);
    let first = tokio::spawn(server.clone().oneshot(()));
    tokio::task::yield_now().await;
    // The slot is taken: a 503 that carries the rejection, which the breaker above (one
    // failure opens it) does not count.
    let full = server.clone().oneshot(()).await.unwrap();
    assert_eq!(full.status(), 503);
    let rejected = full.extensions().get::<resilience::Error>().unwrap();
    assert_eq!(rejected.kind(), ErrorKind::BulkheadFull);
    assert_eq!(GUARD.state(), State::Closed);
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_server_answers_429_with_retry_after() {
    PER_SECOND.reset();
    let server = ServiceBuilder::new()
        .layer(layers::layer(&PER_SECOND).http().respond())
        .service(service_fn(|_: ()| async {
            Ok::<_, std::convert::Infallible>(response(200))
        }));
    assert_eq!(server.clone().oneshot(()).await.unwrap().status(), 200);
    let limited = server.oneshot(()).await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()[http::header::RETRY_AFTER], "1");
}

resilience::policy! {
    /// One permit per second for each tenant.
    static PER_TENANT: KeyedRateLimiter = rate_limiter(1/s, max_keys = 100);
}

#[tokio::test(start_paused = true)]
async fn a_keyed_layer_limits_each_key_on_its_own() {
    PER_TENANT.reset();
    let server = ServiceBuilder::new()
        .layer(
            layers::keyed_layer(&PER_TENANT, |req: &http::Request<()>| {
                req.headers()
                    .get("tenant")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("anonymous")
                    .to_owned()
            })
            .http()
            .respond(),
        )
        .service(service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(response(200))
        }));
    let request = |tenant: &str| {
        http::Request::builder()
            .header("tenant", tenant)
            .body(())
            .unwrap()
    };
    assert_eq!(
        server
            .clone()
            .oneshot(request("acme"))
            .await
            .unwrap()
            .status(),
        200
    );
    let limited = server.clone().oneshot(request("acme")).await.unwrap();
    assert_eq!(limited.status(), 429);
    let rejection = limited.extensions().get::<resilience::Error>().unwrap();
    assert_eq!(
        rejection.key().map(|k| k.to_string()).as_deref(),
        Some("acme")
    );
    // Another tenant has its own permit.
    assert_eq!(
        server
            .clone()
            .oneshot(request("globex"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(PER_TENANT.metrics().keys, 2);
}

#[tokio::test(start_paused = true)]
async fn a_hedge_layer_sends_a_clone_of_a_slow_request_and_drops_the_loser() {
    // The first request hangs; every later one answers in 10 ms. A bulkhead below the hedge
    // shows the loser's slot freed.
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let client = ServiceBuilder::new()
        .layer(layers::layer(&HEDGED))
        .layer(layers::layer(&SLOTS))
        .service(service_fn(move |order: String| {
            let n = seen.fetch_add(1, Relaxed);
            async move {
                let wait = if n == 0 { 3600 } else { 0 };
                tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(10)).await;
                Ok::<_, std::io::Error>(format!("{order}#{n}"))
            }
        }));
    let started = tokio::time::Instant::now();
    assert_eq!(
        client.clone().oneshot("o-1".to_owned()).await.unwrap(),
        "o-1#1"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(60));
    assert_eq!(
        SLOTS.in_use(),
        0,
        "the hanging first request's slot is free"
    );
    let m = HEDGED.metrics();
    assert_eq!((m.calls, m.hedges, m.wins, m.cancelled), (1, 1, 1, 1));
    // A request that answers in time is sent once.
    let started = tokio::time::Instant::now();
    assert_eq!(client.oneshot("o-2".to_owned()).await.unwrap(), "o-2#2");
    assert_eq!(started.elapsed(), Duration::from_millis(10));
    assert_eq!(calls.load(Relaxed), 3);
}
