//! Fleet-wide rate limits on Redis: a `100/s` limit that every replica of a service holds
//! together; and breakers whose trips every replica adopts ([`breaker`]).
//!
//! ```no_run
//! # async fn start() -> Result<(), redis::RedisError> {
//! use std::time::Duration;
//! use resilience_redis::{Mode, RedisStore, StoreOptions};
//! use resilience_runtime::RateLimiter;
//!
//! static PARTNER_API: RateLimiter = match RateLimiter::builder("PARTNER_API")
//!     .rate(100, Duration::from_secs(1))
//!     .build()
//! {
//!     Ok(l) => l,
//!     Err(_) => panic!("invalid limiter"),
//! };
//!
//! let store = RedisStore::connect("redis://10.0.0.5:6379", StoreOptions::default()).await?;
//! // Every replica shares the limiter under the name they agree on...
//! store.share(&PARTNER_API, "partner-api");
//! // ...or every policy declared `#[rate_limiter(100/s, shared = "partner-api")]`,
//! // `#[circuit_breaker(shared = "payments")]`, at once.
//! store.share_declared().await?;
//! # Ok(()) }
//! ```
//!
//! # How a permit is decided
//!
//! The limiter's state is one key on Redis (`{prefix}:{shared}:gcra`, the shared name in a
//! hash tag so Redis Cluster keeps it on one node, with an expiry): a GCRA's theoretical
//! arrival time, advanced by one Lua script (run by `EVALSHA`) on **Redis's clock** (`TIME`), so
//! the replicas' clocks never disagree about it.
//!
//! - **Leasing** ([`Mode::Leasing`], the default): a replica whose permits ran out asks for a
//!   batch (a quarter of the burst) and spends it locally; Redis is asked once per batch. The
//!   batch is taken from the fleet's schedule, so the fleet never admits more than the rate and
//!   its burst; a replica may spend its batch at once (bursts of at most a quarter of the burst
//!   per replica), and permits left unspent when the batch's time is over are lost (the fleet
//!   then admits a little less than the rate, never more).
//! - **Exact** ([`Mode::Exact`]): one script call per permit. Leasing is the default at every
//!   rate: a limiter whose burst is under 8 asks for one permit at a time anyway, so a small
//!   limit is exact by itself.
//! - A caller refused waits out the `retry_after` Redis computed, locally (if its limiter's
//!   `wait` allows), instead of asking again; otherwise its rejection carries it, and `#[retry]`
//!   honours it.
//!
//! # When Redis is down or slow
//!
//! A call waits for Redis at most the deadline ([`StoreOptions::deadline`], 20 ms by default),
//! then is decided locally as [`StoreOptions::fallback`] says (counted in
//! `RateLimiterMetrics::store_fallbacks`): by default its **share** of the fleet's rate, the
//! rate divided by the replicas Redis saw asking in the last minute ([`Fallback::Share`]), so
//! the fleet stays near its rate; or the limiter's own rate, or every call admitted, or refused. The store's own circuit breaker (registered as
//! `redis:{prefix}`) opens after 3 consecutive failures or late answers: from then on calls
//! decide locally at once, without asking Redis, and a probe of the store's own (a `PING`, never
//! a caller's call) finds out each second whether Redis is back. So while Redis is away, at most
//! 3 calls per process wait the deadline. Nothing waits on a reconnect beyond the deadline. A restarted, empty Redis starts a
//! fresh schedule: at most one burst is admitted over the rate.

pub mod breaker;
pub mod config;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, RedisError, Script};
use resilience_runtime::rate_limiter::store::{
    Lease, LeaseFuture, LeaseRequest, PermitStore, StoreError, Unavailable,
};
use resilience_runtime::{CircuitBreaker, Failure, RateLimiter, State, registry};

/// How permits are taken from Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// One script call per permit.
    Exact,
    /// Batches of a quarter of the limiter's burst, spent locally (see the crate docs).
    #[default]
    Leasing,
}

