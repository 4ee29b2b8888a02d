//! Snapshots: every policy's kind, name, settings, state and counters, and the table they
//! print as.

use std::fmt;

use crate::State;
use crate::event::PolicyKind;

use super::{Metrics, Policy};
use crate::describe::Figures;

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
    /// The figures every kind shares, read with `metrics`.
    figures: Figures,
}

impl PolicySnapshot {
    pub(crate) fn of(name: String, policy: Policy) -> Self {
        let describe = policy.describe();
        let (metrics, figures) = policy.read();
        PolicySnapshot {
            name,
            kind: describe.kind(),
            settings: describe.settings(),
            metrics,
            figures,
        }
    }

    /// The value of setting `key`, as in the attributes.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// How many children a keyed family holds.
    pub fn keys(&self) -> Option<usize> {
        self.figures.keys
    }

    /// A breaker's state (a keyed family of breakers: open while one of its children is).
    pub fn state(&self) -> Option<State> {
        self.figures.state
    }

    /// Calls that reached the policy (breakers, bulkheads, rate limiters).
    pub fn calls(&self) -> Option<u64> {
        self.figures.calls
    }

    /// Calls that succeeded (breakers).
    pub fn successes(&self) -> Option<u64> {
        self.figures.successes
    }

    /// Calls that failed: a breaker's recorded failures, a retry's calls that gave up.
    pub fn failures(&self) -> Option<u64> {
        self.figures.failures
    }

    /// Calls rejected or cut short: open breaker, full bulkhead, rate limited, timed out.
    pub fn rejections(&self) -> Option<u64> {
        self.figures.rejections
    }

    /// Slow calls (breakers with `slow`).
    pub fn slow(&self) -> Option<u64> {
        self.figures.slow
    }

    /// A breaker's failure rate in its window, in percent, once it holds `min_calls`.
    pub fn failure_rate(&self) -> Option<f64> {
        self.figures.failure_rate
    }

    /// A retry's retried attempts.
    pub fn retries(&self) -> Option<u64> {
        self.figures.retries
    }

    /// A bulkhead's slots in use.
    pub fn in_use(&self) -> Option<u32> {
        self.figures.in_use
    }

    /// A bulkhead's queued callers, or a rate limiter's callers waiting for their permit.
    pub fn queued(&self) -> Option<u64> {
        self.figures.queued
    }

    /// A rate limiter's permits available now.
    pub fn available(&self) -> Option<u32> {
        self.figures.available
    }

    /// A bulkhead's most calls at once now: its `max`, or its adaptive limit where it is now.
    pub fn limit(&self) -> Option<u32> {
        self.figures.limit
    }
}

/// Every registered policy's settings and counters at one moment (each policy read in turn,
/// without a lock), sorted by name. `Display` prints a plain-text table:
///
/// ```text
/// NAME               KIND             STATE   CALLS  OK  FAIL  REJ  SLOW  RATE   RETRIES  IN_USE  QUEUED  PERMITS  KEYS  SETTINGS
/// payments           circuit_breaker  closed     40  31     9    0     0  22.5%        -       -       -        -     -  threshold=50% window=100 ...
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
            "IN_USE", "QUEUED", "PERMITS", "KEYS", "SETTINGS",
        ];
        let rows: Vec<[String; 15]> = self
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
                    cell(p.keys()),
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
