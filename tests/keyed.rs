//! Per-key policies through the attributes: `key = <expr>` on a rate limiter, bulkhead or
//! breaker, inline or naming a keyed family declared with `policy!`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ApiError, Calls};
use resilience::{ErrorKind, bulkhead, circuit_breaker, fallback, rate_limiter, retry};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::yield_now;

resilience::policy! {
    /// Every tenant's own limit.
    pub static PER_TENANT: KeyedRateLimiter = rate_limiter(1000/m, burst = 3, max_keys = 10_000);
    /// One breaker per downstream host.
    static HOSTS: KeyedCircuitBreaker = circuit_breaker(failures = 2, open = 30s, idle = 5m);
}

/// A tenant, passed by value and moved into the body: the key only borrows it.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Its id, the key of its limits.
    pub id: String,
}

#[rate_limiter(PER_TENANT, key = tenant.id)]
async fn search(tenant: Tenant, query: &str) -> Result<String, ApiError> {
    let owned = tenant;
    Ok(format!("{}:{query}", owned.id))
}

#[rate_limiter(PER_TENANT, key = tenant.id)]
async fn upload(tenant: &Tenant) -> Result<(), ApiError> {
    let _ = tenant;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_flooding_tenant_is_throttled_while_the_others_pass() {
    let a = Tenant {
        id: "flood-a".into(),
    };
    for _ in 0..3 {
        search(a.clone(), "q").await.unwrap();
    }
    let e = search(a.clone(), "q").await.unwrap_err();
    let ApiError::Rejected(e) = e else {
        panic!("{e:?}")
    };
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.policy(), "PER_TENANT");
    assert_eq!(e.key().unwrap().key(), "flood-a");
    // One family for both functions: the flooding tenant's upload is throttled too.
    assert_eq!(
        upload(&a).await.unwrap_err().rejection(),
        Some(ErrorKind::RateLimited)
    );
    // The others are untouched.
    for id in ["quiet-b", "quiet-c"] {
        let t = Tenant { id: id.into() };
        assert_eq!(search(t.clone(), "q").await.unwrap(), format!("{id}:q"));
        upload(&t).await.unwrap();
    }
    assert_eq!(PER_TENANT.key("quiet-b").unwrap().available(), 1);
}

static HOST_CALLS: Calls = Calls::new();

