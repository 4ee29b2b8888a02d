//! What the benchmarks share: the criterion settings, the runtime, the protected operation, and
//! the loop that times a run of calls.
//!
//! Every benchmark times a loop of calls inside one `block_on` of a current-thread tokio
//! runtime, so the runtime's own cost (entering it, parking) is paid once per sample and not
//! per call. Before timing, each case is run a few thousand times on the bench thread with a
//! counting allocator, and its allocations per call are printed beside criterion's figures.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use tokio::runtime::Runtime;

pub use resilience_counting_alloc::{CountingAllocator, allocations};

/// Criterion settings that keep the whole suite within a few minutes on 2 cores.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(40)
        .without_plots()
        .configure_from_args()
}

/// A criterion group that remembers its name, for the allocation lines.
pub struct Group<'a> {
    /// The group's name, the first half of each benchmark's id.
    pub name: &'static str,
    /// The criterion group.
    pub inner: BenchmarkGroup<'a, WallTime>,
}

/// Starts the group `name`.
pub fn group<'a>(c: &'a mut Criterion, name: &'static str) -> Group<'a> {
    Group {
        name,
        inner: c.benchmark_group(name),
    }
}

/// A rate no benchmark loop can reach: one permit a nanosecond, a burst of a second's worth.
pub const UNREACHABLE_RATE: u32 = 1_000_000_000;

/// A current-thread runtime with the time driver, as every policy needs.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds")
}

/// A current-thread runtime whose clock starts paused: sleeps complete at once, in virtual time.
pub fn paused_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused current-thread runtime builds")
}

/// The protected operation's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpError;

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("operation failed")
    }
}

impl std::error::Error for OpError {}

impl From<resilience::Error> for OpError {
    fn from(_: resilience::Error) -> Self {
        OpError
    }
}

/// The protected operation: completes at once with its argument, so a benchmark measures the
/// policy around it and nothing else.
#[inline]
pub async fn op(x: u64) -> Result<u64, OpError> {
    Ok(x)
}

/// The protected operation, failing: completes at once with an error.
#[inline]
pub async fn failing_op(_x: u64) -> Result<u64, OpError> {
    Err(OpError)
}

/// The protected operation under each of our attributes alone, with the settings of the
/// runtime-API benchmarks.
pub mod attributed {
    use super::{OpError, op};

