//! The idempotency store as the registry sees it: `ttl` and `capacity` by key, its keys and
//! what it served.

use super::{Idempotency, IdempotencyBuilder, IdempotencyMetrics};
use crate::describe::units::{fmt_duration, parse_count, parse_duration};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

impl Figured for IdempotencyMetrics {
    fn figures(&self) -> Figures {
        Figures {
            calls: Some(self.first_runs),
            rejections: Some(self.rejected + self.full),
            keys: Some(self.keys),
            ..Figures::default()
        }
    }
}

impl Describe for Idempotency {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Idempotency
    }

    fn names(&self) -> &Name {
        Idempotency::names(self)
    }

    fn reset(&self) {
        Idempotency::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ttl", fmt_duration(self.ttl())),
            ("capacity", self.capacity().to_string()),
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
        gauge!("resilience.idempotency.keys", "name" => name.clone()).set(m.keys as f64);
        for (kind, count) in [
            ("first", m.first_runs),
            ("replayed", m.replayed + m.joined),
            ("rejected", m.rejected),
            ("full", m.full),
        ] {
            counter!("resilience.idempotency.calls", "name" => name.clone(), "kind" => kind)
                .absolute(count);
        }
    }
}

impl Reconfigurable for Idempotency {
    type Settings = IdempotencyBuilder;
    type Given = ();

    fn current(&self) -> IdempotencyBuilder {
        self.settings()
    }

    fn set(
        b: IdempotencyBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<IdempotencyBuilder>, String> {
        Ok(match key {
            "ttl" => Some(b.ttl(parse_duration(value)?)),
            "capacity" => Some(b.capacity(parse_count(value)? as usize)),
            _ => None,
        })
    }

    fn check(b: &IdempotencyBuilder) -> Result<(), ConfigError> {
        b.check().map(drop)
    }

    fn apply(&self, b: IdempotencyBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}
