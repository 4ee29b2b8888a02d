//! Timeout: cuts a call short when it takes longer than a set duration.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{ErrorKind, Failure, Timeout};
//!
//! static TIMEOUT: Timeout = match Timeout::builder("quotes/timeout")
//!     .duration(Duration::from_millis(800))
//!     .build()
//! {
//!     Ok(timeout) => timeout,
//!     Err(_) => panic!("invalid timeout"),
//! };
//!
//! # #[derive(Debug)] struct ApiError;
//! async fn slow_quote() -> Result<u32, ApiError> {
//!     tokio::time::sleep(Duration::from_secs(5)).await;
//!     Ok(42)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let outcome: Result<u32, Failure<ApiError>> = TIMEOUT.call(async { Ok(slow_quote().await?) }).await;
//! let rejection = outcome.unwrap_err().rejection().copied().unwrap();
//! assert_eq!(rejection.kind(), ErrorKind::TimedOut);
//! assert_eq!(rejection.policy(), "quotes/timeout");
//! # }
//! ```
//!
//! # When the clock starts
//!
//! The deadline counts from the first time the call returns `Pending`, which for any call that
//! actually waits is its first poll. Until then the timeout reads no clock and creates no timer,
//! so a call that completes at its first poll costs one extra branch, and completes even
//! outside a tokio runtime. A call that computes for a long time before its first `.await` is not
//! cut short during that time: a timeout can only act while the call is suspended.
//!
//! # When it fires
//!
//! At the deadline the call's future is dropped (cancelled) at once, a
//! [`TimedOut`](crate::EventKind::TimedOut) event is emitted, and the call returns
//! `Err(Failure::Rejected(e))` with `e.kind() == ErrorKind::TimedOut`. (tokio's timer counts whole
//! milliseconds: a deadline that falls between two fires at the later one.) A call that completes
//! exactly at its deadline keeps its own outcome: the call is always polled before the timer.
//!
//! # Without a runtime
//!
//! The timer needs a tokio runtime with time enabled. When a call under a timeout first waits
//! outside any tokio runtime, the timeout cannot promise its bound, so it fails closed instead
//! of panicking or waiting without limit: it drops the call, returns the `TimedOut` rejection,
//! and says why in an `ERROR`-level `tracing` event. Inside a tokio runtime built without
//! `enable_time`, tokio itself panics when the timer is created (that case cannot be detected
//! beforehand).

mod future;
mod registered;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub use future::TimeoutFuture;

use crate::clock::ticks;
use crate::error::{ConfigError, Error, ErrorKind, Failure};
use crate::name::Name;

/// A timeout policy: the longest a call may wait. See the [module docs](self).
///
/// Build it with [`Timeout::builder`]; the builder is `const`, so a policy can be a `static`.
/// The duration lives in an atomic, so the policy is `Send + Sync` and can be reconfigured in
/// place.
#[derive(Debug)]
pub struct Timeout {
    pub(crate) name: Name,
    /// In nanoseconds. Independent of everything else, so accessed `Relaxed`.
    duration: AtomicU64,
    /// Calls cut short. Written only when the timeout fires.
    timed_out: AtomicU64,
    /// The settings it was built with, for [`reset`](Self::reset).
    declared: TimeoutBuilder,
}

/// A snapshot of a timeout's counter, from [`Timeout::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeoutMetrics {
    /// Calls the timeout cut short.
    pub timed_out: u64,
}

/// Builds a [`Timeout`]; every method is `const`. Made by [`Timeout::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TimeoutBuilder {
    pub(crate) name: &'static str,
    pub(crate) duration: Option<Duration>,
}

