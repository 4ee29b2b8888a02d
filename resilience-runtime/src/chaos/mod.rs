//! Chaos: faults injected at one position of a stack, to test that the layers above handle
//! them.
//!
//! A [`Chaos`] layer, while enabled, draws for every call from a seeded generator and, at the
//! rates set:
//! - **an error**: the call below does not run, and the layers above see the error the
//!   function's `error_with` makes (as if what is below had failed);
//! - **latency**: the call waits a delay drawn in `delay` first (in tokio's clock, so virtual
//!   time counts), then runs;
//! - **an outcome**: the call below does not run, and the layers above see the `Ok` value
//!   `outcome_with` makes (a stale or empty answer).
//!
//! It is off until enabled at run time, by name: `registry::set("fetch/chaos", "enabled",
//! "true")`, or `enabled = true` in the configuration file; the rates change the same way
//! while it runs. Every injection is an event ([`Injected`](crate::EventKind::Injected)) and a
//! counter ([`ChaosMetrics`]), so a test asserts that the layers above handled what was
//! injected. The same seed gives the same draws, call after call, run after run (one thread;
//! with several, the draws are shared out in the order the calls take them).
//!
//! The `#[chaos]` attribute compiles to nothing unless the `resilience` crate's `chaos`
//! feature is on: a build without it has no chaos layer, no static, no registry entry.

mod registered;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::clock::ticks;
use crate::error::{ConfigError, Failure};
pub use crate::event::Injection;
use crate::event::{EventKind, PolicyKind, emit};
use crate::name::Name;

/// Parts per million in a whole.
const PPM: u32 = 1_000_000;

/// A chaos layer: see the [module docs](self).
pub struct Chaos {
    name: Name,
    enabled: AtomicBool,
    /// Each rate in parts per million; 0 is off.
    error_ppm: AtomicU32,
    latency_ppm: AtomicU32,
    outcome_ppm: AtomicU32,
    /// The delay's range, in nanoseconds.
    delay_min: AtomicU64,
    delay_max: AtomicU64,
    seed: AtomicU64,
    /// The generator's state: splitmix64's counter.
    state: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
    delays: AtomicU64,
    outcomes: AtomicU64,
    declared: ChaosBuilder,
}

/// Builds a [`Chaos`] layer; every method is `const`. Made by [`Chaos::builder`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ChaosBuilder {
    pub(crate) name: &'static str,
    pub(crate) enabled: bool,
    pub(crate) error: Option<f64>,
    pub(crate) latency: Option<f64>,
    pub(crate) delay: Option<(Duration, Duration)>,
    pub(crate) outcome: Option<f64>,
    pub(crate) seed: u64,
}

/// A snapshot of a chaos layer, from [`Chaos::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosMetrics {
    /// Whether it injects now.
    pub enabled: bool,
    /// Calls that passed through it while enabled.
    pub calls: u64,
    /// Errors injected.
    pub errors: u64,
    /// Delays injected.
    pub delays: u64,
    /// Outcomes injected.
    pub outcomes: u64,
}

impl ChaosBuilder {
    /// Whether it injects from the start (default off: enabled at run time, by name).
    pub const fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Injects an error into `percent` of the calls (`None`: never).
    pub const fn error(mut self, percent: Option<f64>) -> Self {
        self.error = percent;
        self
    }

    /// Delays `percent` of the calls (`None`: never) by a delay drawn in [`delay`](Self::delay).
    pub const fn latency(mut self, percent: Option<f64>) -> Self {
        self.latency = percent;
        self
    }

    /// The range a delay is drawn in, uniformly: `delay(200ms, 2s)` is `delay = 200ms..2s`.
    pub const fn delay(mut self, least: Duration, most: Duration) -> Self {
        self.delay = Some((least, most));
        self
    }

    /// Injects an outcome into `percent` of the calls (`None`: never).
    pub const fn outcome(mut self, percent: Option<f64>) -> Self {
        self.outcome = percent;
        self
    }

    /// The generator's seed (default 0): the same seed, the same draws.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a rate outside `(0, 100]` percent, a delay range whose least is
    /// zero or more than its most, or `latency` without `delay`; the three rates together may
    /// not pass 100%.
    pub const fn build(self) -> Result<Chaos, ConfigError> {
        let error = match ppm(self.error) {
            Some(p) => p,
            None => return Err(rate_error(self.name, "error")),
        };
        let latency = match ppm(self.latency) {
            Some(p) => p,
            None => return Err(rate_error(self.name, "latency")),
        };
        let outcome = match ppm(self.outcome) {
            Some(p) => p,
            None => return Err(rate_error(self.name, "outcome")),
        };
        if error as u64 + latency as u64 + outcome as u64 > PPM as u64 {
            return Err(ConfigError::new(
                self.name,
                "error",
                "error, latency and outcome are shares of the same calls: together at most 100%",
            ));
        }
        let (least, most) = match self.delay {
            Some((least, most)) => (ticks(least), ticks(most)),
            None => (0, 0),
        };
        if self.delay.is_some() && (least == 0 || least > most) {
            return Err(ConfigError::new(
                self.name,
                "delay",
                "a delay range goes from more than zero to at least as much: delay = 200ms..2s",
            ));
        }
        if latency > 0 && self.delay.is_none() {
            return Err(ConfigError::new(
                self.name,
                "delay",
                "latency needs the range its delays are drawn in: delay = 200ms..2s",
            ));
        }
        Ok(Chaos {
            name: Name::new(self.name),
            enabled: AtomicBool::new(self.enabled),
            error_ppm: AtomicU32::new(error),
            latency_ppm: AtomicU32::new(latency),
            outcome_ppm: AtomicU32::new(outcome),
            delay_min: AtomicU64::new(least),
            delay_max: AtomicU64::new(most),
            seed: AtomicU64::new(self.seed),
            state: AtomicU64::new(self.seed),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            delays: AtomicU64::new(0),
            outcomes: AtomicU64::new(0),
            declared: self,
        })
    }
}

