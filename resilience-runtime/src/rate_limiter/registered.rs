//! The rate limiter as the registry sees it: its settings by key, its counters and permits,
//! its metrics.

use resilience_syntax::names;

use super::{RateLimiter, RateLimiterBuilder};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::{Name, Named};
use crate::registry::describe::{Change, Describe, Figures, Metrics};
use crate::registry::units::{fmt_duration, fmt_rate, parse_count, parse_duration, parse_rate};

impl Named for RateLimiter {
    fn name_of(&self) -> &Name {
        self.names()
    }
}

impl Describe for RateLimiter {
    fn kind(&self) -> PolicyKind {
        PolicyKind::RateLimiter
    }

    fn names(&self) -> &Name {
        RateLimiter::names(self)
    }

    /// The positional value's own key, `rate`, and the attribute's options.
    fn keys(&self) -> Vec<&'static str> {
        [&["rate"], names::RATE_LIMITER].concat()
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

    fn read(&self) -> (Metrics, Figures) {
        let m = self.metrics();
        let figures = Figures {
            calls: Some(m.calls),
            rejections: Some(m.rejections),
            queued: Some(m.waiting),
            available: Some(m.available),
            ..Figures::default()
        };
        (Metrics::RateLimiter(m), figures)
    }

    fn change(&'static self) -> Box<dyn Change> {
        Box::new(Pending {
            policy: self,
            settings: self.settings(),
            burst_given: false,
        })
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

/// A rate limiter and the settings it will get.
#[derive(Clone, Debug)]
struct Pending {
    policy: &'static RateLimiter,
    settings: RateLimiterBuilder,
    /// Whether `burst` was given: if not, a burst that was the old rate's count (the
    /// default) follows a new rate.
    burst_given: bool,
}

impl Change for Pending {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let settings = self.settings;
        self.settings = match key {
            "rate" => {
                let (count, per) = parse_rate(value)?;
                let old_count = settings.rate.map_or(0, |(c, _)| c);
                let mut s = settings.rate(count, per);
                if !self.burst_given && settings.burst == Some(old_count) {
                    s.burst = None;
                }
                s
            }
            "burst" => {
                let burst = parse_count(value)?;
                self.burst_given = true;
                settings.burst(burst)
            }
            "wait" => settings.wait(parse_duration(value)?),
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
