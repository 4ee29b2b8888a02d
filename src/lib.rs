//! Resilience patterns as attributes on async functions.

pub use resilience_runtime::*;