impl TimeoutBuilder {
    /// How long a call may wait (required, above zero). Durations longer than `u64::MAX`
    /// nanoseconds (584 years) are cut to that.
    pub const fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Checks the configuration and builds the policy.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the `duration` option when it was not given or is zero.
    pub const fn build(self) -> Result<Timeout, ConfigError> {
        match self.duration {
            None => Err(ConfigError::new(
                self.name,
                "duration",
                "a timeout needs a duration: write #[timeout(800ms)]",
            )),
            Some(d) if d.is_zero() => Err(ConfigError::new(
                self.name,
                "duration",
                "must be above zero, or every call would time out: write #[timeout(800ms)]",
            )),
            Some(d) => Ok(Timeout {
                name: Name::new(self.name),
                duration: AtomicU64::new(ticks(d)),
                timed_out: AtomicU64::new(0),
                declared: self,
            }),
        }
    }
}

impl Timeout {
    /// Starts building a timeout named `name` (its registry name); the duration is required.
    pub const fn builder(name: &'static str) -> TimeoutBuilder {
        TimeoutBuilder {
            name,
            duration: None,
        }
    }

    /// The name it reports in errors and events, and is listed under in the registry (see
    /// [`registry`](crate::registry#names)).
    #[inline]
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// Its name as built and as reported, for the registry.
    pub(crate) fn names(&self) -> &Name {
        &self.name
    }

    /// How long a call may wait.
    #[inline]
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.duration.load(Relaxed))
    }

    /// Runs `fut` under this timeout: the returned future yields `fut`'s outcome, or a
    /// [`TimedOut`](ErrorKind::TimedOut) rejection if `fut` is still waiting when the deadline
    /// passes. The deadline counts from `fut`'s first `Pending` (see the [module docs](self)).
    #[inline]
    pub fn call<T, E, F>(&self, fut: F) -> TimeoutFuture<'_, F>
    where
        F: Future<Output = Result<T, Failure<E>>>,
    {
        TimeoutFuture::new(self, fut)
    }

    /// The policy's settings now, as a builder, for [`reconfigure`](Self::reconfigure).
    pub fn settings(&self) -> TimeoutBuilder {
        Timeout::builder(self.name.get()).duration(self.duration())
    }

    /// Replaces the settings, checked as [`TimeoutBuilder::build`] checks them. Calls that
    /// start waiting after it get the new duration; calls already waiting keep their deadline.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that `build` would return; nothing changes.
    pub fn reconfigure(&self, settings: TimeoutBuilder) -> Result<(), ConfigError> {
        let checked = TimeoutBuilder {
            name: self.name.get(),
            ..settings
        }
        .build()?;
        // Relaxed: an independent setting.
        self.duration.store(checked.duration.load(Relaxed), Relaxed);
        Ok(())
    }

    /// Sets how long a call may wait.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `duration` when it is zero; nothing changes.
    pub fn set_duration(&self, duration: Duration) -> Result<(), ConfigError> {
        self.reconfigure(self.settings().duration(duration))
    }

    /// Makes the timeout as it was built: the duration it was declared with, and its counter at
    /// zero.
    pub fn reset(&self) {
        // The declared settings were built once: they are valid.
        let _ = self.reconfigure(self.declared);
        // Relaxed: a counter, read only for snapshots.
        self.timed_out.store(0, Relaxed);
    }

    /// The counter of calls cut short.
    pub fn metrics(&self) -> TimeoutMetrics {
        TimeoutMetrics {
            // Relaxed: a counter, read for a snapshot.
            timed_out: self.timed_out.load(Relaxed),
        }
    }

    /// Counts a call cut short.
    fn count_timed_out(&self) {
        // Relaxed: a counter, read only for snapshots.
        self.timed_out.fetch_add(1, Relaxed);
    }

    fn rejection(&self) -> Error {
        Error::new(ErrorKind::TimedOut, self.name.get())
    }

    /// Its own duration ran out: counted, published, and its rejection.
    fn expired(&self) -> Error {
        self.count_timed_out();
        crate::event::emit(
            &self.name,
            crate::event::PolicyKind::Timeout,
            crate::event::EventKind::TimedOut {
                after: self.duration(),
            },
        );
        self.rejection()
    }
}
