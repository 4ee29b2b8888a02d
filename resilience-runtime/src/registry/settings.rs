//! Settings by key: changes written as in the attributes, checked together, applied together.

use resilience_syntax::names;

use crate::circuit_breaker::builder::WindowSpec;
use crate::event::PolicyKind;
use crate::{
    Bulkhead, BulkheadBuilder, CircuitBreaker, CircuitBreakerBuilder, RateLimiter,
    RateLimiterBuilder, Retry, RetryBuilder, Timeout, TimeoutBuilder,
};

use super::units::{
    parse_backoff, parse_bool, parse_count, parse_duration, parse_jitter, parse_open,
    parse_percent, parse_rate,
};
use super::{Policy, RegistryError};

/// The keys of each kind: the attributes' settings, after the positional value's own key for
/// a timeout (`duration`) and a rate limiter (`rate`).
pub(crate) fn keys(kind: PolicyKind) -> Vec<&'static str> {
    let (positional, named): (&[&str], &[&str]) = match kind {
        PolicyKind::CircuitBreaker => (&[], names::CIRCUIT_BREAKER),
        PolicyKind::Retry => (&[], names::RETRY),
        PolicyKind::Timeout => (&["duration"], names::TIMEOUT),
        PolicyKind::Bulkhead => (&[], names::BULKHEAD),
        PolicyKind::RateLimiter => (&["rate"], names::RATE_LIMITER),
        PolicyKind::Fallback => (&[], &[]),
    };
    [positional, named].concat()
}

