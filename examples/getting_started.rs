//! The program of the README's "Getting started": a retry over a circuit breaker over a
//! timeout, a rejection as a value of the function's own error type, and the registry's
//! snapshot. Run: `cargo run --example getting_started`.

use std::time::Duration;

use resilience::{circuit_breaker, retry, timeout};

#[derive(Debug)]
enum ApiError {
    Unavailable,
    /// A policy refused the call: circuit open, timed out, ...
    Rejected(#[allow(dead_code)] resilience::Error),
}

impl From<resilience::Error> for ApiError {
    fn from(e: resilience::Error) -> Self {
        ApiError::Rejected(e)
    }
}

#[retry(attempts = 3, backoff = fixed(10ms))]
#[circuit_breaker(threshold = 50%, min_calls = 4, open = 30s)]
#[timeout(100ms)]
async fn fetch(id: u32) -> Result<String, ApiError> {
    match id {
        0 => Err(ApiError::Unavailable),
        1 => {
            tokio::time::sleep(Duration::from_secs(1)).await; // too slow: cut off at 100ms
            Ok("late".to_owned())
        }
        _ => Ok(format!("item {id}")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("{:?}", fetch(7).await); // Ok("item 7")
    println!("{:?}", fetch(1).await); // Err(Rejected(.. TimedOut ..)) after 3 attempts
    println!("{:?}", fetch(0).await); // Err(Rejected(.. CircuitOpen ..)): the breaker opened
    print!("{}", resilience::registry::snapshot()); // every policy, its state and counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_times_out_in_virtual_time() {
        let started = tokio::time::Instant::now();
        assert!(matches!(fetch(1).await, Err(ApiError::Rejected(_))));
        // Three attempts of 100ms and two waits of 10ms, in no real time.
        assert_eq!(started.elapsed(), Duration::from_millis(320));
    }
}