    /// Under a circuit breaker with the defaults (a count window of 100 calls).
    #[resilience::circuit_breaker]
    pub async fn circuit_breaker(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a circuit breaker with a time window of 60 s (ten buckets of 6 s) instead.
    #[resilience::circuit_breaker(window = 60s)]
    pub async fn circuit_breaker_time_window(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a circuit breaker with the default count window that also tracks slow calls.
    #[resilience::circuit_breaker(slow = 2s)]
    pub async fn circuit_breaker_slow_calls(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    resilience::policy! {
        /// The retry budget of `retry_with_budget`: the defaults (20%, 10/s, 10s).
        pub static BUDGET: RetryBudget = retry_budget();
    }

    /// Under a retry with the defaults, its retries taken from a budget.
    #[resilience::retry(budget = BUDGET)]
    pub async fn retry_with_budget(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a retry with the defaults (3 attempts, exponential backoff from 100ms).
    #[resilience::retry]
    pub async fn retry(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a timeout of one second.
    #[resilience::timeout(1s)]
    pub async fn timeout(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a bulkhead of 10 slots.
    #[resilience::bulkhead(max = 10)]
    pub async fn bulkhead(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under an adaptive bulkhead: Gradient2, the limit from 20 (the default `initial`) up to
    /// 100. The body answers at once, so each call's sample (under the 100 µs threshold) is
    /// dropped before it reaches the window's sums: the success path of a fast call.
    #[resilience::bulkhead(adaptive = gradient2, max = 100)]
    pub async fn adaptive_bulkhead(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a hedge that would start a second attempt after one second: the body answers at
    /// once, so no hedge starts (and no timer is made).
    #[resilience::hedge(after = 1s)]
    pub async fn hedge(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a rate limiter no benchmark loop can reach.
    #[resilience::rate_limiter(1000000000/s)]
    pub async fn rate_limiter(x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under a rate limiter per tenant, keyed by the tenant: one per key, none reachable.
    #[resilience::rate_limiter(1000000000/s, key = tenant)]
    pub async fn keyed_rate_limiter(tenant: &str, x: u64) -> Result<u64, OpError> {
        op(x).await
    }

    /// Under all five, in the recommended order.
    #[resilience::retry]
    #[resilience::circuit_breaker]
    #[resilience::rate_limiter(1000000000/s)]
    #[resilience::timeout(1s)]
    #[resilience::bulkhead(max = 10)]
    pub async fn stack(x: u64) -> Result<u64, OpError> {
        op(x).await
    }
}

/// How many calls the allocation count of each case averages over.
pub const ALLOCATION_SAMPLE_CALLS: u64 = 4096;

/// Benchmarks `$call` (an expression that may `.await` and may use the call number `$i`) as
/// `$group/$name`: first counts its heap allocations per call on this thread and prints them as
/// `allocs/call <group>/<name> = <n>`, then lets criterion time loops of it inside one
/// `block_on` of `$rt`. `$call` yields a `Result`, which must be `Ok` during the warm-up.
#[macro_export]
macro_rules! bench_calls {
    ($group:expr, $rt:expr, $name:expr, |$i:ident| $call:expr) => {
        $crate::bench_calls!(@expect is_ok, $group, $rt, $name, |$i| $call)
    };
    (@expect $expect:ident, $group:expr, $rt:expr, $name:expr, |$i:ident| $call:expr) => {{
        let rt: &tokio::runtime::Runtime = $rt;
        let group: &mut $crate::Group<'_> = $group;
        let allocs = rt.block_on(async {
            // Warm up first: one-time work (a clock's origin, a tracing callsite) is not per call.
            for $i in 0..64u64 {
                assert!(
                    std::hint::black_box($call).$expect(),
                    "{}/{}: not the path to measure",
                    group.name,
                    $name
                );
            }
            let before = $crate::allocations();
            for $i in 0..$crate::ALLOCATION_SAMPLE_CALLS {
                let _ = std::hint::black_box($call);
            }
            ($crate::allocations() - before) as f64 / $crate::ALLOCATION_SAMPLE_CALLS as f64
        });
        println!("allocs/call {}/{} = {}", group.name, $name, allocs);
        group.inner.bench_function($name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = std::time::Instant::now();
                    for $i in 0..iters {
                        let $i = std::hint::black_box($i);
                        let _ = std::hint::black_box($call);
                    }
                    start.elapsed()
                })
            })
        });
    }};
}

/// As [`bench_calls!`], for a path that must end in `Err` (a rejection).
#[macro_export]
macro_rules! bench_rejections {
    ($group:expr, $rt:expr, $name:expr, |$i:ident| $call:expr) => {
        $crate::bench_calls!(@expect is_err, $group, $rt, $name, |$i| $call)
    };
}

/// Benchmarks `$call` run by two threads at once, each on its own current-thread runtime, as
/// `$group/$name`. Each thread first builds its own state with `$setup` (bound to `$state`),
/// then both start together at a barrier; a sample's time is the slower thread's, so the figure
/// is the time per call as each thread sees it while the other calls too.
#[macro_export]
macro_rules! bench_two_threads {
    ($group:expr, $name:expr, |$state:ident = $setup:expr, $i:ident| $call:expr) => {{
        let group: &mut $crate::Group<'_> = $group;
        group.inner.bench_function($name, |b| {
            b.iter_custom(|iters| {
                let start_together = std::sync::Barrier::new(2);
                let run = || {
                    let rt = $crate::runtime();
                    #[allow(unused_mut)]
                    let mut $state = $setup;
                    start_together.wait();
                    rt.block_on(async {
                        let start = std::time::Instant::now();
                        for $i in 0..iters {
                            let $i = std::hint::black_box($i);
                            let _ = std::hint::black_box($call);
                        }
                        start.elapsed()
                    })
                };
                std::thread::scope(|s| {
                    let first = s.spawn(&run);
                    let second = s.spawn(&run);
                    let first = first.join().expect("first thread ran");
                    let second = second.join().expect("second thread ran");
                    first.max(second)
                })
            })
        });
    }};
}
