//! The `const` builder of a [`CircuitBreaker`], and the checks that turn a configuration no
//! breaker can run with into a [`ConfigError`].

use std::time::Duration;

use resilience_syntax::percent;

use super::CircuitBreaker;
use super::core::{Config, Core, RATE_SCALE};
use super::window::{MAX_WINDOW_CALLS, Spec, Window};
use super::word::MAX_HALF_OPEN_PROBES;
use crate::clock::{Clock, ticks};
use crate::error::ConfigError;

/// The window a breaker decides on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum WindowSpec {
    Calls(u32),
    Time(Duration),
}

/// Configures a [`CircuitBreaker`]; every method is a `const fn`, so a breaker can be built in
/// a `static`. Start with [`CircuitBreaker::builder`].
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::CircuitBreaker;
///
/// static PAYMENTS: CircuitBreaker = match CircuitBreaker::builder("payments")
///     .threshold(25.0)
///     .window_time(Duration::from_secs(60))
///     .min_calls(10)
///     .open_exponential(Duration::from_secs(5), Duration::from_secs(300))
///     .build()
/// {
///     Ok(breaker) => breaker,
///     Err(_) => panic!("invalid circuit breaker"),
/// };
/// # assert_eq!(PAYMENTS.name(), "payments");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct CircuitBreakerBuilder {
    pub(crate) name: &'static str,
    pub(crate) threshold: Option<f64>,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) window: WindowSpec,
    /// `None`: the default, 20 or a smaller count window's size.
    pub(crate) min_calls: Option<u32>,
    pub(crate) slow: Option<Duration>,
    pub(crate) slow_threshold: Option<f64>,
    pub(crate) open: Duration,
    pub(crate) open_max: Duration,
    pub(crate) half_open: u32,
    pub(crate) critical: bool,
    pub(crate) shared: Option<&'static str>,
    pub(crate) quorum: u32,
}

/// `min_calls` when it is not given (a count window smaller than it lowers it to its size).
const DEFAULT_MIN_CALLS: u32 = 20;

/// `min_calls` (`{0}`) above a count window's size (`{1}`): the attribute's message.
pub(crate) const MIN_CALLS_OVER_WINDOW: &str = "min_calls = {0} is more than the window of {1} calls, so the breaker could never trip; make it at most {1}";

/// A percentage in `(0, 100]` as hundredths of a percent, at least 1 so a tiny rate still trips.
const fn scaled(percent: f64) -> u32 {
    let r = (percent * 100.0 + 0.5) as u32;
    if r == 0 { 1 } else { r }
}

/// The error for `field` of the breaker `name` (a `const fn`: closures cannot run in `build`).
const fn invalid(
    name: &'static str,
    field: &'static str,
    message: &'static str,
) -> Result<CircuitBreaker, ConfigError> {
    Err(ConfigError::new(name, field, message))
}

impl CircuitBreakerBuilder {
    pub(super) const fn new(name: &'static str) -> Self {
        CircuitBreakerBuilder {
            name,
            threshold: None,
            consecutive_failures: None,
            window: WindowSpec::Calls(100),
            min_calls: None,
            slow: None,
            slow_threshold: None,
            open: Duration::from_secs(30),
            open_max: Duration::from_secs(30),
            half_open: 3,
            critical: false,
            shared: None,
            quorum: 1,
        }
    }

    /// The failure rate, in percent of the calls in the window, at which the breaker opens:
    /// in `(0, 100]`, default 50. It trips when the rate reaches the threshold (`>=`).
    /// Cannot be combined with [`consecutive_failures`](Self::consecutive_failures).
    pub const fn threshold(mut self, percent: f64) -> Self {
        self.threshold = Some(percent);
        self
    }

