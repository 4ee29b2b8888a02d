//! The option table's cross-check: for every setting in `resilience_syntax::options`, the
//! attribute, `registry::set`, the configuration file and the environment accept and refuse the
//! same values.
//!
//! Each setting is tried with the values a user might write for it, good and bad: the table's
//! bounds and one past them, zero, other kinds of values, misspellings. The four readers must
//! agree on every one. The one difference is by design and checked too: at run time an
//! optional setting takes the word that turns it off again (`slow = "off"`), which an
//! attribute says by leaving the option out.

use std::time::Duration;

use proc_macro2::Span;
use resilience_runtime::registry::{self, config};
use resilience_runtime::{
    Bulkhead, Cache, Chaos, CircuitBreaker, Hedge, Idempotency, RateLimiter, Retry, RetryBudget,
    Timeout, Toggle,
};
use resilience_syntax::options::{self, OptionSpec, ValueKind};

use crate::attr::Args;
use crate::model::Kind;
use crate::validate::{Ctxt, Site, layer};

/// The options an attribute needs beside the one tried: `(key, value)`.
type Base = &'static [(&'static str, &'static str)];

/// The kinds with settings, each with the options its attribute needs beside the one tried
/// (positional first), and the policy the runtime's readers change, built with the same.
fn kinds() -> Vec<(Kind, Base, &'static str)> {
    static BREAKER: CircuitBreaker = match CircuitBreaker::builder("agree/circuit_breaker")
        .slow(Duration::from_secs(2))
        .build()
    {
        Ok(p) => p,
        Err(_) => panic!("invalid breaker"),
    };
    static RETRY: Retry = match Retry::builder("agree/retry").build() {
        Ok(p) => p,
        Err(_) => panic!("invalid retry"),
    };
    static TIMEOUT: Timeout = match Timeout::builder("agree/timeout")
        .duration(Duration::from_secs(2))
        .build()
    {
        Ok(p) => p,
        Err(_) => panic!("invalid timeout"),
    };
    static BULKHEAD: Bulkhead = match Bulkhead::builder("agree/bulkhead").max(10).queue(5).build() {
        Ok(p) => p,
        Err(_) => panic!("invalid bulkhead"),
    };
    static LIMITER: RateLimiter = match RateLimiter::builder("agree/rate_limiter")
        .rate(100, Duration::from_secs(1))
        .build()
    {
        Ok(p) => p,
        Err(_) => panic!("invalid rate limiter"),
    };
    registry::register(&BREAKER);
    registry::register(&RETRY);
    registry::register(&TIMEOUT);
    registry::register(&BULKHEAD);
    registry::register(&LIMITER);
    // The same delay as its attribute's, so `latency` alone is valid on both sides.
    static CHAOS: Chaos = match Chaos::builder("agree/chaos")
        .delay(Duration::from_secs(1), Duration::from_secs(2))
        .build()
    {
        Ok(p) => p,
        Err(_) => panic!("invalid chaos"),
    };
    registry::register(&CHAOS);
    static IDEMPOTENCY: Idempotency = match Idempotency::builder("agree/idempotent").check() {
        Ok(checked) => checked.build(),
        Err(_) => panic!("invalid idempotency store"),
    };
    registry::register(&IDEMPOTENCY);
    static CACHE: Cache = match Cache::builder("agree/cache")
        .ttl(Duration::from_secs(30))
        .check()
    {
        Ok(checked) => checked.build(),
        Err(_) => panic!("invalid cache"),
    };
    registry::register(&CACHE);
    static HEDGE: Hedge = match Hedge::builder("agree/hedge").after_percentile(950).build() {
        Ok(p) => p,
        Err(_) => panic!("invalid hedge"),
    };
    registry::register(&HEDGE);
    vec![
        (
            Kind::CircuitBreaker,
            &[("slow", "2s")],
            "agree/circuit_breaker",
        ),
        (Kind::Retry, &[], "agree/retry"),
        (Kind::Timeout, &[("duration", "2s")], "agree/timeout"),
        (
            Kind::Bulkhead,
            &[("max", "10"), ("queue", "5")],
            "agree/bulkhead",
        ),
        (
            Kind::RateLimiter,
            &[("rate", "100/s")],
            "agree/rate_limiter",
        ),
        (
            Kind::Chaos,
            &[
                ("delay", "1s..2s"),
                ("error_with", "make_error"),
                ("outcome_with", "make_outcome"),
            ],
            "agree/chaos",
        ),
        (Kind::Idempotent, &[("key", "order.id")], "agree/idempotent"),
        (Kind::Cache, &[("ttl", "30s")], "agree/cache"),
        (Kind::Hedge, &[("after", "p95")], "agree/hedge"),
    ]
}

