//! Rejection and failure paths.
fn main() {}
