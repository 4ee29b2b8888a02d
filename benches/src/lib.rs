//! Benchmarks of the resilience framework; see `benches/`.
