//! The retry storm, in virtual time: three nested functions, each retrying (3 attempts), called
//! 1,000 times a second for 10 seconds while the dependency at the end of the chain is down;
//! once with every level on its own attempts, once with one retry budget shared by the three.
//! How many calls reach the dependency per user request is the amplification.
//!
//! In virtual time rather than on the lanes' sockets: the storm is a matter of counting calls,
//! and ten seconds of it run in a fraction of one.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use resilience::retry;

use crate::report::Check;

/// User requests per second, and how many seconds the outage lasts.
pub const RATE: u64 = 1_000;
/// See [`RATE`].
pub const SECONDS: u64 = 10;
/// Attempts at each of the three levels: 27 calls per request reach a dependency that is down.
pub const ATTEMPTS: u64 = 3;
/// The budget the three levels share, as the report prints it.
pub const BUDGET: &str = "STORM: RetryBudget = retry_budget(ratio = 20%, min = 10/s, window = 10s)";

resilience::policy! {
    /// See [`BUDGET`].
    static STORM: RetryBudget = retry_budget(ratio = 20%, min = 10/s, window = 10s);
}

/// The dependency: down for the whole storm.
#[derive(Debug)]
enum StormError {
    Down,
    Rejected,
}

impl From<resilience::Error> for StormError {
    fn from(_: resilience::Error) -> Self {
        StormError::Rejected
    }
}

static HITS_WITHOUT: AtomicU64 = AtomicU64::new(0);
static HITS_WITH: AtomicU64 = AtomicU64::new(0);

async fn dependency(hits: &AtomicU64) -> Result<(), StormError> {
    hits.fetch_add(1, Relaxed);
    Err(StormError::Down)
}

#[retry(attempts = 3, backoff = fixed(50ms))]
async fn handler() -> Result<(), StormError> {
    service().await
}

#[retry(attempts = 3, backoff = fixed(50ms))]
async fn service() -> Result<(), StormError> {
    client().await
}

#[retry(attempts = 3, backoff = fixed(50ms))]
async fn client() -> Result<(), StormError> {
    dependency(&HITS_WITHOUT).await
}

#[retry(attempts = 3, backoff = fixed(50ms), budget = STORM)]
async fn handler_budgeted() -> Result<(), StormError> {
    service_budgeted().await
}

#[retry(attempts = 3, backoff = fixed(50ms), budget = STORM)]
async fn service_budgeted() -> Result<(), StormError> {
    client_budgeted().await
}

#[retry(attempts = 3, backoff = fixed(50ms), budget = STORM)]
async fn client_budgeted() -> Result<(), StormError> {
    dependency(&HITS_WITH).await
}

/// What the storm did.
pub struct Storm {
    pub requests: u64,
    /// Calls that reached the dependency without the budget, and with it.
    pub without: u64,
    pub with: u64,
    /// Retries the budget refused.
    pub refused: u64,
}

impl Storm {
    pub fn amplification_without(&self) -> f64 {
        self.without as f64 / self.requests as f64
    }

    pub fn amplification_with(&self) -> f64 {
        self.with as f64 / self.requests as f64
    }

    /// The most calls the budget lets through: one per request, 20% more, and its floor (10/s
    /// over the storm, and the one window's worth it starts with).
    fn bound(&self) -> u64 {
        self.requests + self.requests / 5 + 10 * SECONDS + 100
    }

    pub fn check(&self) -> Check {
        let storm = self.without == self.requests * ATTEMPTS.pow(3);
        Check {
            name: "retry storm: one budget keeps a 3-deep chain to 1 + 20% (+ floor) calls"
                .to_string(),
            pass: storm && self.with >= self.requests && self.with <= self.bound(),
            detail: format!(
                "{:.2} calls per request with the budget, {:.2} without",
                self.amplification_with(),
                self.amplification_without()
            ),
        }
    }
}

/// Starts one request every millisecond for the storm's length, and waits for all of them.
async fn storm<F, Fut>(call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), StormError>> + 'static,
{
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..RATE * SECONDS {
        requests.spawn_local(call());
        tokio::time::sleep(Duration::from_millis(1_000 / RATE)).await;
    }
    while requests.join_next().await.is_some() {}
}

/// Runs the storm twice, without and with the budget, on a runtime of its own in virtual time.
pub fn run() -> std::io::Result<Storm> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        storm(handler).await;
        storm(handler_budgeted).await;
    });
    Ok(Storm {
        requests: RATE * SECONDS,
        without: HITS_WITHOUT.load(Relaxed),
        with: HITS_WITH.load(Relaxed),
        refused: STORM.metrics().refused,
    })
}
