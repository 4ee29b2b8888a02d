//! The latency-driven policies, in virtual time: a dependency with a heavy tail called with
//! and without `#[hedge(after = 50ms)]`, and an adaptive bulkhead's limit following a
//! dependency through a slow phase.
//!
//! In virtual time, as the retry storm is: what it shows is quantiles and limits per window,
//! and a minute and a half of it runs in a fraction of a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use resilience::{bulkhead, hedge, registry};
use tokio::time::{Instant, sleep};

use crate::report::Check;

/// Calls made with and without the hedge.
pub const CALLS: u64 = 2_000;
/// The hedge, as the report prints it.
pub const HEDGE: &str = "#[hedge(after = 50ms)]";
/// The adaptive bulkhead, as the report prints it.
pub const ADAPTIVE: &str = "#[bulkhead(adaptive = gradient2, max = 100, queue = 1000)]";
/// Callers of the adaptive bulkhead, each calling again as soon as its call returns.
pub const CALLERS: usize = 60;
/// The adaptive bulkhead's phases: the dependency's latency in milliseconds, and how many
/// one-second windows it lasts.
pub const PHASES: [(&str, u64, usize); 3] =
    [("normal", 100, 10), ("slow", 200, 30), ("back", 100, 15)];

#[derive(Debug)]
enum TailError {
    Rejected,
}

impl From<resilience::Error> for TailError {
    fn from(_: resilience::Error) -> Self {
        TailError::Rejected
    }
}

/// Whether the dependency's `n`th call is one of its slow 5%: a fixed, well-mixed choice, so
/// both callers meet the same tail.
fn slow(n: u64) -> bool {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).is_multiple_of(20)
}

static PLAIN_CALLS: AtomicU64 = AtomicU64::new(0);
static HEDGED_CALLS: AtomicU64 = AtomicU64::new(0);

/// 10ms, except one call in twenty: a second.
async fn dependency(calls: &AtomicU64) -> Result<(), TailError> {
    let n = calls.fetch_add(1, Relaxed);
    sleep(if slow(n) {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(10)
    })
    .await;
    Ok(())
}

async fn plain() -> Result<(), TailError> {
    dependency(&PLAIN_CALLS).await
}

#[hedge(after = 50ms, name = "tour/hedge")]
async fn hedged() -> Result<(), TailError> {
    dependency(&HEDGED_CALLS).await
}

static LATENCY_MS: AtomicU64 = AtomicU64::new(100);

#[bulkhead(adaptive = gradient2, max = 100, queue = 1000, name = "tour/adaptive")]
async fn adaptive() -> Result<(), TailError> {
    sleep(Duration::from_millis(LATENCY_MS.load(Relaxed))).await;
    Ok(())
}

/// Latency quantiles, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quantiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
}

impl Quantiles {
    fn of(mut latencies: Vec<Duration>) -> Quantiles {
        latencies.sort();
        let at = |per_mille: usize| {
            let rank = (latencies.len() * per_mille).div_ceil(1000).max(1);
            latencies[rank - 1].as_millis() as u64
        };
        Quantiles {
            p50: at(500),
            p99: at(990),
            p999: at(999),
        }
    }
}

/// What the latency-driven policies did.
pub struct Tail {
    pub plain: Quantiles,
    pub hedged: Quantiles,
    /// Hedges started, and calls the dependency received from the hedged caller.
    pub hedges: u64,
    pub hedged_dependency_calls: u64,
    /// The adaptive limit at the end of each window, per phase.
    pub limits: Vec<Vec<u32>>,
}

impl Tail {
    /// Extra calls the hedge cost the dependency, in percent of the calls made.
    pub fn extra_pct(&self) -> f64 {
        (self.hedged_dependency_calls - CALLS) as f64 * 100.0 / CALLS as f64
    }

    /// The limit at the end of the normal phase, of the slow one, and how many windows of the
    /// last phase it took to come back to 90% of the first.
    pub fn limit_summary(&self) -> (u32, u32, Option<usize>) {
        let last = |phase: usize| self.limits[phase].last().copied().unwrap_or(0);
        let (top, bottom) = (last(0), last(1));
        let back = self.limits[2]
            .iter()
            .position(|l| *l >= top * 9 / 10)
            .map(|i| i + 1);
        (top, bottom, back)
    }

    pub fn checks(&self) -> Vec<Check> {
        let (top, bottom, back) = self.limit_summary();
        vec![
            Check {
                name: "hedging: p99 cut at least fivefold for at most 10% more dependency calls"
                    .to_string(),
                pass: self.hedged.p99 * 5 <= self.plain.p99 && self.extra_pct() <= 10.0,
                detail: format!(
                    "p99 {} ms -> {} ms, {:.1}% more calls",
                    self.plain.p99,
                    self.hedged.p99,
                    self.extra_pct()
                ),
            },
            Check {
                name: "adaptive limit: falls by 40% when latency doubles, back within 8 windows"
                    .to_string(),
                pass: bottom * 10 <= top * 6 && back.is_some_and(|w| w <= 8),
                detail: format!(
                    "{top} -> {bottom}, back to 90% after {} windows",
                    back.map_or("more than 15".to_string(), |w| w.to_string())
                ),
            },
        ]
    }
}

/// Runs both on a runtime of their own, in virtual time.
pub fn run() -> std::io::Result<Tail> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    runtime.block_on(async {
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for _ in 0..CALLS {
            let t = Instant::now();
            let _ = plain().await;
            without.push(t.elapsed());
            let t = Instant::now();
            let _ = hedged().await;
            with.push(t.elapsed());
        }
        let hedges = registry::hedge("tour/hedge").map_or(0, |h| h.metrics().hedges);

        let stop = Arc::new(AtomicBool::new(false));
        for _ in 0..CALLERS {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Relaxed) {
                    let _ = adaptive().await;
                }
            });
        }
        let mut limits = Vec::new();
        for (_, latency, windows) in PHASES {
            LATENCY_MS.store(latency, Relaxed);
            let mut seen = Vec::new();
            for _ in 0..windows {
                sleep(Duration::from_secs(1)).await;
                seen.push(registry::bulkhead("tour/adaptive").map_or(0, |b| b.limit()));
            }
            limits.push(seen);
        }
        stop.store(true, Relaxed);
        Ok(Tail {
            plain: Quantiles::of(without),
            hedged: Quantiles::of(with),
            hedges,
            hedged_dependency_calls: HEDGED_CALLS.load(Relaxed),
            limits,
        })
    })
}
