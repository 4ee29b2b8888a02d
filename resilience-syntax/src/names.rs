//! The words of the attribute language's values: the backoffs, the jitters. The options of each
//! kind are in [`options`](crate::options).

/// The backoffs of `#[retry(backoff = ...)]`.
pub const BACKOFFS: &[&str] = &["fixed", "linear", "exponential"];

/// The jitters of `#[retry(jitter = ...)]`.
pub const JITTERS: &[&str] = &["none", "full", "equal", "decorrelated"];
