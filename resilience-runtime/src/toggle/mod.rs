//! Feature toggles: a degraded mode an operator switches by name.
//!
//! A [`Toggle`] is a named switch, off unless declared or turned on. A function whose fallback
//! names it (`#[fallback(popular_products, degraded = RECOMMENDATIONS_OFF)]`) serves its
//! fallback without calling what is below while the toggle is on: the recommendations page that
//! shows the popular products while the recommendation service is being worked on, without a
//! call to it, and without waiting for a breaker to find out.
//!
//! ```
//! use resilience_runtime::{registry, Toggle};
//!
//! static RECOMMENDATIONS_OFF: Toggle = match Toggle::builder("RECOMMENDATIONS_OFF").build() {
//!     Ok(t) => t,
//!     Err(_) => panic!("invalid toggle"),
//! };
//! registry::register(&RECOMMENDATIONS_OFF);
//!
//! assert!(!RECOMMENDATIONS_OFF.is_on());
//! registry::set("RECOMMENDATIONS_OFF", "on", "true").unwrap(); // or the configuration file
//! assert!(RECOMMENDATIONS_OFF.is_on());
//! ```
//!
//! # Not a forced-open breaker
//!
//! A breaker forced open is an incident: a critical one makes health "down", and its rejections
//! are counted as such. A toggle is a decision: it never touches health (every replica stays
//! ready), and a call it degrades is counted as served degraded (`ToggleMetrics::served`), not
//! as a rejection. The fallback sees a [`Degraded`](crate::ErrorKind::Degraded) rejection naming
//! the toggle, so it can tell the two apart; no retry repeats it.
//!
//! Reading it costs a call one relaxed load while it is off.

mod registered;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::error::{ConfigError, Error, ErrorKind};
use crate::event::{EventKind, PolicyKind, emit};
use crate::name::Name;

/// A named switch for a degraded mode: see the [module docs](self).
pub struct Toggle {
    name: Name,
    on: AtomicBool,
    /// Calls served degraded while it was on.
    served: AtomicU64,
    /// Times it was switched, on or off.
    switched: AtomicU64,
    /// The settings it was built with, for [`reset`](Self::reset).
    declared: ToggleBuilder,
}

/// Builds a [`Toggle`]; every method is `const`. Made by [`Toggle::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ToggleBuilder {
    pub(crate) name: &'static str,
    pub(crate) on: bool,
}

/// A snapshot of a toggle, from [`Toggle::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToggleMetrics {
    /// Whether it is on.
    pub on: bool,
    /// Calls served degraded (by their fallback, without calling what is below) while it was on.
    pub served: u64,
    /// Times it was switched, on or off, since it was built or reset.
    pub switched: u64,
}

impl ToggleBuilder {
    /// Whether it starts on (default off).
    pub const fn on(mut self, on: bool) -> Self {
        self.on = on;
        self
    }

    /// Builds the toggle.
    ///
    /// # Errors
    ///
    /// None today (every setting is valid); a `Result` as every builder's, so a setting that
    /// can be wrong may come without breaking callers.
    pub const fn build(self) -> Result<Toggle, ConfigError> {
        Ok(Toggle {
            name: Name::new(self.name),
            on: AtomicBool::new(self.on),
            served: AtomicU64::new(0),
            switched: AtomicU64::new(0),
            declared: self,
        })
    }
}

impl Toggle {
    /// Starts building a toggle named `name` (its registry name), off.
    pub const fn builder(name: &'static str) -> ToggleBuilder {
        ToggleBuilder { name, on: false }
    }

    /// The name it reports, and is listed under in the registry.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    /// Whether the degraded mode is on.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Switches the degraded mode on or off (published as an event when it changes).
    pub fn set(&self, on: bool) {
        if self.on.swap(on, Relaxed) != on {
            self.switched.fetch_add(1, Relaxed);
            emit(&self.name, PolicyKind::Toggle, EventKind::Switched { on });
        }
    }

    /// Switches the degraded mode on.
    pub fn turn_on(&self) {
        self.set(true);
    }

    /// Switches the degraded mode off.
    pub fn turn_off(&self) {
        self.set(false);
    }

    /// For a call about to run: `None` while the toggle is off; while it is on, the
    /// [`Degraded`](ErrorKind::Degraded) rejection its fallback is handed instead of calling
    /// what is below, the call counted as served degraded.
    #[inline]
    pub fn degrade(&self) -> Option<Error> {
        if !self.is_on() {
            return None;
        }
        Some(self.degraded())
    }

    #[cold]
    fn degraded(&self) -> Error {
        self.served.fetch_add(1, Relaxed);
        emit(&self.name, PolicyKind::Toggle, EventKind::Degraded);
        Error::named(ErrorKind::Degraded, &self.name)
    }

    /// The settings now, as a builder.
    pub fn settings(&self) -> ToggleBuilder {
        Toggle::builder(self.name.get()).on(self.is_on())
    }

    /// Applies `settings` (switches it as [`set`](Self::set) does).
    ///
    /// # Errors
    ///
    /// None today; see [`ToggleBuilder::build`].
    pub fn reconfigure(&self, settings: ToggleBuilder) -> Result<(), ConfigError> {
        self.set(settings.on);
        Ok(())
    }

    /// Makes the toggle as it was built: its declared state, its counters at zero.
    pub fn reset(&self) {
        self.on.store(self.declared.on, Relaxed);
        self.served.store(0, Relaxed);
        self.switched.store(0, Relaxed);
    }

    /// Its state and counters.
    pub fn metrics(&self) -> ToggleMetrics {
        ToggleMetrics {
            on: self.is_on(),
            served: self.served.load(Relaxed),
            switched: self.switched.load(Relaxed),
        }
    }
}

impl fmt::Debug for Toggle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toggle")
            .field("name", &self.name())
            .field("metrics", &self.metrics())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn a_toggle_degrades_only_while_on_and_counts_what_it_served() {
        let t = Toggle::builder("t").build().unwrap();
        assert_eq!(t.degrade(), None);
        t.turn_on();
        let e = t.degrade().unwrap();
        assert_eq!((e.kind(), e.policy()), (ErrorKind::Degraded, "t"));
        t.turn_on();
        t.turn_off();
        assert_eq!(t.degrade(), None);
        assert_eq!(
            t.metrics(),
            ToggleMetrics {
                on: false,
                served: 1,
                switched: 2
            }
        );
        assert!(format!("{t:?}").contains("\"t\""));
    }

    #[test]
    fn reset_restores_the_declared_state() {
        let t = Toggle::builder("t").on(true).build().unwrap();
        assert!(t.is_on());
        t.reconfigure(t.settings().on(false)).unwrap();
        assert!(!t.is_on());
        assert_eq!(t.settings(), Toggle::builder("t").on(false));
        t.reset();
        assert!(t.is_on());
        assert_eq!(t.metrics().switched, 0);
    }
}