/// Values to try for a setting: what the table says of it, and what a user might write
/// instead.
fn candidates(spec: &OptionSpec) -> Vec<String> {
    let words: &[&str] = match spec.value {
        ValueKind::Count => &[
            "0",
            "1",
            "3",
            "10",
            "1_000",
            "4294967295",
            "4294967296",
            "-1",
            "1.5",
            "10s",
            "50%",
            "abc",
            "true",
        ],
        ValueKind::Percent => &[
            "50%", "12.5%", "100%", "0%", "100.5%", "-5%", "50", "0.5", "50s", "abc", "true",
        ],
        ValueKind::Duration => &[
            "2s", "500ms", "1.5s", "2m", "1h", "0ms", "0s", "30", "30d", "-1s", "abc", "50%",
            "true",
        ],
        ValueKind::Bool => &["true", "false", "yes", "1", "abc"],
        ValueKind::Rate => &[
            "100/s", "6000/m", "10/h", "5/ms", "0/s", "100", "100/d", "abc", "-1/s",
        ],
        ValueKind::Window => &[
            "100", "1", "1000", "1001", "0", "60s", "0s", "500ms", "abc", "50%",
        ],
        ValueKind::Open => &[
            "30s",
            "0s",
            "exponential(5s, max = 5m)",
            "exponential(5m, max = 5s)",
            "exponential(5s)",
            "linear(5s, max = 5m)",
            "abc",
            "30",
        ],
        ValueKind::Backoff => &[
            "fixed(500ms)",
            "linear(100ms, max = 2s)",
            "exponential(100ms, max = 10s)",
            "exponential(50ms, factor = 3, max = 1m)",
            "fixed(0ms)",
            "exponential(100ms)",
            "exponential(10s, max = 1s)",
            "linear(100ms)",
            "abc",
            "500ms",
        ],
        ValueKind::Jitter => &["none", "full", "equal", "decorrelated", "half", "50%"],
        ValueKind::DurationRange => &[
            "200ms..2s",
            "2s..200ms",
            "1s..1s",
            "1s",
            "0ms..1s",
            "0s",
            "1s..",
            "abc",
            "50%",
        ],
        ValueKind::Algorithm => &["gradient2", "aimd", "vegas", "Gradient2", "50%", "1"],
        ValueKind::Delay => &[
            "50ms", "p95", "p99.9", "p50", "p49.9", "p100", "p99.95", "0ms", "95", "p", "pp95",
            "abc", "50%", "1.5s",
        ],
        ValueKind::Text
        | ValueKind::Callable
        | ValueKind::CratePath
        | ValueKind::Expression
        | ValueKind::Budget
        | ValueKind::Toggle => &[],
    };
    let mut out: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    if spec.value == ValueKind::Count {
        for bound in [spec.min.saturating_sub(1), spec.min, spec.max, spec.max + 1] {
            out.push(bound.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether the attribute `#[kind(base.., key = value)]` compiles.
fn attribute_takes(kind: Kind, base: &[(&str, &str)], spec: &OptionSpec, value: &str) -> bool {
    let mut parts = Vec::new();
    let mut positional = None;
    for (key, v) in base {
        let is_positional = options::get(kind.attr_name(), key).is_some_and(|o| o.positional);
        if *key == spec.name {
            continue;
        }
        if is_positional {
            positional = Some((*v).to_owned());
        } else {
            parts.push(format!("{key} = {v}"));
        }
    }
    if spec.positional {
        positional = Some(value.to_owned());
    } else {
        parts.push(format!("{} = {value}", spec.name));
    }
    if let Some(p) = positional {
        parts.insert(0, p);
    }
    let src = parts.join(", ");
    let Ok(args) = syn::parse_str::<Args>(&src) else {
        return false;
    };
    let mut cx = Ctxt::default();
    let _ = layer(kind, &args, Span::call_site(), Site::Attribute, &mut cx);
    cx.finish().is_ok()
}

/// `value` as a TOML value: numbers and booleans bare, the rest a string.
fn toml(value: &str) -> String {
    let number = value.parse::<i64>().is_ok() || value.parse::<f64>().is_ok_and(f64::is_finite);
    if number || matches!(value, "true" | "false") {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

#[test]
fn the_attribute_registry_set_the_file_and_the_environment_take_the_same_values() {
    let kinds_with_base = kinds();
    let mut disagreements = Vec::new();
    let mut tried = 0;
    for &(kind, base, name) in &kinds_with_base {
        for spec in options::of(kind.attr_name()).filter(|o| o.setting && !o.run_time_only) {
            for value in candidates(spec) {
                // A word where a positional value goes names a shared policy
                // (`#[timeout(API)]`): not a value of the setting.
                if spec.positional && syn::parse_str::<syn::Ident>(&value).is_ok() {
                    continue;
                }
                tried += 1;
                let attribute = attribute_takes(kind, base, spec, &value);
                registry::reset_all();
                let set = registry::set(name, spec.name, &value).is_ok();
                registry::reset_all();
                let file = config::load_str(
                    "agree.toml",
                    &format!("[{name:?}]\n{} = {}\n", spec.name, toml(&value)),
                    [],
                )
                .is_ok();
                registry::reset_all();
                let env = config::load_str(
                    "agree.toml",
                    "",
                    [(config::env_var(name, spec.name), value.clone())],
                )
                .is_ok();
                registry::reset_all();
                if !(attribute == set && set == file && file == env) {
                    disagreements.push(format!(
                        "{}({} = {value}): attribute {attribute}, set {set}, file {file}, env {env}",
                        kind.attr_name(),
                        spec.name
                    ));
                }
            }
        }
    }
    assert!(tried > 200, "{tried} values tried");
    assert!(
        disagreements.is_empty(),
        "the readers disagree on:\n{}",
        disagreements.join("\n")
    );

    // The word that turns a setting off is for run time only. (In this test, not one of its
    // own: the tests of this binary share the registry.)
    let kinds = kinds_with_base;
    let mut checked = 0;
    for spec in options::OPTIONS.iter().filter(|o| o.off.is_some()) {
        let (kind, base, name) = kinds
            .iter()
            .find(|(k, ..)| k.attr_name() == spec.kind)
            .expect("a kind with settings");
        let off = spec.off.expect("filtered");
        assert!(!attribute_takes(*kind, base, spec, off), "{}", spec.name);
        registry::reset_all();
        assert!(registry::set(name, spec.name, off).is_ok(), "{}", spec.name);
        registry::reset_all();
        checked += 1;
    }
    assert_eq!(checked, 8);
}

/// A retry budget has no attribute of its own: its values are written in `policy!` and in place
/// (`budget = retry_budget(ratio = 20%)`), both read by one parser, and must agree with
/// `registry::set`, the file and the environment all the same.
#[test]
fn a_retry_budget_in_place_and_by_name_take_the_same_values() {
    static BUDGET: RetryBudget = match RetryBudget::builder("agree/retry_budget").build() {
        Ok(p) => p,
        Err(_) => panic!("invalid retry budget"),
    };
    registry::register(&BUDGET);
    let name = "agree/retry_budget";
    let mut disagreements = Vec::new();
    let mut tried = 0;
    for spec in options::of("retry_budget").filter(|o| o.setting) {
        let mut values = candidates(spec);
        values.extend(["1s", "2h", "3600s", "3601s"].map(str::to_owned));
        for value in values {
            tried += 1;
            let src = format!("budget = retry_budget({} = {value})", spec.name);
            let attribute = syn::parse_str::<Args>(&src).is_ok_and(|args| {
                let mut cx = Ctxt::default();
                let _ = layer(
                    Kind::Retry,
                    &args,
                    Span::call_site(),
                    Site::Attribute,
                    &mut cx,
                );
                cx.finish().is_ok()
            });
            BUDGET.reset();
            let set = registry::set(name, spec.name, &value).is_ok();
            BUDGET.reset();
            let file = config::load_str(
                "agree.toml",
                &format!("[{name:?}]\n{} = {}\n", spec.name, toml(&value)),
                [],
            )
            .is_ok();
            BUDGET.reset();
            let env = config::load_str(
                "agree.toml",
                "",
                [(config::env_var(name, spec.name), value.clone())],
            )
            .is_ok();
            BUDGET.reset();
            if !(attribute == set && set == file && file == env) {
                disagreements.push(format!(
                    "retry_budget({} = {value}): attribute {attribute}, set {set}, file {file}, env {env}",
                    spec.name
                ));
            }
        }
    }
    assert!(tried > 30, "{tried} values tried");
    assert!(
        disagreements.is_empty(),
        "the readers disagree on:\n{}",
        disagreements.join("\n")
    );
}

/// A toggle's `on`, as `policy!` reads `toggle(on = ..)`, and as the three run-time readers do.
#[test]
fn a_toggle_declared_and_by_name_takes_the_same_values() {
    use crate::kinds::declared;
    static TOGGLE: Toggle = match Toggle::builder("agree/toggle").build() {
        Ok(p) => p,
        Err(_) => panic!("invalid toggle"),
    };
    registry::register(&TOGGLE);
    let name = "agree/toggle";
    let spec = options::get("toggle", "on").expect("a toggle's setting");
    let mut disagreements = Vec::new();
    for value in candidates(spec) {
        let declared = syn::parse_str::<Args>(&format!("on = {value}")).is_ok_and(|args| {
            let mut cx = Ctxt::default();
            let _: crate::kinds::Toggle = declared::parse(&args, true, &mut cx);
            cx.finish().is_ok()
        });
        TOGGLE.reset();
        let set = registry::set(name, "on", &value).is_ok();
        TOGGLE.reset();
        let file = config::load_str(
            "agree.toml",
            &format!("[{name:?}]\non = {}\n", toml(&value)),
            [],
        )
        .is_ok();
        TOGGLE.reset();
        let env = config::load_str(
            "agree.toml",
            "",
            [(config::env_var(name, "on"), value.clone())],
        )
        .is_ok();
        TOGGLE.reset();
        if !(declared == set && set == file && file == env) {
            disagreements.push(format!(
                "toggle(on = {value}): declared {declared}, set {set}, file {file}, env {env}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
