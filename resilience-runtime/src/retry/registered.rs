//! The retry policy as the registry sees it: its settings by key, its counters, its metrics.

use std::time::Duration;

use resilience_syntax::options::DEFAULT_BACKOFF_MAX_NANOS;

use super::{Backoff, Jitter};
use super::{Retry, RetryBuilder, RetryMetrics};
use crate::describe::units::{call, fmt_duration, parse_count, parse_duration};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

// The option table's default `max` is the default backoff's.
const _: () = match Backoff::DEFAULT {
    Backoff::Exponential { max, .. } => {
        assert!(max.as_nanos() == DEFAULT_BACKOFF_MAX_NANOS as u128)
    }
    _ => panic!("the default backoff is exponential"),
};

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
        Pending::boxed(self)
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

/// What a change of a retry policy remembers beside its settings.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RetryGiven {
    /// Whether `jitter` was given: if not, a new `backoff` gets its own default jitter.
    jitter: bool,
}

impl Reconfigurable for Retry {
    type Settings = RetryBuilder;
    type Given = RetryGiven;

    fn current(&self) -> RetryBuilder {
        self.settings()
    }

    fn set(
        settings: RetryBuilder,
        given: &mut RetryGiven,
        key: &str,
        value: &str,
    ) -> Result<Option<RetryBuilder>, String> {
        Ok(Some(match key {
            "attempts" => settings.attempts(parse_count(value)?),
            "backoff" => {
                let mut s = settings.backoff(parse_backoff(value)?);
                if !given.jitter {
                    s.jitter = None;
                }
                s
            }
            "jitter" => {
                let jitter = parse_jitter(value)?;
                given.jitter = true;
                settings.jitter(jitter)
            }
            _ => return Ok(None),
        }))
    }

    fn check(b: &RetryBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: RetryBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
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
    fn a_new_backoff_takes_its_own_default_jitter_unless_jitter_is_given() {
        let exponential = || {
            Retry::builder("r")
                .backoff(Backoff::exponential(
                    Duration::from_millis(100),
                    Duration::from_secs(1),
                ))
                .build()
                .unwrap()
        };
        // A fixed backoff's default jitter is none: the exponential's full does not stay.
        let retry: &'static Retry = Box::leak(Box::new(exponential()));
        assert_eq!(retry.jitter(), Jitter::Full);
        let mut c = Pending::boxed(retry);
        assert_eq!(c.set("backoff", "fixed(1s)"), Ok(true));
        c.apply().unwrap();
        assert_eq!(retry.jitter(), Jitter::None);
        // Given jitter, before or after the backoff, is kept.
        for order in [["jitter", "backoff"], ["backoff", "jitter"]] {
            let retry: &'static Retry = Box::leak(Box::new(exponential()));
            let mut c = Pending::boxed(retry);
            for key in order {
                let value = if key == "jitter" {
                    "equal"
                } else {
                    "fixed(1s)"
                };
                assert_eq!(c.set(key, value), Ok(true));
            }
            c.apply().unwrap();
            assert_eq!(retry.jitter(), Jitter::Equal, "{order:?}");
        }
        // A jitter that does not parse is not a jitter given.
        let retry: &'static Retry = Box::leak(Box::new(exponential()));
        let mut c = Pending::boxed(retry);
        assert!(c.set("jitter", "half").is_err());
        assert_eq!(c.set("backoff", "fixed(1s)"), Ok(true));
        c.apply().unwrap();
        assert_eq!(retry.jitter(), Jitter::None);
        assert_eq!(retry.backoff(), Backoff::fixed(Duration::from_secs(1)));
    }

    #[test]
    fn a_key_of_another_kind_or_a_wrong_value_changes_nothing() {
        let retry: &'static Retry = Box::leak(Box::new(Retry::builder("r").build().unwrap()));
        let before = retry.settings();
        let mut c = Pending::boxed(retry);
        assert_eq!(c.set("burst", "10"), Ok(false));
        assert!(c.set("attempts", "three").is_err());
        c.apply().unwrap();
        assert_eq!(retry.settings(), before);
    }

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
