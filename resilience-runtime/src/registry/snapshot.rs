//! Snapshots: every policy's kind, name, settings, state and counters, and the table they
//! print as.

use std::fmt;

use crate::circuit_breaker::builder::WindowSpec;
use crate::event::PolicyKind;
use crate::{
    BulkheadMetrics, CircuitBreakerMetrics, RateLimiterMetrics, State, retry::RetryMetrics,
    timeout::TimeoutMetrics,
};

use super::Policy;
use super::units::{fmt_backoff, fmt_duration, fmt_jitter, fmt_open, fmt_percent, fmt_rate};

/// The counters of one policy, by kind.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Metrics {
    /// A circuit breaker's state, counters and rates.
    CircuitBreaker(CircuitBreakerMetrics),
    /// A retry's counters (failed attempts only).
    Retry(RetryMetrics),
    /// A timeout's counter.
    Timeout(TimeoutMetrics),
    /// A bulkhead's occupancy and counters.
    Bulkhead(BulkheadMetrics),
    /// A rate limiter's counters and available permits.
    RateLimiter(RateLimiterMetrics),
}

/// One policy in a [`Snapshot`]. The accessors give the figures every kind shares, `None` where
/// the kind does not have it; [`metrics`](Self::metrics) has all of them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PolicySnapshot {
    /// The registry name.
    pub name: String,
    /// The kind.
    pub kind: PolicyKind,
    /// The settings, as `(key, value)` in the attributes' units (`("open", "30s")`): the keys
    /// [`registry::set`](super::set) and the configuration file take.
    pub settings: Vec<(&'static str, String)>,
    /// The counters.
    pub metrics: Metrics,
}

impl PolicySnapshot {
    pub(crate) fn of(name: String, policy: Policy) -> Self {
        let (settings, metrics) = match policy {
            Policy::CircuitBreaker(p) => {
                (breaker_settings(p), Metrics::CircuitBreaker(p.metrics()))
            }
            Policy::Retry(p) => {
                let s = p.settings();
                let jitter = s.jitter.unwrap_or(s.backoff.default_jitter());
                (
                    vec![
                        ("attempts", s.attempts.to_string()),
                        ("backoff", fmt_backoff(s.backoff)),
                        ("jitter", fmt_jitter(jitter).to_owned()),
                    ],
                    Metrics::Retry(p.metrics()),
                )
            }
            Policy::Timeout(p) => (
                vec![("duration", fmt_duration(p.duration()))],
                Metrics::Timeout(p.metrics()),
            ),
            Policy::Bulkhead(p) => {
                let mut settings = vec![
                    ("max", p.max().to_string()),
                    ("queue", p.queue().to_string()),
                ];
                if let Some(wait) = p.wait().filter(|_| p.queue() > 0) {
                    settings.push(("wait", fmt_duration(wait)));
                }
                (settings, Metrics::Bulkhead(p.metrics()))
            }
            Policy::RateLimiter(p) => {
                let (count, per) = p.rate();
                let mut settings = vec![
                    ("rate", fmt_rate(count, per)),
                    ("burst", p.burst().to_string()),
                ];
                if !p.wait().is_zero() {
                    settings.push(("wait", fmt_duration(p.wait())));
                }
                (settings, Metrics::RateLimiter(p.metrics()))
            }
        };
        PolicySnapshot {
            name,
            kind: policy.kind(),
            settings,
            metrics,
        }
    }

    /// The value of setting `key`, as in the attributes.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A breaker's state.
    pub fn state(&self) -> Option<State> {
        match &self.metrics {
            Metrics::CircuitBreaker(m) => Some(m.state),
            _ => None,
        }
    }

    /// Calls that reached the policy (breakers, bulkheads, rate limiters).
    pub fn calls(&self) -> Option<u64> {
        match &self.metrics {
            Metrics::CircuitBreaker(m) => Some(m.calls),
            Metrics::Bulkhead(m) => Some(m.calls),
            Metrics::RateLimiter(m) => Some(m.calls),
            _ => None,
        }
    }

    /// Calls that succeeded (breakers).
    pub fn successes(&self) -> Option<u64> {
        match &self.metrics {
            Metrics::CircuitBreaker(m) => Some(m.successes),
            _ => None,
        }
    }

    /// Calls that failed: a breaker's recorded failures, a retry's calls that gave up.
    pub fn failures(&self) -> Option<u64> {
        match &self.metrics {
            Metrics::CircuitBreaker(m) => Some(m.failures),
            Metrics::Retry(m) => Some(m.gave_up),
            _ => None,
        }
    }

    /// Calls rejected or cut short: open breaker, full bulkhead, rate limited, timed out.
    pub fn rejections(&self) -> Option<u64> {
        match &self.metrics {
            Metrics::CircuitBreaker(m) => Some(m.rejections),
            Metrics::Timeout(m) => Some(m.timed_out),
            Metrics::Bulkhead(m) => Some(m.rejections),
            Metrics::RateLimiter(m) => Some(m.rejections),
            _ => None,
        }
    }

