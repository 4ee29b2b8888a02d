//! The registry while calls run: a flaky inventory service behind a breaker, a retry and a
//! bulkhead; every second (of virtual time) the snapshot table, the health and the events seen.
//! Halfway through, an operator reconfigures the breaker by name.
//!
//! ```sh
//! cargo run --example registry
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::registry;
use resilience::{EventKind, bulkhead, circuit_breaker, rate_limiter, retry, timeout};

#[derive(Debug)]
#[allow(dead_code, reason = "printed with Debug only")]
enum ShopError {
    Unavailable,
    Rejected(resilience::Error),
}

impl From<resilience::Error> for ShopError {
    fn from(e: resilience::Error) -> Self {
        ShopError::Rejected(e)
    }
}

resilience::policy! {
    /// The inventory service: one breaker for every call to it.
    pub static INVENTORY: CircuitBreaker =
        circuit_breaker(threshold = 50%, window = 20, min_calls = 10, open = 2s, half_open = 2, critical = true);
}

/// The inventory service fails every call while it is "down" (from 3s to 6s).
static DOWN: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 2, backoff = fixed(50ms))]
#[circuit_breaker(INVENTORY)]
#[timeout(300ms)]
#[bulkhead(max = 4, queue = 16)]
async fn stock(sku: u32) -> Result<u32, ShopError> {
    tokio::time::sleep(Duration::from_millis(20 + u64::from(sku % 5) * 10)).await;
    if DOWN.load(Ordering::Relaxed) == 1 {
        Err(ShopError::Unavailable)
    } else {
        Ok(sku % 7)
    }
}

#[rate_limiter(20/s)]
async fn notify(_sku: u32) -> Result<(), ShopError> {
    Ok(())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let mut events = registry::subscribe();
    println!(
        "Listed before the first call: {}\n",
        registry::names().join(", ")
    );

    for second in 1..=8u32 {
        DOWN.store(u32::from((3..6).contains(&second)), Ordering::Relaxed);
        if second == 5 {
            // An operator shortens the open wait, by name, while calls run.
            if let Err(e) = registry::set("INVENTORY", "open", "500ms") {
                eprintln!("{e}");
            }
            println!(">>> INVENTORY open wait set to 500ms\n");
        }
        let calls: Vec<_> = (0..20)
            .map(|i| {
                tokio::spawn(async move {
                    let _ = stock(second * 100 + i).await;
                    let _ = notify(i).await;
                })
            })
            .collect();
        for call in calls {
            let _ = call.await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;

        let seen = events.drain();
        let transitions: Vec<String> = seen
            .iter()
            .filter(|e| matches!(e.what, EventKind::StateTransition { .. }))
            .map(ToString::to_string)
            .collect();
        println!(
            "--- t = {second}s: {} events{}",
            seen.len(),
            if transitions.is_empty() {
                String::new()
            } else {
                format!(" ({})", transitions.join("; "))
            }
        );
        println!("{}", registry::snapshot());
        let health = registry::health();
        println!("health: {health} (HTTP {})\n", health.http_status());
    }
}
