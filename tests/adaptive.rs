//! An adaptive bulkhead in virtual time: the limit ramps up from `initial`, falls when the
//! dependency's latency doubles and recovers when it returns, falls under steady timeouts
//! (the failure mode Gradient2 alone has), and is shown in the snapshot and the events.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use common::ApiError;
use resilience::{EventKind, bulkhead, registry, timeout};
use tokio::time::sleep;

/// The dependency's latency now, in milliseconds.
static LATENCY_MS: AtomicU64 = AtomicU64::new(100);

#[bulkhead(adaptive = gradient2, max = 100, queue = 1000, name = "adaptive/db")]
async fn query() -> Result<(), ApiError> {
    sleep(Duration::from_millis(LATENCY_MS.load(SeqCst))).await;
    Ok(())
}

/// `clients` callers, each calling again as soon as its call returns, until `stop`.
fn closed_loop<F, Fut>(clients: usize, stop: &Arc<AtomicBool>, call: F)
where
    F: Fn() -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send,
{
    for _ in 0..clients {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(SeqCst) {
                let _ = call().await;
            }
        });
    }
}

/// The limit at the end of each of the next `seconds` one-second windows.
async fn limits(name: &str, seconds: u32) -> Vec<u32> {
    let pool = registry::bulkhead(name).unwrap();
    let mut seen = Vec::new();
    for _ in 0..seconds {
        sleep(Duration::from_secs(1)).await;
        seen.push(pool.limit());
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn the_limit_follows_the_dependency_through_a_slow_phase() {
    let name = "adaptive/db";
    let mut events = resilience::event::subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    closed_loop(60, &stop, query);

    // From 20, doubling while nothing queues, to the most 60 callers use and beyond, to max.
    let ramp = limits(name, 10).await;
    println!("ramp: {ramp:?}");
    assert_eq!(
        ramp[0], 20,
        "no window closed before the first second ended"
    );
    let top = *ramp.last().unwrap();
    assert_eq!(top, 100, "at max within 10 windows: {ramp:?}");
    let windows_to_top = ramp.iter().position(|l| *l == 100).unwrap() + 1;
    assert!(windows_to_top <= 5, "{ramp:?}");

    // Twice the latency: the limit falls.
    LATENCY_MS.store(200, SeqCst);
    let slow = limits(name, 30).await;
    println!("slow: {slow:?}");
    assert!(
        slow.windows(2).all(|w| w[1] <= w[0]),
        "it only falls: {slow:?}"
    );
    let bottom = *slow.last().unwrap();
    assert!(
        bottom < top * 6 / 10,
        "fell by more than 40%: {top} -> {bottom}"
    );

    // Back to normal: it recovers.
    LATENCY_MS.store(100, SeqCst);
    let recovery = limits(name, 15).await;
    println!("recovery: {recovery:?}");
    let windows_to_recover = recovery
        .iter()
        .position(|l| *l >= top * 9 / 10)
        .map(|i| i + 1);
    assert!(
        windows_to_recover.is_some_and(|w| w <= 8),
        "back to 90% of {top} within 8 windows: {recovery:?}"
    );
    stop.store(true, SeqCst);

    // The snapshot and the events show it.
    let pool = registry::bulkhead(name).unwrap();
    let snapshot = registry::snapshot();
    let shown = snapshot.get(name).unwrap();
    assert_eq!(shown.limit(), Some(pool.limit()));
    assert_eq!(shown.setting("adaptive"), Some("gradient2"));
    assert_eq!(shown.setting("max"), Some("100"));
    assert_eq!(pool.metrics().max, pool.limit());
    // The channel keeps the newest events (the queued callers' among them): what arrived of
    // this bulkhead's is a chain of changes that ends at its limit now.
    let mut changes = Vec::new();
    while let Some(event) = events.try_recv() {
        if event.policy == name
            && let EventKind::LimitChanged { from, to } = event.what
        {
            changes.push((from, to));
        }
    }
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|(from, to)| from != to));
    assert!(changes.windows(2).all(|w| w[0].1 == w[1].0), "{changes:?}");
    assert_eq!(changes.last().unwrap().1, pool.limit());
}

