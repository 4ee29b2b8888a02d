//! The names of the attribute language: each kind's settings, the backoffs, the jitters.
//!
//! A setting is a number, duration or choice that a shared policy holds and that the registry
//! can change by key; the options that depend on the annotated function (`record`, `ignore`,
//! `when`, `fallback`) and `name`, `crate` are the macros' own.

/// The settings of `#[circuit_breaker]`.
pub const CIRCUIT_BREAKER: &[&str] = &[
    "threshold",
    "failures",
    "window",
    "min_calls",
    "slow",
    "slow_threshold",
    "open",
    "half_open",
    "critical",
];

/// The settings of `#[retry]`.
pub const RETRY: &[&str] = &["attempts", "backoff", "jitter"];

/// The settings of `#[timeout]` given by name: none, its duration is positional.
pub const TIMEOUT: &[&str] = &[];

/// The settings of `#[bulkhead]`.
pub const BULKHEAD: &[&str] = &["max", "queue", "wait"];

/// The settings of `#[rate_limiter]` given by name; its rate is positional.
pub const RATE_LIMITER: &[&str] = &["burst", "wait"];

/// The backoffs of `#[retry(backoff = ...)]`.
pub const BACKOFFS: &[&str] = &["fixed", "linear", "exponential"];

/// The jitters of `#[retry(jitter = ...)]`.
pub const JITTERS: &[&str] = &["none", "full", "equal", "decorrelated"];
