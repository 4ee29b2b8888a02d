//! The timeout as the registry sees it: its duration by key, its counter, its metrics.

use super::{Timeout, TimeoutBuilder, TimeoutMetrics};
use crate::describe::units::{fmt_duration, parse_duration};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

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
        Pending::boxed(self)
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        metrics::counter!("resilience4j.timelimiter.calls", "name" => name.to_owned(), "kind" => "timeout")
            .absolute(self.metrics().timed_out);
    }
}

impl Reconfigurable for Timeout {
    type Settings = TimeoutBuilder;
    type Given = ();

    fn current(&self) -> TimeoutBuilder {
        self.settings()
    }

    fn set(
        b: TimeoutBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<TimeoutBuilder>, String> {
        Ok(match key {
            "duration" => Some(b.duration(parse_duration(value)?)),
            _ => None,
        })
    }

    fn check(b: &TimeoutBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: TimeoutBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}