/// Every call times out: 150ms of a dependency that takes a second.
#[bulkhead(adaptive = gradient2, max = 100, min = 2, initial = 50, queue = 1000, name = "adaptive/timeouts")]
#[timeout(150ms)]
async fn always_times_out() -> Result<(), ApiError> {
    sleep(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn steady_timeouts_pull_the_limit_down_not_up() {
    let stop = Arc::new(AtomicBool::new(false));
    closed_loop(60, &stop, always_times_out);
    let seen = limits("adaptive/timeouts", 40).await;
    stop.store(true, SeqCst);
    println!("under timeouts: {seen:?}");
    // Each window with a drop backs off by 0.9: from 50 towards min.
    assert!(seen.windows(2).all(|w| w[1] <= w[0]), "{seen:?}");
    assert!(*seen.last().unwrap() <= 5, "{seen:?}");
    assert!(*seen.last().unwrap() >= 2, "never below min: {seen:?}");
}

static AIMD_LATENCY_MS: AtomicU64 = AtomicU64::new(50);

#[bulkhead(adaptive = aimd, max = 40, initial = 10, queue = 1000, name = "adaptive/aimd")]
#[timeout(100ms)]
async fn aimd() -> Result<(), ApiError> {
    sleep(Duration::from_millis(AIMD_LATENCY_MS.load(SeqCst))).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn aimd_adds_one_per_busy_window_and_backs_off_on_drops() {
    let stop = Arc::new(AtomicBool::new(false));
    closed_loop(30, &stop, aimd);
    let calm = limits("adaptive/aimd", 10).await;
    println!("aimd calm: {calm:?}");
    // +1 per window, from 10.
    assert_eq!(*calm.last().unwrap(), 19, "{calm:?}");
    AIMD_LATENCY_MS.store(500, SeqCst);
    let dropping = limits("adaptive/aimd", 5).await;
    println!("aimd dropping: {dropping:?}");
    assert!(*dropping.last().unwrap() < 19 * 9 / 10, "{dropping:?}");
    stop.store(true, SeqCst);
}

#[bulkhead(adaptive = gradient2, max = 30, name = "adaptive/settings")]
async fn by_name() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test]
async fn its_bounds_change_by_name_and_a_reset_starts_it_over() {
    by_name().await.unwrap();
    let name = "adaptive/settings";
    let pool = registry::bulkhead(name).unwrap();
    assert_eq!(
        (pool.min(), pool.initial(), pool.limit()),
        (1, Some(20), 20)
    );
    registry::set(name, "initial", "8").unwrap();
    assert_eq!(pool.limit(), 8, "another initial starts it over");
    let e = registry::set(name, "min", "31").unwrap_err().to_string();
    assert!(e.contains("at most max"), "{e}");
    let e = registry::set(name, "adaptive", "vegas")
        .unwrap_err()
        .to_string();
    assert!(e.contains("gradient2"), "{e}");
    registry::set(name, "adaptive", "off").unwrap();
    assert_eq!(
        (pool.adaptive(), pool.limit()),
        (None, 30),
        "a fixed max of 30"
    );
    registry::reset(name).unwrap();
    assert_eq!(
        (pool.adaptive().map(|a| a.as_str()), pool.limit()),
        (Some("gradient2"), 20)
    );
}

/// Each shard its own adaptive limit: shard 0's calls time out, shard 1's answer.
#[bulkhead(adaptive = gradient2, max = 50, initial = 40, queue = 1000, key = shard, name = "adaptive/shards")]
#[timeout(100ms)]
async fn by_shard(shard: u32) -> Result<(), ApiError> {
    let latency = if shard == 0 { 1000 } else { 50 };
    sleep(Duration::from_millis(latency)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn each_key_of_a_keyed_family_adapts_on_its_own() {
    let stop = Arc::new(AtomicBool::new(false));
    closed_loop(20, &stop, || by_shard(0));
    closed_loop(20, &stop, || by_shard(1));
    sleep(Duration::from_secs(20)).await;
    stop.store(true, SeqCst);
    let family = registry::keyed_bulkhead("adaptive/shards").unwrap();
    let limit = |shard: u32| family.key(&shard).map(|b| b.limit());
    println!("shard 0: {:?}, shard 1: {:?}", limit(0), limit(1));
    assert!(limit(0).unwrap() < 10, "the timing-out shard backed off");
    assert!(limit(1).unwrap() >= 40, "the healthy shard did not");
}
