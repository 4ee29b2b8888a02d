//! User preferences that fall back to defaults: a page renders in time with sensible
//! settings when the preferences store is slow or failing, and says which it used.
//!
//! `cargo run --example preferences`
//!
//! Its chaos test suite (`cargo test --example preferences --features chaos`) injects errors
//! and latency below the timeout and checks that the retry and the fallback handle them.

use std::time::{Duration, Instant};

use resilience::{Failure, chaos, fallback, retry, timeout};
use tokio::time::sleep;

#[derive(Debug)]
enum StoreError {
    Corrupt,
    /// Made by the chaos layer, in chaos tests only.
    Injected,
}

impl StoreError {
    fn injected() -> Self {
        StoreError::Injected
    }
}

#[derive(Debug)]
struct Preferences {
    theme: &'static str,
    language: &'static str,
    from_defaults: bool,
}

/// The simulated store: user 2 is slow, user 3's record is corrupt.
#[fallback(defaults)]
#[retry(attempts = 2, backoff = fixed(10ms))]
#[timeout(50ms)]
#[chaos(error = 20%, error_with = StoreError::injected, latency = 10%, delay = 100ms..1s, seed = 7, name = "preferences/chaos")]
async fn preferences(user: u32) -> Result<Preferences, StoreError> {
    match user {
        2 => sleep(Duration::from_millis(400)).await,
        3 => return Err(StoreError::Corrupt),
        _ => sleep(Duration::from_millis(5)).await,
    }
    Ok(Preferences {
        theme: "dark",
        language: "fr",
        from_defaults: false,
    })
}

async fn defaults(user: u32, failure: Failure<StoreError>) -> Result<Preferences, StoreError> {
    let why = match failure {
        Failure::Rejected(e) => e.to_string(),
        Failure::Error(e) => format!("{e:?}"),
    };
    println!("  (user {user}: the store failed: {why}; using defaults)");
    Ok(Preferences {
        theme: "light",
        language: "en",
        from_defaults: true,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for user in 1..=3 {
        let started = Instant::now();
        match preferences(user).await {
            Ok(p) => println!(
                "user {user}: theme {}, language {}{} in {:.0?}",
                p.theme,
                p.language,
                if p.from_defaults { " (defaults)" } else { "" },
                started.elapsed()
            ),
            Err(e) => println!("user {user}: {e:?}"),
        }
    }
}

/// The chaos suite: faults injected below the timeout, in virtual time. The layer is off until
/// enabled by name, as an operator or a test does.
#[cfg(all(test, feature = "chaos"))]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod chaos_tests {
    use super::*;
    use resilience::registry;

    /// The tests share the layer: they take turns.
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// 200 pages for user 1, whose store is healthy: whether each came from the defaults.
    async fn pages() -> Vec<bool> {
        let mut from_defaults = Vec::new();
        for _ in 0..200 {
            let p = preferences(1)
                .await
                .expect("the fallback answers every call");
            from_defaults.push(p.from_defaults);
        }
        from_defaults
    }

    #[tokio::test(start_paused = true)]
    async fn off_until_enabled_it_injects_nothing() {
        let _turn = TURN.lock().await;
        registry::reset("preferences/chaos").unwrap();
        assert!(pages().await.iter().all(|d| !d));
        assert_eq!(
            registry::chaos("preferences/chaos")
                .unwrap()
                .metrics()
                .calls,
            0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn injected_errors_and_latency_are_retried_cut_off_and_fallen_back_on() {
        let _turn = TURN.lock().await;
        registry::reset_all();
        registry::set("preferences/chaos", "enabled", "true").unwrap();
        let first = pages().await;
        let chaos = registry::chaos("preferences/chaos").unwrap().metrics();
        let retry = registry::retry("preferences::preferences/retry")
            .unwrap()
            .metrics();
        let timeout = registry::timeout("preferences::preferences/timeout")
            .unwrap()
            .metrics();
        // Every call was answered; the faults were injected at about their rates ...
        assert!(chaos.errors > 40 && chaos.delays > 10, "{chaos:?}");
        // ... every delay (100 ms or more) was cut off by the 50 ms timeout ...
        assert_eq!(timeout.timed_out, chaos.delays);
        // ... every failed first attempt was retried ...
        assert!(retry.retries > 0, "{retry:?}");
        // ... and only a call whose both attempts drew a fault fell back on the defaults:
        // about 0.3 x 0.3 of the calls, far fewer than the 30% of attempts injected.
        let fell_back = first.iter().filter(|d| **d).count();
        assert!(
            (5..=40).contains(&fell_back),
            "{fell_back} of 200 from the defaults"
        );

        // The same seed, the same faults, the same pages.
        registry::reset("preferences/chaos").unwrap();
        registry::set("preferences/chaos", "enabled", "true").unwrap();
        assert_eq!(pages().await, first);
        registry::reset("preferences/chaos").unwrap();
    }
}
