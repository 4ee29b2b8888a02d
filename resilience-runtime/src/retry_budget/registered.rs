//! The retry budget as the registry sees it: its settings by key, its level and refusals.

use super::{RetryBudget, RetryBudgetBuilder, RetryBudgetMetrics};
use crate::describe::units::{
    fmt_duration, fmt_percent, fmt_rate, parse_duration, parse_percent, parse_rate,
};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

impl Figured for RetryBudgetMetrics {
    fn figures(&self) -> Figures {
        let m = self;
        Figures {
            calls: Some(m.deposits),
            retries: Some(m.withdrawals),
            rejections: Some(m.refused),
            available: Some(u32::try_from(m.available).unwrap_or(u32::MAX)),
            ..Figures::default()
        }
    }
}

impl Describe for RetryBudget {
    fn kind(&self) -> PolicyKind {
        PolicyKind::RetryBudget
    }

    fn names(&self) -> &Name {
        RetryBudget::names(self)
    }

    fn reset(&self) {
        RetryBudget::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ratio", fmt_percent(self.ratio())),
            ("min", fmt_rate(self.min().0, self.min().1)),
            ("window", fmt_duration(self.window())),
        ]
    }

    fn change(&'static self) -> Box<dyn Change> {
        Pending::boxed(self)
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        use metrics::{counter, gauge};
        let m = self.metrics();
        let name = name.to_owned();
        gauge!("resilience.retry_budget.available", "name" => name.clone()).set(m.available as f64);
        counter!("resilience.retry_budget.withdrawals", "name" => name.clone())
            .absolute(m.withdrawals);
        counter!("resilience.retry_budget.refused", "name" => name).absolute(m.refused);
    }
}

impl Reconfigurable for RetryBudget {
    type Settings = RetryBudgetBuilder;
    type Given = ();

    fn current(&self) -> RetryBudgetBuilder {
        self.settings()
    }

    fn set(
        b: RetryBudgetBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<RetryBudgetBuilder>, String> {
        Ok(match key {
            "ratio" => Some(b.ratio(parse_percent(key, value)?)),
            "min" => {
                let (count, per) = parse_rate(value)?;
                Some(b.min(count, per))
            }
            "window" => Some(b.window(parse_duration(value)?)),
            _ => None,
        })
    }

    fn check(b: &RetryBudgetBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: RetryBudgetBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}