/// A policy and the settings it will get.
#[derive(Clone, Debug)]
enum Pending {
    CircuitBreaker(&'static CircuitBreaker, CircuitBreakerBuilder),
    Retry {
        policy: &'static Retry,
        settings: RetryBuilder,
        /// Whether `jitter` was given: if not, a new `backoff` gets its own default jitter.
        jitter_given: bool,
    },
    Timeout(&'static Timeout, TimeoutBuilder),
    Bulkhead(&'static Bulkhead, BulkheadBuilder),
    RateLimiter {
        policy: &'static RateLimiter,
        settings: RateLimiterBuilder,
        burst_given: bool,
    },
}

impl Pending {
    fn new(policy: Policy) -> Self {
        match policy {
            Policy::CircuitBreaker(p) => Pending::CircuitBreaker(p, p.settings()),
            Policy::Retry(p) => Pending::Retry {
                policy: p,
                settings: p.settings(),
                jitter_given: false,
            },
            Policy::Timeout(p) => Pending::Timeout(p, p.settings()),
            Policy::Bulkhead(p) => Pending::Bulkhead(p, p.settings()),
            Policy::RateLimiter(p) => Pending::RateLimiter {
                policy: p,
                settings: p.settings(),
                burst_given: false,
            },
        }
    }

    fn policy(&self) -> Policy {
        match self {
            Pending::CircuitBreaker(p, _) => Policy::CircuitBreaker(p),
            Pending::Retry { policy, .. } => Policy::Retry(policy),
            Pending::Timeout(p, _) => Policy::Timeout(p),
            Pending::Bulkhead(p, _) => Policy::Bulkhead(p),
            Pending::RateLimiter { policy, .. } => Policy::RateLimiter(policy),
        }
    }

    /// Sets `key` to `value` in the pending settings; `Ok(false)` for an unknown key.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match self {
            Pending::CircuitBreaker(_, b) => {
                *b = match key {
                    "threshold" => b.rate_mode().threshold(parse_percent(key, value)?),
                    "failures" => b
                        .consecutive_mode()
                        .consecutive_failures(parse_count(value)?),
                    "window" => {
                        let window = match parse_count(value) {
                            Ok(n) => WindowSpec::Calls(n),
                            Err(_) => WindowSpec::Time(parse_duration(value).map_err(|_| {
                                format!(
                                    "`{}` is not a window: write 100 (calls) or 60s",
                                    value.trim()
                                )
                            })?),
                        };
                        match window {
                            WindowSpec::Calls(n) => b.window_calls(n),
                            WindowSpec::Time(d) => b.window_time(d),
                        }
                    }
                    "min_calls" => b.min_calls(parse_count(value)?),
                    "slow" if matches!(value.trim(), "off" | "none") => b.without_slow(),
                    "slow" => b.slow(parse_duration(value)?),
                    "slow_threshold" => b.slow_threshold(parse_percent(key, value)?),
                    "open" => {
                        let (initial, max) = parse_open(value)?;
                        b.open_exponential(initial, max)
                    }
                    "half_open" => b.half_open(parse_count(value)?),
                    "critical" => b.critical(parse_bool(value)?),
                    _ => return Ok(false),
                };
            }
            Pending::Retry {
                settings,
                jitter_given,
                ..
            } => {
                *settings = match key {
                    "attempts" => settings.attempts(parse_count(value)?),
                    "backoff" => {
                        let mut s = settings.backoff(parse_backoff(value)?);
                        if !*jitter_given {
                            s.jitter = None;
                        }
                        s
                    }
                    "jitter" => {
                        let jitter = parse_jitter(value)?;
                        *jitter_given = true;
                        settings.jitter(jitter)
                    }
                    _ => return Ok(false),
                };
            }
            Pending::Timeout(_, b) => {
                *b = match key {
                    "duration" => b.duration(parse_duration(value)?),
                    _ => return Ok(false),
                };
            }
            Pending::Bulkhead(_, b) => {
                *b = match key {
                    "max" => b.max(parse_count(value)?),
                    // No queue leaves no wait to apply, as `Bulkhead::set_queue` does.
                    "queue" => match parse_count(value)? {
                        0 => b.queue(0).until_a_slot_frees(),
                        queue => b.queue(queue),
                    },
                    "wait" if matches!(value.trim(), "none" | "until_a_slot_frees") => {
                        b.until_a_slot_frees()
                    }
                    "wait" => b.wait(parse_duration(value)?),
                    _ => return Ok(false),
                };
            }
            Pending::RateLimiter {
                settings,
                burst_given,
                ..
            } => {
                *settings = match key {
                    "rate" => {
                        let (count, per) = parse_rate(value)?;
                        let old_count = settings.rate.map_or(0, |(c, _)| c);
                        let mut s = settings.rate(count, per);
                        // A burst that was the old rate's count (the default) follows the rate.
                        if !*burst_given && settings.burst == Some(old_count) {
                            s.burst = None;
                        }
                        s
                    }
                    "burst" => {
                        let burst = parse_count(value)?;
                        *burst_given = true;
                        settings.burst(burst)
                    }
                    "wait" => settings.wait(parse_duration(value)?),
                    _ => return Ok(false),
                };
            }
        }
        Ok(true)
    }

    /// A breaker's given `min_calls` and a count window smaller than it, if so.
    fn min_calls_over_window(&self) -> Option<(u32, u32)> {
        match self {
            Pending::CircuitBreaker(_, b) => match (b.min_calls, b.window) {
                (Some(min_calls), WindowSpec::Calls(n)) if min_calls > n => Some((min_calls, n)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Applies the settings; `check_only` only checks them.
    fn apply(&self, check_only: bool) -> Result<(), crate::ConfigError> {
        match self {
            Pending::CircuitBreaker(_, b) if check_only => b.build().map(drop),
            Pending::CircuitBreaker(p, b) => p.reconfigure(*b),
            Pending::Retry { settings, .. } if check_only => settings.build().map(drop),
            Pending::Retry {
                policy, settings, ..
            } => policy.reconfigure(*settings),
            Pending::Timeout(_, b) if check_only => b.build().map(drop),
            Pending::Timeout(p, b) => p.reconfigure(*b),
            Pending::Bulkhead(_, b) if check_only => b.build().map(drop),
            Pending::Bulkhead(p, b) => p.reconfigure(*b),
            Pending::RateLimiter { settings, .. } if check_only => settings.build().map(drop),
            Pending::RateLimiter {
                policy, settings, ..
            } => policy.reconfigure(*settings),
        }
    }
}

/// Changes to the settings of named policies, written as in the attributes, checked together
/// and applied together: [`apply`](Self::apply) changes every policy, or none.
///
/// | kind | keys |
/// |---|---|
/// | circuit breaker | `threshold = "50%"`, `failures = 5`, `min_calls = 20`, `slow = "2s"` (or `"off"`), `slow_threshold = "80%"`, `open = "30s"` or `"exponential(5s, max = 5m)"`, `half_open = 3`, `critical = true`, `window = 100` or `"60s"` (a new window starts empty; a count window below a given `min_calls` is an error stating both: lower `min_calls` first, or in the same change set) |
/// | retry | `attempts = 3`, `backoff = "exponential(100ms, max = 10s)"`, `jitter = "full"` (a new backoff without `jitter` gets its default jitter) |
/// | timeout | `duration = "800ms"` |
/// | bulkhead | `max = 10`, `queue = 20` (`0` also drops `wait`), `wait = "500ms"` (or `"none"`: until a slot frees) |
/// | rate limiter | `rate = "100/s"`, `burst = 10` (a burst equal to the old rate's count follows a new rate), `wait = "50ms"` |
///
/// ```
/// use resilience_runtime::{registry, Retry};
/// static FETCH: Retry = match Retry::builder("docs::fetch/retry").build() { Ok(r) => r, Err(_) => panic!() };
/// registry::register(&FETCH);
///
/// let mut changes = registry::ChangeSet::new();
/// changes.set("docs::fetch/retry", "attempts", "5").unwrap();
/// changes.set("docs::fetch/retry", "backoff", "fixed(0ms)").unwrap(); // parses; `build` refuses it
/// let e = changes.apply().unwrap_err();
/// assert_eq!(e.field(), Some("backoff"));
/// assert_eq!(FETCH.attempts(), 3); // nothing changed
/// ```
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    pending: Vec<(String, Pending)>,
    /// The (policy, key) pairs given, to say which of two settings that disagree was changed.
    given: Vec<(String, String)>,
}

impl ChangeSet {
    /// No changes yet.
    pub fn new() -> Self {
        ChangeSet::default()
    }

    /// Adds a change: `key` of the policy registered as `name` becomes `value`.
    ///
    /// # Errors
    ///
    /// An unknown policy or key (with the close matches), or a value that does not parse.
    /// The value is checked against the policy's other settings by [`apply`](Self::apply).
    pub fn set(&mut self, name: &str, key: &str, value: &str) -> Result<(), RegistryError> {
        self.set_value(name, key, value)?;
        if !self.given.iter().any(|(n, k)| n == name && k == key) {
            self.given.push((name.to_owned(), key.to_owned()));
        }
        Ok(())
    }

    /// Sets `key` in the pending settings of `name`, without recording it as given.
    fn set_value(&mut self, name: &str, key: &str, value: &str) -> Result<(), RegistryError> {
        let index = match self.pending.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                let policy = super::get(name)?;
                self.pending.push((name.to_owned(), Pending::new(policy)));
                self.pending.len() - 1
            }
        };
        let pending = &mut self.pending[index].1;
        let kind = pending.policy().kind();
        match pending.set(key, value) {
            Ok(true) => Ok(()),
            Ok(false) => Err(RegistryError::unknown_setting(name, kind, key, &keys(kind))),
            Err(message) => Err(RegistryError::invalid_value(name, key, message)),
        }
    }

    /// Checks every change as the policies' builders check them, without applying any.
    ///
    /// # Errors
    ///
    /// The first policy whose new settings its builder refuses, naming the field.
    pub fn check(&self) -> Result<(), RegistryError> {
        for (name, pending) in &self.pending {
            pending.apply(true).map_err(|e| {
                let given = |key: &str| self.given.iter().any(|(n, k)| n == name && k == key);
                // A new window below a `min_calls` this change leaves as it is: say so of the
                // window, the setting that was changed.
                match pending.min_calls_over_window() {
                    Some((min_calls, window)) if given("window") && !given("min_calls") => {
                        RegistryError::invalid_value(
                            name,
                            "window",
                            format!(
                                "window = {window} is less than min_calls = {min_calls}, so the \
                                 breaker could never trip; make the window at least {min_calls}, \
                                 or lower min_calls first"
                            ),
                        )
                    }
                    _ => RegistryError::config(name, e),
                }
            })?;
        }
        Ok(())
    }

    /// Checks every change, then applies them all; on error, nothing changes. Each policy
    /// takes its new settings from its next call; its state and counters are kept.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn apply(self) -> Result<(), RegistryError> {
        self.check()?;
        for (name, pending) in &self.pending {
            // Checked above: the same checks, on the same values.
            pending
                .apply(false)
                .map_err(|e| RegistryError::config(name, e))?;
        }
        Ok(())
    }

    /// Whether no change was added.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
