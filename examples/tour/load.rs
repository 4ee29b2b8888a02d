//! The caller: an HTTP client, the two ways of calling the dependency (bare, and through the
//! recommended stack), and the open-loop load that drives one lane.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use resilience::{
    ErrorKind, Failure, bulkhead, circuit_breaker, fallback, rate_limiter, retry, timeout,
};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep_until};

use crate::fault_server;
use crate::script::{Endpoint, Script, TENANTS};

/// Calls the caller can have in flight; more are refused at once, as a service refuses work
/// when every worker is busy. Both lanes have the same.
pub const CAPACITY: usize = 256;
/// How long a lane waits, after the last arrival, for its calls in flight.
const DRAIN: Duration = Duration::from_secs(3);

/// The protected lane's stack, as the header prints it. It must match the attributes on
/// [`protected_quote`].
pub const STACK: &str = "#[fallback(last_good)] #[rate_limiter(PER_TENANT, key = tenant)] #[timeout(1s)] \
#[retry(attempts = 3, backoff = exponential(25ms, max = 200ms))] \
#[circuit_breaker(threshold = 50%, window = 40, min_calls = 20, slow = 200ms, open = 1s)] \
#[rate_limiter(300/s, burst = 30)] #[timeout(250ms)] #[bulkhead(max = 32)]";
/// Each tenant's own limit in the protected lane, as the header prints it: half as much again
/// as a tenant's share of the calls, so only a flood meets it, and low enough that the three
/// tenants' limits together stay under the stack's own `300/s` when one floods.
pub const PER_TENANT_LIMIT: &str = "PER_TENANT: KeyedRateLimiter = rate_limiter(100/s, burst = 20)";

resilience::policy! {
    /// Each tenant's own limit (see [`PER_TENANT_LIMIT`]).
    static PER_TENANT: KeyedRateLimiter = rate_limiter(100/s, burst = 20);
}

/// The protected lane's total timeout: its latency bound.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(1);
/// The breaker's wait in the open state.
pub const OPEN_WAIT: Duration = Duration::from_secs(1);

/// One lane's HTTP client and where it calls.
pub struct Http {
    client: Client<HttpConnector, Empty<Bytes>>,
    dependency: Uri,
    side: Uri,
    /// The last quote the dependency gave, for the fallback.
    last_good: Mutex<Option<u64>>,
}

/// Why a call failed to reach the dependency or failed there.
#[derive(Debug)]
pub enum FetchError {
    /// The dependency answered with this status.
    Status(u16),
    /// The connection failed, was reset, or the body could not be read.
    Transport,
    /// A resilience policy rejected the call.
    Rejected(resilience::Error),
}

impl From<resilience::Error> for FetchError {
    fn from(e: resilience::Error) -> Self {
        FetchError::Rejected(e)
    }
}

/// Why a call was not answered fresh: a policy's rejection by kind, the dependency's error, or
/// the caller's own capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    CircuitOpen,
    BulkheadFull,
    RateLimited,
    TimedOut,
    Unavailable,
    BadAnswer,
    Transport,
    CallerFull,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::CircuitOpen => "circuit open",
            Cause::BulkheadFull => "bulkhead full",
            Cause::RateLimited => "rate limited",
            Cause::TimedOut => "timed out",
            Cause::Unavailable => "503",
            Cause::BadAnswer => "bad answer",
            Cause::Transport => "conn reset",
            Cause::CallerFull => "caller full",
        }
    }

    fn of(error: &FetchError) -> Cause {
        match error {
            FetchError::Status(503) => Cause::Unavailable,
            FetchError::Status(_) => Cause::BadAnswer,
            FetchError::Transport => Cause::Transport,
            FetchError::Rejected(e) => match e.kind() {
                ErrorKind::CircuitOpen => Cause::CircuitOpen,
                ErrorKind::BulkheadFull => Cause::BulkheadFull,
                ErrorKind::RateLimited => Cause::RateLimited,
                _ => Cause::TimedOut,
            },
        }
    }

    fn of_failure(failure: &Failure<FetchError>) -> Cause {
        match failure {
            Failure::Error(e) => Cause::of(e),
            Failure::Rejected(e) => Cause::of(&FetchError::Rejected(*e)),
        }
    }
}

/// A quote and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct Quote {
    #[allow(dead_code)]
    pub price: u64,
    /// `None` when the dependency answered; the failure the fallback stood in for otherwise.
    pub fallback_for: Option<Cause>,
}

impl Http {
    fn new(fault: &fault_server::FaultServer) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let uri = |addr| format!("http://{addr}/").parse().ok();
        Http {
            client,
            // A socket address always makes a valid URI.
            dependency: uri(fault.dependency).unwrap_or_default(),
            side: uri(fault.side).unwrap_or_default(),
            last_good: Mutex::new(None),
        }
    }

    /// One GET, bare: no timeout, no retry. What the unprotected lane does.
    async fn get(&self, uri: &Uri) -> Result<Bytes, FetchError> {
        let response = self
            .client
            .get(uri.clone())
            .await
            .map_err(|_| FetchError::Transport)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| FetchError::Transport)?;
        Ok(body.to_bytes())
    }

    async fn quote(&self) -> Result<Quote, FetchError> {
        let body = self.get(&self.dependency).await?;
        let price = std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(FetchError::Status(200))?;
        Ok(Quote {
            price,
            fallback_for: None,
        })
    }
}

