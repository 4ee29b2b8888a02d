//! The fleet's figures with real processes: this test binary starts copies of itself as
//! replicas (the `replica` test, which does nothing unless `RESILIENCE_REPLICA` is set), each
//! sharing one rate limiter through one `redis-server` on a loopback port, and reads what they
//! granted, per second. Real time, Redis's clock. Without `redis-server` each test says
//! SKIPPED and passes.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::RedisServer;
use resilience_redis::{RedisStore, StoreOptions};
use resilience_runtime::{Failure, RateLimiter};

const RATE: u32 = 1000;
/// 5% of the rate.
const BURST: u32 = 50;

static LIMITER: RateLimiter = match RateLimiter::builder("fleet/partner")
    .rate(RATE, Duration::from_secs(1))
    .burst(BURST)
    .build()
{
    Ok(l) => l,
    Err(_) => panic!("invalid limiter"),
};

/// The fleets take turns: each needs the machine's cores to itself.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A replica, when started by a test below: calls as fast as it can from `START_MS` for
/// `RUN_MS`, and prints the wall-clock millisecond of each permit granted, and the calls that
/// took at least half the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn replica() {
    let Ok(url) = std::env::var("RESILIENCE_REPLICA") else {
        return;
    };
    let number = |name: &str| -> u64 { std::env::var(name).unwrap().parse().unwrap() };
    let (start, run) = (number("START_MS"), number("RUN_MS"));
    let deadline = Duration::from_millis(20);
    let options = StoreOptions {
        deadline,
        ..StoreOptions::default()
    };
    let store = RedisStore::connect(&url, options).await.unwrap();
    store.share(&LIMITER, "partner");
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(unix_ms()))).await;
    let mut granted = Vec::new();
    // When each call that waited (about) the deadline began.
    let mut slow = Vec::new();
    while unix_ms() < start + run {
        let (called, at) = (Instant::now(), unix_ms());
        let failed_before = store.backend().metrics().failures;
        if LIMITER
            .call(async { Ok::<_, Failure<()>>(()) })
            .await
            .is_ok()
        {
            granted.push(unix_ms());
        }
        // Waited the deadline for Redis: as long, and Redis failed meanwhile (a call only
        // descheduled that long, with five processes on two cores, did not wait for it).
        if called.elapsed() >= deadline.mul_f64(0.9)
            && store.backend().metrics().failures > failed_before
        {
            slow.push(at);
        }
        tokio::task::yield_now().await;
    }
    let stamps = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    println!("SLOW {}", stamps(&slow));
    println!("GRANTED {}", stamps(&granted));
}

/// What one replica printed: the millisecond of each permit, and of each call that waited
/// the deadline.
struct Replica {
    granted: Vec<u64>,
    slow: Vec<u64>,
}

/// Starts `n` replicas against the Redis at `url` for `run`, running `during` while they run.
fn fleet(url: &str, n: usize, run: Duration, during: impl FnOnce(u64)) -> Vec<Replica> {
    let start = unix_ms() + 1500;
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "replica", "--nocapture", "--test-threads", "1"])
                .env("RESILIENCE_REPLICA", url)
                .env("START_MS", start.to_string())
                .env("RUN_MS", run.as_millis().to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    during(start);
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let line = |tag: &str| {
                // The harness may have begun the line ("test replica ... ").
                text.lines()
                    .find_map(|l| l.find(tag).map(|at| &l[at + tag.len()..]))
                    .unwrap_or_else(|| panic!("a replica printed no {tag}: {text}"))
                    .trim()
                    .to_owned()
            };
            let stamps = |text: String| -> Vec<u64> {
                text.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().unwrap())
                    .collect()
            };
            Replica {
                granted: stamps(line("GRANTED ")),
                slow: stamps(line("SLOW ")),
            }
        })
        .collect()
}

/// The permits granted in each second from `from`, for `seconds`.
fn per_second(replicas: &[Replica], from: u64, seconds: u64) -> Vec<u64> {
    (0..seconds)
        .map(|s| {
            let (lo, hi) = (from + s * 1000, from + (s + 1) * 1000);
            replicas
                .iter()
                .map(|r| r.granted.iter().filter(|&&t| t >= lo && t < hi).count() as u64)
                .sum()
        })
        .collect()
}

#[test]
fn four_processes_hold_the_global_rate_for_twenty_seconds() {
    let _turn = turn();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut start = 0;
    let replicas = fleet(&redis.url(), 4, Duration::from_secs(21), |s| start = s);
    // After the first second (the burst, the replicas' connections).
    let seconds = per_second(&replicas, start + 1000, 20);
    let total: u64 = seconds.iter().sum();
    let ratio = total as f64 / f64::from(RATE * 20);
    let worst = seconds.iter().max().copied().unwrap_or(0) as f64 / f64::from(RATE);
    eprintln!(
        "4 processes, 20 s at {RATE}/s: {total} permits, {ratio:.4}x; the busiest second {worst:.3}x; per second {seconds:?}"
    );
    assert!(
        (0.99..=1.01).contains(&ratio),
        "{ratio:.4}x the global rate"
    );
    assert!(worst <= 1.05, "a second at {worst:.3}x");
}

/// How Redis goes away for three seconds.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// `kill -STOP`: connections open, nothing answered.
    Stopped,
    /// `CLIENT PAUSE`: the server holds every client's commands.
    Paused,
    /// Shut down, then started again, empty, on the same port.
    Restarted,
}

/// Four replicas sharing the rate for two seconds, then Redis away for three: each process
/// waits the deadline at most three times, and the fleet holds the rate on local shares.
fn through(outage: Outage) {
    let _turn = turn();
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mut start = 0;
    let url = redis.url();
    let replicas = fleet(&url, 4, Duration::from_secs(6), |s| {
        start = s;
        std::thread::sleep(Duration::from_millis(s.saturating_sub(unix_ms()) + 2000));
        match outage {
            Outage::Stopped => {
                redis.freeze();
                std::thread::sleep(Duration::from_secs(3));
                redis.thaw();
            }
            Outage::Paused => {
                redis.cli(&["CLIENT", "PAUSE", "3000", "ALL"]);
                std::thread::sleep(Duration::from_secs(3));
            }
            Outage::Restarted => {
                redis.stop();
                std::thread::sleep(Duration::from_secs(3));
                redis.start_again();
            }
        }
    });
    // The calls that waited the deadline while Redis was away, per process.
    let (away, back) = (start + 2000, start + 5000);
    let slow: Vec<usize> = replicas
        .iter()
        .map(|r| r.slow.iter().filter(|&&t| t >= away && t < back).count())
        .collect();
    // The outage's seconds, after the first one in which the replicas find Redis gone.
    let seconds = per_second(&replicas, start + 3000, 2);
    let rate = seconds.iter().sum::<u64>() as f64 / f64::from(2 * RATE);
    eprintln!(
        "{outage:?}: calls that waited the deadline, per process {slow:?}; the fleet held {rate:.3}x on local shares ({seconds:?})"
    );
    assert!(slow.iter().all(|&n| n <= 3), "{slow:?}");
    assert!(
        (0.9..=1.1).contains(&rate),
        "{rate:.3}x the rate on local shares"
    );
}

#[test]
fn with_redis_stopped_each_process_waits_at_most_three_times_and_holds_its_share() {
    through(Outage::Stopped);
}

#[test]
fn with_redis_paused_each_process_waits_at_most_three_times_and_holds_its_share() {
    through(Outage::Paused);
}

#[test]
fn with_redis_restarted_each_process_waits_at_most_three_times_and_holds_its_share() {
    through(Outage::Restarted);
}
