//! How long a retry waits: the backoff ([`Backoff`]), its randomisation ([`Jitter`]), and the
//! arithmetic that turns them into the delay before each retry.

use std::time::Duration;

use crate::clock::ticks;
use crate::error::ConfigError;

use super::rng;

/// How the delay between attempts grows.
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::Backoff;
///
/// let fixed = Backoff::fixed(Duration::from_millis(200));
/// let linear = Backoff::linear(Duration::from_millis(100), Duration::from_secs(1));
/// let tripling = Backoff::exponential(Duration::from_millis(50), Duration::from_secs(5)).factor(3.0);
/// assert_eq!(Backoff::default(), Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)));
/// # let _ = (fixed, linear, tripling);
/// ```
///
/// The delay before retry `n` (`n = 1` after the first attempt failed) is, before jitter:
///
/// | backoff | delay before retry `n` |
/// |---|---|
/// | `fixed(d)` | `d` |
/// | `linear(step, max)` | `min(step × n, max)` |
/// | `exponential(initial, max)` | `min(initial × factorⁿ⁻¹, max)` |
///
/// Values are checked by [`RetryBuilder::build`](crate::RetryBuilder::build): every duration
/// must be above zero, `max` at least the first delay, and `factor` at least 1. Durations longer
/// than `u64::MAX` nanoseconds (584 years) are cut to that.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed {
        /// The delay.
        delay: Duration,
    },
    /// `step`, `2 × step`, `3 × step`, ..., up to `max`.
    Linear {
        /// How much the delay grows with each retry (and the first delay).
        step: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// `initial`, `initial × factor`, `initial × factor²`, ..., up to `max`.
    Exponential {
        /// The first delay.
        initial: Duration,
        /// How much the delay is multiplied by with each retry (2.0 unless set).
        factor: f64,
        /// The longest delay.
        max: Duration,
    },
}

impl Backoff {
    /// The default backoff: `exponential(100ms, max = 10s)`, with factor 2.
    pub const DEFAULT: Backoff =
        Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10));

    /// The same delay `delay` before every retry.
    pub const fn fixed(delay: Duration) -> Self {
        Backoff::Fixed { delay }
    }

    /// A delay of `step × n` before retry `n`, at most `max`.
    pub const fn linear(step: Duration, max: Duration) -> Self {
        Backoff::Linear { step, max }
    }

    /// A delay of `initial × 2ⁿ⁻¹` before retry `n`, at most `max`. Change the factor with
    /// [`Backoff::factor`].
    pub const fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff::Exponential {
            initial,
            factor: 2.0,
            max,
        }
    }

    /// The same exponential backoff growing by `factor` (at least 1.0) instead of 2.0.
    ///
    /// Fixed and linear backoffs have no factor: on them this returns the backoff unchanged.
    pub const fn factor(self, factor: f64) -> Self {
        match self {
            Backoff::Exponential { initial, max, .. } => Backoff::Exponential {
                initial,
                factor,
                max,
            },
            other => other,
        }
    }

    /// The jitter used when none is set: [`Jitter::Full`] on exponential backoff, [`Jitter::None`]
    /// on fixed and linear backoff.
    pub const fn default_jitter(&self) -> Jitter {
        match self {
            Backoff::Exponential { .. } => Jitter::Full,
            Backoff::Fixed { .. } | Backoff::Linear { .. } => Jitter::None,
        }
    }

    /// Checks the values, naming the policy `policy` in the error.
    pub(crate) const fn validate(
        &self,
        policy: &'static str,
        jitter: Jitter,
    ) -> Result<(), ConfigError> {
        let problem = match *self {
            Backoff::Fixed { delay } => {
                if delay.is_zero() {
                    Some("fixed(d) needs a delay above zero: write backoff = fixed(100ms)")
                } else {
                    None
                }
            }
            Backoff::Linear { step, max } => {
                if step.is_zero() {
                    Some(
                        "linear(step, max) needs a step above zero: write backoff = linear(100ms, max = 2s)",
                    )
                } else if max.as_nanos() < step.as_nanos() {
                    Some(
                        "the max of linear(step, max) must be at least the step: write backoff = linear(100ms, max = 2s)",
                    )
                } else {
                    None
                }
            }
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                if initial.is_zero() {
                    Some(
                        "exponential(initial, max) needs an initial delay above zero: write backoff = exponential(100ms, max = 10s)",
                    )
                } else if max.as_nanos() < initial.as_nanos() {
                    Some(
                        "the max of exponential(initial, max) must be at least the initial delay: write backoff = exponential(100ms, max = 10s)",
                    )
                } else if !(factor >= 1.0 && factor.is_finite()) {
                    // `!(>=)` also rejects NaN.
                    Some(
                        "the factor of exponential backoff must be a finite number of at least 1: write factor = 2",
                    )
                } else {
                    None
                }
            }
        };
        if let Some(message) = problem {
            return Err(ConfigError::new(policy, "backoff", message));
        }
        if matches!(jitter, Jitter::Decorrelated) && !matches!(self, Backoff::Exponential { .. }) {
            return Err(ConfigError::new(
                policy,
                "jitter",
                "decorrelated jitter needs exponential backoff: write backoff = exponential(100ms, max = 10s), or jitter = full",
            ));
        }
        Ok(())
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::DEFAULT
    }
}

