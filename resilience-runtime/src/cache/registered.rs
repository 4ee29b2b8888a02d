//! The cache as the registry sees it: `ttl`, `stale`, `refresh` and `capacity` by key, its hits
//! and misses.

use super::{Cache, CacheBuilder, CacheMetrics};
use crate::describe::units::{fmt_duration, fmt_or_off, parse_count, parse_duration, parse_or_off};
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

impl Figured for CacheMetrics {
    fn figures(&self) -> Figures {
        Figures {
            calls: Some(self.hits + self.misses),
            successes: Some(self.hits),
            keys: Some(self.entries),
            ..Figures::default()
        }
    }
}

impl Describe for Cache {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Cache
    }

    fn names(&self) -> &Name {
        Cache::names(self)
    }

    fn reset(&self) {
        Cache::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let s = self.settings();
        let off = |d| fmt_or_off(d, fmt_duration);
        vec![
            ("ttl", fmt_duration(s.ttl)),
            ("stale", off(s.stale)),
            ("refresh", off(s.refresh)),
            ("capacity", s.capacity.to_string()),
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
        gauge!("resilience.cache.entries", "name" => name.clone()).set(m.entries as f64);
        for (kind, count) in [
            ("hit", m.hits),
            ("miss", m.misses),
            ("stale", m.stale_served),
        ] {
            counter!("resilience.cache.calls", "name" => name.clone(), "kind" => kind)
                .absolute(count);
        }
        counter!("resilience.cache.evictions", "name" => name).absolute(m.evictions);
    }
}

impl Reconfigurable for Cache {
    type Settings = CacheBuilder;
    type Given = ();

    fn current(&self) -> CacheBuilder {
        self.settings()
    }

    fn set(
        b: CacheBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<CacheBuilder>, String> {
        let optional = |value: &str| parse_or_off(value, parse_duration);
        Ok(match key {
            "ttl" => Some(b.ttl(parse_duration(value)?)),
            "stale" => Some(b.stale(optional(value)?)),
            "refresh" => Some(b.refresh(optional(value)?)),
            "capacity" => Some(b.capacity(parse_count(value)? as usize)),
            _ => None,
        })
    }

    fn check(b: &CacheBuilder) -> Result<(), ConfigError> {
        b.check().map(drop)
    }

    fn apply(&self, b: CacheBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}
