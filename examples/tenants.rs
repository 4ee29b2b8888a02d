//! A multi-tenant API with a rate limit per tenant: tenant-a floods, and only tenant-a is
//! throttled; tenant-b and tenant-c are served as if tenant-a were not there. One search
//! backend per region has its own breaker, so one region's outage rejects only its calls.
//!
//! `cargo run --example tenants`

use std::time::Duration;

use resilience::{ErrorKind, circuit_breaker, rate_limiter, registry};
use tokio::time::sleep;

resilience::policy! {
    /// Every tenant's own limit: 600 requests a minute, 20 at once.
    pub static PER_TENANT: KeyedRateLimiter = rate_limiter(600/m, burst = 20, max_keys = 10_000);
    /// One breaker per region's search backend.
    pub static REGIONS: KeyedCircuitBreaker = circuit_breaker(failures = 3, open = 30s);
}

#[derive(Debug)]
enum ApiError {
    Backend,
    Rejected(ErrorKind),
}

impl From<resilience::Error> for ApiError {
    fn from(e: resilience::Error) -> Self {
        ApiError::Rejected(e.kind())
    }
}

struct Request {
    tenant: String,
    region: &'static str,
}

#[rate_limiter(PER_TENANT, key = request.tenant)]
async fn handle(request: Request) -> Result<usize, ApiError> {
    search(request.region).await
}

/// The eu backend is down; the others answer.
#[circuit_breaker(REGIONS, key = region)]
async fn search(region: &str) -> Result<usize, ApiError> {
    sleep(Duration::from_millis(5)).await;
    if region == "eu" {
        Err(ApiError::Backend)
    } else {
        Ok(region.len())
    }
}

#[derive(Default, Debug)]
struct Tally {
    served: u32,
    throttled: u32,
    backend_failed: u32,
    breaker_open: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut tallies = std::collections::BTreeMap::<&str, Tally>::new();
    // One second of traffic: tenant-a sends 200 requests, b and c ten each; c is in eu.
    let plan = [
        ("tenant-a", "us", 200),
        ("tenant-b", "us", 10),
        ("tenant-c", "eu", 10),
    ];
    for round in 0..200 {
        for &(tenant, region, requests) in &plan {
            if round >= requests {
                continue;
            }
            let request = Request {
                tenant: tenant.to_owned(),
                region,
            };
            let tally = tallies.entry(tenant).or_default();
            match handle(request).await {
                Ok(_) => tally.served += 1,
                Err(ApiError::Rejected(ErrorKind::RateLimited)) => tally.throttled += 1,
                Err(ApiError::Rejected(ErrorKind::CircuitOpen)) => tally.breaker_open += 1,
                Err(e) => {
                    assert!(matches!(e, ApiError::Backend), "{e:?}");
                    tally.backend_failed += 1;
                }
            }
        }
    }

    println!("tenant      served  throttled  backend failed  breaker open");
    for (tenant, t) in &tallies {
        println!(
            "{tenant:<10} {:>7} {:>10} {:>15} {:>13}",
            t.served, t.throttled, t.backend_failed, t.breaker_open
        );
    }
    println!("\n{}", registry::snapshot());

    let a = &tallies["tenant-a"];
    let b = &tallies["tenant-b"];
    let c = &tallies["tenant-c"];
    // tenant-a is throttled after its burst (and the little its rate refills meanwhile)...
    assert!(a.throttled > 150 && a.served < 50, "{a:?}");
    // ...while tenant-b is served every time...
    assert_eq!((b.served, b.throttled), (10, 0), "{b:?}");
    // ...and tenant-c, never throttled, meets only its region's open breaker.
    assert_eq!(c.throttled, 0, "{c:?}");
    assert_eq!((c.backend_failed, c.breaker_open), (3, 7), "{c:?}");
    let regions = registry::keyed_circuit_breaker("REGIONS").expect("declared above");
    assert_eq!(
        regions.key("us").map(|b| b.state()),
        Some(resilience::State::Closed)
    );
    println!("tenant-a alone was throttled; only the eu region's breaker opened.");
}
