//! The timeout as the registry sees it: its duration by key, its counter, its metrics.

use super::{Timeout, TimeoutBuilder, TimeoutMetrics};
use crate::describe::units::{fmt_duration, parse_duration};
use crate::describe::{Change, Describe, Figured, Figures};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::{Name, Named};

impl Named for Timeout {
    fn name_of(&self) -> &Name {
        self.names()
    }
}

impl Figured for TimeoutMetrics {
    fn figures(&self) -> Figures {
        let m = self;
        Figures {
            rejections: Some(m.timed_out),
            ..Figures::default()
        }
    }
}

impl Describe for Timeout {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Timeout
    }

    fn names(&self) -> &Name {
        Timeout::names(self)
    }

    fn reset(&self) {
        Timeout::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![("duration", fmt_duration(self.duration()))]
    }

    fn change(&'static self) -> Box<dyn Change> {
        Box::new(Pending {
            policy: self,
            settings: self.settings(),
        })
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        metrics::counter!("resilience4j.timelimiter.calls", "name" => name.to_owned(), "kind" => "timeout")
            .absolute(self.metrics().timed_out);
    }
}

/// A timeout and the settings it will get.
#[derive(Clone, Debug)]
struct Pending {
    policy: &'static Timeout,
    settings: TimeoutBuilder,
}

impl Change for Pending {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        self.settings = match key {
            "duration" => self.settings.duration(parse_duration(value)?),
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
