//! An axum service whose handlers call a flaky upstream through the attributes, with the admin
//! router and the live dashboard mounted, a bulkhead on the front door as a tower layer, and a
//! graceful drain on Ctrl-C.
//!
//! ```text
//! cargo run --features admin,tower --example service -- --serve
//! ```
//!
//! then open <http://127.0.0.1:8080/admin/dashboard> and watch the `UPSTREAM` breaker open and
//! close as the simulated upstream goes down and comes back every 20 seconds (`GET /price/42`
//! is the service; `curl -N http://127.0.0.1:8080/admin/events` is the event stream; with
//! `ADMIN_TOKEN=s3cret` in the environment,
//! `curl -X POST -H 'Authorization: Bearer s3cret' -d '{"state":"forced_open"}' http://127.0.0.1:8080/admin/policies/UPSTREAM/state`
//! opens the breaker by hand). Ctrl-C drains: readiness turns 503, new requests get the
//! fallback's answer or a 503, the requests in flight finish, and what did not is reported.
//!
//! Without `--serve` it runs the same service on a free port for a few seconds, drives it with
//! requests through an outage, prints what the admin endpoints answer, drains, and exits
//! (what CI runs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use resilience::registry;
use resilience::{Failure, circuit_breaker, fallback, retry, timeout};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

resilience::policy! {
    /// The upstream pricing service.
    pub static UPSTREAM: CircuitBreaker = circuit_breaker(threshold = 50%, window = 20, min_calls = 10, open = 5s);
    /// Requests the service works on at once; more wait up to 100ms, then get a 503.
    pub static FRONT_DOOR: Bulkhead = bulkhead(max = 64, queue = 256, wait = 100ms);
}

/// The simulated upstream: down or up, and its calls.
static UPSTREAM_DOWN: AtomicBool = AtomicBool::new(false);
static UPSTREAM_CALLS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
enum PriceError {
    Upstream,
    Rejected(resilience::Error),
}

impl From<resilience::Error> for PriceError {
    fn from(e: resilience::Error) -> Self {
        PriceError::Rejected(e)
    }
}

/// The price of `sku`, from the upstream; the last known price when it fails.
#[fallback(last_known_price)]
#[retry(attempts = 2, backoff = fixed(20ms))]
#[circuit_breaker(UPSTREAM)]
#[timeout(300ms)]
async fn price(sku: u64) -> Result<String, PriceError> {
    UPSTREAM_CALLS.fetch_add(1, Relaxed);
    tokio::time::sleep(Duration::from_millis(5)).await;
    if UPSTREAM_DOWN.load(Relaxed) {
        return Err(PriceError::Upstream);
    }
    Ok(format!(
        "sku {sku}: {}.{:02} EUR (fresh)\n",
        10 + sku % 90,
        sku % 100
    ))
}

fn last_known_price(sku: u64, failure: Failure<PriceError>) -> Result<String, PriceError> {
    let why = match failure.rejection() {
        Some(r) => r.kind().to_string(),
        None => "upstream error".to_owned(),
    };
    Ok(format!(
        "sku {sku}: {}.00 EUR (last known; {why})\n",
        10 + sku % 90
    ))
}

async fn price_handler(Path(sku): Path<u64>) -> String {
    // The fallback answers every failure; these arms are for the type.
    match price(sku).await {
        Ok(answer) => answer,
        Err(PriceError::Rejected(e)) => format!("no price: {e}\n"),
        Err(PriceError::Upstream) => "no price: upstream error\n".to_owned(),
    }
}

/// The service: `/price/{sku}` behind the front door's bulkhead, and the admin under `/admin`.
fn app() -> Router {
    let admin = resilience::admin::Admin::builder()
        .control(std::env::var("ADMIN_TOKEN").ok())
        .router();
    Router::new()
        .route("/price/{sku}", get(price_handler))
        .route_layer(resilience::tower::layer(&FRONT_DOOR).http().respond())
        .nest("/admin", admin)
}

/// On the shutdown signal: drain (refuse new calls, wait for those in flight), then let axum
/// stop.
async fn drain_on(signal: impl Future<Output = ()>) {
    signal.await;
    println!("draining: new requests get the fallback or a 503; readiness answers 503");
    let report = registry::drain(Duration::from_secs(10)).await;
    println!("{report}");
}

/// A GET over a fresh connection: the status line and the body.
async fn get_text(address: std::net::SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    if std::env::args().any(|a| a == "--serve") {
        let listener = TcpListener::bind("127.0.0.1:8080").await?;
        println!("serving on http://127.0.0.1:8080: /price/42, /admin/dashboard (Ctrl-C drains)");
        // The upstream goes down for 20s every 40s.
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let down = !UPSTREAM_DOWN.load(Relaxed);
                UPSTREAM_DOWN.store(down, Relaxed);
                println!("upstream {}", if down { "down" } else { "back" });
            }
        });
        // Steady traffic, so the dashboard has something to show.
        tokio::spawn(async {
            for sku in 0u64.. {
                let _ = price(sku % 50).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let shutdown = drain_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        return axum::serve(listener, app())
            .with_graceful_shutdown(shutdown)
            .await;
    }

    // The demonstration: the same service on a free port.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app())
            .with_graceful_shutdown(drain_on(async {
                let _ = stopped.await;
            }))
            .await
    });

    println!("GET /price/7 while the upstream is up:");
    print!("  {}", get_text(address, "/price/7").await?.1);
    println!("the upstream goes down; 20 requests:");
    UPSTREAM_DOWN.store(true, Relaxed);
    let mut last = String::new();
    for _ in 0..20 {
        last = get_text(address, "/price/7").await?.1;
    }
    print!("  the last answer: {last}");
    let (_, upstream) = get_text(address, "/admin/policies/UPSTREAM").await?;
    println!("GET /admin/policies/UPSTREAM:\n  {upstream}");
    let (ready, body) = get_text(address, "/admin/health/ready").await?;
    println!("GET /admin/health/ready: {ready}\n  {body}");
    let (_, transitions) = get_text(address, "/admin/transitions").await?;
    println!("GET /admin/transitions:\n  {transitions}");
    let open = upstream.contains(r#""state":"open""#);
    println!(
        "the upstream made {} calls; the breaker is {}",
        UPSTREAM_CALLS.load(Relaxed),
        if open { "open" } else { "NOT open" }
    );

    let _ = stop.send(());
    server.await.map_err(std::io::Error::other)??;
    if !open || !last.contains("last known") {
        eprintln!("FAIL: the breaker should be open and the fallback answering");
        std::process::exit(1);
    }
    Ok(())
}
