//! The options each attribute takes, an example of each, and the messages for an option
//! that is not one of them.

use resilience_syntax::foreign;
use resilience_syntax::names;
use resilience_syntax::suggest::edit_distance;

use crate::model::Kind;

/// The options each attribute takes by name: its settings (shared with the registry's keys),
/// then the options that depend on the annotated function, then those every attribute takes.
pub(super) fn options(kind: Kind) -> Vec<&'static str> {
    let (settings, predicates): (&[&str], &[&str]) = match kind {
        Kind::CircuitBreaker => (names::CIRCUIT_BREAKER, &["record", "ignore"]),
        Kind::Retry => (
            names::RETRY,
            &["when", "when_ok", "retry_after", "retry_timeouts"],
        ),
        Kind::Timeout => (names::TIMEOUT, &[]),
        Kind::Bulkhead => (names::BULKHEAD, &[]),
        Kind::RateLimiter => (names::RATE_LIMITER, &[]),
        Kind::Fallback => return vec!["crate"],
    };
    let common = ["name", "fallback", "crate"];
    [settings, predicates, &common].concat()
}

/// Options that depend on the annotated function (its error type, its arguments), so they are
/// given where a shared policy is used, not where it is declared.
pub(super) const USE_SITE: &[&str] = &[
    "record",
    "ignore",
    "when",
    "when_ok",
    "retry_after",
    "retry_timeouts",
    "fallback",
    "crate",
];

/// An example of each option, for messages that say what to write.
pub(super) fn example(option: &str) -> &'static str {
    match option {
        "threshold" => "threshold = 50%",
        "failures" => "failures = 5",
        "window" => "window = 100 (calls) or window = 60s",
        "min_calls" => "min_calls = 20",
        "slow" => "slow = 2s",
        "slow_threshold" => "slow_threshold = 80%",
        "open" => "open = 30s or open = exponential(5s, max = 5m)",
        "half_open" => "half_open = 3",
        "record" => "record = ApiError::is_failure",
        "ignore" => "ignore = ApiError::is_not_found",
        "critical" => "critical = true",
        "name" => "name = \"payments\"",
        "fallback" => "fallback = cached_value",
        "crate" => "crate = ::resilience",
        "attempts" => "attempts = 3",
        "backoff" => "backoff = exponential(100ms, max = 2s)",
        "jitter" => "jitter = full",
        "when" => "when = ApiError::is_transient",
        "when_ok" => "when_ok = Job::is_pending",
        "retry_after" => "retry_after = ApiError::retry_after",
        "retry_timeouts" => "retry_timeouts = false",
        "max" => "max = 10",
        "queue" => "queue = 20",
        "wait" => "wait = 500ms",
        "burst" => "burst = 10",
        "timeout" => "#[timeout(2s)]",
        _ => "",
    }
}

/// The candidate closest to `word`, if it is close enough to be a misspelling.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub(super) fn unknown_option(kind: Kind, name: &str) -> String {
    let opts = options(kind);
    if let Some(foreign) = foreign::lookup(kind.attr_name(), name) {
        return foreign.message();
    }
    match did_you_mean(name, &opts) {
        Some(s) => format!("unknown option '{name}'; did you mean '{s}'?"),
        None if kind == Kind::Fallback => {
            format!(
                "unknown option '{name}'; #[fallback] takes only the function to call: #[fallback(cached_value)]"
            )
        }
        None => format!(
            "unknown option '{name}' for #[{}]; its options are {}",
            kind.attr_name(),
            opts.join(", ")
        ),
    }
}

pub(super) fn declaration_example(kind: Kind) -> &'static str {
    match kind {
        Kind::CircuitBreaker => "circuit_breaker(threshold = 50%, open = 30s)",
        Kind::Retry => "retry(attempts = 3)",
        Kind::Timeout => "timeout(2s)",
        Kind::Bulkhead => "bulkhead(max = 10)",
        Kind::RateLimiter => "rate_limiter(100/s)",
        Kind::Fallback => "",
    }
}
