//! Two `policy!` statics of different modules with one name (issue 12): each is listed,
//! reports itself and is configured by its path; the shared name is an error, never a guess.

#![allow(clippy::unwrap_used)]

mod common;

use common::ApiError;
use resilience::event::EventKind;
use resilience::registry::{self, RegistryErrorKind};
use resilience::{ErrorKind, circuit_breaker};

mod orders {
    resilience::policy! {
        pub static DB: Bulkhead = bulkhead(max = 1);
        pub static GATE: CircuitBreaker = circuit_breaker(failures = 5);
    }
}

mod billing {
    resilience::policy! {
        pub static DB: Bulkhead = bulkhead(max = 2);
        pub static GATE: CircuitBreaker = circuit_breaker(failures = 5);
    }
}

mod ledger {
    resilience::policy! {
        pub static LEDGER_DB: Bulkhead = bulkhead(max = 3);
    }
}

const ORDERS_DB: &str = "ambiguous_names::orders::DB";
const BILLING_DB: &str = "ambiguous_names::billing::DB";
const ORDERS_GATE: &str = "ambiguous_names::orders::GATE";
const BILLING_GATE: &str = "ambiguous_names::billing::GATE";

const DB_IS_AMBIGUOUS: &str = "`DB` is ambiguous: 2 policies are named `DB`, \
    `ambiguous_names::billing::DB` and `ambiguous_names::orders::DB`; write one of those names, \
    or give each its own `name = \"...\"` where it is declared";

/// The tests that change the `DB` bulkheads' settings take turns, and leave them as declared.
static CHANGING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    let turn = CHANGING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry::reset(ORDERS_DB).unwrap();
    registry::reset(BILLING_DB).unwrap();
    turn
}

#[circuit_breaker(orders::GATE)]
async fn place_order() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(billing::GATE)]
async fn charge() -> Result<u32, ApiError> {
    Ok(2)
}

#[test]
fn statics_sharing_a_name_are_listed_by_their_paths_and_the_name_by_neither() {
    let names = registry::names();
    for path in [ORDERS_DB, BILLING_DB, ORDERS_GATE, BILLING_GATE] {
        assert!(
            names.iter().any(|n| n == path),
            "{path} missing from {names:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("DB") || n.starts_with("GATE")),
        "{names:?}"
    );
    // A name no other static shares stays as it is.
    assert!(names.iter().any(|n| n == "LEDGER_DB"), "{names:?}");
    assert_eq!(ledger::LEDGER_DB.name(), "LEDGER_DB");
    let snapshot = registry::snapshot();
    assert_eq!(snapshot.get(ORDERS_DB).unwrap().setting("max"), Some("1"));
    assert!(snapshot.get("DB").is_none());
}

#[test]
fn each_static_reports_its_path_as_its_name() {
    assert_eq!(orders::DB.name(), ORDERS_DB);
    assert_eq!(billing::DB.name(), BILLING_DB);
    assert_eq!(orders::GATE.name(), ORDERS_GATE);
    assert_eq!(
        format!("{:?}", billing::GATE),
        format!("CircuitBreaker {{ name: \"{BILLING_GATE}\", state: Closed, .. }}")
    );
}

#[tokio::test(start_paused = true)]
async fn rejections_and_events_name_the_static_by_its_path() {
    let mut events = registry::subscribe();
    billing::GATE.force_open();
    let rejected = charge().await.unwrap_err();
    billing::GATE.close();
    let ApiError::Rejected(error) = rejected else {
        panic!("expected a rejection, got {rejected:?}");
    };
    assert_eq!(error.kind(), ErrorKind::CircuitOpen);
    assert_eq!(error.policy(), BILLING_GATE);
    assert!(error.to_string().contains(BILLING_GATE), "{error}");
    // The other static of that name is untouched, and says so under its own path.
    assert_eq!(place_order().await, Ok(1));

    let seen: Vec<_> = events.drain();
    let rejections: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e.what, EventKind::Rejected { .. }))
        .map(|e| e.policy)
        .collect();
    assert!(rejections.contains(&BILLING_GATE), "{seen:?}");
    assert!(
        seen.iter().all(|e| e.policy != "GATE" && e.policy != "DB"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| e.policy == ORDERS_GATE && e.what == EventKind::Success),
        "{seen:?}"
    );
}

