//! `#[hedge]` in virtual time: a heavy tail hedged, the extra load it costs, the budget that
//! bounds it, losers cancelled with what they held released, failures, the percentile delay,
//! stacking, arguments and receivers, and its settings by name.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use common::ApiError;
use resilience::{ErrorKind, bulkhead, hedge, registry, timeout};
use tokio::time::{Instant, sleep};

resilience::policy! {
    /// Hedges of `budgeted`: one per hundred calls, no floor.
    static HEDGES: RetryBudget = retry_budget(ratio = 1%, min = 0/s);
    /// One hedge shared by two functions.
    static QUOTES: Hedge = hedge(after = p95, initial = 30ms, max = 2);
}

/// Whether attempt `n` of the tail dependency is one of its slow 5% (a fixed, well-mixed
/// choice, so both functions compared meet the same tail).
fn slow(n: u64) -> bool {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).is_multiple_of(20)
}

/// A dependency whose median is 10ms and whose slow 5% take a second.
async fn tail(attempts: &AtomicU64) -> Result<u64, ApiError> {
    let n = attempts.fetch_add(1, SeqCst);
    sleep(if slow(n) {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(10)
    })
    .await;
    Ok(n)
}

static PLAIN_ATTEMPTS: AtomicU64 = AtomicU64::new(0);
static HEDGED_ATTEMPTS: AtomicU64 = AtomicU64::new(0);
static BUDGETED_ATTEMPTS: AtomicU64 = AtomicU64::new(0);

async fn unhedged(_sku: String) -> Result<u64, ApiError> {
    tail(&PLAIN_ATTEMPTS).await
}

#[hedge(after = 50ms, max = 1, name = "hedge/tail")]
async fn hedged(sku: String) -> Result<u64, ApiError> {
    assert_eq!(
        sku, "sku-1",
        "each attempt has its own clone of the argument"
    );
    tail(&HEDGED_ATTEMPTS).await
}

#[hedge(after = 50ms, max = 1, budget = HEDGES, name = "hedge/budgeted")]
async fn budgeted(_sku: String) -> Result<u64, ApiError> {
    tail(&BUDGETED_ATTEMPTS).await
}

/// The 99th percentile of `latencies`, by nearest rank.
fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 99).div_ceil(100) - 1]
}

const CALLS: usize = 1000;

#[tokio::test(start_paused = true)]
async fn a_heavy_tail_is_hedged_and_the_extra_load_stays_within_max() {
    let mut plain = Vec::new();
    let mut with_hedge = Vec::new();
    for _ in 0..CALLS {
        let t = Instant::now();
        unhedged("sku-1".to_owned()).await.unwrap();
        plain.push(t.elapsed());
        let t = Instant::now();
        hedged("sku-1".to_owned()).await.unwrap();
        with_hedge.push(t.elapsed());
    }
    let (before, after) = (p99(plain), p99(with_hedge.clone()));
    println!("p99 without a hedge: {before:?}; with one after 50ms: {after:?}");
    assert!(
        before >= Duration::from_secs(1),
        "the tail reaches p99: {before:?}"
    );
    assert!(
        after <= Duration::from_millis(61),
        "hedged at 50ms, answered 10ms later: {after:?}"
    );

    let m = registry::hedge("hedge/tail").unwrap().metrics();
    let slow_firsts = with_hedge
        .iter()
        .filter(|l| **l > Duration::from_millis(50))
        .count() as u64;
    assert_eq!(m.calls, CALLS as u64);
    // One hedge for each call whose first attempt was slow, none for the others.
    assert_eq!(m.hedges, slow_firsts);
    assert!(m.hedges <= m.calls, "at most max = 1 hedge per call");
    assert!(m.hedges < m.calls / 10, "about the slow 5%: {}", m.hedges);
    assert_eq!(HEDGED_ATTEMPTS.load(SeqCst), m.calls + m.hedges);
    // Each hedged call ends with one attempt cancelled (the slow first, or a slow hedge).
    assert_eq!(m.cancelled, m.hedges);
    assert!(m.wins > 0 && m.wins <= m.hedges);
}

#[tokio::test(start_paused = true)]
async fn a_budget_bounds_the_hedges_and_a_refused_one_is_skipped_not_failed() {
    for _ in 0..CALLS {
        budgeted("sku".to_owned()).await.unwrap();
    }
    let m = registry::hedge("hedge/budgeted").unwrap().metrics();
    let budget = HEDGES.metrics();
    println!(
        "hedges {}, skipped {}, budget {budget:?}",
        m.hedges, m.skipped
    );
    // 1% of the calls deposited: at most that many hedges.
    assert!(m.hedges <= CALLS as u64 / 100 + 1, "{} hedges", m.hedges);
    assert!(
        m.skipped > 0,
        "the slow 5% asked for more than the budget held"
    );
    assert_eq!(budget.withdrawals, m.hedges);
    assert_eq!(budget.refused, m.skipped);
    assert_eq!(BUDGETED_ATTEMPTS.load(SeqCst), m.calls + m.hedges);
}

