//! Retry budgets through nested annotated functions, in virtual time: what a failing leaf
//! sees per request with and without one, what a refusal looks like, and a budget by name.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{ApiError, Calls};
use resilience::registry;
use resilience::{EventKind, PolicyKind, retry};

resilience::policy! {
    /// The budget the three layers of the chain share.
    static CHAIN: RetryBudget = retry_budget(ratio = 20%, min = 10/s, window = 10s);
    /// Refusals, seen by name.
    static TIGHT: RetryBudget = retry_budget(ratio = 10%, min = 0/s);
    /// A shared retry that takes its retries from a budget.
    static FETCH: Retry = retry(attempts = 3, backoff = fixed(10ms), budget = TIGHT);
}

/// The event channel keeps the last `resilience::event::CAPACITY` events for a subscriber: the
/// test that makes tens of thousands of calls and the test that checks an event take turns.
static EVENTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The dependency at the end of the chain: down for the whole test.
static LEAF_CALLS: Calls = Calls::new();
static UNBUDGETED_LEAF_CALLS: Calls = Calls::new();

async fn dependency(calls: &Calls) -> Result<u32, ApiError> {
    calls.hit();
    Err(ApiError::Down)
}

#[retry(attempts = 3, backoff = fixed(50ms), budget = CHAIN)]
async fn outer() -> Result<u32, ApiError> {
    middle().await
}

#[retry(attempts = 3, backoff = fixed(50ms), budget = CHAIN)]
async fn middle() -> Result<u32, ApiError> {
    leaf().await
}

#[retry(attempts = 3, backoff = fixed(50ms), budget = CHAIN)]
async fn leaf() -> Result<u32, ApiError> {
    dependency(&LEAF_CALLS).await
}

#[retry(attempts = 3, backoff = fixed(50ms))]
async fn outer_unbudgeted() -> Result<u32, ApiError> {
    middle_unbudgeted().await
}

#[retry(attempts = 3, backoff = fixed(50ms))]
async fn middle_unbudgeted() -> Result<u32, ApiError> {
    leaf_unbudgeted().await
}

#[retry(attempts = 3, backoff = fixed(50ms))]
async fn leaf_unbudgeted() -> Result<u32, ApiError> {
    dependency(&UNBUDGETED_LEAF_CALLS).await
}

/// `requests` calls of `call`, one started every millisecond (1,000 requests/s), all awaited.
async fn at_a_thousand_per_second<F, Fut>(requests: u32, call: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<u32, ApiError>> + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..requests {
        tasks.spawn_local(call());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap(), Err(ApiError::Down));
    }
}

#[tokio::test(start_paused = true)]
async fn a_budget_keeps_a_three_deep_chain_to_one_call_and_a_fifth_per_request_in_an_outage() {
    let _turn = EVENTS.lock().await;
    // 3 attempts at each of 3 layers: without a budget, 27 calls per request reach the leaf.
    let local = tokio::task::LocalSet::new();
    local
        .run_until(at_a_thousand_per_second(200, outer_unbudgeted))
        .await;
    assert_eq!(UNBUDGETED_LEAF_CALLS.get(), 200 * 27);

    // 20 s of a full outage at 1,000 requests/s, every layer under one budget.
    let requests = 20_000;
    local
        .run_until(at_a_thousand_per_second(requests, outer))
        .await;
    let leaf = u64::from(LEAF_CALLS.get());
    let requests = u64::from(requests);
    eprintln!("leaf calls per request: {}", leaf as f64 / requests as f64);
    // One call per request, + 20% for the ratio, + the floor of 10/s over the 20 s, + the
    // floor's first window (100 retries), which a budget starts with.
    assert!(leaf >= requests);
    assert!(
        leaf <= requests + requests / 5 + 10 * 20 + 100,
        "{leaf} calls reached the leaf for {requests} requests"
    );
    // Only the outermost first attempts paid in: the inner layers' first attempts are the
    // outer's attempts already.
    let m = CHAIN.metrics();
    assert_eq!(m.deposits, requests);
    assert_eq!(
        m.withdrawals,
        leaf - requests,
        "every retry that reached the leaf was one the budget allowed"
    );
    assert!(m.refused > 0);
}

