//! Two threads sharing one policy.
fn main() {}
