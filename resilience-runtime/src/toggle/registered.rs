//! The toggle as the registry sees it: `on` by key, what it served.

use super::{Toggle, ToggleBuilder, ToggleMetrics};
use crate::describe::units::parse_bool;
use crate::describe::{Change, Describe, Figured, Figures, Pending, Reconfigurable};
use crate::error::ConfigError;
use crate::kind::PolicyKind;
use crate::name::Name;

impl Figured for ToggleMetrics {
    fn figures(&self) -> Figures {
        Figures {
            calls: Some(self.served),
            ..Figures::default()
        }
    }
}

impl Describe for Toggle {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Toggle
    }

    fn names(&self) -> &Name {
        Toggle::names(self)
    }

    fn reset(&self) {
        Toggle::reset(self);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![("on", self.is_on().to_string())]
    }

    fn change(&'static self) -> Box<dyn Change> {
        Pending::boxed(self)
    }

    #[cfg(feature = "metrics")]
    fn export(&self, name: &str) {
        use metrics::{counter, gauge};
        let m = self.metrics();
        gauge!("resilience.toggle.on", "name" => name.to_owned()).set(if m.on { 1.0 } else { 0.0 });
        counter!("resilience.toggle.served", "name" => name.to_owned()).absolute(m.served);
    }
}

impl Reconfigurable for Toggle {
    type Settings = ToggleBuilder;
    type Given = ();

    fn current(&self) -> ToggleBuilder {
        self.settings()
    }

    fn set(
        b: ToggleBuilder,
        (): &mut (),
        key: &str,
        value: &str,
    ) -> Result<Option<ToggleBuilder>, String> {
        Ok(match key {
            "on" => Some(b.on(parse_bool(value)?)),
            _ => None,
        })
    }

    fn check(b: &ToggleBuilder) -> Result<(), ConfigError> {
        b.build().map(drop)
    }

    fn apply(&self, b: ToggleBuilder) -> Result<(), ConfigError> {
        self.reconfigure(b)
    }
}
