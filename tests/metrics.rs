//! The `metrics` feature: resilience4j's metric names and tags through the `metrics` facade.

#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ApiError;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use resilience::registry;
use resilience::{circuit_breaker, retry};

/// Every series by `name{tag=value,...}`, with its last value (histograms: their samples).
#[derive(Default)]
struct Recorded {
    values: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    samples: Mutex<BTreeMap<String, Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

fn series(key: &Key) -> String {
    let tags: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), tags.join(","))
}

impl Recorded {
    fn value(&self, key: &Key) -> Arc<AtomicU64> {
        Arc::clone(self.values.lock().unwrap().entry(series(key)).or_default())
    }
    fn counter(&self, s: &str) -> u64 {
        self.values.lock().unwrap()[s].load(Ordering::SeqCst)
    }
    fn gauge(&self, s: &str) -> f64 {
        f64::from_bits(self.values.lock().unwrap()[s].load(Ordering::SeqCst))
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.value(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.value(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::clone(
            self.samples.lock().unwrap().entry(series(key)).or_default(),
        ))
    }
}

#[retry(attempts = 2, backoff = fixed(200ms))]
#[circuit_breaker(failures = 3, open = 10s)]
async fn flaky(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

/// What `calls`, run in virtual time, then an export, record.
fn recorded_after(calls: impl std::future::Future<Output = ()>) -> Recorded {
    let recorded = Recorded::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorded, || {
        runtime.block_on(calls);
        registry::metrics::export();
    });
    recorded
}

#[test]
fn counters_gauges_and_histograms_carry_resilience4j_names_and_tags() {
    let recorded = recorded_after(async {
        flaky(false).await.unwrap();
        let _ = flaky(true).await; // two failures, one retry of 200ms
        let _ = flaky(true).await; // the third failure opens the breaker; the retry is rejected
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
    let cb = "name=metrics::flaky/circuit_breaker";
    assert_eq!(
        recorded.counter(&format!(
            "resilience4j.circuitbreaker.calls{{{cb},kind=successful}}"
        )),
        1
    );
    assert_eq!(
        recorded.counter(&format!(
            "resilience4j.circuitbreaker.calls{{{cb},kind=failed}}"
        )),
        3
    );
    assert_eq!(
        recorded.counter(&format!(
            "resilience4j.circuitbreaker.not.permitted.calls{{{cb}}}"
        )),
        1
    );
    assert_eq!(
        recorded.gauge(&format!(
            "resilience4j.circuitbreaker.state{{{cb},state=open}}"
        )),
        1.0
    );
    assert_eq!(
        recorded.gauge(&format!(
            "resilience4j.circuitbreaker.state{{{cb},state=closed}}"
        )),
        0.0
    );
    let retry = "name=metrics::flaky/retry";
    assert_eq!(
        recorded.counter(&format!("resilience4j.retry.calls{{{retry},kind=failed}}")),
        2
    );
    let waits = recorded.samples.lock().unwrap()
        [&format!("resilience4j.retry.wait.duration{{{retry}}}")]
        .0
        .lock()
        .unwrap()
        .clone();
    assert_eq!(waits, [0.2, 0.2]);
    // Tags are bounded: names, outcomes and states only.
    for series in recorded.values.lock().unwrap().keys() {
        for tag in series.split(['{', '}', ',']).filter(|t| t.contains('=')) {
            let key = tag.split('=').next().unwrap();
            assert!(["name", "kind", "state"].contains(&key), "{series}");
        }
    }
}

#[resilience::rate_limiter(1/m, key = tenant)]
async fn per_tenant(tenant: &str) -> Result<(), ApiError> {
    let _ = tenant;
    Ok(())
}

#[test]
fn a_keyed_family_is_tagged_by_its_name_and_by_its_keys_only_when_asked() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let family = "name=metrics::per_tenant/rate_limiter";
    let by_default = Recorded::default();
    metrics::with_local_recorder(&by_default, || {
        runtime.block_on(async {
            per_tenant("acme").await.unwrap();
            assert!(per_tenant("acme").await.is_err());
            per_tenant("globex").await.unwrap();
        });
        registry::metrics::export();
    });
    assert_eq!(
        by_default.gauge(&format!("resilience.keyed.keys{{{family}}}")),
        2.0
    );
    assert_eq!(
        by_default.counter(&format!("resilience.keyed.overflows{{{family}}}")),
        0
    );
    assert!(
        by_default
            .values
            .lock()
            .unwrap()
            .keys()
            .all(|s| !s.contains("acme")),
        "no series names a key unless asked"
    );

    let with_keys = Recorded::default();
    registry::metrics::tag_keys(true);
    metrics::with_local_recorder(&with_keys, registry::metrics::export);
    registry::metrics::tag_keys(false);
    let acme = "name=metrics::per_tenant/rate_limiter[acme]";
    assert_eq!(
        with_keys.counter(&format!(
            "resilience4j.ratelimiter.calls{{{acme},kind=failed}}"
        )),
        1
    );
    assert_eq!(
        with_keys.gauge(&format!(
            "resilience4j.ratelimiter.available.permissions{{{acme}}}"
        )),
        0.0
    );
}

resilience::policy! {
    static METRICS_BUDGET: RetryBudget = retry_budget(ratio = 10%, min = 0/s);
}

#[retry(attempts = 3, backoff = fixed(1ms), budget = METRICS_BUDGET)]
async fn budgeted() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[test]
fn a_retry_budget_exports_its_level_its_retries_and_its_refusals() {
    let recorded = recorded_after(async {
        // Ten first attempts earn one retry at 10%: the first nine calls are refused theirs,
        // the tenth takes it and is refused its second.
        for _ in 0..10 {
            let _ = budgeted().await;
        }
    });
    let name = "name=METRICS_BUDGET";
    assert_eq!(
        recorded.counter(&format!("resilience.retry_budget.withdrawals{{{name}}}")),
        1
    );
    assert_eq!(
        recorded.counter(&format!("resilience.retry_budget.refused{{{name}}}")),
        10
    );
    assert_eq!(
        recorded.gauge(&format!("resilience.retry_budget.available{{{name}}}")),
        0.0
    );
}