/// How a shared limiter decides while Redis is away (failing, late, or the store's breaker
/// open).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fallback {
    /// Its share of the fleet's rate: the rate divided by the replicas Redis saw asking in the
    /// last minute (this one included), the burst too (at least 1); no waiting for a permit.
    /// The fleet stays near its rate (a replica that was idle for a minute and wakes up during
    /// the outage was not counted: up to its share more).
    #[default]
    Share,
    /// The limiter's own rate, as if it were not shared: each replica the whole rate.
    OwnRate,
    /// Every call admitted.
    Allow,
    /// Every call refused (with the deadline as its `retry_after`).
    Deny,
}

/// Where and how the store works: set at start-up.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Prepended to every key (`resilience` by default): one Redis can serve several
    /// deployments.
    pub prefix: String,
    /// The longest a call waits for Redis before its limiter decides locally (20 ms).
    pub deadline: Duration,
    /// Exact or leasing ([`Mode::Leasing`]).
    pub mode: Mode,
    /// How a shared limiter decides while Redis is away ([`Fallback::Share`]).
    pub fallback: Fallback,
    /// How often a shared breaker re-reads its fleet's open state, for the messages pub/sub
    /// may drop (1 s).
    pub resync: Duration,
    /// How long the replica elected to probe a shared breaker's dependency holds the lease
    /// (5 s): a prober that dies frees it after this.
    pub probe_lease: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            prefix: "resilience".to_owned(),
            deadline: Duration::from_millis(20),
            mode: Mode::Leasing,
            fallback: Fallback::Share,
            resync: Duration::from_secs(1),
            probe_lease: Duration::from_secs(5),
        }
    }
}

/// The GCRA on Redis's clock. KEYS[1]: the theoretical arrival time, in microseconds; KEYS[2]:
/// the replicas seen in the last minute (a sorted set by last request). ARGV: the emission
/// interval (µs), the burst, the permits wanted, this process. Returns
/// `{granted, retry_after_us, valid_for_us, replicas}`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000000)
redis.call('PEXPIRE', KEYS[2], 120000)
local replicas = redis.call('ZCARD', KEYS[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local room = math.floor((burst * interval - (tat - now)) / interval)
local granted = math.min(want, room)
if granted <= 0 then
  return {0, tat + interval - burst * interval - now, 0, replicas}
end
tat = tat + granted * interval
redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000) + 1000)
return {granted, 0, granted * interval, replicas}
";

/// A fleet's permits on Redis: a [`PermitStore`] for [`RateLimiter::share_through`], made by
/// [`RedisStore::connect`]. See the [crate docs](crate).
pub struct RedisStore {
    client: Client,
    /// This process, in the breakers' messages (its own are not adopted again).
    id: u64,
    connection: ConnectionManager,
    script: Script,
    options: StoreOptions,
    /// The store's own breaker: Redis failing or late opens it, and calls decide locally.
    backend: &'static CircuitBreaker,
    /// A probe of Redis (while the breaker is not closed) is on its way.
    probing: Arc<AtomicBool>,
    /// Each shared limiter's keys, by the limiter's name.
    keys: Mutex<Vec<Keys>>,
}

