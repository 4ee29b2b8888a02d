//! The configuration file (feature `config`): named policies' settings from TOML and the
//! environment, with errors naming the file, line and key, and all-or-nothing reloads that
//! change only what they name.

#![cfg(feature = "config")]
#![allow(clippy::unwrap_used)]

mod common;

use common::ApiError;
use resilience::registry::{self, RegistryErrorKind, config};
use resilience::{State, retry};

resilience::policy! {
    static BILLING: CircuitBreaker = circuit_breaker(threshold = 50%, open = 30s);
    static BILLING_SLOTS: Bulkhead = bulkhead(max = 10, queue = 5);
    static CFG_CB: CircuitBreaker = circuit_breaker(threshold = 50%, open = 30s);
    static CFG_RETRY: Retry = retry(attempts = 3);
    static CFG_POOL: Bulkhead = bulkhead(max = 4, queue = 2);
}

#[allow(dead_code)]
#[retry(attempts = 3, backoff = fixed(100ms))]
async fn fetch() -> Result<(), ApiError> {
    Ok(())
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Loading a file changes settings for the whole process: the tests that load one take turns,
/// or one would see the other's settings.
static LOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    LOADING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn setting(name: &str, key: &str) -> Option<String> {
    registry::snapshot()
        .get(name)
        .and_then(|p| p.setting(key).map(str::to_owned))
}

#[test]
fn a_file_overrides_named_policies_and_a_reload_applies_what_it_names() {
    let _turn = take_turn();
    let file = r#"
[BILLING]
threshold = "25%"
open = "exponential(5s, max = 5m)"
window = "60s"

[BILLING_SLOTS]
max = 20
queue = 8
wait = "500ms"

["config::fetch/retry"]
attempts = 5
backoff = "exponential(50ms, max = 2s)"
"#;
    config::load_str("resilience.toml", file, env(&[])).unwrap();
    assert_eq!(setting("BILLING", "threshold").as_deref(), Some("25%"));
    assert_eq!(
        setting("BILLING", "open").as_deref(),
        Some("exponential(5s, max = 5m)")
    );
    assert_eq!(setting("BILLING", "window").as_deref(), Some("1m"));
    assert_eq!((BILLING_SLOTS.max(), BILLING_SLOTS.queue()), (20, 8));
    let retry = registry::retry("config::fetch/retry").unwrap();
    assert_eq!(retry.attempts(), 5);
    assert_eq!(retry.jitter(), resilience::Jitter::Full);

    // A failed reload changes nothing.
    let broken = "[BILLING]\nthreshold = \"10%\"\n[BILLING_SLOTS]\nmax = 0\n";
    let e = config::load_str("resilience.toml", broken, env(&[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resilience.toml:4:1: invalid `max` for policy `BILLING_SLOTS`: must be at least 1: write max = 10"
    );
    assert_eq!(setting("BILLING", "threshold").as_deref(), Some("25%"));
    assert_eq!(BILLING_SLOTS.max(), 20);

    // A reload applies what it names, on top of the settings as they are: what it no longer
    // names keeps the value the former load gave it.
    BILLING.force_open();
    config::load_str(
        "resilience.toml",
        "[BILLING]\nopen = \"10s\"\n",
        env(&[("RESILIENCE_BILLING_SLOTS__MAX", "12")]),
    )
    .unwrap();
    assert_eq!(setting("BILLING", "threshold").as_deref(), Some("25%"));
    assert_eq!(setting("BILLING", "open").as_deref(), Some("10s"));
    assert_eq!(setting("BILLING", "window").as_deref(), Some("1m"));
    assert_eq!((BILLING_SLOTS.max(), BILLING_SLOTS.queue()), (12, 8));
    assert_eq!(retry.attempts(), 5);
    // ... and the breaker's state is kept.
    assert_eq!(BILLING.state(), State::ForcedOpen);
    BILLING.close();
}

#[test]
fn a_reload_keeps_a_change_made_at_run_time_that_the_file_does_not_name() {
    let _turn = take_turn();
    let file = "[CFG_CB]\nthreshold = \"25%\"\n";
    config::load_str("resilience.toml", file, env(&[])).unwrap();
    registry::set("CFG_CB", "open", "5s").unwrap();
    config::load_str("resilience.toml", file, env(&[])).unwrap();
    assert_eq!(setting("CFG_CB", "open").as_deref(), Some("5s"));
    assert_eq!(setting("CFG_CB", "threshold").as_deref(), Some("25%"));
    // What the file names wins over a change at run time.
    registry::set("CFG_CB", "threshold", "75%").unwrap();
    config::load_str("resilience.toml", file, env(&[])).unwrap();
    assert_eq!(setting("CFG_CB", "threshold").as_deref(), Some("25%"));
    assert_eq!(setting("CFG_CB", "open").as_deref(), Some("5s"));
}

#[test]
fn toml_integers_in_hex_octal_or_binary_are_read_as_their_value() {
    let _turn = take_turn();
    let file = "[CFG_RETRY]\nattempts = 0x10\n[CFG_POOL]\nmax = 0o12\nqueue = 0b1_01\n";
    config::load_str("resilience.toml", file, env(&[])).unwrap();
    assert_eq!(CFG_RETRY.attempts(), 16);
    assert_eq!((CFG_POOL.max(), CFG_POOL.queue()), (10, 5));
    let file = "[CFG_RETRY]\nattempts = 1_0\n[CFG_POOL]\nmax = +7\n";
    config::load_str("resilience.toml", file, env(&[])).unwrap();
    assert_eq!((CFG_RETRY.attempts(), CFG_POOL.max()), (10, 7));
    let e = config::load_str("resilience.toml", "[CFG_POOL]\nmax = -0x1\n", env(&[]));
    assert!(e.is_err(), "TOML has no negative hex");
    let e = config::load_str("resilience.toml", "[CFG_POOL]\nmax = -3\n", env(&[])).unwrap_err();
    assert!(e.to_string().contains("`-3` is not a count"), "{e}");
    assert_eq!(CFG_POOL.max(), 7);
}

#[test]
fn a_file_of_forty_thousand_keys_is_read_and_located_line_by_line() {
    let _turn = take_turn();
    // Every key of the file is read and located before any is applied. Locating one is a
    // binary search in the lines' starts; it took seconds for such a file when each key's line
    // was counted from the start of the file.
    let mut file = String::from("[CFG_POOL]\nmax = 3\n");
    for i in 1..40_000 {
        file.push_str(&format!("setting_{i} = {i}\n"));
    }
    let e = config::load_str("big.toml", &file, env(&[])).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("big.toml:3:1: unknown setting `setting_1` for bulkhead `CFG_POOL`"),
        "{e}"
    );
    file.push_str("  broken = \n");
    let e = config::load_str("big.toml", &file, env(&[])).unwrap_err();
    assert!(e.to_string().starts_with("big.toml:40002:"), "{e}");
}

#[test]
fn unknown_names_and_keys_are_errors_with_file_line_key_and_did_you_mean() {
    let _turn = take_turn();
    let (open_before, threshold_before) =
        (setting("BILLING", "open"), setting("BILLING", "threshold"));
    let e = config::load_str("app.toml", "\n[BILING]\nopen = \"1s\"\n", env(&[])).unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::UnknownPolicy);
    assert_eq!(
        e.to_string(),
        "app.toml:2:2: no policy named `BILING` in the registry; did you mean `BILLING`?"
    );

    let e = config::load_str(
        "app.toml",
        "[BILLING]\nopen = \"1s\"\n  treshold = \"5%\"\n",
        env(&[]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "app.toml:3:3: unknown setting `treshold` for circuit_breaker `BILLING`; did you mean `threshold`?"
    );
    let location = e.location().unwrap();
    assert_eq!(
        (location.file.as_str(), location.line, location.column),
        ("app.toml", 3, 3)
    );

    let e = config::load_str("app.toml", "[BILLING]\nopen = \"30\"\n", env(&[])).unwrap_err();
    assert_eq!(e.field(), Some("open"));
    assert!(
        e.to_string()
            .starts_with("app.toml:2:1: invalid `open` for policy `BILLING`: `30` needs a unit"),
        "{e}"
    );

    // A percentage needs its `%`, as in the attribute: 0.5 is neither 50% nor 0.5%.
    for bare in ["0.5", "25", "\"25\""] {
        let file = format!("[BILLING]\nthreshold = {bare}\n");
        let e = config::load_str("app.toml", &file, env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "app.toml:2:1: invalid `threshold` for policy `BILLING`: a percentage needs '%': threshold = 50%",
            "{bare}"
        );
    }
    let e = config::load_str("app.toml", "[BILLING]\nthreshold = \"0%\"\n", env(&[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "app.toml:2:1: invalid `threshold` for policy `BILLING`: 'threshold' must be more than 0% and at most 100%: threshold = 50%"
    );
    let e = config::load_str(
        "app.toml",
        "",
        env(&[("RESILIENCE_BILLING__THRESHOLD", "25")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("a percentage needs '%'"), "{e}");

    // CFG_CB keeps its count window of 100 calls.
    let e = config::load_str("app.toml", "[CFG_CB]\nmin_calls = 200\n", env(&[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "app.toml:2:1: invalid `min_calls` for policy `CFG_CB`: min_calls = 200 is more than the window of 100 calls, so the breaker could never trip; make it at most 100"
    );

    let e = config::load_str("app.toml", "[BILLING]\nopen = [1]\n", env(&[])).unwrap_err();
    assert!(e.to_string().contains("expected a string"), "{e}");

    let e = config::load_str("app.toml", "[BILLING\n", env(&[])).unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::File);
    assert!(e.to_string().starts_with("app.toml:1:"), "{e}");

    let e =
        config::load_str("app.toml", "", env(&[("RESILIENCE_BILLING__OPPEN", "1s")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable `RESILIENCE_BILLING__OPPEN` names no policy setting; did you mean `RESILIENCE_BILLING__OPEN`?"
    );
    // None of the failed loads changed anything.
    assert_eq!(setting("BILLING", "open"), open_before);
    assert_eq!(setting("BILLING", "threshold"), threshold_before);
}

#[test]
fn environment_variable_names_follow_the_registry_names() {
    assert_eq!(
        config::env_var("shop::stock::fetch/retry", "attempts"),
        "RESILIENCE_SHOP__STOCK__FETCH_RETRY__ATTEMPTS"
    );
    assert_eq!(
        config::env_var("PAYMENTS", "open"),
        "RESILIENCE_PAYMENTS__OPEN"
    );
}

/// Set in the child process of `a_variable_that_is_not_utf8_does_not_break_a_load`: what it
/// checks there.
const CHILD: &str = "CONFIG_TEST_NOT_UTF8_CHILD";

#[test]
fn a_variable_that_is_not_utf8_does_not_break_a_load() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let not_utf8 = OsStr::from_bytes(b"caf\xe9");
    match std::env::var(CHILD).as_deref() {
        // In the child: the process's own environment holds the variables set below.
        Ok(mode) => {
            let path = std::env::temp_dir().join(format!(
                "resilience-config-test-{}.toml",
                std::process::id()
            ));
            std::fs::write(&path, "[BILLING_SLOTS]\nqueue = 6\n").unwrap();
            let loaded = config::load(&path);
            std::fs::remove_file(&path).unwrap();
            match mode {
                "others" => {
                    loaded.unwrap();
                    assert_eq!(BILLING_SLOTS.queue(), 6);
                }
                _ => {
                    let e = loaded.unwrap_err();
                    assert_eq!(e.kind(), RegistryErrorKind::File);
                    assert_eq!(
                        e.to_string(),
                        "environment variable `RESILIENCE_BILLING_SLOTS__MAX` is not valid UTF-8: write its name and value in UTF-8"
                    );
                }
            }
        }
        Err(_) => {
            for (mode, var) in [
                // Not ours: skipped.
                ("others", OsStr::new("LANG_NOT_UTF8")),
                ("others", OsStr::from_bytes(b"NAME_\xff")),
                // Ours: an error, not a panic.
                ("ours", OsStr::new("RESILIENCE_BILLING_SLOTS__MAX")),
            ] {
                let output = std::process::Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "a_variable_that_is_not_utf8_does_not_break_a_load",
                    ])
                    .env(CHILD, mode)
                    .env(var, not_utf8)
                    .output()
                    .unwrap();
                assert!(
                    output.status.success()
                        && String::from_utf8_lossy(&output.stdout).contains("1 passed"),
                    "{mode} {var:?}: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

/// The `[fleet]` table holds the fleet backend's deployment settings (read by
/// `resilience::redis`): the registry's loader leaves it to the backend.
#[test]
fn the_fleet_table_is_left_to_the_fleet_backend() {
    let _turn = take_turn();
    let file =
        "[CFG_POOL]\nmax = 6\n\n[fleet]\nurl = \"redis://10.0.0.5:6379\"\ndeadline = \"20ms\"\n";
    config::load_str("resilience.toml", file, env(&[])).unwrap();
    assert_eq!(setting("CFG_POOL", "max").as_deref(), Some("6"));
    registry::reset("CFG_POOL").unwrap();
}
