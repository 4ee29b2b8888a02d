//! Separate bulkheads for payment, inventory and notification calls: when the notification
//! service hangs, it fills its own bulkhead only, and checkouts keep paying and reserving stock.
//!
//! `cargo run --example bulkheads`

use std::time::{Duration, Instant};

use resilience::{ErrorKind, bulkhead, timeout};
use tokio::time::sleep;

#[derive(Debug)]
struct CallError(Option<ErrorKind>);

impl From<resilience::Error> for CallError {
    fn from(e: resilience::Error) -> Self {
        CallError(Some(e.kind()))
    }
}

#[bulkhead(max = 10, queue = 30, wait = 500ms)]
async fn pay(order: u32) -> Result<u32, CallError> {
    sleep(Duration::from_millis(20)).await;
    Ok(order)
}

#[bulkhead(max = 10, queue = 30, wait = 500ms)]
async fn reserve_stock(order: u32) -> Result<u32, CallError> {
    sleep(Duration::from_millis(10)).await;
    Ok(order)
}

/// The notification service has hung: every call waits until its timeout.
#[timeout(1s)]
#[bulkhead(max = 4)]
async fn notify(order: u32) -> Result<u32, CallError> {
    sleep(Duration::from_secs(60)).await;
    Ok(order)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    // 30 checkouts at once; each pays and reserves stock, and notifies the customer alongside.
    let checkouts: Vec<_> = (1..=30)
        .map(|order| {
            tokio::spawn(async move {
                let notification = tokio::spawn(notify(order));
                let ok = pay(order).await.is_ok() && reserve_stock(order).await.is_ok();
                (ok, started.elapsed(), notification.await)
            })
        })
        .collect();

    let (mut completed, mut slowest, mut full, mut timed_out) = (0, Duration::ZERO, 0, 0);
    for checkout in checkouts {
        let Ok((ok, took, notification)) = checkout.await else {
            continue;
        };
        completed += usize::from(ok);
        slowest = slowest.max(took);
        match notification {
            Ok(Err(CallError(Some(ErrorKind::BulkheadFull)))) => full += 1,
            Ok(Err(CallError(Some(ErrorKind::TimedOut)))) => timed_out += 1,
            other => println!("notification: {other:?}"),
        }
    }
    println!("checkouts paid and stock reserved: {completed} of 30, the slowest in {slowest:.0?}");
    println!(
        "notifications: {timed_out} timed out after 1 s holding the 4 notification slots, \
         {full} rejected at once (bulkhead full)"
    );
    println!("payments and inventory never waited for the hung notification service");
}