/// A shared limiter's keys, and the replicas Redis last saw asking for its permits.
struct Keys {
    limiter: &'static str,
    gcra: String,
    replicas_key: String,
    replicas: Arc<AtomicU32>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("options", &self.options)
            .field("backend", &self.backend.state())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url`, for the life of the process (a store is shared by the
    /// limiters that name it, as a `static` is).
    ///
    /// # Errors
    ///
    /// Redis unreachable now: start without the store (the limiters hold their own rates), or
    /// try again.
    pub async fn connect(
        url: &str,
        options: StoreOptions,
    ) -> Result<&'static RedisStore, RedisError> {
        let client = Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.deadline.max(Duration::from_millis(100))))
            .set_response_timeout(Some(options.deadline))
            // A Redis that is not there fails the start-up at once, rather than after the
            // manager's retries; reconnecting later is the manager's, in the background.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = client
            .get_connection_manager_with_config(config.clone())
            .await?;
        let name: &'static str = Box::leak(format!("redis:{}", options.prefix).into_boxed_str());
        let backend = CircuitBreaker::builder(name)
            .consecutive_failures(3)
            .open(Duration::from_secs(1))
            .half_open(1)
            .build()
            .map_err(|e| RedisError::from((redis::ErrorKind::Client, "breaker", e.to_string())))?;
        let backend: &'static CircuitBreaker = Box::leak(Box::new(backend));
        registry::register(backend);
        Ok(Box::leak(Box::new(RedisStore {
            client,
            id: process_id(),
            connection,
            script: Script::new(GCRA),
            options,
            backend,
            probing: Arc::new(AtomicBool::new(false)),
            keys: Mutex::new(Vec::new()),
        })))
    }

    /// Shares `limiter`'s rate with every process that shares a limiter under `shared` through
    /// the same Redis (and prefix). The limiter's own rate, burst and wait are the fleet's.
    pub fn share(&'static self, limiter: &'static RateLimiter, shared: &str) {
        let prefix = &self.options.prefix;
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.retain(|k| k.limiter != limiter.name());
        keys.push(Keys {
            limiter: limiter.name(),
            gcra: format!("{prefix}:{{{shared}}}:gcra"),
            replicas_key: format!("{prefix}:{{{shared}}}:replicas"),
            replicas: Arc::new(AtomicU32::new(1)),
        });
        drop(keys);
        limiter.share_through(self, self.options.deadline);
    }

    /// Connects as the `[fleet]` table of the configuration file at `path` says (see
    /// [`config`]): the deployment's settings beside the policies' own.
    ///
    /// # Errors
    ///
    /// The file unreadable, its `[fleet]` table wrong (naming the key), or Redis unreachable.
    pub async fn connect_configured(
        path: impl AsRef<std::path::Path>,
    ) -> Result<&'static RedisStore, Box<dyn std::error::Error + Send + Sync>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (url, options) =
            config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(RedisStore::connect(&url, options).await?)
    }

    /// Shares every rate limiter and circuit breaker of the registry declared `shared = ".."`
    /// (in an attribute, `policy!` or a builder's `.shared(..)`), under its declared name:
    /// what a replica calls once at start-up. Returns how many it shares.
    ///
    /// # Errors
    ///
    /// Redis unreachable for a breaker's subscription: the breakers after it stay local (the
    /// limiters shared before it are shared).
    pub async fn share_declared(&'static self) -> Result<usize, RedisError> {
        let mut shared = 0;
        for (_, policy) in registry::policies() {
            match policy {
                registry::Policy::RateLimiter(limiter) => {
                    if let Some(name) = limiter.shared_name() {
                        self.share(limiter, name);
                        shared += 1;
                    }
                }
                registry::Policy::CircuitBreaker(breaker) => {
                    if let Some(name) = breaker.shared_name() {
                        self.share_breaker(breaker, name).await?;
                        shared += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(shared)
    }

    /// The store's own breaker (registered as `redis:{prefix}`): open while Redis fails.
    pub fn backend(&self) -> &'static CircuitBreaker {
        self.backend
    }

    fn keys_of(&self, limiter: &str) -> Option<(String, String, Arc<AtomicU32>)> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.iter().find(|k| k.limiter == limiter).map(|k| {
            (
                k.gcra.clone(),
                k.replicas_key.clone(),
                Arc::clone(&k.replicas),
            )
        })
    }
}

impl RedisStore {
    /// Asks Redis whether it is back (a `PING` through the store's breaker, in a task of its
    /// own), unless a probe is on its way already; the breaker decides whether its open wait
    /// is over.
    fn probe(&self) {
        if self.probing.swap(true, Relaxed) {
            return;
        }
        let (backend, within) = (self.backend, self.options.deadline.mul_f64(0.9));
        let mut connection = self.connection.clone();
        let probing = Arc::clone(&self.probing);
        tokio::spawn(async move {
            let _ = backend
                .call(async {
                    match tokio::time::timeout(
                        within,
                        redis::cmd("PING").query_async::<String>(&mut connection),
                    )
                    .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(Failure::Error(e.to_string())),
                        Err(_) => Err(Failure::Error(format!("no answer within {within:?}"))),
                    }
                })
                .await;
            probing.store(false, Relaxed);
        });
    }
}

/// A number for this process, different from every other replica's.
fn process_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(std::process::id()) << 32) | u64::from(nanos)
}

impl PermitStore for RedisStore {
    fn when_unavailable(&self, limiter: &'static str) -> Unavailable {
        match self.options.fallback {
            Fallback::Share => Unavailable::Share {
                replicas: self
                    .keys_of(limiter)
                    .map_or(1, |(_, _, replicas)| replicas.load(Relaxed).max(1)),
            },
            Fallback::OwnRate => Unavailable::OwnRate,
            Fallback::Allow => Unavailable::Allow,
            Fallback::Deny => Unavailable::Deny,
        }
    }

    fn lease(&self, request: LeaseRequest) -> LeaseFuture {
        let Some((key, replicas_key, replicas)) = self.keys_of(request.limiter) else {
            let e = StoreError(format!(
                "`{}` is not shared through this store",
                request.limiter
            ));
            return Box::pin(std::future::ready(Err(e)));
        };
        // Redis away (the store's breaker not closed): decided locally at once; whether Redis
        // is back is found out by a probe of the store's own, never by a caller's wait.
        if self.backend.state() != State::Closed {
            self.probe();
            let e = StoreError(format!(
                "Redis away (the store's breaker `{}` is not closed)",
                self.backend.name()
            ));
            return Box::pin(std::future::ready(Err(e)));
        }
        let want = match self.options.mode {
            Mode::Exact => 1,
            Mode::Leasing => request.want.max(1),
        };
        let interval = (request.per.as_micros() / u128::from(request.count.max(1))).max(1);
        let script = self.script.clone();
        let burst = request.burst.max(1);
        let mut connection = self.connection.clone();
        let backend = self.backend;
        let within = self.options.deadline.mul_f64(0.9);
        let id = self.id;
        Box::pin(async move {
            let mut invocation = script.prepare_invoke();
            invocation
                .key(key)
                .key(replicas_key)
                .arg(interval.to_string())
                .arg(burst)
                .arg(want)
                .arg(id);
            // Answered within the deadline (a little less, so the limiter's own wait for the
            // lease never ends first and this failure is recorded by the store's breaker).
            let answer = backend
                .call(async {
                    match tokio::time::timeout(
                        within,
                        invocation.invoke_async::<(u64, i64, u64, u32)>(&mut connection),
                    )
                    .await
                    {
                        Ok(Ok(answer)) => Ok(answer),
                        Ok(Err(e)) => Err(Failure::Error(e.to_string())),
                        Err(_) => Err(Failure::Error(format!("no answer within {within:?}"))),
                    }
                })
                .await;
            match answer {
                Ok((granted, retry_after, valid_for, seen)) => {
                    replicas.store(seen.max(1), Relaxed);
                    Ok(Lease {
                        permits: u32::try_from(granted).unwrap_or(u32::MAX),
                        valid_for: Duration::from_micros(valid_for),
                        retry_after: Duration::from_micros(retry_after.max(1).unsigned_abs()),
                    })
                }
                Err(Failure::Error(e)) => Err(StoreError(e)),
                Err(Failure::Rejected(r)) => Err(StoreError(r.to_string())),
            }
        })
    }
}
