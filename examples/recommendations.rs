//! Recommendations that fall back to cached popular items: when the recommender fails, the
//! breaker opens and the page gets popular items at once instead of waiting on every call.
//!
//! `cargo run --example recommendations`

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use resilience::{Failure, circuit_breaker, fallback, timeout};
use tokio::time::sleep;

#[derive(Debug)]
enum RecError {
    Unavailable,
}

static RECOMMENDER_UP: AtomicBool = AtomicBool::new(true);
static RECOMMENDER_CALLS: AtomicU32 = AtomicU32::new(0);

#[fallback(popular_items)]
#[circuit_breaker(failures = 3, open = 500ms, half_open = 1)]
#[timeout(100ms)]
async fn recommendations(user: u32) -> Result<Vec<String>, RecError> {
    RECOMMENDER_CALLS.fetch_add(1, Relaxed);
    if !RECOMMENDER_UP.load(Relaxed) {
        sleep(Duration::from_secs(5)).await; // The recommender hangs.
        return Err(RecError::Unavailable);
    }
    sleep(Duration::from_millis(10)).await;
    Ok(vec![
        format!("for-you-{user}-a"),
        format!("for-you-{user}-b"),
    ])
}

/// The cached best sellers, good for everyone.
fn popular_items(_user: u32, failure: Failure<RecError>) -> Result<Vec<String>, RecError> {
    let why = failure.rejection().map_or("error", |e| e.kind().as_str());
    Ok(vec![format!("popular (because {why})")])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for (label, up, pages) in [("recommender up", true, 2), ("recommender hangs", false, 6)] {
        println!("{label}:");
        RECOMMENDER_UP.store(up, Relaxed);
        for user in 0..pages {
            let started = Instant::now();
            let items = recommendations(user).await.unwrap_or_default();
            println!(
                "  page for user {user}: {items:?} in {:.0?}",
                started.elapsed()
            );
        }
    }
    println!("recommender back; after the breaker's 500 ms wait, one probe closes it:");
    RECOMMENDER_UP.store(true, Relaxed);
    sleep(Duration::from_millis(500)).await;
    for user in 10..12 {
        let items = recommendations(user).await.unwrap_or_default();
        println!("  page for user {user}: {items:?}");
    }
    println!(
        "calls that reached the recommender: {}",
        RECOMMENDER_CALLS.load(Relaxed)
    );
}
