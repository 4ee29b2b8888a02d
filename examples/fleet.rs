//! A fleet: three replicas of one small service, three processes, one local Redis. They hold
//! one `200/s` limit together, and a breaker trip in one replica is seen by all.
//!
//! ```text
//! cargo run --features redis --example fleet
//! ```
//!
//! It starts its own `redis-server` on a free loopback port (Debian's `redis-server`; without
//! it the example says so and exits), then itself three times as replicas. Each replica shares
//! the policies declared `shared = ".."` (`RedisStore::share_declared`), calls the partner API
//! through the shared limiter as fast as it can for three seconds, and watches the shared
//! breaker; replica 0 trips it after one second. The parent prints the rate the fleet held and
//! when each replica saw the trip, and exits non-zero if the fleet's rate is off by more than
//! a few percent or a replica never saw the trip.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use resilience::State;
use resilience::redis::{RedisStore, StoreOptions};

resilience::policy! {
    /// The partner's limit, for the whole fleet.
    static PARTNER: RateLimiter = rate_limiter(200/s, burst = 10, shared = "partner-api");
    /// The payment provider, tripped by one replica, open in all.
    static PAYMENTS: CircuitBreaker = circuit_breaker(failures = 1, open = 30s, shared = "payments");
}

const REPLICAS: usize = 3;
const RUN: Duration = Duration::from_secs(3);
const TRIP_AFTER: Duration = Duration::from_secs(1);
const RATE: f64 = 200.0;
const BURST: f64 = 10.0;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One replica: `--replica I URL START_MS`. Prints `granted=N trip_ms=T seen_ms=S`.
async fn replica(index: usize, url: &str, start_ms: u64) -> Result<(), Box<dyn std::error::Error>> {
    let store = RedisStore::connect(url, StoreOptions::default()).await?;
    store.share_declared().await?;
    // Every replica starts at the same moment.
    tokio::time::sleep(Duration::from_millis(start_ms.saturating_sub(unix_ms()))).await;
    let started = Instant::now();
    let (mut granted, mut trip_ms, mut seen_ms) = (0u64, 0u64, 0u64);
    while started.elapsed() < RUN {
        if PARTNER
            .call(async { Ok::<_, resilience::Failure<()>>(()) })
            .await
            .is_ok()
        {
            granted += 1;
        }
        if index == 0 && trip_ms == 0 && started.elapsed() >= TRIP_AFTER {
            let _ = PAYMENTS
                .call(async { Err::<(), _>(resilience::Failure::Error("provider down")) })
                .await;
            trip_ms = unix_ms();
        }
        if seen_ms == 0 && PAYMENTS.state() == State::Open {
            seen_ms = unix_ms();
        }
        tokio::task::yield_now().await;
    }
    println!("granted={granted} trip_ms={trip_ms} seen_ms={seen_ms}");
    Ok(())
}

/// A `redis-server` on a free loopback port, stopped when dropped.
struct Redis(std::process::Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis(child, port);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(redis)
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, index, url, start] = args.as_slice()
        && flag == "--replica"
    {
        return replica(index.parse()?, url, start.parse()?).await;
    }

    let Some(redis) = start_redis() else {
        println!(
            "no redis-server here: install Debian's `redis-server` (.ci/run does) to run the fleet"
        );
        return Ok(());
    };
    let url = format!("redis://127.0.0.1:{}/", redis.1);
    let start_ms = unix_ms() + 1500;
    println!(
        "{REPLICAS} replicas against {url}, one shared limit of {RATE}/s (burst {BURST}), one shared breaker"
    );
    let children: Vec<_> = (0..REPLICAS)
        .map(|i| {
            Command::new(std::env::current_exe()?)
                .args(["--replica", &i.to_string(), &url, &start_ms.to_string()])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut lines = Vec::new();
    for child in children {
        let output = child.wait_with_output()?;
        lines.push(String::from_utf8_lossy(&output.stdout).trim().to_owned());
    }
    drop(redis);

    let granted: u64 = lines.iter().map(|l| field(l, "granted")).sum();
    let allowed = RATE * RUN.as_secs_f64() + BURST;
    let ratio = granted as f64 / allowed;
    for (i, line) in lines.iter().enumerate() {
        println!("  replica {i}: {} permits", field(line, "granted"));
    }
    println!(
        "the fleet: {granted} permits in {RUN:?}, where {allowed:.0} are allowed: {ratio:.3}x"
    );
    let trip = lines.first().map_or(0, |l| field(l, "trip_ms"));
    let mut all_saw = trip != 0;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let seen = field(line, "seen_ms");
        if seen == 0 {
            println!("  replica {i} never saw the trip");
            all_saw = false;
        } else {
            println!(
                "  replica {i} saw replica 0's trip after {} ms",
                seen.saturating_sub(trip)
            );
        }
    }
    if !(0.9..=1.05).contains(&ratio) || !all_saw {
        eprintln!("FAIL: the fleet's rate or the shared trip");
        std::process::exit(1);
    }
    Ok(())
}
