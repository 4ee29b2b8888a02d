//! The names other resilience libraries give to our settings, so that an option written the way
//! resilience4j, Polly, failsafe or governor spell it is answered with ours instead of a bare
//! "unknown option": `resilience4j's waitDurationInOpenState is `open = 30s` here`.
//!
//! Names are compared without case and without `_` or `-`, so `maxConcurrentCalls`,
//! `max_concurrent_calls` and `MaxConcurrentCalls` are one name.

/// One foreign name and what it is here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Foreign {
    /// The name as its library writes it.
    pub name: &'static str,
    /// The library (or libraries) that use it.
    pub library: &'static str,
    /// The attribute it belongs to here (`"circuit_breaker"`), or `None` for every attribute.
    pub kind: Option<&'static str>,
    /// Our option, as written: `open = 30s`.
    pub ours: &'static str,
    /// What differs, if anything: `; attempts counts the first call too`.
    pub note: &'static str,
}

impl Foreign {
    /// The sentence that answers the foreign name: `resilience4j's maxAttempts is `attempts = 3` here`.
    pub fn message(&self) -> String {
        format!(
            "{}'s {} is `{}` here{}",
            self.library, self.name, self.ours, self.note
        )
    }
}

const fn f(
    name: &'static str,
    library: &'static str,
    kind: Option<&'static str>,
    ours: &'static str,
    note: &'static str,
) -> Foreign {
    Foreign {
        name,
        library,
        kind,
        ours,
        note,
    }
}

const CB: Option<&str> = Some("circuit_breaker");
const RETRY: Option<&str> = Some("retry");
const TIMEOUT: Option<&str> = Some("timeout");
const BULKHEAD: Option<&str> = Some("bulkhead");
const RATE: Option<&str> = Some("rate_limiter");

const RETRIES_NOTE: &str = "; attempts counts the first call too, so 3 retries are attempts = 4";

