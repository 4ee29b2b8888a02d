//! Counters, gauges and histograms through the [`metrics`](https://docs.rs/metrics) facade
//! (cargo feature `metrics`), named and tagged as resilience4j's Micrometer metrics, so
//! dashboards built for those work.
//!
//! Every series has the tag `name` (the policy's registry name, bounded by the policies the
//! program declares); some have a `kind` (the outcome) or `state`, from a fixed set. No tag
//! takes a value from a call's data.
//!
//! | metric | type | tags |
//! |---|---|---|
//! | `resilience4j.circuitbreaker.calls` | counter | `name`, `kind` = `successful` / `failed` / `ignored` / `cancelled` |
//! | `resilience4j.circuitbreaker.not.permitted.calls` | counter | `name` |
//! | `resilience4j.circuitbreaker.slow.calls` | counter | `name` |
//! | `resilience4j.circuitbreaker.state` | gauge (1 for the current state, 0 for the others) | `name`, `state` |
//! | `resilience4j.circuitbreaker.failure.rate` | gauge, percent (-1 until `min_calls`) | `name` |
//! | `resilience4j.circuitbreaker.slow.call.rate` | gauge, percent (-1 until `min_calls`, or without `slow`) | `name` |
//! | `resilience4j.circuitbreaker.buffered.calls` | gauge | `name` |
//! | `resilience4j.circuitbreaker.slow.call.duration` | histogram, seconds | `name` |
//! | `resilience4j.retry.calls` | counter | `name`, `kind` = `failed` (calls that gave up) / `retried` (attempts retried) |
//! | `resilience4j.retry.wait.duration` | histogram, seconds | `name` |
//! | `resilience4j.timelimiter.calls` | counter | `name`, `kind` = `timeout` |
//! | `resilience4j.bulkhead.available.concurrent.calls` | gauge | `name` |
//! | `resilience4j.bulkhead.max.allowed.concurrent.calls` | gauge | `name` |
//! | `resilience4j.bulkhead.queued.calls` | gauge | `name` |
//! | `resilience4j.bulkhead.calls` | counter | `name`, `kind` = `finished` / `rejected` / `cancelled` |
//! | `resilience4j.ratelimiter.available.permissions` | gauge | `name` |
//! | `resilience4j.ratelimiter.waiting_threads` | gauge | `name` |
//! | `resilience4j.ratelimiter.calls` | counter | `name`, `kind` = `successful` / `failed` |
//!
//! The kinds resilience4j has no names for, and the program's health:
//!
//! | metric | type | tags |
//! |---|---|---|
//! | `resilience.circuitbreaker.critical` | gauge: 1 for a breaker declared `critical` (its opening makes the program not ready) | `name` |
//! | `resilience.bulkhead.limit` | gauge: the most calls at once now (an adaptive bulkhead's limit) | `name` |
//! | `resilience.retry_budget.available` | gauge: retries the budget allows now | `name` |
//! | `resilience.retry_budget.withdrawals` | counter: retries (and hedges) it allowed | `name` |
//! | `resilience.retry_budget.refused` | counter: retries (and hedges) it refused | `name` |
//! | `resilience.hedge.calls`, `.hedges`, `.wins`, `.cancelled`, `.skipped` | counters | `name` |
//! | `resilience.hedge.delay_seconds` | gauge: the delay a hedge starts after now | `name` |
//! | `resilience.cache.calls` | counter | `name`, `kind` = `hit` / `miss` / `stale` |
//! | `resilience.cache.entries`, `resilience.cache.evictions` | gauge, counter | `name` |
//! | `resilience.idempotency.calls` | counter | `name`, `kind` = `first` / `replayed` (joined or served stored) / `rejected` / `full` |
//! | `resilience.idempotency.keys` | gauge | `name` |
//! | `resilience.toggle.on` | gauge: 1 while the degraded mode is on | `name` |
//! | `resilience.toggle.served` | counter: calls served degraded | `name` |
//! | `resilience.chaos.injected` | counter | `name`, `kind` = `error` / `latency` / `outcome` |
//! | `resilience.ready` | gauge: 1 while the readiness probe would answer 200 (no critical breaker open, no drain) | |
//! | `resilience.draining` | gauge: 1 while a drain is on | |
//!
//! A keyed family (one policy per key) is one entry, tagged with the family's name only:
//!
//! | metric | type | tags |
//! |---|---|---|
//! | `resilience.keyed.keys` | gauge: children held | `name` |
//! | `resilience.keyed.max.keys` | gauge | `name` |
//! | `resilience.keyed.evictions` | counter | `name` |
//! | `resilience.keyed.overflows` | counter: calls under a new key refused when full | `name` |
//! | `resilience.keyed.tripped` | gauge: breaker children that keep their key out | `name` |
//!
//! [`tag_keys`]`(true)` opts in to series per key as well: each child is exported as a policy
//! of its own named `FAMILY[key]`, and a keyed breaker's slow-call histogram gets a `key` tag.
//! That makes up to `max_keys` series per family and metric: for a few hundred hosts, not for
//! user ids.
//!
//! Counters and gauges are read from the policies' own atomics by [`export`] (as Micrometer's
//! function counters and gauges are), so the calls themselves pay nothing for them: call it
//! before each scrape, or run [`exporter`] in a task. Histograms are recorded when the event
//! happens (a retry's wait, a slow call's duration: failure paths only), by the events' metrics
//! sink.

use std::time::Duration;

/// Publishes every registered policy's counters and gauges to the installed `metrics`
/// recorder.
pub fn export() {
    for (name, policy) in super::policies() {
        policy.describe().export(&name);
    }
    let ready = super::health().is_ready() && !crate::drain::is_draining();
    metrics::gauge!("resilience.ready").set(if ready { 1.0 } else { 0.0 });
    metrics::gauge!("resilience.draining").set(if crate::drain::is_draining() {
        1.0
    } else {
        0.0
    });
}

/// Whether keyed children are exported with their key, each as a policy named `FAMILY[key]`
/// (off by default: see the [module](self) docs).
pub fn tag_keys(on: bool) {
    crate::event::metrics::set_key_tags(on);
}

/// Calls [`export`] every `period`, forever: spawn it on a tokio runtime.
///
/// ```no_run
/// # async fn run() {
/// tokio::spawn(resilience_runtime::registry::metrics::exporter(std::time::Duration::from_secs(10)));
/// # }
/// ```
pub async fn exporter(period: Duration) {
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        export();
    }
}
