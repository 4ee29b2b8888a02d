//! The registry: every policy by name, from program start; snapshots, events, control,
//! reconfiguration and health, in virtual time.
//!
//! Every test binary shares one registry and one event channel, so each test uses policies of
//! its own and filters events by policy name.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::ApiError;
use resilience::registry::{self, RegistryErrorKind, Status};
use resilience::{
    Backoff, EventKind, Failure, PolicyKind, State, bulkhead, circuit_breaker, fallback,
    rate_limiter, retry, timeout,
};
use tokio::time::sleep;

resilience::policy! {
    static LEDGER: CircuitBreaker = circuit_breaker(failures = 2, open = 10s, half_open = 1);
    static VAULT: CircuitBreaker = circuit_breaker(failures = 1, open = 10s, critical = true);
    // Each operated by hand by one test only: a test that forces a breaker open changes what
    // any other test sees of its state, and of the health.
    static JOURNAL: CircuitBreaker = circuit_breaker(failures = 2, open = 10s, half_open = 1);
    static ACCOUNTS: CircuitBreaker = circuit_breaker(failures = 2, open = 10s);
    static TREASURY: CircuitBreaker = circuit_breaker(failures = 1, open = 10s, critical = true);
    // Only refused changes: its settings never change.
    static GAUGE: CircuitBreaker = circuit_breaker(threshold = 50%, slow = 1s, slow_threshold = 80%);
}

/// The event channel keeps the last `resilience::event::CAPACITY` events for a subscriber: a
/// test that makes thousands of calls while another subscribes pushes out the events the
/// subscriber checks. The tests that subscribe and the tests that make hundreds of calls or more
/// take turns; the others make a few dozen calls in all, far below the capacity. An async lock,
/// held across awaits.
static EVENTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Never called: listed all the same.
#[allow(dead_code)]
#[retry(attempts = 4, backoff = fixed(100ms))]
#[timeout(2s)]
#[timeout(500ms)]
async fn never_called() -> Result<(), ApiError> {
    Ok(())
}

#[allow(dead_code)]
mod same_names {
    use super::common::ApiError;

    pub struct Cart;
    pub struct Order;

    impl Cart {
        #[resilience::retry(attempts = 2)]
        pub async fn get(&self) -> Result<u32, ApiError> {
            Ok(1)
        }
    }

    impl Order {
        #[resilience::retry(attempts = 3)]
        pub async fn get(&self) -> Result<u32, ApiError> {
            Ok(2)
        }
    }
}

