//! The circuit breaker as the registry sees it: its settings by key, its counters, its part
//! in the program's health, its metrics.

use super::builder::WindowSpec;
use super::{CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerMetrics, State};
use crate::describe::{Change, Concern, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;
use std::time::Duration;

use resilience_syntax::options;

use crate::describe::units::{
    call, fmt_duration, fmt_percent, parse_bool, parse_count, parse_duration, parse_percent,
};

// The option table's limits are the breaker's own.
const _: () = assert!(options::MAX_WINDOW_CALLS == super::MAX_WINDOW_CALLS);
const _: () = assert!(options::MAX_HALF_OPEN == super::word::MAX_HALF_OPEN_PROBES);

impl Figured for CircuitBreakerMetrics {
    fn figures(&self) -> Figures {
        let m = self;
        Figures {
            state: Some(m.state),
            calls: Some(m.calls),
            successes: Some(m.successes),
            failures: Some(m.failures),
            rejections: Some(m.rejections),
            slow: Some(m.slow),
            failure_rate: m.failure_rate,
            ..Figures::default()
        }
    }
}

impl Describe for CircuitBreaker {
    fn kind(&self) -> PolicyKind {
        PolicyKind::CircuitBreaker
    }

    fn names(&self) -> &Name {
        CircuitBreaker::names(self)
    }

    fn reset(&self) {
        CircuitBreaker::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let s = self.settings();
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
        out.push(("min_calls", self.min_calls().to_string()));
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

    fn health(&self) -> Option<Concern> {
        let state = self.state();
        matches!(state, State::Open | State::ForcedOpen | State::HalfOpen).then(|| Concern {
            state,
            critical: self.is_critical(),
        })
    }

    fn change(&'static self) -> Box<dyn Change> {
        Pending::boxed(self)
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        use metrics::{counter, gauge};
        let m = self.metrics();
        let name = name.to_owned();
        let calls = |kind: &'static str, value: u64| {
            counter!("resilience4j.circuitbreaker.calls", "name" => name.clone(), "kind" => kind)
                .absolute(value);
        };
        calls("successful", m.successes);
        calls("failed", m.failures);
        calls("ignored", m.ignored);
        calls("cancelled", m.cancelled);
        counter!("resilience4j.circuitbreaker.not.permitted.calls", "name" => name.clone())
            .absolute(m.rejections);
        counter!("resilience4j.circuitbreaker.slow.calls", "name" => name.clone()).absolute(m.slow);
        for state in [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::ForcedOpen,
            State::Disabled,
            State::MetricsOnly,
        ] {
            gauge!("resilience4j.circuitbreaker.state", "name" => name.clone(), "state" => state.as_str())
                .set(if m.state == state { 1.0 } else { 0.0 });
        }
        gauge!("resilience4j.circuitbreaker.failure.rate", "name" => name.clone())
            .set(m.failure_rate.unwrap_or(-1.0));
        gauge!("resilience4j.circuitbreaker.slow.call.rate", "name" => name.clone())
            .set(m.slow_rate.unwrap_or(-1.0));
        gauge!("resilience4j.circuitbreaker.buffered.calls", "name" => name.clone())
            .set(m.window_calls as f64);
        gauge!("resilience.circuitbreaker.critical", "name" => name).set(if self.is_critical() {
            1.0
        } else {
            0.0
        });
    }
}

impl Reconfigurable for CircuitBreaker {
    type Settings = CircuitBreakerBuilder;
    type Given = ();

    fn current(&self) -> CircuitBreakerBuilder {
        self.settings()
    }

    fn set(
        b: CircuitBreakerBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<CircuitBreakerBuilder>, String> {
        Ok(Some(match key {
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
            _ => return Ok(None),
        }))
    }

    fn check(b: &CircuitBreakerBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: CircuitBreakerBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }

    /// A new window below a `min_calls` this change leaves as it is: said of the window, the
    /// setting that was changed.
    fn explain(
        b: &CircuitBreakerBuilder,
        given: &dyn Fn(&str) -> bool,
    ) -> Option<(&'static str, String)> {
        let (Some(min_calls), WindowSpec::Calls(window)) = (b.min_calls, b.window) else {
            return None;
        };
        (min_calls > window && given("window") && !given("min_calls")).then(|| {
            (
                "window",
                format!(
                    "window = {window} is less than min_calls = {min_calls}, so the breaker \
                     could never trip; make the window at least {min_calls}, or lower min_calls \
                     first"
                ),
            )
        })
    }
}

/// An open wait: `30s`, or `exponential(5s, max = 5m)`; returns (initial, max).
fn parse_open(s: &str) -> Result<(Duration, Duration), String> {
    let t = s.trim();
    if !t.contains('(') {
        let d = parse_duration(t)?;
        return Ok((d, d));
    }
    match call(t) {
        Some(("exponential", initial, named)) if named.len() == 1 && named[0].0 == "max" => {
            Ok((parse_duration(initial)?, parse_duration(named[0].1)?))
        }
        _ => Err(format!(
            "`{t}` is not an open wait: write 30s, or exponential(5s, max = 5m)"
        )),
    }
}

fn fmt_open(initial: Duration, max: Duration) -> String {
    if initial == max {
        fmt_duration(initial)
    } else {
        format!(
            "exponential({}, max = {})",
            fmt_duration(initial),
            fmt_duration(max)
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn open_waits_round_trip() {
        let (i, m) = parse_open("exponential(5s, max = 5m)").unwrap();
        assert_eq!(fmt_open(i, m), "exponential(5s, max = 5m)");
        assert_eq!(parse_open("30s").unwrap().0, Duration::from_secs(30));
        assert_eq!(
            fmt_open(Duration::from_secs(30), Duration::from_secs(30)),
            "30s"
        );
        assert!(parse_open("linear(5s, max = 5m)").is_err());
    }
}
