//! The retry policy as the registry sees it: its settings by key, its counters, its metrics.

use resilience_syntax::names;

use super::{Retry, RetryBuilder};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::{Name, Named};
use crate::registry::describe::{Change, Describe, Figures, Metrics};
use crate::registry::units::{fmt_backoff, fmt_jitter, parse_backoff, parse_count, parse_jitter};

impl Named for Retry {
    fn name_of(&self) -> &Name {
        self.names()
    }
}

impl Describe for Retry {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Retry
    }

    fn names(&self) -> &Name {
        Retry::names(self)
    }

    fn keys(&self) -> Vec<&'static str> {
        names::RETRY.to_vec()
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

    fn read(&self) -> (Metrics, Figures) {
        let m = self.metrics();
        let figures = Figures {
            failures: Some(m.gave_up),
            retries: Some(m.retries),
            ..Figures::default()
        };
        (Metrics::Retry(m), figures)
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
