//! The payment of the seeds' idempotency pattern: `POST /api/v1/payments` with an
//! `Idempotency-Key` header. The client's first request is charged, but its answer is lost on
//! the way back; the client sends it again, twice. One charge, one receipt for all three
//! (`tests/idempotent.rs` has duplicates that arrive while the first is still charging).
//!
//! `cargo run --example payments`

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use resilience::{idempotent, registry};
use tokio::time::sleep;

#[derive(Debug)]
enum PayError {
    Rejected(#[allow(dead_code)] resilience::Error),
}

impl From<resilience::Error> for PayError {
    fn from(e: resilience::Error) -> Self {
        PayError::Rejected(e)
    }
}

/// What the handler gets: the header, and the body.
struct PaymentRequest {
    idempotency_key: String,
    cents: u64,
}

#[derive(Clone, Debug)]
struct Receipt {
    charge_id: u32,
    cents: u64,
}

static CARD_CHARGES: AtomicU32 = AtomicU32::new(0);

/// The server's handler: 1. processed already? 2. yes: the stored receipt; 3. no: charge and
/// keep the receipt; 4. for 24 hours.
#[idempotent(key = req.idempotency_key, ttl = 24h, name = "payments")]
async fn post_payment(req: &PaymentRequest) -> Result<Receipt, PayError> {
    // The payment provider takes a moment, then charges the card.
    sleep(Duration::from_millis(50)).await;
    let charge_id = CARD_CHARGES.fetch_add(1, Relaxed) + 1;
    Ok(Receipt {
        charge_id,
        cents: req.cents,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let req = PaymentRequest {
        idempotency_key: "uuid-12345".to_owned(),
        cents: 4200,
    };
    // The first request is charged; its answer is lost on the way back.
    let _lost = post_payment(&req).await;
    println!(
        "client: no answer to POST /api/v1/payments (Idempotency-Key: uuid-12345); sending it again, twice"
    );
    let (again, and_again) = tokio::join!(post_payment(&req), async {
        sleep(Duration::from_millis(10)).await;
        post_payment(&req).await
    });
    for answer in [again, and_again] {
        match answer {
            Ok(r) => println!(
                "client: receipt of charge {} for {} cents",
                r.charge_id, r.cents
            ),
            Err(e) => println!("client: {e:?}"),
        }
    }
    let charges = CARD_CHARGES.load(Relaxed);
    println!("card charged {charges} time(s)");
    let store = registry::idempotency("payments").map(|s| s.metrics());
    println!("store: {store:?}");
    if charges != 1 {
        eprintln!("the payment was charged {charges} times");
        std::process::exit(1);
    }
}