#[circuit_breaker(HOSTS, key = host)]
async fn fetch(host: &str, fail: bool) -> Result<u32, ApiError> {
    HOST_CALLS.hit();
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

#[tokio::test(start_paused = true)]
async fn one_hosts_breaker_opens_while_anothers_stays_closed() {
    for _ in 0..2 {
        assert_eq!(fetch("db.internal", true).await, Err(ApiError::Down));
    }
    let before = HOST_CALLS.get();
    let e = fetch("db.internal", false).await.unwrap_err();
    assert_eq!(e.rejection(), Some(ErrorKind::CircuitOpen));
    assert_eq!(
        HOST_CALLS.get(),
        before,
        "an open breaker does not run the body"
    );
    assert_eq!(fetch("api.example.com", false).await, Ok(1));
    assert_eq!(HOSTS.metrics().keys, 2);
}

/// Inline: every shard gets its own bulkhead with the attribute's settings.
#[bulkhead(max = 1, key = shard_of(user))]
async fn write(user: u64, hold: oneshot::Receiver<()>) -> Result<u64, ApiError> {
    hold.await.unwrap();
    Ok(user)
}

fn shard_of(user: u64) -> u64 {
    user % 4
}

#[tokio::test(start_paused = true)]
async fn an_inline_keyed_bulkhead_isolates_its_keys_and_a_cancelled_call_frees_its_slot() {
    let (release, hold) = oneshot::channel();
    let busy = tokio::spawn(write(1, hold));
    yield_now().await;
    // Shard 1 is full; shard 2 is not.
    let (_, hold) = oneshot::channel::<()>();
    let full = write(5, hold).await.unwrap_err();
    assert_eq!(full.rejection(), Some(ErrorKind::BulkheadFull));
    let (go, hold) = oneshot::channel();
    go.send(()).unwrap();
    assert_eq!(write(2, hold).await.unwrap(), 2);
    // Cancelled, the call gives shard 1's slot back.
    busy.abort();
    let _ = busy.await;
    drop(release);
    let (go, hold) = oneshot::channel();
    go.send(()).unwrap();
    assert_eq!(write(9, hold).await.unwrap(), 9);
}

static FLAKY: Calls = Calls::new();

/// A stack: the key is looked up once per call, the retry re-runs the keyed breaker inside.
#[fallback(cached)]
#[retry(attempts = 3, backoff = fixed(10ms))]
#[circuit_breaker(failures = 5, key = region)]
async fn quote(region: String) -> Result<String, ApiError> {
    if FLAKY.hit() < 3 {
        return Err(ApiError::Down);
    }
    Ok(format!("quote from {region}"))
}

async fn cached(
    region: String,
    _failure: resilience::Failure<ApiError>,
) -> Result<String, ApiError> {
    Ok(format!("cached for {region}"))
}

#[tokio::test(start_paused = true)]
async fn a_keyed_layer_in_a_stack_runs_under_retry_and_fallback() {
    assert_eq!(quote("eu".into()).await.unwrap(), "quote from eu");
    assert_eq!(FLAKY.get(), 3);
}

struct Client {
    tenant: String,
}

impl Client {
    #[rate_limiter(1/s, key = self.tenant)]
    async fn ping(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_method_is_keyed_by_its_receiver() {
    let a = Client { tenant: "a".into() };
    let b = Client { tenant: "b".into() };
    a.ping().await.unwrap();
    assert_eq!(
        a.ping().await.unwrap_err().rejection(),
        Some(ErrorKind::RateLimited)
    );
    b.ping().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.ping().await.unwrap();
}

resilience::policy! {
    /// A family the registry tests below read and change.
    static REG_TENANTS: KeyedRateLimiter = rate_limiter(10/s, max_keys = 100);
    /// A family of breakers the health test below opens one child of.
    static REG_HOSTS: KeyedCircuitBreaker = circuit_breaker(failures = 1, open = 1m);
}

#[rate_limiter(REG_TENANTS, key = tenant)]
async fn reg_call(tenant: &str) -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(REG_HOSTS, key = host)]
async fn reg_fetch(host: &str, fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn a_family_is_one_registry_entry_whose_children_are_reached_by_key() {
    use resilience::registry;
    reg_call("acme").await.unwrap();
    reg_call("globex").await.unwrap();
    let family = registry::keyed_rate_limiter("REG_TENANTS").unwrap();
    assert_eq!(family.key("acme").unwrap().available(), 9);
    // Asked for as a plain limiter, the error says what it is.
    let e = registry::rate_limiter("REG_TENANTS").unwrap_err();
    assert!(e.to_string().contains("keyed family"), "{e}");
    assert!(
        e.to_string()
            .contains("registry::keyed_rate_limiter(\"REG_TENANTS\")"),
        "{e}"
    );
    // And a limiter of its own asked for as a family.
    resilience::policy! {
        static REG_PLAIN: RateLimiter = rate_limiter(10/s);
    }
    let _ = &REG_PLAIN;
    let e = registry::keyed_rate_limiter("REG_PLAIN").unwrap_err();
    assert!(
        e.to_string()
            .contains("not a keyed family: registry::rate_limiter(\"REG_PLAIN\")"),
        "{e}"
    );

    let snapshot = registry::snapshot();
    let row = snapshot.get("REG_TENANTS").unwrap();
    assert_eq!(row.keys(), Some(2));
    assert_eq!(row.setting("rate"), Some("10/s"));
    assert_eq!(row.setting("max_keys"), Some("100"));

    // A change by key reconfigures every child, now and later.
    registry::set("REG_TENANTS", "rate", "20/s").unwrap();
    assert_eq!(family.key("acme").unwrap().burst(), 20);
    reg_call("initech").await.unwrap();
    assert_eq!(family.key("initech").unwrap().burst(), 20);
    registry::set("REG_TENANTS", "max_keys", "500").unwrap();
    assert_eq!(family.max_keys(), 500);
    // A wrong value changes nothing.
    assert!(registry::set("REG_TENANTS", "max_keys", "0").is_err());
    assert!(registry::set("REG_TENANTS", "rate", "0/s").is_err());
    assert_eq!(family.max_keys(), 500);
    assert_eq!(family.key("acme").unwrap().rate().0, 20);
}

#[tokio::test(start_paused = true)]
async fn one_keys_open_breaker_makes_health_degraded_never_down() {
    use resilience::registry;
    assert!(reg_fetch("down.example.com", true).await.is_err());
    reg_fetch("up.example.com", false).await.unwrap();
    let health = registry::health();
    let reason = health
        .reasons
        .iter()
        .find(|r| r.policy == "REG_HOSTS")
        .unwrap();
    assert_eq!(reason.status, registry::Status::Degraded);
    assert!(health.is_ready());
    let e = registry::set("REG_HOSTS", "critical", "true").unwrap_err();
    assert!(e.to_string().contains("keyed breaker"), "{e}");
    let hosts = registry::keyed_circuit_breaker("REG_HOSTS").unwrap();
    assert_eq!(hosts.metrics().tripped, Some(1));
    hosts.key("down.example.com").unwrap().reset();
    assert!(
        registry::health()
            .reasons
            .iter()
            .all(|r| r.policy != "REG_HOSTS")
    );
}
