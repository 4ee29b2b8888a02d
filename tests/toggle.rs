//! Feature toggles: a degraded mode an operator switches by name, serving the fallback without
//! calling what is below, in virtual time.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ApiError, Calls};
use resilience::registry::{self, Status};
use resilience::{ErrorKind, EventKind, Failure, PolicyKind, circuit_breaker, fallback, retry};

resilience::policy! {
    /// Recommendations served from the popular items, without calling the service.
    static RECOMMENDATIONS_OFF: Toggle = toggle();
    /// One toggle over two functions, switched by the configuration file.
    static SEARCH_OFF: Toggle = toggle();
    /// Declared on: the degraded mode is the default until an operator turns it off.
    static BETA_OFF: Toggle = toggle(on = true);
}

/// The event channel keeps the last `resilience::event::CAPACITY` events for a subscriber;
/// these tests make few calls, but take turns all the same with the one that subscribes.
static EVENTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

static SERVICE_CALLS: Calls = Calls::new();

/// What the fallback was handed, as the kind of its rejection.
fn popular(user: u64, failure: Failure<ApiError>) -> Result<Vec<u64>, ApiError> {
    let _ = user;
    match failure.rejection().map(|r| (r.kind(), r.policy())) {
        Some((ErrorKind::Degraded, "RECOMMENDATIONS_OFF")) => Ok(vec![0]),
        _ => Ok(vec![1]),
    }
}

#[fallback(popular, degraded = RECOMMENDATIONS_OFF)]
#[retry(attempts = 3, backoff = fixed(10ms))]
async fn recommendations(user: u64) -> Result<Vec<u64>, ApiError> {
    SERVICE_CALLS.hit();
    Ok(vec![user])
}

#[tokio::test(start_paused = true)]
async fn while_on_the_fallback_is_served_and_nothing_below_runs() {
    let _turn = EVENTS.lock().await;
    let mut events = registry::subscribe();
    assert_eq!(recommendations(7).await, Ok(vec![7]));
    assert_eq!(SERVICE_CALLS.get(), 1);

    registry::set("RECOMMENDATIONS_OFF", "on", "true").unwrap();
    // The fallback is handed the toggle's `Degraded` rejection: it serves the popular items.
    assert_eq!(recommendations(7).await, Ok(vec![0]));
    assert_eq!(recommendations(8).await, Ok(vec![0]));
    assert_eq!(SERVICE_CALLS.get(), 1, "the service was not called");
    // Not an incident: health stays up, every replica ready.
    assert_eq!(registry::health().status, Status::Up);
    let m = RECOMMENDATIONS_OFF.metrics();
    assert!(m.on);
    assert_eq!((m.served, m.switched), (2, 1));
    let row = registry::snapshot();
    let row = row.get("RECOMMENDATIONS_OFF").unwrap();
    assert_eq!(row.setting("on"), Some("true"));
    assert_eq!(row.calls(), Some(2));

    registry::toggle("RECOMMENDATIONS_OFF").unwrap().turn_off();
    assert_eq!(recommendations(9).await, Ok(vec![9]));
    assert_eq!(SERVICE_CALLS.get(), 2);

    let seen: Vec<EventKind> = events
        .drain()
        .into_iter()
        .filter(|e| e.policy == "RECOMMENDATIONS_OFF")
        .map(|e| {
            assert_eq!(e.kind, PolicyKind::Toggle);
            e.what
        })
        .collect();
    assert_eq!(
        seen,
        [
            EventKind::Switched { on: true },
            EventKind::Degraded,
            EventKind::Degraded,
            EventKind::Switched { on: false },
        ]
    );
}

static SEARCH_CALLS: Calls = Calls::new();

fn no_results(_query: &str, _failure: Failure<ApiError>) -> Result<u32, ApiError> {
    Ok(0)
}

#[circuit_breaker(failures = 2, open = 30s, fallback = no_results, degraded = SEARCH_OFF)]
async fn search(query: &str) -> Result<u32, ApiError> {
    let _ = query;
    SEARCH_CALLS.hit();
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_toggle_on_a_breakers_fallback_keeps_the_breaker_out_of_it() {
    registry::set("SEARCH_OFF", "on", "true").unwrap();
    for _ in 0..5 {
        assert_eq!(search("rust").await, Ok(0));
    }
    assert_eq!(SEARCH_CALLS.get(), 0);
    // The breaker saw no call: degraded calls are neither failures nor rejections.
    let breaker = registry::circuit_breaker(concat!(module_path!(), "::search/circuit_breaker"))
        .unwrap()
        .metrics();
    assert_eq!(
        (breaker.calls, breaker.failures, breaker.rejections),
        (0, 0, 0)
    );
    assert_eq!(SEARCH_OFF.metrics().served, 5);
    // A wrong value is refused with the option's words, and changes nothing.
    let e = registry::set("SEARCH_OFF", "on", "maybe").unwrap_err();
    assert!(e.to_string().contains("true or false"), "{e}");
    assert!(SEARCH_OFF.is_on());
}

#[cfg(feature = "config")]
static FILE_OFF: resilience::Toggle = match resilience::Toggle::builder("FILE_OFF").build() {
    Ok(t) => t,
    Err(_) => panic!("invalid toggle"),
};

#[cfg(feature = "config")]
#[test]
fn the_configuration_file_switches_a_toggle_and_refuses_what_is_not_a_boolean() {
    registry::register(&FILE_OFF);
    registry::config::load_str("resilience.toml", "[FILE_OFF]\non = true\n", []).unwrap();
    assert!(FILE_OFF.is_on());
    let e = registry::config::load_str("resilience.toml", "[FILE_OFF]\non = \"maybe\"\n", [])
        .unwrap_err();
    assert!(e.to_string().contains("true or false"), "{e}");
    assert!(FILE_OFF.is_on());
}

fn stable(_failure: Failure<ApiError>) -> Result<&'static str, ApiError> {
    Ok("stable")
}

#[fallback(stable, degraded = BETA_OFF)]
async fn beta() -> Result<&'static str, ApiError> {
    Ok("beta")
}

#[tokio::test(start_paused = true)]
async fn a_toggle_declared_on_starts_on_and_reset_puts_it_back() {
    assert_eq!(beta().await, Ok("stable"));
    registry::set("BETA_OFF", "on", "false").unwrap();
    assert_eq!(beta().await, Ok("beta"));
    registry::reset("BETA_OFF").unwrap();
    assert!(BETA_OFF.is_on());
    assert_eq!(BETA_OFF.metrics().served, 0);
}