#[test]
fn every_annotated_site_is_listed_before_its_first_call() {
    let names = registry::names();
    for name in [
        "LEDGER",
        "VAULT",
        "registry::never_called/retry",
        "registry::never_called/timeout",
        "registry::never_called/timeout#2",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let snapshot = registry::snapshot();
    let retry = snapshot.get("registry::never_called/retry").unwrap();
    assert_eq!(retry.kind, PolicyKind::Retry);
    assert_eq!(retry.setting("attempts"), Some("4"));
    assert_eq!(retry.setting("backoff"), Some("fixed(100ms)"));
    let inner = snapshot.get("registry::never_called/timeout#2").unwrap();
    assert_eq!(inner.setting("duration"), Some("500ms"));
    let ledger = snapshot.get("LEDGER").unwrap();
    assert_eq!(ledger.state(), Some(State::Closed));
    assert_eq!(ledger.setting("failures"), Some("2"));
    assert_eq!(ledger.setting("open"), Some("10s"));
}

#[test]
fn same_named_methods_of_two_types_are_told_apart_in_source_order() {
    let retry = registry::retry("registry::same_names::get/retry").unwrap();
    let second = registry::retry("registry::same_names::get/retry#2").unwrap();
    // `Cart::get` is declared first.
    assert_eq!((retry.attempts(), second.attempts()), (2, 3));
}

#[test]
fn a_policy_built_by_hand_is_registered_once() {
    static POOL: resilience::Bulkhead =
        match resilience::Bulkhead::builder("hand/pool").max(3).build() {
            Ok(b) => b,
            Err(_) => panic!(),
        };
    assert_eq!(registry::register(&POOL), "hand/pool");
    assert_eq!(registry::register(&POOL), "hand/pool");
    assert_eq!(
        registry::names()
            .iter()
            .filter(|n| *n == "hand/pool")
            .count(),
        1
    );
    assert_eq!(registry::bulkhead("hand/pool").unwrap().max(), 3);
}

#[circuit_breaker(window = 10, min_calls = 4, threshold = 50%, open = 5s, slow = 1s)]
async fn stock(fail: bool, delay: Duration) -> Result<u32, ApiError> {
    sleep(delay).await;
    if fail { Err(ApiError::Down) } else { Ok(3) }
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_counts_calls_failures_rejections_and_slow_calls() {
    let name = "registry::stock/circuit_breaker";
    let _ = stock(false, Duration::from_secs(2)).await;
    let _ = stock(false, Duration::ZERO).await;
    let _ = stock(true, Duration::ZERO).await;
    let _ = stock(true, Duration::ZERO).await; // 2 of 4 failed: opens
    let _ = stock(false, Duration::ZERO).await; // rejected
    let p = registry::snapshot().get(name).cloned().unwrap();
    assert_eq!(p.state(), Some(State::Open));
    assert_eq!(
        (
            p.calls(),
            p.successes(),
            p.failures(),
            p.rejections(),
            p.slow()
        ),
        (Some(5), Some(2), Some(2), Some(1), Some(1))
    );
    assert_eq!(p.failure_rate(), Some(50.0));
    let table = registry::snapshot().to_string();
    let row = table.lines().find(|l| l.starts_with(name)).unwrap();
    assert!(row.contains("open") && row.contains("50.0%"), "{row}");
    assert!(table.starts_with("NAME"), "{table}");
}

#[bulkhead(max = 2, queue = 1)]
async fn query(hold: Duration) -> Result<(), ApiError> {
    sleep(hold).await;
    Ok(())
}

#[rate_limiter(5/s)]
async fn send() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_shows_slots_in_use_queued_and_permits_available() {
    let calls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(query(Duration::from_secs(1))))
        .collect();
    sleep(Duration::from_millis(10)).await;
    let p = registry::snapshot()
        .get("registry::query/bulkhead")
        .cloned()
        .unwrap();
    assert_eq!((p.in_use(), p.queued()), (Some(2), Some(1)));
    for call in calls {
        call.await.unwrap().unwrap();
    }
    send().await.unwrap();
    send().await.unwrap();
    let p = registry::snapshot()
        .get("registry::send/rate_limiter")
        .cloned()
        .unwrap();
    assert_eq!(p.available(), Some(3));
}

fn cached(_mode: u8, _failure: Failure<ApiError>) -> Result<u32, ApiError> {
    Ok(0)
}

#[fallback(cached)]
#[retry(attempts = 2, backoff = fixed(100ms), when = ApiError::is_transient)]
#[circuit_breaker(failures = 2, open = 10s, ignore = ApiError::is_permanent)]
#[timeout(1s)]
async fn quote(mode: u8) -> Result<u32, ApiError> {
    match mode {
        0 => Ok(1),
        1 => Err(ApiError::Down),
        2 => Err(ApiError::Permanent),
        _ => {
            sleep(Duration::from_secs(5)).await;
            Ok(1)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_subscription_yields_every_kind_of_event() {
    let _turn = EVENTS.lock().await;
    let mut events = registry::subscribe();
    assert_eq!(quote(0).await, Ok(1)); // attempt, success
    assert_eq!(quote(2).await, Ok(0)); // ignored, fallback
    assert_eq!(quote(3).await, Ok(0)); // timed out, failure, retry, ..., state transition
    assert_eq!(quote(0).await, Ok(0)); // rejected
    let seen: Vec<_> = events
        .drain()
        .into_iter()
        .filter(|e| e.policy.starts_with("registry::quote/"))
        .collect();
    let has = |f: &dyn Fn(&EventKind) -> bool| seen.iter().any(|e| f(&e.what));
    assert!(has(&|w| matches!(w, EventKind::Attempt { attempt: 1 })));
    assert!(has(&|w| matches!(w, EventKind::Success)));
    assert!(has(&|w| matches!(w, EventKind::Ignored)));
    assert!(has(&|w| matches!(w, EventKind::Failure)));
    assert!(has(&|w| matches!(w, EventKind::TimedOut { .. })));
    assert!(has(&|w| matches!(
        w,
        EventKind::Retry { attempt: 1, delay } if *delay == Duration::from_millis(100)
    )));
    assert!(has(&|w| matches!(
        w,
        EventKind::StateTransition {
            from: State::Closed,
            to: State::Open
        }
    )));
    assert!(has(&|w| matches!(w, EventKind::Rejected { .. })));
    assert!(has(&|w| matches!(w, EventKind::FallbackUsed { .. })));
    let transition = seen
        .iter()
        .find(|e| matches!(e.what, EventKind::StateTransition { .. }))
        .unwrap();
    assert_eq!(transition.policy, "registry::quote/circuit_breaker");
    assert_eq!(transition.kind, PolicyKind::CircuitBreaker);
}

#[circuit_breaker(window = 100, min_calls = 100)]
async fn chatty() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_slow_subscriber_loses_the_oldest_events_and_never_blocks_calls() {
    let _turn = EVENTS.lock().await;
    let mut events = registry::subscribe();
    let calls = resilience::event::CAPACITY + 100;
    for _ in 0..calls {
        chatty().await.unwrap();
    }
    let first = events.recv().await;
    assert!(events.missed() >= 100, "missed {}", events.missed());
    let _ = first;
    drop(events);
    // Without subscribers, calls go on as before.
    chatty().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_breaker_is_operated_by_name() {
    let journal = registry::circuit_breaker("JOURNAL").unwrap();
    journal.force_open();
    assert_eq!(JOURNAL.state(), State::ForcedOpen);
    journal.close();
    assert_eq!(JOURNAL.state(), State::Closed);
    journal.disable();
    assert_eq!(JOURNAL.state(), State::Disabled);
    journal.reset();
    assert_eq!(JOURNAL.state(), State::Closed);
    assert_eq!(JOURNAL.metrics().calls, 0);
}

#[test]
fn a_wrong_name_is_an_error_listing_the_close_matches() {
    let e = registry::circuit_breaker("LEDGR").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::UnknownPolicy);
    assert_eq!(e.suggestions(), ["LEDGER"]);
    assert_eq!(
        e.to_string(),
        "no circuit_breaker named `LEDGR` in the registry; did you mean `LEDGER`?"
    );
    let e = registry::retry("never_called/retry").unwrap_err();
    assert_eq!(e.suggestions(), ["registry::never_called/retry"]);
    let e = registry::retry("LEDGER").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::WrongKind);
    assert_eq!(e.to_string(), "`LEDGER` is a circuit_breaker, not a retry");
}

#[circuit_breaker(failures = 3, open = 10s, half_open = 1)]
async fn ship(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn reconfiguring_a_breaker_keeps_its_state_and_takes_effect_at_the_next_call() {
    let breaker = registry::circuit_breaker("registry::ship/circuit_breaker").unwrap();
    let _ = ship(true).await;
    let _ = ship(true).await;
    // Two failures are in; from now on two are enough.
    breaker.set_consecutive_failures(2).unwrap();
    assert_eq!(breaker.state(), State::Closed);
    let _ = ship(true).await;
    assert_eq!(breaker.state(), State::Open);
    // A new wait applies from the next time it opens; the state is kept.
    breaker.set_open(Duration::from_secs(1)).unwrap();
    assert_eq!(breaker.state(), State::Open);
    sleep(Duration::from_secs(10)).await;
    let _ = ship(true).await; // the probe fails: open again, for 1s now
    sleep(Duration::from_secs(2)).await;
    ship(false).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn an_invalid_value_names_the_field_and_changes_nothing() {
    let breaker = registry::circuit_breaker("VAULT").unwrap();
    let before = breaker.settings();
    let e = breaker.set_threshold(150.0).unwrap_err();
    assert_eq!(e.field(), "threshold");
    let e = breaker.set_half_open(0).unwrap_err();
    assert_eq!(e.field(), "half_open");
    assert_eq!(breaker.settings(), before);

    let e = registry::set("VAULT", "open", "0s").unwrap_err();
    assert_eq!(e.field(), Some("open"));
    let e = registry::set("VAULT", "open", "30").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::InvalidValue);
    assert!(e.to_string().contains("needs a unit"), "{e}");
    let e = registry::set("VAULT", "treshold", "30%").unwrap_err();
    assert_eq!(e.suggestions(), ["threshold"]);
    for window in ["0", "1001", "0s"] {
        let e = registry::set("VAULT", "window", window).unwrap_err();
        assert_eq!(e.field(), Some("window"), "{window}");
    }
    let e = registry::set("VAULT", "window", "lots").unwrap_err();
    assert!(e.to_string().contains("write 100 (calls) or 60s"), "{e}");
    assert_eq!(breaker.settings(), before);

    let retry = registry::retry("registry::never_called/retry").unwrap();
    assert_eq!(retry.set_attempts(0).unwrap_err().field(), "attempts");
    let e = retry
        .set_backoff(Backoff::linear(
            Duration::from_secs(2),
            Duration::from_secs(1),
        ))
        .unwrap_err();
    assert_eq!(e.field(), "backoff");
    assert_eq!(retry.attempts(), 4);
}

#[test]
fn min_calls_above_the_window_is_an_error_as_in_the_attribute() {
    let before = GAUGE.settings();
    // GAUGE has the default window of 100 calls.
    let e = registry::set("GAUGE", "min_calls", "200").unwrap_err();
    assert_eq!(e.field(), Some("min_calls"));
    assert_eq!(
        e.to_string(),
        "invalid `min_calls` for policy `GAUGE`: min_calls = 200 is more than the window of 100 calls, so the breaker could never trip; make it at most 100"
    );
    // Both in one change set are checked together: a larger window makes room.
    let mut changes = registry::ChangeSet::new();
    changes.set("GAUGE", "min_calls", "200").unwrap();
    changes.set("GAUGE", "window", "250").unwrap();
    changes.check().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(GAUGE.settings(), before);
}

#[test]
fn a_percentage_needs_its_sign_and_a_value_in_range_as_in_the_attribute() {
    let before = GAUGE.settings();
    for bare in ["0.5", "25", "50"] {
        let e = registry::set("GAUGE", "threshold", bare).unwrap_err();
        assert_eq!(e.field(), Some("threshold"));
        assert_eq!(
            e.to_string(),
            "invalid `threshold` for policy `GAUGE`: a percentage needs '%': threshold = 50%"
        );
    }
    let e = registry::set("GAUGE", "slow_threshold", "80").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid `slow_threshold` for policy `GAUGE`: a percentage needs '%': slow_threshold = 80%"
    );
    for out in ["0%", "150%", "-5%", "100.5%"] {
        let e = registry::set("GAUGE", "threshold", out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `threshold` for policy `GAUGE`: 'threshold' must be more than 0% and at most 100%: threshold = 50%",
            "{out}"
        );
    }
    for junk in ["inf%", "NaN%", "half%"] {
        let e = registry::set("GAUGE", "threshold", junk).unwrap_err();
        assert_eq!(e.kind(), RegistryErrorKind::InvalidValue, "{junk}");
    }
    assert_eq!(GAUGE.settings(), before);
    // The builders refuse the same range.
    assert_eq!(GAUGE.set_threshold(0.0).unwrap_err().field(), "threshold");
    assert_eq!(GAUGE.set_threshold(100.5).unwrap_err().field(), "threshold");
    assert_eq!(GAUGE.settings(), before);
}

#[tokio::test(start_paused = true)]
async fn a_window_changes_by_name_and_starts_empty_keeping_the_state() {
    let breaker = registry::circuit_breaker("registry::resized/circuit_breaker").unwrap();
    for _ in 0..3 {
        let _ = resized(true).await;
    }
    assert_eq!(breaker.metrics().window_calls, 3);
    // A window below the min_calls it was declared with could never trip.
    let e = registry::set("registry::resized/circuit_breaker", "window", "4").unwrap_err();
    assert_eq!(e.field(), Some("window"));
    assert_eq!(
        e.to_string(),
        "invalid `window` for policy `registry::resized/circuit_breaker`: window = 4 is less than min_calls = 10, so the breaker could never trip; make the window at least 10, or lower min_calls first"
    );
    assert_eq!(breaker.metrics().window_calls, 3);
    registry::set("registry::resized/circuit_breaker", "min_calls", "4").unwrap();
    registry::set("registry::resized/circuit_breaker", "window", "4").unwrap();
    let p = registry::snapshot();
    let p = p.get("registry::resized/circuit_breaker").unwrap();
    assert_eq!(
        (p.setting("window"), p.setting("min_calls")),
        (Some("4"), Some("4"))
    );
    assert_eq!(breaker.metrics().window_calls, 0);
    // Two failures of four trip the new window.
    for fail in [true, false, true, false] {
        let _ = resized(fail).await;
    }
    assert_eq!(breaker.state(), State::Open);
    registry::set("registry::resized/circuit_breaker", "window", "60s").unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        breaker.settings().window_time(Duration::from_secs(60)),
        breaker.settings()
    );
}

#[allow(dead_code)]
#[circuit_breaker(window = 10, min_calls = 10, threshold = 50%, open = 30s)]
async fn resized(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

#[test]
fn a_change_set_applies_every_change_or_none() {
    let mut changes = registry::ChangeSet::new();
    changes
        .set("registry::same_names::get/retry#2", "attempts", "7")
        .unwrap();
    changes.set("registry::query/bulkhead", "max", "0").unwrap();
    let e = changes.apply().unwrap_err();
    assert_eq!(e.field(), Some("max"));
    assert_eq!(
        registry::retry("registry::same_names::get/retry#2")
            .unwrap()
            .attempts(),
        3
    );
    assert_eq!(
        registry::bulkhead("registry::query/bulkhead")
            .unwrap()
            .max(),
        2
    );
}

#[bulkhead(max = 4, queue = 100)]
#[circuit_breaker(threshold = 50%, window = 20, min_calls = 10, open = 1s, half_open = 2)]
async fn busy(i: u32) -> Result<(), ApiError> {
    sleep(Duration::from_millis(u64::from(i % 7))).await;
    if i.is_multiple_of(5) {
        Err(ApiError::Down)
    } else {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_reconfiguration_while_calls_run_keeps_every_invariant() {
    let _turn = EVENTS.lock().await;
    let breaker = registry::circuit_breaker("registry::busy/circuit_breaker").unwrap();
    let slots = registry::bulkhead("registry::busy/bulkhead").unwrap();
    let calls: Vec<_> = (0..400u32)
        .map(|i| tokio::spawn(async move { busy(i).await }))
        .collect();
    let reconfigure = tokio::spawn(async move {
        for round in 0..50u32 {
            slots.set_max(1 + round % 4).unwrap();
            assert!(slots.in_use() <= 4);
            breaker.set_threshold(f64::from(20 + round % 60)).unwrap();
            registry::set("registry::busy/circuit_breaker", "open", "200ms").unwrap();
            tokio::task::yield_now().await;
        }
    });
    for call in calls {
        let _ = call.await.unwrap();
    }
    reconfigure.await.unwrap();
    let m = breaker.metrics();
    assert_eq!(
        m.calls,
        m.successes + m.failures + m.ignored + m.rejections + m.cancelled
    );
    let b = slots.metrics();
    assert_eq!((b.in_use, b.queued), (0, 0));
    assert_eq!(
        b.calls,
        b.completed + b.rejections + b.cancelled + b.panicked
    );
    assert_eq!(
        registry::snapshot()
            .get("registry::busy/circuit_breaker")
            .unwrap()
            .setting("open"),
        Some("200ms")
    );
}

#[test]
fn health_is_up_degraded_or_down_with_the_reasons() {
    // Only this test operates ACCOUNTS and TREASURY; other tests open breakers of their own,
    // so look at these two reasons only.
    let mine = |h: &registry::Health| {
        h.reasons
            .iter()
            .filter(|r| r.policy == "ACCOUNTS" || r.policy == "TREASURY")
            .map(|r| (r.policy.clone(), r.state, r.status))
            .collect::<Vec<_>>()
    };
    ACCOUNTS.close();
    TREASURY.close();
    assert!(mine(&registry::health()).is_empty());

    ACCOUNTS.force_open();
    let h = registry::health();
    assert!(h.status >= Status::Degraded);
    assert_eq!(
        mine(&h),
        [("ACCOUNTS".to_owned(), State::ForcedOpen, Status::Degraded)]
    );

    TREASURY.force_open();
    let h = registry::health();
    assert_eq!(h.status, Status::Down);
    assert!(!h.is_ready());
    assert_eq!(h.http_status(), 503);
    assert!(h.to_string().starts_with("down: "), "{h}");
    assert!(
        h.to_json()
            .contains(r#"{"policy":"TREASURY","state":"forced_open","critical":true}"#)
    );
    ACCOUNTS.close();
    TREASURY.close();
}

#[bulkhead(max = 3)]
#[circuit_breaker(threshold = 50%, window = 20, min_calls = 10, open = 1ms, half_open = 2)]
#[retry(attempts = 2, backoff = fixed(1ms))]
async fn parallel(i: u32) -> Result<(), ApiError> {
    tokio::task::yield_now().await;
    if i.is_multiple_of(3) {
        Err(ApiError::Down)
    } else {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfiguration_from_another_thread_while_calls_run_in_parallel() {
    let _turn = EVENTS.lock().await;
    let reconfigure = std::thread::spawn(|| {
        let breaker = registry::circuit_breaker("registry::parallel/circuit_breaker").unwrap();
        let slots = registry::bulkhead("registry::parallel/bulkhead").unwrap();
        for round in 0..2_000u32 {
            slots.set_max(1 + round % 3).unwrap();
            breaker.set_half_open(1 + round % 3).unwrap();
            let attempts = (1 + round % 3).to_string();
            registry::set("registry::parallel/retry", "attempts", &attempts).unwrap();
            if round % 100 == 0 {
                assert!(registry::set("registry::parallel/retry", "attempts", "0").is_err());
            }
        }
    });
    let calls: Vec<_> = (0..2_000u32)
        .map(|i| tokio::spawn(async move { parallel(i).await }))
        .collect();
    for call in calls {
        let _ = call.await.unwrap();
    }
    reconfigure.join().unwrap();
    let m = registry::circuit_breaker("registry::parallel/circuit_breaker")
        .unwrap()
        .metrics();
    assert_eq!(
        m.calls,
        m.successes + m.failures + m.ignored + m.rejections + m.cancelled
    );
    let b = registry::bulkhead("registry::parallel/bulkhead")
        .unwrap()
        .metrics();
    assert_eq!((b.in_use, b.queued), (0, 0));
    assert!(
        registry::retry("registry::parallel/retry")
            .unwrap()
            .attempts()
            >= 1
    );
}

#[test]
fn another_librarys_setting_name_is_answered_with_ours() {
    let before = format!("{:?}", GAUGE.settings());
    let e = registry::set("GAUGE", "waitDurationInOpenState", "30s").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::UnknownSetting);
    assert_eq!(
        e.to_string(),
        "unknown setting `waitDurationInOpenState` for circuit_breaker `GAUGE`; resilience4j's waitDurationInOpenState is `open = 30s` here"
    );
    assert_eq!(format!("{:?}", GAUGE.settings()), before, "nothing changed");
}
