//! A keyed family as the registry sees it: one entry with the kind's settings and its own
//! (`max_keys`, a breaker family's `idle`), its key count, evictions and overflows; reconfigured
//! by key, which reconfigures every child; in health, at most degraded.

use resilience_syntax::options;

use super::{Keyable, Keyed, KeyedBuilder, KeyedMetrics, nanos};
use crate::describe::units::{fmt_duration, parse_count, parse_duration};
use crate::describe::{Change, Concern, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;
use crate::state::State;

impl Figured for KeyedMetrics {
    fn figures(&self) -> Figures {
        Figures {
            // A family of breakers reads as open while one of its children is.
            state: self
                .tripped
                .map(|n| if n > 0 { State::Open } else { State::Closed }),
            rejections: Some(self.overflows),
            keys: Some(self.keys),
            ..Figures::default()
        }
    }
}

impl<P> Describe for Keyed<P>
where
    P: Keyable + Describe + Reconfigurable<Settings = <P as Keyable>::Settings>,
{
    fn kind(&self) -> PolicyKind {
        P::KIND
    }

    fn names(&self) -> &Name {
        &self.name
    }

    /// The kind's settings, then the family's own.
    fn keys(&self) -> Vec<&'static str> {
        let kind = P::KIND.as_str();
        options::settings(kind)
            .chain(options::of(kind).filter(|o| o.keyed).map(|o| o.name))
            .collect()
    }

    fn reset(&self) {
        Keyed::reset(self);
    }

    /// What a child is built with (read from one built for the purpose), then `max_keys` and a
    /// breaker family's `idle`.
    fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = P::make(Keyed::settings(self), Name::new(self.name.built()))
            .map(|child| child.settings())
            .unwrap_or_default();
        settings.push(("max_keys", self.max_keys().to_string()));
        if P::NEEDS_IDLE {
            settings.push(("idle", fmt_duration(self.idle())));
        }
        settings
    }

    /// Degraded while one child keeps its key out, never down: one tenant's or host's outage
    /// must not fail the service's readiness.
    fn health(&self) -> Option<Concern> {
        (self.metrics().tripped? > 0).then_some(Concern {
            state: State::Open,
            critical: false,
        })
    }

    fn change(&'static self) -> Box<dyn Change> {
        Pending::boxed(self)
    }

    /// Tagged by the family's name only: a tag per key would grow without bound.
    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        use metrics::{counter, gauge};
        let m = self.metrics();
        let name = name.to_owned();
        gauge!("resilience.keyed.keys", "name" => name.clone()).set(m.keys as f64);
        gauge!("resilience.keyed.max.keys", "name" => name.clone()).set(m.max_keys as f64);
        counter!("resilience.keyed.evictions", "name" => name.clone()).absolute(m.evictions);
        counter!("resilience.keyed.overflows", "name" => name.clone()).absolute(m.overflows);
        if let Some(tripped) = m.tripped {
            gauge!("resilience.keyed.tripped", "name" => name.clone()).set(tripped as f64);
        }
        if crate::event::metrics::key_tags() {
            for (key, child) in self.children() {
                child.export(&format!("{name}[{key}]"));
            }
        }
    }
}

impl<P> Reconfigurable for Keyed<P>
where
    P: Keyable + Reconfigurable<Settings = <P as Keyable>::Settings>,
{
    type Settings = KeyedBuilder<P>;
    type Given = <P as Reconfigurable>::Given;

    fn current(&self) -> KeyedBuilder<P> {
        KeyedBuilder {
            settings: Keyed::settings(self),
            max_keys: self.max_keys(),
            idle: self.idle(),
        }
    }

    fn set(
        b: KeyedBuilder<P>,
        given: &mut Self::Given,
        key: &str,
        value: &str,
    ) -> Result<Option<KeyedBuilder<P>>, String> {
        match key {
            "max_keys" => Ok(Some(b.max_keys(parse_count(value)? as usize))),
            "idle" if P::NEEDS_IDLE => Ok(Some(b.idle(parse_duration(value)?))),
            "critical" if P::KIND == PolicyKind::CircuitBreaker => {
                Err(super::CRITICAL_KEYED.to_owned())
            }
            _ => Ok(<P as Reconfigurable>::set(b.settings, given, key, value)?
                .map(|settings| KeyedBuilder { settings, ..b })),
        }
    }

    fn check(b: &KeyedBuilder<P>) -> Result<(), ConfigError> {
        <P as Reconfigurable>::check(&b.settings)?;
        b.checked("").map(drop)
    }

    fn apply(&self, b: KeyedBuilder<P>) -> Result<(), ConfigError> {
        self.reconfigure(b.settings)?;
        self.set_max_keys(b.max_keys);
        self.idle_nanos
            .store(nanos(b.idle), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn explain(
        b: &KeyedBuilder<P>,
        given: &dyn Fn(&str) -> bool,
    ) -> Option<(&'static str, String)> {
        <P as Reconfigurable>::explain(&b.settings, given)
    }
}
