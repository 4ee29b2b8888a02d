//! The cache's effect, in virtual time: the same calls through the same breaker, once without
//! and once with `#[cache(ttl = 1s, key = sku, stale = 5m)]` on top, while the dependency is
//! healthy, then down, then back. Per phase: calls, calls answered, and calls that reached the
//! dependency.
//!
//! In virtual time rather than on the lanes' sockets, as the retry storm is: what it shows is
//! counts, and 15 seconds of it run in a fraction of one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use resilience::{cache, circuit_breaker};

use crate::report::Check;

/// User requests per second, spread over [`SKUS`] products.
pub const RATE: u64 = 200;
/// Products asked for, in turn.
pub const SKUS: u64 = 10;
/// The phases, each this long: healthy, down, recovered.
pub const PHASE_SECONDS: u64 = 5;
/// The phases' names, in order.
pub const PHASES: [&str; 3] = ["healthy", "down", "recovered"];
/// The cache on top, as the report prints it.
pub const CACHE: &str = "#[cache(ttl = 1s, key = sku, stale = 5m)]";
/// The breaker under both, as the report prints it.
pub const BREAKER: &str = "#[circuit_breaker(failures = 5, open = 1s)]";

#[derive(Debug)]
enum QuoteError {
    Down,
    Rejected,
}

impl From<resilience::Error> for QuoteError {
    fn from(_: resilience::Error) -> Self {
        QuoteError::Rejected
    }
}

static DEPENDENCY_UP: AtomicBool = AtomicBool::new(true);
static HITS_UNCACHED: AtomicU64 = AtomicU64::new(0);
static HITS_CACHED: AtomicU64 = AtomicU64::new(0);

async fn dependency(hits: &AtomicU64, sku: u64) -> Result<u64, QuoteError> {
    hits.fetch_add(1, Relaxed);
    tokio::time::sleep(Duration::from_millis(20)).await;
    if DEPENDENCY_UP.load(Relaxed) {
        Ok(100 + sku)
    } else {
        Err(QuoteError::Down)
    }
}

#[circuit_breaker(failures = 5, open = 1s)]
async fn uncached(sku: u64) -> Result<u64, QuoteError> {
    dependency(&HITS_UNCACHED, sku).await
}

#[cache(ttl = 1s, key = sku, stale = 5m)]
#[circuit_breaker(failures = 5, open = 1s)]
async fn cached(sku: u64) -> Result<u64, QuoteError> {
    dependency(&HITS_CACHED, sku).await
}

/// One lane's figures in one phase.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    pub calls: u64,
    pub answered: u64,
    pub dependency_hits: u64,
}

/// The two lanes, phase by phase.
pub struct Cached {
    pub uncached: [Figures; 3],
    pub cached: [Figures; 3],
}

impl Cached {
    pub fn check(&self) -> Check {
        let [healthy_u, down_u, _] = self.uncached;
        let [healthy_c, down_c, recovered_c] = self.cached;
        let pct = |f: Figures| 100.0 * f.answered as f64 / f.calls.max(1) as f64;
        let _ = down_u;
        let pass = pct(down_c) >= 99.0
            && pct(recovered_c) >= 99.0
            && healthy_c.dependency_hits * 5 <= healthy_u.dependency_hits;
        Check {
            name: "cache: the outage answered from stale values, a fifth of the hits or fewer"
                .to_string(),
            pass,
            detail: format!(
                "down: {:.1}% answered with the cache, {:.1}% without; healthy: {} hits vs {}",
                pct(down_c),
                pct(down_u),
                healthy_c.dependency_hits,
                healthy_u.dependency_hits
            ),
        }
    }
}

/// Calls at [`RATE`] for one phase through `call`, awaited; its figures.
async fn phase<F, Fut>(call: F, hits: &AtomicU64) -> Figures
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, QuoteError>> + 'static,
{
    let before = hits.load(Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RATE * PHASE_SECONDS {
        tasks.spawn_local(call(i % SKUS));
        tokio::time::sleep(Duration::from_millis(1_000 / RATE)).await;
    }
    let mut figures = Figures::default();
    while let Some(outcome) = tasks.join_next().await {
        figures.calls += 1;
        if matches!(outcome, Ok(Ok(_))) {
            figures.answered += 1;
        }
    }
    figures.dependency_hits = hits.load(Relaxed) - before;
    figures
}

/// Runs the three phases for each lane on a runtime of its own, in virtual time.
pub fn run() -> std::io::Result<Cached> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let local = tokio::task::LocalSet::new();
    let lane = |cache: bool| {
        local.block_on(&runtime, async move {
            let mut figures = [Figures::default(); 3];
            for (i, up) in [true, false, true].into_iter().enumerate() {
                DEPENDENCY_UP.store(up, Relaxed);
                figures[i] = if cache {
                    phase(cached, &HITS_CACHED).await
                } else {
                    phase(uncached, &HITS_UNCACHED).await
                };
            }
            figures
        })
    };
    let uncached = lane(false);
    let cached = lane(true);
    Ok(Cached { uncached, cached })
}
