//! The atomics the lock-free cores are built on: std's, or loom's when the cores are
//! model-checked (`--cfg resilience_loom`, see `.ci/run`).
//!
//! loom's atomics cannot be built in a `const` context, while the policies are built in
//! `static`s through `const fn` builders; [`loom_const!`] makes a core's constructor `const`
//! everywhere but under loom, where only the cores are compiled.

#[cfg(resilience_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
#[cfg(not(resilience_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

/// Declares `const fn` as written, except under loom, where it declares the same `fn` without
/// `const`.
macro_rules! loom_const {
    ($(#[$attr:meta])* $vis:vis const fn $($rest:tt)*) => {
        #[cfg(not(resilience_loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(resilience_loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}
pub(crate) use loom_const;

/// `N` atomics at zero.
#[cfg(not(resilience_loom))]
pub(crate) const fn zeroed<const N: usize>() -> [AtomicU64; N] {
    [const { AtomicU64::new(0) }; N]
}

/// `N` atomics at zero.
#[cfg(resilience_loom)]
pub(crate) fn zeroed<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}
