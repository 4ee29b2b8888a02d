//! The retry budget as the registry sees it: its settings by key, its level and refusals.

use super::{RetryBudget, RetryBudgetBuilder, RetryBudgetMetrics};
use crate::describe::units::{
    fmt_duration, fmt_percent, parse_count, parse_duration, parse_percent,
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
            ("min", format!("{}/s", self.min_per_second())),
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
            "min" => Some(b.min_per_second(parse_per_second(value)?)),
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

/// `min`: retries per second, written `10/s` as the attribute takes it.
fn parse_per_second(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let count = t
        .strip_suffix("/s")
        .ok_or_else(|| format!("`{t}` is not a floor of retries per second: write min = 10/s"))?;
    parse_count(count.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_is_a_count_per_second() {
        assert_eq!(parse_per_second("10/s"), Ok(10));
        assert!(parse_per_second("10/m").unwrap_err().contains("min = 10/s"));
    }
}