    /// Opens the breaker after `n` consecutive failures instead of on a failure rate.
    ///
    /// `min_calls` does not apply to this count (it is its own minimum), only to the slow-call
    /// rate. In half-open, any failed probe re-opens the breaker and all probes succeeding
    /// close it. Cannot be combined with [`threshold`](Self::threshold).
    pub const fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// Decides on the last `n` calls (a count window): at most [`MAX_WINDOW_CALLS`], default 100.
    /// Replaces a time window set before.
    pub const fn window_calls(mut self, n: u32) -> Self {
        self.window = WindowSpec::Calls(n);
        self
    }

    /// Decides on the calls of the last `d` (a time window), kept in 10 buckets of `d / 10`;
    /// the window slides one bucket at a time, so it covers between 90% and 100% of `d`.
    /// Replaces a count window set before.
    pub const fn window_time(mut self, d: Duration) -> Self {
        self.window = WindowSpec::Time(d);
        self
    }

    /// The calls the window must hold before a rate can open the breaker: default 20, or a
    /// smaller count window's size. Given, it must be at most a count window's size (more
    /// could never be reached): [`build`](Self::build) refuses it, whichever of the two was
    /// set last. In half-open the probes decide, whatever their number.
    pub const fn min_calls(mut self, n: u32) -> Self {
        self.min_calls = Some(n);
        self
    }

    /// A call taking at least `d` is slow, whether it succeeds or fails. Slow calls are
    /// counted apart and open the breaker when their rate reaches
    /// [`slow_threshold`](Self::slow_threshold). Tracking them reads the clock twice per call.
    pub const fn slow(mut self, d: Duration) -> Self {
        self.slow = Some(d);
        self
    }

    /// The slow-call rate, in percent, at which the breaker opens: in `(0, 100]`; default the
    /// failure [`threshold`](Self::threshold) (50 in consecutive-failures mode). Needs
    /// [`slow`](Self::slow).
    pub const fn slow_threshold(mut self, percent: f64) -> Self {
        self.slow_threshold = Some(percent);
        self
    }

    /// How long the breaker stays open before it lets probes through: default 30 seconds.
    pub const fn open(mut self, d: Duration) -> Self {
        self.open = d;
        self.open_max = d;
        self
    }

    /// An open wait that starts at `initial` and doubles, up to `max`, each time a round of
    /// probes fails and re-opens the breaker; it is back to `initial` once the breaker closes.
    pub const fn open_exponential(mut self, initial: Duration, max: Duration) -> Self {
        self.open = initial;
        self.open_max = max;
        self
    }

    /// The probe calls a half-open breaker lets through: default 3, at most 1000.
    pub const fn half_open(mut self, probes: u32) -> Self {
        self.half_open = probes;
        self
    }

    /// Whether an open breaker makes the service's health "down" rather than "degraded":
    /// default false.
    pub const fn critical(mut self, yes: bool) -> Self {
        self.critical = yes;
        self
    }

    /// Declares the breaker shared by a fleet under `name` (`#[circuit_breaker(.., shared =
    /// "payments")]`): a fleet backend attached at start-up (`RedisStore::share_declared` of
    /// `resilience::redis`) shares its trips with every replica under that name. With no
    /// backend it runs locally, and says so once (a `tracing` warning the first time it
    /// rejects a call).
    pub const fn shared(mut self, name: &'static str) -> Self {
        self.shared = Some(name);
        self
    }

    /// With [`shared`](Self::shared): the fleet's breaker opens only once `n` replicas (>= 1)
    /// tripped within one open wait; a trip below the quorum opens this replica alone
    /// (`#[circuit_breaker(.., shared = "payments", quorum = 2)]`). Default 1: any replica's
    /// trip opens every replica's breaker.
    pub const fn quorum(mut self, n: u32) -> Self {
        self.quorum = if n == 0 { 1 } else { n };
        self
    }

