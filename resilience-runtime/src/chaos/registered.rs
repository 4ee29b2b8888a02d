//! The chaos layer as the registry sees it: `enabled`, its rates, its delay range and seed by
//! key, what it injected.

use std::time::Duration;

use super::{Chaos, ChaosBuilder, ChaosMetrics};
use crate::describe::units::{
    fmt_duration, fmt_or_off, fmt_percent, parse_bool, parse_count, parse_duration, parse_or_off,
    parse_percent,
};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

impl Figured for ChaosMetrics {
    fn figures(&self) -> Figures {
        Figures {
            calls: Some(self.calls),
            failures: Some(self.errors),
            ..Figures::default()
        }
    }
}

impl Describe for Chaos {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Chaos
    }

    fn names(&self) -> &Name {
        Chaos::names(self)
    }

    fn reset(&self) {
        Chaos::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let s = self.settings();
        let rate = |r: Option<f64>| fmt_or_off(r, fmt_percent);
        let mut settings = vec![
            ("enabled", s.enabled.to_string()),
            ("error", rate(s.error)),
            ("latency", rate(s.latency)),
        ];
        if let Some((least, most)) = s.delay {
            settings.push(("delay", fmt_range(least, most)));
        }
        settings.push(("outcome", rate(s.outcome)));
        settings.push(("seed", s.seed.to_string()));
        settings
    }

    fn change(&'static self) -> Box<dyn Change> {
        Pending::boxed(self)
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        let m = self.metrics();
        for (kind, count) in [
            ("error", m.errors),
            ("latency", m.delays),
            ("outcome", m.outcomes),
        ] {
            metrics::counter!("resilience.chaos.injected", "name" => name.to_owned(), "kind" => kind)
                .absolute(count);
        }
    }
}

impl Reconfigurable for Chaos {
    type Settings = ChaosBuilder;
    type Given = ();

    fn current(&self) -> ChaosBuilder {
        self.settings()
    }

    fn set(
        b: ChaosBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<ChaosBuilder>, String> {
        let rate = |value: &str| parse_or_off(value, |v| parse_percent(key, v));
        Ok(match key {
            "enabled" => Some(b.enabled(parse_bool(value)?)),
            "error" => Some(b.error(rate(value)?)),
            "latency" => Some(b.latency(rate(value)?)),
            "outcome" => Some(b.outcome(rate(value)?)),
            "delay" => {
                let (least, most) = parse_range(value)?;
                Some(b.delay(least, most))
            }
            "seed" => Some(b.seed(u64::from(parse_count(value)?))),
            _ => None,
        })
    }

    fn check(b: &ChaosBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: ChaosBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}

/// `200ms..2s`, as the attribute writes it; a single duration is the range of one.
fn parse_range(s: &str) -> Result<(Duration, Duration), String> {
    let t = s.trim();
    match t.split_once("..") {
        Some((least, most)) => Ok((parse_duration(least)?, parse_duration(most)?)),
        None => {
            let d = parse_duration(t)
                .map_err(|_| format!("`{t}` is not a delay range: write delay = 200ms..2s"))?;
            Ok((d, d))
        }
    }
}

fn fmt_range(least: Duration, most: Duration) -> String {
    if least == most {
        fmt_duration(least)
    } else {
        format!("{}..{}", fmt_duration(least), fmt_duration(most))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn a_delay_range_reads_and_prints_as_the_attribute_writes_it() {
        let (least, most) = parse_range("200ms..2s").unwrap();
        assert_eq!(
            (least, most),
            (Duration::from_millis(200), Duration::from_secs(2))
        );
        assert_eq!(fmt_range(least, most), "200ms..2s");
        assert_eq!(
            parse_range("1s").unwrap(),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
        assert_eq!(
            fmt_range(Duration::from_secs(1), Duration::from_secs(1)),
            "1s"
        );
        assert!(
            parse_range("fast")
                .unwrap_err()
                .contains("delay = 200ms..2s")
        );
        assert!(parse_range("1s..soon").is_err());
    }
}
