//! User preferences that fall back to defaults: a page renders in time with sensible
//! settings when the preferences store is slow or failing, and says which it used.
//!
//! `cargo run --example preferences`

use std::time::{Duration, Instant};

use resilience::{Failure, fallback, retry, timeout};
use tokio::time::sleep;

#[derive(Debug)]
enum StoreError {
    Corrupt,
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