#[test]
fn a_lookup_by_the_shared_name_is_ambiguous_and_names_both_paths() {
    let e = registry::get("DB").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::Ambiguous);
    assert_eq!(e.to_string(), DB_IS_AMBIGUOUS);
    assert_eq!(e.policy(), Some("DB"));
    assert_eq!(e.suggestions(), [BILLING_DB, ORDERS_DB]);

    let e = registry::bulkhead("DB").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::Ambiguous);
    assert_eq!(e.to_string(), DB_IS_AMBIGUOUS);
    assert_eq!(
        registry::circuit_breaker("GATE").unwrap_err().kind(),
        RegistryErrorKind::Ambiguous
    );
    assert_eq!(
        registry::reset("DB").unwrap_err().kind(),
        RegistryErrorKind::Ambiguous
    );
}

#[test]
fn a_change_by_the_shared_name_is_refused_and_changes_nothing() {
    let _turn = take_turn();
    let e = registry::set("DB", "max", "5").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::Ambiguous);
    assert_eq!(e.to_string(), DB_IS_AMBIGUOUS);
    assert_eq!((orders::DB.max(), billing::DB.max()), (1, 2));
}

#[test]
fn lookups_and_changes_by_path_reach_that_static_only() {
    let _turn = take_turn();
    let orders = registry::bulkhead(ORDERS_DB).unwrap();
    assert!(std::ptr::eq(orders, &orders::DB));
    assert!(std::ptr::eq(
        registry::bulkhead(BILLING_DB).unwrap(),
        &billing::DB
    ));
    registry::set(ORDERS_DB, "max", "7").unwrap();
    assert_eq!((orders::DB.max(), billing::DB.max()), (7, 2));
    registry::reset(ORDERS_DB).unwrap();
    assert_eq!(orders::DB.max(), 1);
}

#[cfg(feature = "config")]
mod config {
    use super::*;
    use resilience::registry::config;

    #[test]
    fn a_section_of_the_shared_name_is_an_error_naming_both_paths() {
        let _turn = take_turn();
        let toml = "[DB]\nmax = 5\n";
        let e = config::load_str("resilience.toml", toml, []).unwrap_err();
        assert_eq!(e.kind(), RegistryErrorKind::Ambiguous);
        assert_eq!(
            e.to_string(),
            format!("resilience.toml:1:2: {DB_IS_AMBIGUOUS}")
        );
        assert_eq!((orders::DB.max(), billing::DB.max()), (1, 2));
    }

    #[test]
    fn sections_named_by_path_configure_each_static() {
        let _turn = take_turn();
        let toml = "[\"ambiguous_names::orders::DB\"]\nmax = 5\n\n\
                    [\"ambiguous_names::billing::DB\"]\nmax = 6\n";
        config::load_str("resilience.toml", toml, []).unwrap();
        assert_eq!((orders::DB.max(), billing::DB.max()), (5, 6));
        registry::reset(ORDERS_DB).unwrap();
        registry::reset(BILLING_DB).unwrap();
    }

    #[test]
    fn an_environment_variable_of_the_shared_name_is_an_error_and_one_of_a_path_works() {
        let _turn = take_turn();
        let e = config::load_str(
            "resilience.toml",
            "",
            [("RESILIENCE_DB__MAX".to_owned(), "5".to_owned())],
        )
        .unwrap_err();
        assert_eq!(e.kind(), RegistryErrorKind::Ambiguous);
        assert_eq!(e.to_string(), DB_IS_AMBIGUOUS);

        assert_eq!(
            config::env_var(BILLING_DB, "max"),
            "RESILIENCE_AMBIGUOUS_NAMES__BILLING__DB__MAX"
        );
        config::load_str(
            "resilience.toml",
            "",
            [(config::env_var(BILLING_DB, "max"), "4".to_owned())],
        )
        .unwrap();
        assert_eq!((orders::DB.max(), billing::DB.max()), (1, 4));
        registry::reset(BILLING_DB).unwrap();
    }
}