/// Every foreign name we answer, kind-specific entries first.
pub const FOREIGN: &[Foreign] = &[
    // Circuit breaker: resilience4j, Polly v8, failsafe-go, recloser.
    f(
        "failureRateThreshold",
        "resilience4j",
        CB,
        "threshold = 50%",
        "",
    ),
    f(
        "slowCallRateThreshold",
        "resilience4j",
        CB,
        "slow_threshold = 80%",
        "",
    ),
    f(
        "slowCallDurationThreshold",
        "resilience4j",
        CB,
        "slow = 2s",
        "",
    ),
    f(
        "waitDurationInOpenState",
        "resilience4j",
        CB,
        "open = 30s",
        "",
    ),
    f(
        "waitIntervalFunctionInOpenState",
        "resilience4j",
        CB,
        "open = exponential(5s, max = 5m)",
        "",
    ),
    f(
        "permittedNumberOfCallsInHalfOpenState",
        "resilience4j",
        CB,
        "half_open = 3",
        "",
    ),
    f(
        "slidingWindowSize",
        "resilience4j",
        CB,
        "window = 100",
        " (calls), or window = 60s for a time window",
    ),
    f(
        "slidingWindowType",
        "resilience4j",
        CB,
        "window = 100",
        " for a count window, window = 60s for a time window",
    ),
    f(
        "minimumNumberOfCalls",
        "resilience4j",
        CB,
        "min_calls = 20",
        "",
    ),
    f(
        "recordExceptions",
        "resilience4j",
        CB,
        "record = ApiError::is_failure",
        "",
    ),
    f(
        "recordException",
        "resilience4j",
        CB,
        "record = ApiError::is_failure",
        "",
    ),
    f(
        "ignoreExceptions",
        "resilience4j",
        CB,
        "ignore = ApiError::is_not_found",
        "",
    ),
    f(
        "FailureRatio",
        "Polly",
        CB,
        "threshold = 50%",
        "; Polly's 0.5 is 50%",
    ),
    f("BreakDuration", "Polly", CB, "open = 30s", ""),
    f(
        "BreakDurationGenerator",
        "Polly",
        CB,
        "open = exponential(5s, max = 5m)",
        "",
    ),
    f("SamplingDuration", "Polly", CB, "window = 30s", ""),
    f("MinimumThroughput", "Polly", CB, "min_calls = 20", ""),
    f(
        "ShouldHandle",
        "Polly",
        CB,
        "record = ApiError::is_failure",
        "",
    ),
    f(
        "failureThreshold",
        "failsafe",
        CB,
        "failures = 5",
        " (consecutive failures), or threshold = 50% for a rate",
    ),
    f("consecutiveFailures", "recloser", CB, "failures = 5", ""),
    f("delay", "failsafe", CB, "open = 30s", ""),
    // Retry.
    f(
        "maxAttempts",
        "resilience4j",
        RETRY,
        "attempts = 3",
        "; both count the first call",
    ),
    f(
        "MaxRetryAttempts",
        "Polly",
        RETRY,
        "attempts = 4",
        RETRIES_NOTE,
    ),
    f(
        "maxRetries",
        "failsafe",
        RETRY,
        "attempts = 4",
        RETRIES_NOTE,
    ),
    f(
        "retries",
        "retry libraries",
        RETRY,
        "attempts = 4",
        RETRIES_NOTE,
    ),
    f("maxTimes", "backon", RETRY, "attempts = 4", RETRIES_NOTE),
    f(
        "waitDuration",
        "resilience4j",
        RETRY,
        "backoff = fixed(500ms)",
        "",
    ),
    f(
        "intervalFunction",
        "resilience4j",
        RETRY,
        "backoff = exponential(100ms, max = 2s)",
        "",
    ),
    f(
        "Delay",
        "Polly",
        RETRY,
        "backoff = exponential(100ms, max = 2s)",
        " (its first delay)",
    ),
    f(
        "MaxDelay",
        "Polly",
        RETRY,
        "backoff = exponential(100ms, max = 2s)",
        " (its max)",
    ),
    f(
        "BackoffType",
        "Polly",
        RETRY,
        "backoff = exponential(100ms, max = 2s)",
        ", or fixed(..), linear(..)",
    ),
    f("UseJitter", "Polly", RETRY, "jitter = full", ""),
    f(
        "retryExceptions",
        "resilience4j",
        RETRY,
        "when = ApiError::is_transient",
        "",
    ),
    f(
        "retryOnException",
        "resilience4j",
        RETRY,
        "when = ApiError::is_transient",
        "",
    ),
    f(
        "ShouldHandle",
        "Polly",
        RETRY,
        "when = ApiError::is_transient",
        " (and when_ok = Job::is_pending for results)",
    ),
    f(
        "retryOnResult",
        "resilience4j",
        RETRY,
        "when_ok = Job::is_pending",
        "",
    ),
    f(
        "retryOnResultPredicate",
        "resilience4j",
        RETRY,
        "when_ok = Job::is_pending",
        "",
    ),
    f(
        "HandleResult",
        "Polly",
        RETRY,
        "when_ok = Job::is_pending",
        "",
    ),
    f(
        "multiplier",
        "resilience4j",
        RETRY,
        "backoff = exponential(100ms, factor = 2, max = 2s)",
        "",
    ),
    // Timeout.
    f(
        "timeoutDuration",
        "resilience4j",
        TIMEOUT,
        "#[timeout(2s)]",
        "",
    ),
    f("Timeout", "Polly", TIMEOUT, "#[timeout(2s)]", ""),
    // Bulkhead.
    f(
        "maxConcurrentCalls",
        "resilience4j",
        BULKHEAD,
        "max = 10",
        "",
    ),
    f(
        "maxWaitDuration",
        "resilience4j",
        BULKHEAD,
        "wait = 500ms",
        " (with queue = N)",
    ),
    f("PermitLimit", "Polly", BULKHEAD, "max = 10", ""),
    f("QueueLimit", "Polly", BULKHEAD, "queue = 20", ""),
    f("maxConcurrency", "failsafe", BULKHEAD, "max = 10", ""),
    f(
        "maxWaitTime",
        "failsafe",
        BULKHEAD,
        "wait = 500ms",
        " (with queue = N)",
    ),
    // Rate limiter.
    f(
        "limitForPeriod",
        "resilience4j",
        RATE,
        "#[rate_limiter(100/s)]",
        " (count and period together)",
    ),
    f(
        "limitRefreshPeriod",
        "resilience4j",
        RATE,
        "#[rate_limiter(100/s)]",
        " (count and period together)",
    ),
    f("timeoutDuration", "resilience4j", RATE, "wait = 500ms", ""),
    f(
        "PermitLimit",
        "Polly",
        RATE,
        "#[rate_limiter(100/s)]",
        " (count and period together)",
    ),
    f(
        "Window",
        "Polly",
        RATE,
        "#[rate_limiter(100/s)]",
        " (count and period together)",
    ),
    f(
        "TokensPerPeriod",
        "Polly",
        RATE,
        "#[rate_limiter(100/s)]",
        " (count and period together)",
    ),
    f(
        "ReplenishmentPeriod",
        "Polly",
        RATE,
        "#[rate_limiter(100/s)]",
        " (count and period together)",
    ),
    f("TokenLimit", "Polly", RATE, "burst = 10", ""),
    f("QueueLimit", "Polly", RATE, "wait = 500ms", ""),
    f("perSecond", "governor", RATE, "#[rate_limiter(100/s)]", ""),
    f("perMinute", "governor", RATE, "#[rate_limiter(6000/m)]", ""),
    f("burstSize", "governor", RATE, "burst = 10", ""),
    f("allowBurst", "governor", RATE, "burst = 10", ""),
    f("maxBurst", "governor", RATE, "burst = 10", ""),
    // Every attribute.
    f(
        "fallbackMethod",
        "resilience4j",
        None,
        "fallback = cached_value",
        "",
    ),
];

