//! The attributes of the `resilience` framework. Use them through the `resilience` crate.
