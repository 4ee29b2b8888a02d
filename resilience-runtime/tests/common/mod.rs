//! Helpers shared by the runtime's behaviour tests; each test file uses some of them.
#![allow(dead_code, reason = "each test binary uses only part of these helpers")]

pub mod events;

/// A current-thread runtime with time paused, for tests that poll by hand or run proptest
/// cases outside `#[tokio::test]`.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}