/// The protected lane's call: the README's recommended order, top to bottom, with a limit per
/// tenant at the door (a flooding tenant is served the last good quote, the others fresh).
#[fallback(last_good)]
#[rate_limiter(PER_TENANT, key = tenant)]
#[timeout(1s, name = "quote/total")]
#[retry(attempts = 3, backoff = exponential(25ms, max = 200ms))]
#[circuit_breaker(
    threshold = 50%,
    window = 40,
    min_calls = 20,
    slow = 200ms,
    open = 1s,
    name = "quote/breaker"
)]
#[rate_limiter(300/s, burst = 30)]
#[timeout(250ms, name = "quote/attempt")]
#[bulkhead(max = 32)]
async fn protected_quote(http: &Http, tenant: &str) -> Result<Quote, FetchError> {
    let quote = http.quote().await?;
    if let Ok(mut last) = http.last_good.lock() {
        *last = Some(quote.price);
    }
    Ok(quote)
}

/// The fallback: the last good quote, labelled as such; with none yet, the failure.
fn last_good(
    http: &Http,
    _tenant: &str,
    failure: Failure<FetchError>,
) -> Result<Quote, FetchError> {
    let last = http.last_good.lock().ok().and_then(|last| *last);
    match last {
        Some(price) => Ok(Quote {
            price,
            fallback_for: Some(Cause::of_failure(&failure)),
        }),
        None => Err(match failure {
            Failure::Error(e) => e,
            Failure::Rejected(e) => FetchError::Rejected(e),
        }),
    }
}

/// How one call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by the dependency.
    Fresh,
    /// Answered by the fallback, in place of this failure.
    Fallback(Cause),
    /// Not answered.
    Failed(Cause),
}

/// One call as the user saw it.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// When it was scheduled, since the tour's start.
    pub at: Duration,
    pub endpoint: Endpoint,
    /// Its tenant (an index into [`TENANTS`]).
    pub tenant: usize,
    /// From the scheduled send to the answer (or failure).
    pub latency: Duration,
    pub outcome: Outcome,
}

/// What a lane brings back.
pub struct LaneResult {
    pub records: Vec<Record>,
    /// Calls that reached the dependency, per phase, as its server counted them.
    pub dependency_calls: Vec<u64>,
    /// Calls still in flight when the lane stopped waiting.
    pub unfinished: usize,
}

/// Runs one lane: its own fault server, its own client, the script's arrivals sent at their
/// scheduled times whatever happens to earlier calls (open loop).
pub async fn run_lane(
    protected: bool,
    script: Arc<Script>,
    start: Instant,
) -> std::io::Result<LaneResult> {
    let server = fault_server::start(script.clone(), start).await?;
    let http = Arc::new(Http::new(&server));
    let capacity = Arc::new(Semaphore::new(CAPACITY));
    let records = Arc::new(Mutex::new(Vec::with_capacity(script.arrivals.len())));

    for arrival in script.arrivals.iter().copied() {
        let due = start + arrival.at;
        if Instant::now() < due {
            sleep_until(due).await;
        }
        let (http, capacity, records) = (http.clone(), capacity.clone(), records.clone());
        tokio::spawn(async move {
            let outcome = match capacity.try_acquire() {
                Err(_) => Outcome::Failed(Cause::CallerFull),
                Ok(_slot) => call(&http, arrival.endpoint, arrival.tenant, protected).await,
            };
            let record = Record {
                at: arrival.at,
                endpoint: arrival.endpoint,
                tenant: arrival.tenant,
                latency: Instant::now().saturating_duration_since(due),
                outcome,
            };
            if let Ok(mut records) = records.lock() {
                records.push(record);
            }
        });
    }

    // Every call records itself when it ends; wait for the last ones, up to `DRAIN`.
    let expected = script.arrivals.len();
    let drained = Instant::now() + DRAIN;
    while records.lock().map_or(0, |r| r.len()) < expected && Instant::now() < drained {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let records = records.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(LaneResult {
        unfinished: script.arrivals.len().saturating_sub(records.len()),
        records,
        dependency_calls: server.calls_per_phase(),
    })
}

async fn call(http: &Http, endpoint: Endpoint, tenant: usize, protected: bool) -> Outcome {
    let result = match (endpoint, protected) {
        (Endpoint::Side, _) => http.get(&http.side).await.map(|_| Quote {
            price: 0,
            fallback_for: None,
        }),
        (Endpoint::Dependency, false) => http.quote().await,
        (Endpoint::Dependency, true) => protected_quote(http, TENANTS[tenant]).await,
    };
    match result {
        Ok(Quote {
            fallback_for: None, ..
        }) => Outcome::Fresh,
        Ok(Quote {
            fallback_for: Some(cause),
            ..
        }) => Outcome::Fallback(cause),
        Err(e) => Outcome::Failed(Cause::of(&e)),
    }
}