    /// Checks the configuration and builds the breaker.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the option (as in the attribute) and what to write instead:
    /// a percentage outside `(0, 100]`, a zero count or duration, a count window larger than
    /// [`MAX_WINDOW_CALLS`], `threshold` together with `consecutive_failures`, an exponential
    /// maximum below its initial wait, `slow_threshold` without `slow`, or a `min_calls` given
    /// above a count window's size.
    pub const fn build(self) -> Result<CircuitBreaker, ConfigError> {
        let name = self.name;
        if let Some(p) = self.threshold
            && !percent::in_range(p)
        {
            return invalid(
                name,
                "threshold",
                "must be a percentage in (0, 100]: write threshold = 50%",
            );
        }
        if let Some(0) = self.consecutive_failures {
            return invalid(name, "failures", "must be at least 1: write failures = 5");
        }
        if self.threshold.is_some() && self.consecutive_failures.is_some() {
            return invalid(
                name,
                "failures",
                "cannot be combined with `threshold`: write either threshold = 50% (a failure \
                 rate) or failures = 5 (consecutive failures), not both",
            );
        }
        match self.window {
            WindowSpec::Calls(n) if n == 0 || n > MAX_WINDOW_CALLS => {
                return invalid(
                    name,
                    "window",
                    "must hold between 1 and 1000 calls: write window = 100, or a time window \
                     such as window = 60s",
                );
            }
            WindowSpec::Time(d) if d.is_zero() => {
                return invalid(
                    name,
                    "window",
                    "a time window must be longer than 0: write window = 60s",
                );
            }
            _ => {}
        }
        if let Some(0) = self.min_calls {
            return invalid(
                name,
                "min_calls",
                "must be at least 1: write min_calls = 20",
            );
        }
        if let (Some(min_calls), WindowSpec::Calls(n)) = (self.min_calls, self.window)
            && min_calls > n
        {
            // The attribute's words (`#[circuit_breaker(window = 10, min_calls = 20)]`).
            return Err(ConfigError::with_values(
                name,
                "min_calls",
                MIN_CALLS_OVER_WINDOW,
                [min_calls, n],
            ));
        }
        if let Some(d) = self.slow
            && d.is_zero()
        {
            return invalid(name, "slow", "must be longer than 0: write slow = 2s");
        }
        if let Some(p) = self.slow_threshold {
            if !percent::in_range(p) {
                return invalid(
                    name,
                    "slow_threshold",
                    "must be a percentage in (0, 100]: write slow_threshold = 50%",
                );
            }
            if self.slow.is_none() {
                return invalid(
                    name,
                    "slow_threshold",
                    "has no effect without `slow`: add slow = 2s",
                );
            }
        }
        if self.open.is_zero() {
            return invalid(name, "open", "must be longer than 0: write open = 30s");
        }
        if self.open_max.as_nanos() < self.open.as_nanos() {
            return invalid(
                name,
                "open",
                "the maximum wait must be at least the initial one: write open = exponential(5s, max = 5m)",
            );
        }
        if self.half_open == 0 || self.half_open > MAX_HALF_OPEN_PROBES {
            return invalid(
                name,
                "half_open",
                "must be between 1 and 1000 probe calls: write half_open = 3",
            );
        }

        let threshold = match self.threshold {
            Some(p) => scaled(p),
            None => (RATE_SCALE / 2) as u32,
        };
        let (window, min_calls) = match (self.window, self.min_calls) {
            (WindowSpec::Calls(n), Some(min_calls)) => (Spec::Calls(n), min_calls),
            // The default follows a count window smaller than it.
            (WindowSpec::Calls(n), None) => (
                Spec::Calls(n),
                if n < DEFAULT_MIN_CALLS {
                    n
                } else {
                    DEFAULT_MIN_CALLS
                },
            ),
            (WindowSpec::Time(d), min_calls) => (
                Spec::Time(ticks(d)),
                match min_calls {
                    Some(m) => m,
                    None => DEFAULT_MIN_CALLS,
                },
            ),
        };
        let config = Config {
            threshold,
            consecutive_failures: match self.consecutive_failures {
                Some(n) => n,
                None => 0,
            },
            min_calls,
            min_calls_given: self.min_calls.is_some(),
            slow: match self.slow {
                Some(d) => ticks(d),
                None => 0,
            },
            slow_threshold: match self.slow_threshold {
                Some(p) => scaled(p),
                None => threshold,
            },
            open_initial: ticks(self.open),
            open_max: ticks(self.open_max),
            half_open: self.half_open,
            critical: self.critical,
        };
        Ok(CircuitBreaker {
            core: Core::new(name, config, Window::new(window)),
            clock: Clock::new(),
            gate: super::fleet::Gate::new(),
            declared: self,
        })
    }

