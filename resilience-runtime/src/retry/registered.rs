//! The retry policy as the registry sees it: its settings by key, its counters, its metrics.

use std::time::Duration;

use resilience_syntax::options::DEFAULT_BACKOFF_MAX_NANOS;

use super::{Backoff, Jitter};
use super::{Retry, RetryBuilder, RetryMetrics};
use crate::describe::units::{call, fmt_duration, parse_count, parse_duration};
use crate::describe::{Change, Describe, Figured, Figures};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::{Name, Named};

// The option table's default `max` is the default backoff's.
const _: () = match Backoff::DEFAULT {
    Backoff::Exponential { max, .. } => {
        assert!(max.as_nanos() == DEFAULT_BACKOFF_MAX_NANOS as u128)
    }
    _ => panic!("the default backoff is exponential"),
};

impl Named for Retry {
    fn name_of(&self) -> &Name {
        self.names()
    }
}

impl Figured for RetryMetrics {
    fn figures(&self) -> Figures {
        let m = self;
        Figures {
            failures: Some(m.gave_up),
            retries: Some(m.retries),
            ..Figures::default()
        }
    }
}

impl Describe for Retry {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Retry
    }

    fn names(&self) -> &Name {
        Retry::names(self)
    }

    fn reset(&self) {
        Retry::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let s = self.settings();
        let jitter = s.jitter.unwrap_or(s.backoff.default_jitter());
        vec![
            ("attempts", s.attempts.to_string()),
            ("backoff", fmt_backoff(s.backoff)),
            ("jitter", fmt_jitter(jitter).to_owned()),
        ]
    }

    fn change(&'static self) -> Box<dyn Change> {
        Box::new(Pending {
            policy: self,
            settings: self.settings(),
            jitter_given: false,
        })
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        use metrics::counter;
        let m = self.metrics();
        counter!("resilience4j.retry.calls", "name" => name.to_owned(), "kind" => "failed")
            .absolute(m.gave_up);
        counter!("resilience4j.retry.calls", "name" => name.to_owned(), "kind" => "retried")
            .absolute(m.retries);
    }
}

/// A retry policy and the settings it will get.
#[derive(Clone, Debug)]
struct Pending {
    policy: &'static Retry,
    settings: RetryBuilder,
    /// Whether `jitter` was given: if not, a new `backoff` gets its own default jitter.
    jitter_given: bool,
}

impl Change for Pending {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let settings = self.settings;
        self.settings = match key {
            "attempts" => settings.attempts(parse_count(value)?),
            "backoff" => {
                let mut s = settings.backoff(parse_backoff(value)?);
                if !self.jitter_given {
                    s.jitter = None;
                }
                s
            }
            "jitter" => {
                let jitter = parse_jitter(value)?;
                self.jitter_given = true;
                settings.jitter(jitter)
            }
            _ => return Ok(false),
        };
        Ok(true)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.settings.build().map(drop)
    }

    fn apply(&self) -> Result<(), ConfigError> {
        self.policy.reconfigure(self.settings)
    }

    fn boxed_clone(&self) -> Box<dyn Change> {
        Box::new(self.clone())
    }
}

/// `fixed(d)`, `linear(step, max = d)`, `exponential(initial, factor = f, max = d)`.
fn parse_backoff(s: &str) -> Result<Backoff, String> {
    let t = s.trim();
    let wrong = || {
        format!(
            "`{t}` is not a backoff: write fixed(500ms), linear(100ms, max = 2s) or exponential(100ms, factor = 2, max = 10s)"
        )
    };
    let (name, first, named) = call(t).ok_or_else(wrong)?;
    let first = parse_duration(first)?;
    let mut max = None;
    let mut factor = None;
    for (k, v) in named {
        match k {
            "max" => max = Some(parse_duration(v)?),
            "factor" if name == "exponential" => {
                factor = Some(v.parse::<f64>().map_err(|_| wrong())?);
            }
            _ => return Err(wrong()),
        }
    }
    match (name, max) {
        ("fixed", None) => Ok(Backoff::fixed(first)),
        ("linear", Some(max)) => Ok(Backoff::linear(first, max)),
        // Without `max`, as the attribute: 10s, or the first delay if that is longer.
        ("exponential", max) => {
            let max = max.unwrap_or(Duration::from_nanos(DEFAULT_BACKOFF_MAX_NANOS).max(first));
            Ok(Backoff::exponential(first, max).factor(factor.unwrap_or(2.0)))
        }
        _ => Err(wrong()),
    }
}

fn fmt_backoff(b: Backoff) -> String {
    match b {
        Backoff::Fixed { delay } => format!("fixed({})", fmt_duration(delay)),
        Backoff::Linear { step, max } => {
            format!(
                "linear({}, max = {})",
                fmt_duration(step),
                fmt_duration(max)
            )
        }
        Backoff::Exponential {
            initial,
            factor,
            max,
        } => {
            let factor = if factor == 2.0 {
                String::new()
            } else {
                format!(", factor = {factor}")
            };
            format!(
                "exponential({}{factor}, max = {})",
                fmt_duration(initial),
                fmt_duration(max)
            )
        }
    }
}

fn parse_jitter(s: &str) -> Result<Jitter, String> {
    match s.trim() {
        "none" => Ok(Jitter::None),
        "full" => Ok(Jitter::Full),
        "equal" => Ok(Jitter::Equal),
        "decorrelated" => Ok(Jitter::Decorrelated),
        t => Err(format!(
            "`{t}` is not a jitter: write none, full, equal or decorrelated"
        )),
    }
}

fn fmt_jitter(j: Jitter) -> &'static str {
    match j {
        Jitter::None => "none",
        Jitter::Full => "full",
        Jitter::Equal => "equal",
        Jitter::Decorrelated => "decorrelated",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn backoffs_and_jitters_round_trip() {
        for s in [
            "fixed(500ms)",
            "linear(100ms, max = 2s)",
            "exponential(100ms, max = 10s)",
            "exponential(50ms, factor = 3, max = 1m)",
        ] {
            assert_eq!(fmt_backoff(parse_backoff(s).unwrap()), s);
        }
        for s in ["none", "full", "equal", "decorrelated"] {
            assert_eq!(fmt_jitter(parse_jitter(s).unwrap()), s);
        }
        // Without `max`, as the attribute takes it: 10s, or the first delay if longer.
        assert_eq!(
            parse_backoff("exponential(100ms)").unwrap(),
            Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
        );
        assert_eq!(
            parse_backoff("exponential(1m)").unwrap(),
            Backoff::exponential(Duration::from_secs(60), Duration::from_secs(60))
        );
        assert!(parse_backoff("linear(100ms)").is_err());
        assert!(parse_jitter("half").is_err());
    }
}
