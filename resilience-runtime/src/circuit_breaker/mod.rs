//! The circuit breaker: stops calling a dependency that keeps failing, and probes it before
//! trusting it again.

mod state;

pub use state::State;