    /// The builder that would build a breaker with `config` and `window`.
    fn from_config(name: &'static str, c: Config, window: WindowSpec) -> Self {
        let percent = |scaled: u32| f64::from(scaled) / 100.0;
        let rate_mode = c.consecutive_failures == 0;
        CircuitBreakerBuilder {
            name,
            threshold: rate_mode.then(|| percent(c.threshold)),
            consecutive_failures: (!rate_mode).then_some(c.consecutive_failures),
            window,
            min_calls: c.min_calls_given.then_some(c.min_calls),
            slow: (c.slow != 0).then(|| Duration::from_nanos(c.slow)),
            slow_threshold: (c.slow != 0).then(|| percent(c.slow_threshold)),
            open: Duration::from_nanos(c.open_initial),
            open_max: Duration::from_nanos(c.open_max),
            half_open: c.half_open,
            critical: c.critical,
            // Fixed where declared (`declared.shared`, `declared.quorum`), not settings.
            shared: None,
            quorum: 1,
        }
    }

    /// Trips on a failure rate from now on (drops `consecutive_failures`).
    pub(crate) fn rate_mode(mut self) -> Self {
        self.consecutive_failures = None;
        self
    }

    /// Trips on consecutive failures from now on (drops `threshold`).
    pub(crate) fn consecutive_mode(mut self) -> Self {
        self.threshold = None;
        self
    }

    /// Stops tracking slow calls.
    pub(crate) fn without_slow(mut self) -> Self {
        self.slow = None;
        self.slow_threshold = None;
        self
    }
}

impl CircuitBreaker {
    /// The calls the window must hold before a rate can open the breaker, given or by default.
    pub(crate) fn min_calls(&self) -> u32 {
        self.core.config().min_calls
    }

    /// The breaker's settings now, as a builder: change what you need and pass it to
    /// [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> CircuitBreakerBuilder {
        let window = match self.core.window() {
            Spec::Calls(n) => WindowSpec::Calls(n),
            Spec::Time(d) => WindowSpec::Time(Duration::from_nanos(d)),
        };
        CircuitBreakerBuilder::from_config(self.name(), self.core.config(), window)
    }

    /// Replaces the breaker's settings with `settings`, checked exactly as
    /// [`build`](CircuitBreakerBuilder::build) checks them, without losing its state or
    /// counters. Takes effect from the next call; an open breaker keeps the wait it is in
    /// (the new `open` applies from the next time it opens). Each setting is stored on its own
    /// atomic: a call racing with the change sees some old and some new settings, each valid.
    ///
    /// A new window (a count window of another size, a time window of another duration, or
    /// the other kind) starts empty; the state is kept (see
    /// [`set_window_calls`](Self::set_window_calls)). Any other change keeps the window as it
    /// is.
    ///
    /// ```
    /// use resilience_runtime::CircuitBreaker;
    /// let breaker = CircuitBreaker::builder("payments").build().unwrap();
    /// breaker.reconfigure(breaker.settings().threshold(25.0).half_open(5)).unwrap();
    /// assert_eq!(breaker.settings(), CircuitBreaker::builder("payments").threshold(25.0).half_open(5));
    /// ```
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return, naming the field. Nothing changes on
    /// error.
    pub fn reconfigure(&self, settings: CircuitBreakerBuilder) -> Result<(), ConfigError> {
        let checked = CircuitBreakerBuilder {
            name: self.name(),
            ..settings
        }
        .build()?;
        // The settings first: a default `min_calls` already follows a new count window's size.
        self.core.set_config(checked.core.config());
        self.core.set_window(checked.core.window());
        Ok(())
    }
}
