//! The rate limiter as the registry sees it: its settings by key, its counters and permits,
//! its metrics.

use super::{RateLimiter, RateLimiterBuilder, RateLimiterMetrics};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

use crate::describe::units::{fmt_duration, fmt_rate, parse_count, parse_duration, parse_rate};

impl Figured for RateLimiterMetrics {
    fn figures(&self) -> Figures {
        let m = self;
        Figures {
            calls: Some(m.calls),
            rejections: Some(m.rejections),
            queued: Some(m.waiting),
            available: Some(m.available),
            ..Figures::default()
        }
    }
}

impl Describe for RateLimiter {
    fn kind(&self) -> PolicyKind {
        PolicyKind::RateLimiter
    }

    fn names(&self) -> &Name {
        RateLimiter::names(self)
    }

    fn reset(&self) {
        RateLimiter::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let (count, per) = self.rate();
        let mut settings = vec![
            ("rate", fmt_rate(count, per)),
            ("burst", self.burst().to_string()),
        ];
        if !self.wait().is_zero() {
            settings.push(("wait", fmt_duration(self.wait())));
        }
        settings
    }

    fn change(&'static self) -> Box<dyn Change> {
        Pending::boxed(self)
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        use metrics::{counter, gauge};
        let m = self.metrics();
        let name = name.to_owned();
        gauge!("resilience4j.ratelimiter.available.permissions", "name" => name.clone())
            .set(f64::from(m.available));
        gauge!("resilience4j.ratelimiter.waiting_threads", "name" => name.clone())
            .set(m.waiting as f64);
        counter!("resilience4j.ratelimiter.calls", "name" => name.clone(), "kind" => "successful")
            .absolute(m.admitted);
        counter!("resilience4j.ratelimiter.calls", "name" => name, "kind" => "failed")
            .absolute(m.rejections);
    }
}

/// What a change of a rate limiter remembers beside its settings.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RateLimiterGiven {
    /// Whether `burst` was given: if not, a burst that was the old rate's count (the default)
    /// follows a new rate.
    burst: bool,
}

impl Reconfigurable for RateLimiter {
    type Settings = RateLimiterBuilder;
    type Given = RateLimiterGiven;

    fn current(&self) -> RateLimiterBuilder {
        self.settings()
    }

    fn set(
        settings: RateLimiterBuilder,
        given: &mut RateLimiterGiven,
        key: &str,
        value: &str,
    ) -> Result<Option<RateLimiterBuilder>, String> {
        Ok(Some(match key {
            "rate" => {
                let (count, per) = parse_rate(value)?;
                let old_count = settings.rate.map_or(0, |(c, _)| c);
                let mut s = settings.rate(count, per);
                if !given.burst && settings.burst == Some(old_count) {
                    s.burst = None;
                }
                s
            }
            "burst" => {
                let burst = parse_count(value)?;
                given.burst = true;
                settings.burst(burst)
            }
            "wait" => settings.wait(parse_duration(value)?),
            _ => return Ok(None),
        }))
    }

    fn check(b: &RateLimiterBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: RateLimiterBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(count: u32, burst: Option<u32>) -> &'static RateLimiter {
        let b = RateLimiter::builder("l").rate(count, Duration::from_secs(1));
        let b = match burst {
            Some(burst) => b.burst(burst),
            None => b,
        };
        Box::leak(Box::new(b.build().unwrap()))
    }

    #[test]
    fn a_burst_that_was_the_old_rates_count_follows_a_new_rate() {
        // The default burst (the count) follows.
        let l = limiter(10, None);
        let mut c = Pending::boxed(l);
        assert_eq!(c.set("rate", "40/s"), Ok(true));
        c.apply().unwrap();
        assert_eq!(l.burst(), 40);
        // A burst of its own stays.
        let l = limiter(10, Some(3));
        let mut c = Pending::boxed(l);
        assert_eq!(c.set("rate", "40/s"), Ok(true));
        c.apply().unwrap();
        assert_eq!(l.burst(), 3);
        // A burst given in the same change stays, before or after the rate.
        for order in [["burst", "rate"], ["rate", "burst"]] {
            let l = limiter(10, None);
            let mut c = Pending::boxed(l);
            for key in order {
                let value = if key == "burst" { "10" } else { "40/s" };
                assert_eq!(c.set(key, value), Ok(true));
            }
            c.apply().unwrap();
            assert_eq!((l.rate().0, l.burst()), (40, 10), "{order:?}");
        }
        // A burst that does not parse is not a burst given.
        let l = limiter(10, None);
        let mut c = Pending::boxed(l);
        assert!(c.set("burst", "many").is_err());
        assert_eq!(c.set("rate", "40/s"), Ok(true));
        c.apply().unwrap();
        assert_eq!(l.burst(), 40);
    }

    #[test]
    fn rates_read_and_print_as_the_attribute_writes_them() {
        assert_eq!(
            parse_rate("6000/m").unwrap(),
            (6000, Duration::from_secs(60))
        );
        assert_eq!(fmt_rate(100, Duration::from_secs(1)), "100/s");
        assert!(parse_rate("100").is_err());
        // Every period the attribute takes, and back.
        for (rate, per) in [
            ("5/ms", Duration::from_millis(1)),
            ("100/s", Duration::from_secs(1)),
            ("10/h", Duration::from_secs(3600)),
            ("3/10s", Duration::from_secs(10)),
        ] {
            let parsed = parse_rate(rate).unwrap();
            assert_eq!(parsed, (parsed.0, per), "{rate}");
            assert_eq!(fmt_rate(parsed.0, parsed.1), rate);
        }
    }
}