#[tokio::test(start_paused = true)]
async fn a_refused_retry_ends_the_call_with_its_last_error_counted_published_and_listed() {
    let _turn = EVENTS.lock().await;
    let mut events = registry::subscribe();
    let calls = Calls::new();
    // Nothing deposited and no floor: the first retry is refused.
    let outcome: Result<u32, resilience::Failure<ApiError>> = FETCH
        .call(|| async {
            calls.hit();
            Err(resilience::Failure::Error(ApiError::Down))
        })
        .await;
    assert!(matches!(
        outcome,
        Err(resilience::Failure::Error(ApiError::Down))
    ));
    // The first attempt deposited 10% of a retry: not enough for one.
    assert_eq!(calls.get(), 1);
    assert_eq!(FETCH.metrics().budget_refused, 1);
    assert_eq!(TIGHT.metrics().refused, 1);
    let refused = events
        .drain()
        .into_iter()
        .find(|e| e.policy == "TIGHT")
        .expect("a refusal is published");
    assert_eq!(refused.kind, PolicyKind::RetryBudget);
    assert_eq!(refused.what, EventKind::BudgetRefused);

    // Ten first attempts earn one retry at 10%.
    for _ in 0..9 {
        let _ = FETCH
            .call(|| async { Ok::<u32, resilience::Failure<ApiError>>(1) })
            .await;
    }
    let calls = Calls::new();
    let _ = FETCH
        .call(|| async {
            calls.hit();
            Err::<u32, _>(resilience::Failure::Error(ApiError::Down))
        })
        .await;
    assert_eq!(calls.get(), 2, "one retry earned, one refused");

    // The snapshot lists it with its level and refusals.
    let snapshot = registry::snapshot();
    let row = snapshot.get("TIGHT").expect("listed by its name");
    assert_eq!(row.setting("ratio"), Some("10%"));
    assert_eq!(row.setting("min"), Some("0/s"));
    assert_eq!(row.setting("window"), Some("10s"));
    assert_eq!(row.rejections(), Some(2));
    assert_eq!(row.retries(), Some(1));
    assert_eq!(row.available(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_budget_is_configured_by_name_and_a_wrong_value_changes_nothing() {
    static BY_NAME: resilience::RetryBudget = match resilience::RetryBudget::builder("BY_NAME")
        .min(0, Duration::from_secs(1))
        .build()
    {
        Ok(b) => b,
        Err(_) => panic!("invalid budget"),
    };
    registry::register(&BY_NAME);
    registry::set("BY_NAME", "ratio", "50%").unwrap();
    registry::set("BY_NAME", "min", "600/m").unwrap();
    assert_eq!(BY_NAME.ratio(), 50.0);
    assert_eq!(BY_NAME.min(), (600, Duration::from_secs(60)));
    let e = registry::set("BY_NAME", "window", "500ms").unwrap_err();
    assert!(e.to_string().contains("window"), "{e}");
    let e = registry::set("BY_NAME", "ratio", "150%").unwrap_err();
    assert!(e.to_string().contains("ratio"), "{e}");
    assert_eq!(BY_NAME.window(), Duration::from_secs(10));
    assert_eq!(BY_NAME.ratio(), 50.0);
    assert!(registry::retry_budget("BY_NAME").is_ok());
    BY_NAME.reset();
    assert_eq!(BY_NAME.ratio(), 20.0);
}

static INLINE_CALLS: Calls = Calls::new();

#[retry(attempts = 5, backoff = fixed(1ms), budget = retry_budget(ratio = 50%, min = 0/s))]
async fn inline_budget() -> Result<u32, ApiError> {
    INLINE_CALLS.hit();
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_budget_written_in_place_is_the_retrys_own_and_listed_under_its_name() {
    // One first attempt earns half a retry: none is allowed; two earn one.
    assert_eq!(inline_budget().await, Err(ApiError::Down));
    assert_eq!(INLINE_CALLS.get(), 1);
    assert_eq!(inline_budget().await, Err(ApiError::Down));
    assert_eq!(INLINE_CALLS.get(), 3);
    let name = concat!(module_path!(), "::inline_budget/retry/budget");
    let budget = registry::retry_budget(name).expect("listed as <the retry>/budget");
    assert_eq!(budget.metrics().deposits, 2);
    assert_eq!(budget.metrics().withdrawals, 1);
}

#[test]
fn a_retrys_budget_is_fixed_where_it_is_declared() {
    resilience::policy! {
        static FIXED: Retry = retry(attempts = 3, budget = TIGHT);
    }
    // Its other settings change; its budget does not, and the refusal says what to change.
    FIXED.reconfigure(FIXED.settings().attempts(4)).unwrap();
    assert_eq!(FIXED.attempts(), 4);
    let e = FIXED
        .reconfigure(resilience::Retry::builder("other").attempts(5))
        .unwrap_err();
    assert_eq!(e.field(), "budget");
    assert_eq!(FIXED.attempts(), 4);
    FIXED.reset();
    assert_eq!(FIXED.attempts(), 3);
}
