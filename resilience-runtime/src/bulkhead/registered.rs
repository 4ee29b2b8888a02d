//! The bulkhead as the registry sees it: its settings by key, its occupancy and counters, its
//! metrics.

use resilience_syntax::options;

use super::adaptive::Algorithm;
use super::{Bulkhead, BulkheadBuilder, BulkheadMetrics};
use crate::describe::units::{fmt_duration, parse_count, parse_duration};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

// The option table's limit is the bulkhead's own: the slots its state word holds.
const _: () = assert!(options::MAX_BULKHEAD_SLOTS == super::MAX_BULKHEAD_SLOTS);

impl Figured for BulkheadMetrics {
    fn figures(&self) -> Figures {
        let m = self;
        Figures {
            calls: Some(m.calls),
            rejections: Some(m.rejections),
            in_use: Some(m.in_use),
            queued: Some(u64::from(m.queued)),
            limit: Some(m.max),
            ..Figures::default()
        }
    }
}

impl Describe for Bulkhead {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Bulkhead
    }

    fn names(&self) -> &Name {
        Bulkhead::names(self)
    }

    fn reset(&self) {
        Bulkhead::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("max", self.max().to_string()),
            ("queue", self.queue().to_string()),
        ];
        if let Some(wait) = self.wait().filter(|_| self.queue() > 0) {
            settings.push(("wait", fmt_duration(wait)));
        }
        if let Some(algorithm) = self.adaptive() {
            settings.push(("adaptive", algorithm.as_str().to_owned()));
            settings.push(("min", self.min().to_string()));
            if let Some(initial) = self.initial() {
                settings.push(("initial", initial.to_string()));
            }
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
        gauge!("resilience4j.bulkhead.available.concurrent.calls", "name" => name.clone())
            .set(f64::from(m.max.saturating_sub(m.in_use)));
        gauge!("resilience4j.bulkhead.max.allowed.concurrent.calls", "name" => name.clone())
            .set(f64::from(m.max));
        gauge!("resilience.bulkhead.limit", "name" => name.clone()).set(f64::from(m.max));
        gauge!("resilience4j.bulkhead.queued.calls", "name" => name.clone())
            .set(f64::from(m.queued));
        let calls = |kind: &'static str, value: u64| {
            counter!("resilience4j.bulkhead.calls", "name" => name.clone(), "kind" => kind)
                .absolute(value);
        };
        calls("finished", m.completed);
        calls("rejected", m.rejections);
        calls("cancelled", m.cancelled + m.panicked);
    }
}

impl Reconfigurable for Bulkhead {
    type Settings = BulkheadBuilder;
    type Given = ();

    fn current(&self) -> BulkheadBuilder {
        self.settings()
    }

    fn set(
        b: BulkheadBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<BulkheadBuilder>, String> {
        Ok(Some(match key {
            "max" => b.max(parse_count(value)?),
            // No queue leaves no wait to apply, as `Bulkhead::set_queue` does.
            "queue" => match parse_count(value)? {
                0 => b.queue(0).until_a_slot_frees(),
                queue => b.queue(queue),
            },
            "wait" if matches!(value.trim(), "none" | "until_a_slot_frees") => {
                b.until_a_slot_frees()
            }
            "wait" => b.wait(parse_duration(value)?),
            "adaptive" if value.trim() == "off" => b.fixed(),
            "adaptive" => match Algorithm::from_name(value) {
                Some(algorithm) => b.adaptive(algorithm),
                None => {
                    return Err(format!(
                        "`{}` is not an adaptive limit's algorithm: write adaptive = gradient2, adaptive = aimd, or off",
                        value.trim()
                    ));
                }
            },
            "min" => b.min(parse_count(value)?),
            "initial" => b.initial(parse_count(value)?),
            _ => return Ok(None),
        }))
    }

    fn check(b: &BulkheadBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: BulkheadBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}