    /// Slow calls (breakers with `slow`).
    pub fn slow(&self) -> Option<u64> {
        match &self.metrics {
            Metrics::CircuitBreaker(m) => Some(m.slow),
            _ => None,
        }
    }

    /// A breaker's failure rate in its window, in percent, once it holds `min_calls`.
    pub fn failure_rate(&self) -> Option<f64> {
        match &self.metrics {
            Metrics::CircuitBreaker(m) => m.failure_rate,
            _ => None,
        }
    }

    /// A retry's retried attempts.
    pub fn retries(&self) -> Option<u64> {
        match &self.metrics {
            Metrics::Retry(m) => Some(m.retries),
            _ => None,
        }
    }

    /// A bulkhead's slots in use.
    pub fn in_use(&self) -> Option<u32> {
        match &self.metrics {
            Metrics::Bulkhead(m) => Some(m.in_use),
            _ => None,
        }
    }

    /// A bulkhead's queued callers, or a rate limiter's callers waiting for their permit.
    pub fn queued(&self) -> Option<u64> {
        match &self.metrics {
            Metrics::Bulkhead(m) => Some(u64::from(m.queued)),
            Metrics::RateLimiter(m) => Some(m.waiting),
            _ => None,
        }
    }

    /// A rate limiter's permits available now.
    pub fn available(&self) -> Option<u32> {
        match &self.metrics {
            Metrics::RateLimiter(m) => Some(m.available),
            _ => None,
        }
    }
}

fn breaker_settings(p: &crate::CircuitBreaker) -> Vec<(&'static str, String)> {
    let s = p.settings();
    let mut out = Vec::new();
    match (s.threshold, s.consecutive_failures) {
        (_, Some(n)) => out.push(("failures", n.to_string())),
        (t, None) => out.push(("threshold", fmt_percent(t.unwrap_or(50.0)))),
    }
    out.push((
        "window",
        match s.window {
            WindowSpec::Calls(n) => n.to_string(),
            WindowSpec::Time(d) => fmt_duration(d),
        },
    ));
    // The calls it holds to now, given or the default that follows the window.
    out.push(("min_calls", p.min_calls().to_string()));
    if let Some(slow) = s.slow {
        out.push(("slow", fmt_duration(slow)));
        if let Some(t) = s.slow_threshold {
            out.push(("slow_threshold", fmt_percent(t)));
        }
    }
    out.push(("open", fmt_open(s.open, s.open_max)));
    out.push(("half_open", s.half_open.to_string()));
    if s.critical {
        out.push(("critical", "true".to_owned()));
    }
    out
}

/// Every registered policy's settings and counters at one moment (each policy read in turn,
/// without a lock), sorted by name. `Display` prints a plain-text table:
///
/// ```text
/// NAME               KIND             STATE   CALLS  OK  FAIL  REJ  SLOW  RATE   RETRIES  IN_USE  QUEUED  PERMITS  SETTINGS
/// payments           circuit_breaker  closed     40  31     9    0     0  22.5%        -       -       -        -  threshold=50% window=100 ...
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The policies, sorted by name.
    pub policies: Vec<PolicySnapshot>,
}

impl Snapshot {
    pub(crate) fn of(entries: impl Iterator<Item = (String, Policy)>) -> Self {
        Snapshot {
            policies: entries
                .map(|(name, policy)| PolicySnapshot::of(name, policy))
                .collect(),
        }
    }

    /// The policy registered as `name`.
    pub fn get(&self, name: &str) -> Option<&PolicySnapshot> {
        self.policies.iter().find(|p| p.name == name)
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn cell<T: ToString>(v: Option<T>) -> String {
            v.map_or_else(|| "-".to_owned(), |v| v.to_string())
        }
        let header = [
            "NAME", "KIND", "STATE", "CALLS", "OK", "FAIL", "REJ", "SLOW", "RATE", "RETRIES",
            "IN_USE", "QUEUED", "PERMITS", "SETTINGS",
        ];
        let rows: Vec<[String; 14]> = self
            .policies
            .iter()
            .map(|p| {
                let settings: Vec<String> =
                    p.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                [
                    p.name.clone(),
                    p.kind.to_string(),
                    cell(p.state()),
                    cell(p.calls()),
                    cell(p.successes()),
                    cell(p.failures()),
                    cell(p.rejections()),
                    cell(p.slow()),
                    cell(p.failure_rate().map(|r| format!("{r:.1}%"))),
                    cell(p.retries()),
                    cell(p.in_use()),
                    cell(p.queued()),
                    cell(p.available()),
                    settings.join(" "),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let last = cells.len() - 1;
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                match i {
                    0..=2 => write!(f, "{c:<w$}  ")?,
                    _ if i == last => write!(f, "{c}")?,
                    _ => write!(f, "{c:>w$}  ")?,
                }
            }
            writeln!(f)
        };
        line(f, &header)?;
        for row in &rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            line(f, &cells)?;
        }
        Ok(())
    }
}