static POOLED: AtomicU32 = AtomicU32::new(0);

/// The first attempt hangs; the hedge answers.
#[hedge(after = 20ms, name = "hedge/pooled")]
#[bulkhead(max = 2, name = "hedge/pool")]
async fn pooled(attempts: &AtomicU32) -> Result<u32, ApiError> {
    let n = attempts.fetch_add(1, SeqCst);
    if n == 0 {
        sleep(Duration::from_secs(3600)).await;
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn the_loser_is_cancelled_and_releases_its_slot() {
    let started = Instant::now();
    assert_eq!(pooled(&POOLED).await.unwrap(), 1, "the hedge won");
    assert_eq!(started.elapsed(), Duration::from_millis(20));
    let pool = registry::bulkhead("hedge/pool").unwrap();
    assert_eq!(pool.in_use(), 0, "the hanging first attempt's slot is free");
    assert_eq!(pool.metrics().cancelled, 1);
    let m = registry::hedge("hedge/pooled").unwrap().metrics();
    assert_eq!((m.hedges, m.wins, m.cancelled), (1, 1, 1));
}

static FAILING: AtomicU32 = AtomicU32::new(0);

/// Attempt 1 fails at once; attempt 2 never runs.
#[hedge(after = 20ms, name = "hedge/fast-failure")]
async fn fails_fast() -> Result<u32, ApiError> {
    FAILING.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

static SLOW_FAILURE: AtomicU32 = AtomicU32::new(0);

/// Attempt 1 fails after 100ms, attempt 2 (from 30ms) succeeds at 80ms, attempt 3 (from
/// 60ms) fails at once.
#[hedge(after = 30ms, max = 2, name = "hedge/slow-failure")]
async fn slow_failure() -> Result<u32, ApiError> {
    match SLOW_FAILURE.fetch_add(1, SeqCst) {
        0 => {
            sleep(Duration::from_millis(100)).await;
            Err(ApiError::Down)
        }
        1 => {
            sleep(Duration::from_millis(50)).await;
            Ok(2)
        }
        _ => Err(ApiError::Permanent),
    }
}

static ALL_FAIL: AtomicU32 = AtomicU32::new(0);

#[hedge(after = 30ms, max = 1, name = "hedge/all-fail")]
async fn all_fail() -> Result<u32, ApiError> {
    let n = ALL_FAIL.fetch_add(1, SeqCst);
    sleep(Duration::from_millis(100)).await;
    Err(if n == 0 {
        ApiError::Down
    } else {
        ApiError::Permanent
    })
}

#[tokio::test(start_paused = true)]
async fn failures_end_the_call_only_when_no_attempt_is_left() {
    // Alone, a failure is the call's: hedging is for the slow, retrying for the failed.
    assert_eq!(fails_fast().await.unwrap_err(), ApiError::Down);
    assert_eq!(FAILING.load(SeqCst), 1);
    // Beside attempts still running, a failure waits for them.
    let t = Instant::now();
    assert_eq!(slow_failure().await.unwrap(), 2);
    assert_eq!(t.elapsed(), Duration::from_millis(80));
    assert_eq!(SLOW_FAILURE.load(SeqCst), 3);
    // When every attempt failed, the last failure.
    assert_eq!(all_fail().await.unwrap_err(), ApiError::Permanent);
    let m = registry::hedge("hedge/all-fail").unwrap().metrics();
    assert_eq!((m.hedges, m.wins, m.cancelled), (1, 0, 0));
}

static PERCENTILE: AtomicU32 = AtomicU32::new(0);
static PERCENTILE_SLOW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// 40ms, or a second while `PERCENTILE_SLOW` (the first attempt only).
#[hedge(after = p95, initial = 200ms, name = "hedge/percentile")]
async fn percentile() -> Result<u32, ApiError> {
    let n = PERCENTILE.fetch_add(1, SeqCst);
    if PERCENTILE_SLOW.swap(false, SeqCst) {
        sleep(Duration::from_secs(1)).await;
    } else {
        sleep(Duration::from_millis(40)).await;
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn a_percentile_delay_starts_from_initial_then_follows_recent_calls() {
    let hedge = registry::hedge("hedge/percentile").unwrap();
    assert_eq!(
        hedge.delay(),
        Duration::from_millis(200),
        "nothing recorded yet"
    );
    for _ in 0..(resilience::hedge::MIN_SAMPLES - 1) {
        percentile().await.unwrap();
    }
    assert_eq!(
        hedge.delay(),
        Duration::from_millis(200),
        "fewer calls than MIN_SAMPLES"
    );
    for _ in 0..64 {
        percentile().await.unwrap();
    }
    assert_eq!(
        hedge.delay(),
        Duration::from_millis(40),
        "the 95th percentile of 40ms calls"
    );
    // A slow first attempt is hedged at the percentile, not at the initial delay.
    PERCENTILE_SLOW.store(true, SeqCst);
    let t = Instant::now();
    percentile().await.unwrap();
    assert_eq!(t.elapsed(), Duration::from_millis(80));
    assert_eq!(hedge.metrics().hedges, 1);
}

static STACKED: AtomicU32 = AtomicU32::new(0);

/// Every attempt takes a second; each is bounded by its own timeout.
#[hedge(after = 30ms, max = 2, name = "hedge/per-attempt")]
#[timeout(50ms)]
async fn per_attempt_timeout() -> Result<u32, ApiError> {
    STACKED.fetch_add(1, SeqCst);
    sleep(Duration::from_secs(1)).await;
    Ok(0)
}

/// A timeout above the hedge bounds the whole call.
#[timeout(100ms, name = "hedge/whole")]
#[hedge(after = 30ms, max = 5, name = "hedge/under-timeout")]
async fn whole_call_timeout() -> Result<u32, ApiError> {
    sleep(Duration::from_secs(1)).await;
    Ok(0)
}

#[tokio::test(start_paused = true)]
async fn a_timeout_below_bounds_each_attempt_and_one_above_the_call() {
    // Attempts at 0, 30 and 60ms, each cut 50ms later: the last at 110ms.
    let t = Instant::now();
    let e = per_attempt_timeout().await.unwrap_err();
    assert_eq!(e.rejection(), Some(ErrorKind::TimedOut));
    assert_eq!(t.elapsed(), Duration::from_millis(110));
    assert_eq!(STACKED.load(SeqCst), 3);

    let t = Instant::now();
    let e = whole_call_timeout().await.unwrap_err();
    assert_eq!(e.policy(), Some("hedge/whole"));
    assert_eq!(t.elapsed(), Duration::from_millis(100));
    let m = registry::hedge("hedge/under-timeout").unwrap().metrics();
    // Hedges at 30, 60 and 90ms; all four attempts dropped with the call.
    assert_eq!((m.hedges, m.cancelled), (3, 4));
}

#[derive(Clone)]
struct Client {
    base: String,
    calls: Arc<AtomicU32>,
}

impl Client {
    /// `&self` and an owned argument: the first attempt hangs.
    #[hedge(after = 10ms, name = "hedge/method")]
    async fn get(&self, path: String) -> Result<String, ApiError> {
        if self.calls.fetch_add(1, SeqCst) == 0 {
            sleep(Duration::from_secs(60)).await;
        }
        Ok(format!("{}{path}", self.base))
    }

    /// `self` by value: each attempt its own clone.
    #[hedge(after = 10ms, name = "hedge/owned-self")]
    async fn into_url(self, path: String) -> Result<String, ApiError> {
        if self.calls.fetch_add(1, SeqCst) == 0 {
            sleep(Duration::from_secs(60)).await;
        }
        Ok(self.base + &path)
    }

    /// `self: Arc<Self>`.
    #[hedge(after = 10ms, name = "hedge/arc-self")]
    async fn shared(self: Arc<Self>, mut path: String) -> Result<String, ApiError> {
        path.push('!');
        if self.calls.fetch_add(1, SeqCst) == 0 {
            sleep(Duration::from_secs(60)).await;
        }
        Ok(format!("{}{path}", self.base))
    }
}

#[tokio::test(start_paused = true)]
async fn methods_and_owned_arguments_are_hedged_with_their_own_copies() {
    let client = Client {
        base: "https://api/".to_owned(),
        calls: Arc::new(AtomicU32::new(0)),
    };
    assert_eq!(client.get("a".to_owned()).await.unwrap(), "https://api/a");
    client.calls.store(0, SeqCst);
    assert_eq!(
        client.clone().into_url("b".to_owned()).await.unwrap(),
        "https://api/b"
    );
    client.calls.store(0, SeqCst);
    let client = Arc::new(client);
    assert_eq!(
        client.clone().shared("c".to_owned()).await.unwrap(),
        "https://api/c!"
    );
    assert_eq!(client.calls.load(SeqCst), 2);
}

#[hedge(after = 25ms, max = 2, name = "hedge/by-name")]
async fn by_name() -> Result<u32, ApiError> {
    Ok(1)
}

#[tokio::test]
async fn its_settings_change_by_name_and_bad_values_say_why() {
    by_name().await.unwrap();
    let name = "hedge/by-name";
    let shown = |key: &str| {
        registry::snapshot()
            .get(name)
            .unwrap()
            .setting(key)
            .map(str::to_owned)
    };
    assert_eq!(shown("after").as_deref(), Some("25ms"));
    assert_eq!(shown("initial"), None, "a fixed delay has no initial one");
    registry::set(name, "after", "p99.9").unwrap();
    assert_eq!(shown("after").as_deref(), Some("p99.9"));
    assert_eq!(shown("initial").as_deref(), Some("100ms"));
    let e = registry::set(name, "after", "p100")
        .unwrap_err()
        .to_string();
    assert!(e.contains("outside p50..=p99.9"), "{e}");
    let e = registry::set(name, "max", "11").unwrap_err().to_string();
    assert!(e.contains("1 to 10"), "{e}");
    assert_eq!(shown("max").as_deref(), Some("2"), "nothing changed");
    registry::reset(name).unwrap();
    assert_eq!(shown("after").as_deref(), Some("25ms"));
}

static STACKED_CALLS: AtomicU32 = AtomicU32::new(0);

/// The first attempt fails at once (the hedge's failure, alone, ends the hedged call); the
/// retry above runs the hedged call again, whose first attempt hangs and whose hedge answers.
#[resilience::fallback(stacked_fallback)]
#[resilience::retry(attempts = 2, backoff = fixed(10ms))]
#[hedge(after = 20ms, name = "hedge/stacked")]
#[resilience::circuit_breaker(name = "hedge/stacked-breaker")]
async fn stacked(order: String, tag: &str) -> Result<String, ApiError> {
    match STACKED_CALLS.fetch_add(1, SeqCst) {
        0 => Err(ApiError::Down),
        1 => {
            sleep(Duration::from_secs(60)).await;
            Ok("late".to_owned())
        }
        _ => Ok(format!("{order}:{tag}")),
    }
}

async fn stacked_fallback(
    _order: String,
    _tag: &str,
    failure: resilience::Failure<ApiError>,
) -> Result<String, ApiError> {
    Err(failure.into_error())
}

#[tokio::test(start_paused = true)]
async fn a_hedge_stacks_under_a_retry_and_over_a_breaker() {
    let t = Instant::now();
    assert_eq!(stacked("o-1".to_owned(), "x").await.unwrap(), "o-1:x");
    // 10ms of backoff, then the second call's hedge at 20ms.
    assert_eq!(t.elapsed(), Duration::from_millis(30));
    let breaker = registry::circuit_breaker("hedge/stacked-breaker")
        .unwrap()
        .metrics();
    // Three attempts reached the breaker: one failed, one cancelled, one succeeded.
    assert_eq!((breaker.failures, breaker.successes), (1, 1));
    let m = registry::hedge("hedge/stacked").unwrap().metrics();
    assert_eq!((m.calls, m.hedges, m.wins, m.cancelled), (2, 1, 1, 1));
}

static SHARED_CALLS: AtomicU32 = AtomicU32::new(0);

/// The first attempt of every call hangs.
async fn hangs_first(calls: &AtomicU32) -> Result<u32, ApiError> {
    if calls.fetch_add(1, SeqCst).is_multiple_of(2) {
        sleep(Duration::from_secs(60)).await;
    }
    Ok(1)
}

#[hedge(QUOTES)]
async fn quote_a() -> Result<u32, ApiError> {
    hangs_first(&SHARED_CALLS).await
}

#[hedge(QUOTES)]
async fn quote_b() -> Result<u32, ApiError> {
    hangs_first(&SHARED_CALLS).await
}

#[tokio::test(start_paused = true)]
async fn a_shared_hedge_is_one_policy_for_its_functions() {
    let t = Instant::now();
    quote_a().await.unwrap();
    quote_b().await.unwrap();
    assert_eq!(
        t.elapsed(),
        Duration::from_millis(60),
        "each hedged at the initial 30ms"
    );
    let m = QUOTES.metrics();
    assert_eq!((m.calls, m.hedges, m.wins), (2, 2, 2));
    assert_eq!(
        registry::snapshot().get("QUOTES").unwrap().setting("after"),
        Some("p95")
    );
}
