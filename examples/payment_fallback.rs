//! A payment call whose fallback queues the payment for later: the customer's order goes
//! through while the payment provider is down, and nothing is charged twice.
//!
//! `cargo run --example payment_fallback`

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use resilience::{Failure, fallback, retry, timeout};

/// No `From<resilience::Error>` needed: the fallback, outermost, handles every rejection.
#[derive(Debug)]
enum PayError {
    ProviderDown,
}

#[derive(Clone, Debug)]
struct Payment {
    order: u32,
    cents: u64,
}

enum Receipt {
    Charged { provider_ref: u32 },
    Queued { position: usize },
}

/// The simulated provider: up or down, and how many charge requests reached it.
static PROVIDER_UP: AtomicBool = AtomicBool::new(true);
static PROVIDER_CALLS: AtomicU32 = AtomicU32::new(0);
/// Payments to charge once the provider is back.
static LATER: Mutex<Vec<Payment>> = Mutex::new(Vec::new());

#[fallback(queue_for_later)]
#[retry(attempts = 2, backoff = fixed(20ms))]
#[timeout(200ms)]
async fn charge(payment: Payment) -> Result<Receipt, PayError> {
    let n = PROVIDER_CALLS.fetch_add(1, Relaxed) + 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    if !PROVIDER_UP.load(Relaxed) {
        return Err(PayError::ProviderDown);
    }
    println!(
        "  charged {} cents for order {}",
        payment.cents, payment.order
    );
    Ok(Receipt::Charged { provider_ref: n })
}

/// Runs when both attempts failed: the payment waits in a queue, and the order is accepted.
fn queue_for_later(payment: Payment, failure: Failure<PayError>) -> Result<Receipt, PayError> {
    println!("  order {}: {failure:?}; queued for later", payment.order);
    let mut later = LATER.lock().map_err(|_| PayError::ProviderDown)?;
    later.push(payment);
    Ok(Receipt::Queued {
        position: later.len(),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for (provider_up, orders) in [(true, 1..=1), (false, 2..=4)] {
        println!("provider {}:", if provider_up { "up" } else { "down" });
        PROVIDER_UP.store(provider_up, Relaxed);
        for order in orders {
            show(order, charge(Payment { order, cents: 500 }).await);
        }
    }
    println!("provider back: charging the queue");
    PROVIDER_UP.store(true, Relaxed);
    let queued = LATER.lock().map(|mut q| std::mem::take(&mut *q));
    for payment in queued.unwrap_or_default() {
        show(payment.order, charge(payment).await);
    }
    let calls = PROVIDER_CALLS.load(Relaxed);
    println!("requests that reached the provider: {calls}");
}

fn show(order: u32, receipt: Result<Receipt, PayError>) {
    match receipt {
        Ok(Receipt::Charged { provider_ref: r }) => println!("  order {order} -> charged, ref {r}"),
        Ok(Receipt::Queued { position: p }) => println!("  order {order} -> accepted, queued #{p}"),
        Err(e) => println!("  order {order} -> failed: {e:?}"),
    }
}
