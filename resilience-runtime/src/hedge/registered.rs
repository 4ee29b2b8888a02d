//! The hedge as the registry sees it: its delay, percentile and most hedges by key, its
//! counters, its metrics.

use resilience_syntax::percentile;

use super::{After, Hedge, HedgeBuilder, HedgeMetrics};
use crate::describe::units::{fmt_duration, parse_count, parse_duration};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

impl Figured for HedgeMetrics {
    fn figures(&self) -> Figures {
        Figures {
            calls: Some(self.calls),
            retries: Some(self.hedges),
            ..Figures::default()
        }
    }
}

/// `after` as written: `50ms` or `p95`.
pub(crate) fn fmt_after(after: After) -> String {
    match after {
        After::Fixed(d) => fmt_duration(d),
        After::Percentile(p) => percentile::format(p),
    }
}

fn parse_after(value: &str) -> Result<After, String> {
    if value.trim().starts_with('p') {
        percentile::parse(value).map(After::Percentile)
    } else {
        parse_duration(value).map(After::Fixed)
    }
}

impl Describe for Hedge {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Hedge
    }

    fn names(&self) -> &Name {
        Hedge::names(self)
    }

    fn reset(&self) {
        Hedge::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![("after", fmt_after(self.after()))];
        if let Some(initial) = self.initial() {
            settings.push(("initial", fmt_duration(initial)));
        }
        settings.push(("max", self.max().to_string()));
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
        counter!("resilience.hedge.calls", "name" => name.clone()).absolute(m.calls);
        counter!("resilience.hedge.hedges", "name" => name.clone()).absolute(m.hedges);
        counter!("resilience.hedge.wins", "name" => name.clone()).absolute(m.wins);
        counter!("resilience.hedge.cancelled", "name" => name.clone()).absolute(m.cancelled);
        counter!("resilience.hedge.skipped", "name" => name.clone()).absolute(m.skipped);
        gauge!("resilience.hedge.delay_seconds", "name" => name).set(m.delay.as_secs_f64());
    }
}

impl Reconfigurable for Hedge {
    type Settings = HedgeBuilder;
    type Given = ();

    fn current(&self) -> HedgeBuilder {
        self.settings()
    }

    fn set(
        b: HedgeBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<HedgeBuilder>, String> {
        Ok(match key {
            "after" => Some(match parse_after(value)? {
                // A fixed delay has no initial one; a percentile keeps the one it had.
                After::Fixed(d) => HedgeBuilder {
                    initial: None,
                    ..b.after(d)
                },
                After::Percentile(p) => b.after_percentile(p),
            }),
            "initial" => Some(b.initial(parse_duration(value)?)),
            "max" => Some(b.max(parse_count(value)?)),
            _ => None,
        })
    }

    fn check(b: &HedgeBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: HedgeBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}
