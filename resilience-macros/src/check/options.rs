//! The options each attribute takes and an example of each, from the option table
//! (`resilience_syntax::options`), and the messages for an option that is not one of them.

use resilience_syntax::foreign;
use resilience_syntax::options;
use resilience_syntax::suggest::edit_distance;

use crate::model::Kind;

/// The options each attribute takes by name, from the option table
/// (`resilience_syntax::options`): its settings, then the options that depend on the annotated
/// function, then those every attribute takes.
pub(crate) fn options(kind: Kind) -> Vec<&'static str> {
    options::of(kind.attr_name())
        .filter(|o| !o.positional)
        .map(|o| o.name)
        .collect()
}

/// Whether `option` depends on the annotated function (its error type, its arguments), so it
/// is given where a shared policy is used, not where it is declared.
pub(crate) fn use_site_only(option: &str) -> bool {
    options::OPTIONS
        .iter()
        .any(|o| o.name == option && o.use_site_only())
}

/// An example of each option, from the option table, for messages that say what to write. A
/// timeout's duration, positional, is spoken of as `timeout`.
pub(crate) fn example(option: &str) -> &'static str {
    match option {
        "timeout" => options::example("duration"),
        _ => options::example(option),
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

pub(crate) fn unknown_option(kind: Kind, name: &str) -> String {
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

pub(crate) fn declaration_example(kind: Kind) -> &'static str {
    match kind {
        Kind::CircuitBreaker => "circuit_breaker(threshold = 50%, open = 30s)",
        Kind::Retry => "retry(attempts = 3)",
        Kind::Timeout => "timeout(2s)",
        Kind::Bulkhead => "bulkhead(max = 10)",
        Kind::RateLimiter => "rate_limiter(100/s)",
        Kind::Fallback => "",
        Kind::Chaos => "chaos(error = 5%, error_with = ApiError::injected)",
        Kind::Idempotent => "idempotent(ttl = 24h)",
        Kind::Cache => "cache(ttl = 30s)",
        Kind::Hedge => "hedge(after = 50ms)",
    }
}