/// How the delay of a [`Backoff`] is randomised, so that clients that failed together do not
/// retry together.
///
/// With `d` the backoff's delay before a retry (see [`Backoff`]):
///
/// | jitter | delay actually waited |
/// |---|---|
/// | `None` | `d` |
/// | `Full` | uniform in `[0, d]` |
/// | `Equal` | `d/2` + uniform in `[0, d/2]` |
/// | `Decorrelated` | `min(max, uniform in [initial, 3 × previous])`, the previous starting at `initial` |
///
/// `Decorrelated` is the AWS Architecture Blog's "decorrelated jitter" (Marc Brooker,
/// "Exponential Backoff And Jitter", 2015): each delay is drawn from the one before it, so it
/// ignores the backoff's factor and uses only its `initial` and `max`; it needs exponential
/// backoff. The default is [`Backoff::default_jitter`]: `Full` on exponential backoff, `None` on
/// fixed and linear backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// Wait exactly the backoff's delay.
    None,
    /// Wait a uniformly random time between zero and the backoff's delay.
    Full,
    /// Wait half the backoff's delay plus a uniformly random time up to the other half.
    Equal,
    /// Wait a random time between the initial delay and three times the previous delay, capped.
    Decorrelated,
}

impl Jitter {
    pub(crate) const fn to_u8(self) -> u8 {
        match self {
            Jitter::None => 0,
            Jitter::Full => 1,
            Jitter::Equal => 2,
            Jitter::Decorrelated => 3,
        }
    }

    pub(crate) const fn from_u8(value: u8) -> Self {
        match value {
            1 => Jitter::Full,
            2 => Jitter::Equal,
            3 => Jitter::Decorrelated,
            _ => Jitter::None,
        }
    }
}

/// The kind of a [`Backoff`], as stored in a policy's atomics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Fixed = 0,
    Linear = 1,
    Exponential = 2,
}

impl Kind {
    pub(crate) const fn from_u8(value: u8) -> Self {
        match value {
            0 => Kind::Fixed,
            1 => Kind::Linear,
            _ => Kind::Exponential,
        }
    }
}

/// A backoff and jitter as plain numbers (nanoseconds): what a policy stores in its atomics, and
/// what computes each delay.
///
/// Every combination of values gives a delay of at most `max(base, max)`, so a schedule read
/// field by field while it is being reconfigured still waits a bounded time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Schedule {
    pub(crate) kind: Kind,
    /// The fixed delay, the linear step, or the exponential initial delay.
    pub(crate) base: u64,
    /// The longest delay (equal to `base` for a fixed backoff).
    pub(crate) max: u64,
    pub(crate) factor: f64,
    pub(crate) jitter: Jitter,
}

impl Schedule {
    pub(crate) const fn new(backoff: Backoff, jitter: Jitter) -> Self {
        match backoff {
            Backoff::Fixed { delay } => {
                let d = ticks(delay);
                Schedule {
                    kind: Kind::Fixed,
                    base: d,
                    max: d,
                    factor: 1.0,
                    jitter,
                }
            }
            Backoff::Linear { step, max } => Schedule {
                kind: Kind::Linear,
                base: ticks(step),
                max: ticks(max),
                factor: 1.0,
                jitter,
            },
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => Schedule {
                kind: Kind::Exponential,
                base: ticks(initial),
                max: ticks(max),
                factor,
                jitter,
            },
        }
    }

    pub(crate) fn backoff(&self) -> Backoff {
        let base = Duration::from_nanos(self.base);
        let max = Duration::from_nanos(self.max);
        match self.kind {
            Kind::Fixed => Backoff::fixed(base),
            Kind::Linear => Backoff::linear(base, max),
            Kind::Exponential => Backoff::exponential(base, max).factor(self.factor),
        }
    }

