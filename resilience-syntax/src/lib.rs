//! The words of the resilience attribute language, in one place for the two readers of it:
//! the proc macros, which read `#[retry(backoff = exponential(100ms, max = 2s))]` from tokens,
//! and the runtime's registry, which reads the same values from strings (settings by key,
//! configuration files) and prints them back in snapshots.
//!
//! What lives here is what both must agree on: the duration units and how a number scales by
//! one, how a duration is printed, what a percentage is (and the words that refuse one), the
//! name of each setting, and how close a misspelt name is to a known one. Each reader keeps its
//! other error messages: the macros span theirs at a token.
//!
//! Use it through the `resilience` crate; it has no API of its own for applications.

pub mod duration;
pub mod foreign;
pub mod names;
pub mod options;
pub mod percent;
pub mod percentile;
pub mod suggest;