/// `name` with case, `_` and `-` left out, as names are compared.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// What `name`, an option of another library, is on the attribute `kind` (`"retry"`), if we
/// know it. A name that is one of our own options is never looked up here.
pub fn lookup(kind: &str, name: &str) -> Option<&'static Foreign> {
    let wanted = normalise(name);
    FOREIGN
        .iter()
        .filter(|f| f.kind.is_none_or(|k| k == kind))
        .find(|f| normalise(f.name) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_names_are_found_in_any_case_and_spelling() {
        for spelling in [
            "waitDurationInOpenState",
            "wait_duration_in_open_state",
            "WaitDurationInOpenState",
        ] {
            let found = lookup("circuit_breaker", spelling).expect(spelling);
            assert_eq!(found.ours, "open = 30s");
        }
        assert_eq!(
            lookup("circuit_breaker", "waitDurationInOpenState")
                .map(Foreign::message)
                .as_deref(),
            Some("resilience4j's waitDurationInOpenState is `open = 30s` here")
        );
    }

    #[test]
    fn a_name_means_what_its_attribute_makes_it() {
        assert_eq!(
            lookup("bulkhead", "PermitLimit").map(|f| f.ours),
            Some("max = 10")
        );
        assert_eq!(
            lookup("rate_limiter", "PermitLimit").map(|f| f.ours),
            Some("#[rate_limiter(100/s)]")
        );
        assert_eq!(lookup("timeout", "maxAttempts"), None);
    }

    #[test]
    fn no_foreign_name_shadows_one_of_ours() {
        for f in FOREIGN {
            let own: Vec<&str> = crate::options::OPTIONS
                .iter()
                .filter(|o| f.kind.is_none_or(|kind| o.kind == kind || o.kind == "*"))
                .map(|o| o.name)
                .collect();
            for ours in own {
                assert_ne!(normalise(f.name), normalise(ours), "{} is ours", f.name);
            }
        }
    }
}
