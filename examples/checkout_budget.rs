//! A checkout with one time budget over several calls: a total timeout above the whole
//! sequence, so a slow step eats into the same 300 ms as the others, and each step keeps
//! its own shorter timeout.
//!
//! `cargo run --example checkout_budget`

use std::time::{Duration, Instant};

use resilience::timeout;
use tokio::time::sleep;

#[derive(Debug)]
enum CheckoutError {
    Rejected(resilience::Error),
}

impl From<resilience::Error> for CheckoutError {
    fn from(e: resilience::Error) -> Self {
        CheckoutError::Rejected(e)
    }
}

/// A step of the checkout that takes `ms`; each step may take at most 150 ms.
#[timeout(150ms)]
async fn step(name: &str, ms: u64, done: &mut Vec<String>) -> Result<(), CheckoutError> {
    sleep(Duration::from_millis(ms)).await;
    done.push(format!("{name} ({ms} ms)"));
    Ok(())
}

/// Reserve stock, charge, book shipping: together within 300 ms.
#[timeout(300ms, name = "checkout/budget")]
async fn checkout(latencies: [u64; 3], done: &mut Vec<String>) -> Result<(), CheckoutError> {
    step("reserve stock", latencies[0], done).await?;
    step("charge card", latencies[1], done).await?;
    step("book shipping", latencies[2], done).await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cases = [
        ("every step quick", [40, 60, 50]),
        (
            "each step under its own 150 ms, together over 300 ms",
            [120, 130, 140],
        ),
        ("one step hangs", [40, 500, 50]),
    ];
    for (what, latencies) in cases {
        let mut done = Vec::new();
        let started = Instant::now();
        let outcome = checkout(latencies, &mut done).await;
        let took = started.elapsed();
        match outcome {
            Ok(()) => println!("{what}: done in {took:.0?}"),
            Err(CheckoutError::Rejected(e)) => println!(
                "{what}: stopped after {took:.0?} by `{}` ({})",
                e.policy(),
                e.kind()
            ),
        }
        println!(
            "  completed: {}",
            if done.is_empty() {
                "-".into()
            } else {
                done.join(", ")
            }
        );
    }
}