/// A rate in parts per million: `Some(0)` when off, `None` when outside `(0, 100]`.
const fn ppm(percent: Option<f64>) -> Option<u32> {
    match percent {
        None => Some(0),
        Some(p) if p > 0.0 && p <= 100.0 => {
            let ppm = (p * 10_000.0) as u32;
            Some(if ppm == 0 { 1 } else { ppm })
        }
        Some(_) => None,
    }
}

const fn rate_error(name: &'static str, field: &'static str) -> ConfigError {
    ConfigError::new(
        name,
        field,
        "a rate of injection is a percentage above 0% and at most 100%, or off",
    )
}

/// splitmix64's output for counter `z` (Steele, Lea and Flood, 2014).
fn mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Chaos {
    /// Starts building a layer named `name`: disabled, every injection off, seed 0.
    pub const fn builder(name: &'static str) -> ChaosBuilder {
        ChaosBuilder {
            name,
            enabled: false,
            error: None,
            latency: None,
            delay: None,
            outcome: None,
            seed: 0,
        }
    }

    /// The name it reports, and is listed under in the registry.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    /// Whether it injects now.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// Starts or stops injecting.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Relaxed);
    }

    /// The next draw, uniform in `[0, 2^64)`.
    fn draw(&self) -> u64 {
        mix(self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15))
    }

    /// What to inject into this call, if anything: one draw picks error, latency, outcome or
    /// none by the rates; a second draws the delay.
    fn decide(&self) -> Option<Injection> {
        if !self.is_enabled() {
            return None;
        }
        self.calls.fetch_add(1, Relaxed);
        let at = u32::try_from((u128::from(self.draw()) * u128::from(PPM)) >> 64).unwrap_or(0);
        let error = self.error_ppm.load(Relaxed);
        let latency = self.latency_ppm.load(Relaxed);
        let outcome = self.outcome_ppm.load(Relaxed);
        let injection = if at < error {
            self.errors.fetch_add(1, Relaxed);
            Injection::Error
        } else if at < error + latency {
            let least = self.delay_min.load(Relaxed);
            let most = self.delay_max.load(Relaxed).max(least);
            let span = u128::from(most - least) + 1;
            let extra = u64::try_from((u128::from(self.draw()) * span) >> 64).unwrap_or(0);
            self.delays.fetch_add(1, Relaxed);
            Injection::Latency(Duration::from_nanos(least + extra))
        } else if at < error + latency + outcome {
            self.outcomes.fetch_add(1, Relaxed);
            Injection::Outcome
        } else {
            return None;
        };
        emit(
            &self.name,
            PolicyKind::Chaos,
            EventKind::Injected { injection },
        );
        Some(injection)
    }

    /// Runs `fut` through the layer: while enabled, an error (from `error_with`) or an
    /// outcome (from `outcome_with`) instead of it, or a delay before it, at the rates set. A
    /// function given no `error_with` (or `outcome_with`) is never injected that kind: its
    /// draws pass.
    pub async fn call<T, E, F>(
        &self,
        fut: F,
        error_with: Option<fn() -> E>,
        outcome_with: Option<fn() -> T>,
    ) -> Result<T, Failure<E>>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        match self.decide() {
            Some(Injection::Error) => {
                if let Some(make) = error_with {
                    return Err(Failure::Error(make()));
                }
            }
            Some(Injection::Outcome) => {
                if let Some(make) = outcome_with {
                    return Ok(make());
                }
            }
            Some(Injection::Latency(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }
        fut.await
    }

    /// The settings now, as a builder, for [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> ChaosBuilder {
        let rate = |ppm: &AtomicU32| match ppm.load(Relaxed) {
            0 => None,
            p => Some(f64::from(p) / 10_000.0),
        };
        let least = self.delay_min.load(Relaxed);
        ChaosBuilder {
            name: self.name.get(),
            enabled: self.is_enabled(),
            error: rate(&self.error_ppm),
            latency: rate(&self.latency_ppm),
            delay: (least > 0).then(|| {
                (
                    Duration::from_nanos(least),
                    Duration::from_nanos(self.delay_max.load(Relaxed)),
                )
            }),
            outcome: rate(&self.outcome_ppm),
            seed: self.seed.load(Relaxed),
        }
    }

    /// Replaces the settings, checked as [`ChaosBuilder::build`] checks them. A new seed
    /// restarts the draws from it.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return; nothing changes.
    pub fn reconfigure(&self, settings: ChaosBuilder) -> Result<(), ConfigError> {
        let checked = ChaosBuilder {
            name: self.name.get(),
            ..settings
        }
        .build()?;
        self.error_ppm
            .store(checked.error_ppm.load(Relaxed), Relaxed);
        self.latency_ppm
            .store(checked.latency_ppm.load(Relaxed), Relaxed);
        self.outcome_ppm
            .store(checked.outcome_ppm.load(Relaxed), Relaxed);
        self.delay_min
            .store(checked.delay_min.load(Relaxed), Relaxed);
        self.delay_max
            .store(checked.delay_max.load(Relaxed), Relaxed);
        if self.seed.swap(settings.seed, Relaxed) != settings.seed {
            self.state.store(settings.seed, Relaxed);
        }
        self.set_enabled(settings.enabled);
        Ok(())
    }

    /// Makes the layer as it was built: its declared settings (disabled unless declared
    /// enabled), the draws from its seed again, its counters at zero.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        self.state.store(self.declared.seed, Relaxed);
        self.calls.store(0, Relaxed);
        self.errors.store(0, Relaxed);
        self.delays.store(0, Relaxed);
        self.outcomes.store(0, Relaxed);
    }

    /// Its counters.
    pub fn metrics(&self) -> ChaosMetrics {
        ChaosMetrics {
            enabled: self.is_enabled(),
            calls: self.calls.load(Relaxed),
            errors: self.errors.load(Relaxed),
            delays: self.delays.load(Relaxed),
            outcomes: self.outcomes.load(Relaxed),
        }
    }
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("name", &self.name())
            .field("settings", &self.settings())
            .field("metrics", &self.metrics())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    fn layer(error: f64, latency: f64, outcome: f64) -> Chaos {
        let rate = |p: f64| (p > 0.0).then_some(p);
        Chaos::builder("c")
            .error(rate(error))
            .latency(rate(latency))
            .delay(Duration::from_millis(200), Duration::from_secs(2))
            .outcome(rate(outcome))
            .seed(7)
            .enabled(true)
            .build()
            .unwrap()
    }

    #[test]
    fn the_rates_are_kept_over_many_draws_and_the_seed_repeats_them() {
        let c = layer(10.0, 20.0, 5.0);
        let draws: Vec<_> = (0..100_000).map(|_| c.decide()).collect();
        let m = c.metrics();
        assert_eq!(m.calls, 100_000);
        for (count, rate) in [(m.errors, 10_000), (m.delays, 20_000), (m.outcomes, 5_000)] {
            assert!(count.abs_diff(rate) < rate / 20, "{count} for {rate}");
        }
        assert!(draws.iter().all(|d| match d {
            Some(Injection::Latency(d)) =>
                (Duration::from_millis(200)..=Duration::from_secs(2)).contains(d),
            _ => true,
        }));
        c.reset();
        let again: Vec<_> = (0..100_000).map(|_| c.decide()).collect();
        assert_eq!(draws, again);
    }

    #[test]
    fn disabled_it_draws_nothing_and_counts_nothing() {
        let c = layer(100.0, 0.0, 0.0);
        c.set_enabled(false);
        assert_eq!(c.decide(), None);
        assert_eq!(c.metrics().calls, 0);
    }

    #[test]
    fn invalid_settings_name_the_option() {
        let field = |b: ChaosBuilder| b.build().unwrap_err().field();
        let b = Chaos::builder("c");
        assert_eq!(field(b.error(Some(0.0))), "error");
        assert_eq!(field(b.outcome(Some(100.5))), "outcome");
        assert_eq!(field(b.error(Some(60.0)).outcome(Some(50.0))), "error");
        assert_eq!(field(b.latency(Some(5.0))), "delay");
        let (two, one) = (Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(field(b.delay(two, one)), "delay");
        assert_eq!(field(b.delay(Duration::ZERO, one)), "delay");
        assert!(b.delay(one, one).latency(Some(100.0)).build().is_ok());
    }

    #[test]
    fn reconfigure_changes_rates_and_a_new_seed_restarts_the_draws() {
        let c = layer(100.0, 0.0, 0.0);
        c.reconfigure(c.settings().error(None).outcome(Some(100.0)))
            .unwrap();
        assert_eq!(c.decide(), Some(Injection::Outcome));
        assert!(c.reconfigure(c.settings().error(Some(1.0))).is_err());
        assert_eq!(c.settings().outcome, Some(100.0));
        let s = c.settings().outcome(None).latency(Some(50.0)).seed(9);
        c.reconfigure(s).unwrap();
        let first: Vec<_> = (0..50).map(|_| c.decide()).collect();
        c.reconfigure(s.seed(10)).unwrap();
        c.reconfigure(s).unwrap();
        let again: Vec<_> = (0..50).map(|_| c.decide()).collect();
        assert_eq!(first, again);
        assert!(format!("{c:?}").contains("\"c\""));
    }
}