    /// The backoff's delay before retry `retry` (1 after the first attempt), without jitter.
    pub(crate) fn backoff_delay(&self, retry: u32) -> u64 {
        let n = retry.max(1);
        match self.kind {
            Kind::Fixed => self.base,
            Kind::Linear => self.base.saturating_mul(u64::from(n)).min(self.max),
            Kind::Exponential => {
                // In f64: exact for the delays anyone uses (below 2^53 ns, 104 days) with an
                // integral factor; `powi` overflowing to infinity, or a NaN from a torn
                // reconfiguration, ends at `max`.
                let grown = self.base as f64
                    * self
                        .factor
                        .powi(n.saturating_sub(1).min(i32::MAX as u32) as i32);
                if grown.is_finite() && grown < self.max as f64 {
                    // Non-negative and below `max`, so the cast is exact up to f64 rounding.
                    (grown as u64).max(self.base.min(self.max))
                } else {
                    self.max
                }
            }
        }
    }

    /// The delay to wait before retry `retry`, jitter included; `previous` is the delay waited
    /// before the previous retry (0 before the first), which decorrelated jitter grows from.
    /// `random` is called at most once, and only when the jitter needs it.
    pub(crate) fn delay(&self, retry: u32, previous: u64, random: impl FnOnce() -> u64) -> u64 {
        match self.jitter {
            Jitter::None => self.backoff_delay(retry),
            Jitter::Full => {
                let d = self.backoff_delay(retry);
                rng::uniform_inclusive(random(), 0, d)
            }
            Jitter::Equal => {
                let d = self.backoff_delay(retry);
                let half = d / 2;
                // `d - half`, not `half`, so an odd `d` can still be reached.
                half + rng::uniform_inclusive(random(), 0, d - half)
            }
            Jitter::Decorrelated => {
                let lo = self.base;
                // The first retry grows from `initial` itself, as in the AWS formula.
                let hi = if previous == 0 { lo } else { previous }.saturating_mul(3);
                rng::uniform_inclusive(random(), lo, hi.max(lo)).min(self.max.max(lo))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn delays(schedule: Schedule, retries: u32) -> Vec<u64> {
        (1..=retries)
            .map(|n| schedule.backoff_delay(n) / MS)
            .collect()
    }

    #[test]
    fn fixed_waits_the_same_before_every_retry() {
        let s = Schedule::new(Backoff::fixed(ms(250)), Jitter::None);
        assert_eq!(delays(s, 4), [250, 250, 250, 250]);
    }

    #[test]
    fn linear_grows_by_the_step_up_to_max() {
        let s = Schedule::new(Backoff::linear(ms(100), ms(350)), Jitter::None);
        assert_eq!(delays(s, 5), [100, 200, 300, 350, 350]);
    }

    #[test]
    fn exponential_multiplies_by_the_factor_up_to_max() {
        let s = Schedule::new(Backoff::exponential(ms(100), ms(1000)), Jitter::None);
        assert_eq!(delays(s, 6), [100, 200, 400, 800, 1000, 1000]);
        let s = Schedule::new(
            Backoff::exponential(ms(10), ms(1000)).factor(3.0),
            Jitter::None,
        );
        assert_eq!(delays(s, 5), [10, 30, 90, 270, 810]);
        let s = Schedule::new(
            Backoff::exponential(ms(100), ms(1000)).factor(1.5),
            Jitter::None,
        );
        assert_eq!(s.backoff_delay(2), 150 * MS);
    }

    #[test]
    fn huge_retry_numbers_saturate_at_max() {
        let exp = Schedule::new(Backoff::exponential(ms(100), ms(10_000)), Jitter::None);
        assert_eq!(exp.backoff_delay(u32::MAX), 10_000 * MS);
        let lin = Schedule::new(
            Backoff::linear(Duration::from_secs(1 << 40), Duration::MAX),
            Jitter::None,
        );
        assert_eq!(lin.backoff_delay(u32::MAX), u64::MAX);
    }

    /// A delay that grows to `max` waits `max` itself, also for a `max` beyond 2^53 ns, where
    /// the growth (in f64) rounds to a value that is not `max`.
    #[test]
    fn exponential_growth_reaching_max_waits_max_exactly() {
        let max = (1 << 53) + 1;
        let s = Schedule::new(
            Backoff::exponential(Duration::from_nanos(1 << 52), Duration::from_nanos(max)),
            Jitter::None,
        );
        assert_eq!(s.backoff_delay(1), 1 << 52);
        assert_eq!(s.backoff_delay(2), max);
        assert_eq!(s.backoff_delay(3), max);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_delay() {
        let s = Schedule::new(Backoff::fixed(ms(100)), Jitter::Full);
        assert_eq!(s.delay(1, 0, || 0), 0);
        assert_eq!(s.delay(1, 0, || u64::MAX), 100 * MS);
    }

    #[test]
    fn equal_jitter_spans_half_the_delay_to_the_delay() {
        let s = Schedule::new(Backoff::fixed(Duration::from_nanos(101)), Jitter::Equal);
        assert_eq!(s.delay(1, 0, || 0), 50);
        assert_eq!(s.delay(1, 0, || u64::MAX), 101);
    }

    #[test]
    fn decorrelated_jitter_grows_from_the_previous_delay_and_is_capped() {
        let s = Schedule::new(
            Backoff::exponential(ms(100), ms(1000)),
            Jitter::Decorrelated,
        );
        assert_eq!(s.delay(1, 0, || 0), 100 * MS);
        assert_eq!(
            s.delay(1, 0, || u64::MAX),
            300 * MS,
            "the first delay grows from the initial one"
        );
        assert_eq!(s.delay(2, 100 * MS, || 0), 100 * MS);
        assert_eq!(s.delay(2, 100 * MS, || u64::MAX), 300 * MS);
        assert_eq!(s.delay(3, 300 * MS, || u64::MAX), 900 * MS);
        assert_eq!(s.delay(4, 900 * MS, || u64::MAX), 1000 * MS);
    }

    #[test]
    fn no_jitter_draws_no_random_number() {
        let s = Schedule::new(Backoff::exponential(ms(100), ms(1000)), Jitter::None);
        assert_eq!(
            s.delay(3, 0, || unreachable!("no draw without jitter")),
            400 * MS
        );
    }

    #[test]
    fn a_schedule_round_trips_to_its_backoff() {
        for b in [
            Backoff::fixed(ms(5)),
            Backoff::linear(ms(5), ms(50)),
            Backoff::exponential(ms(5), ms(50)).factor(1.5),
        ] {
            assert_eq!(Schedule::new(b, Jitter::None).backoff(), b);
        }
    }

    /// A policy reports the jitter it was built and reconfigured with, each of them.
    #[test]
    fn a_retry_reports_its_jitter() {
        let backoff = Backoff::exponential(ms(5), ms(50));
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let retry = crate::Retry::builder("jitter")
                .backoff(backoff)
                .jitter(jitter)
                .build()
                .unwrap();
            assert_eq!(retry.jitter(), jitter);
            let other = if jitter == Jitter::None {
                Jitter::Full
            } else {
                Jitter::None
            };
            retry.set_jitter(other).unwrap();
            retry.set_jitter(jitter).unwrap();
            assert_eq!(retry.settings().build().unwrap().jitter(), jitter);
        }
    }

    #[test]
    fn torn_values_still_give_a_bounded_delay() {
        let torn = Schedule {
            kind: Kind::Exponential,
            base: 500,
            max: 100,
            factor: f64::NAN,
            jitter: Jitter::Full,
        };
        assert!(torn.delay(3, 0, || u64::MAX) <= 500);
        let torn = Schedule {
            jitter: Jitter::Decorrelated,
            ..torn
        };
        assert!(torn.delay(3, 10_000, || u64::MAX) <= 500);
    }

    #[test]
    fn validation_names_the_wrong_option() {
        let check = |b: Backoff, j: Jitter| b.validate("p", j).map_err(|e| e.field());
        assert_eq!(
            check(Backoff::fixed(Duration::ZERO), Jitter::None),
            Err("backoff")
        );
        assert_eq!(
            check(Backoff::linear(Duration::ZERO, ms(1)), Jitter::None),
            Err("backoff")
        );
        assert_eq!(
            check(Backoff::linear(ms(2), ms(1)), Jitter::None),
            Err("backoff")
        );
        assert_eq!(
            check(Backoff::exponential(Duration::ZERO, ms(1)), Jitter::Full),
            Err("backoff")
        );
        assert_eq!(
            check(Backoff::exponential(ms(2), ms(1)), Jitter::Full),
            Err("backoff")
        );
        assert_eq!(
            check(Backoff::exponential(ms(1), ms(2)).factor(0.5), Jitter::Full),
            Err("backoff")
        );
        assert_eq!(
            check(
                Backoff::exponential(ms(1), ms(2)).factor(f64::NAN),
                Jitter::Full
            ),
            Err("backoff")
        );
        assert_eq!(
            check(
                Backoff::exponential(ms(1), ms(2)).factor(f64::INFINITY),
                Jitter::Full
            ),
            Err("backoff")
        );
        assert_eq!(
            check(Backoff::fixed(ms(1)), Jitter::Decorrelated),
            Err("jitter")
        );
        assert_eq!(
            check(Backoff::linear(ms(1), ms(1)), Jitter::Decorrelated),
            Err("jitter")
        );
        assert_eq!(
            check(
                Backoff::exponential(ms(1), ms(1)).factor(1.0),
                Jitter::Decorrelated
            ),
            Ok(())
        );
    }
}
