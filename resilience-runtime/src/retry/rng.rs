//! The random numbers behind jitter: SplitMix64, one generator per thread.
//!
//! Written here rather than taken from `rand` because jitter needs neither cryptographic quality
//! nor reproducibility, only numbers that are cheap and uncorrelated between threads and between
//! processes (so a fleet of clients does not retry in lockstep). SplitMix64 (Steele, Lea and Flood,
//! "Fast splittable pseudorandom number generators", OOPSLA 2014) passes BigCrush, is two lines,
//! and needs 8 bytes of state. One generator per thread means no shared state, so a draw is a
//! few arithmetic operations with no atomic read-modify-write and no contention.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    // Seeded lazily, on the first draw of each thread (that is, on the first retry that uses
    // jitter), from std's `RandomState`, whose keys come from the operating system once per
    // process and differ for every `RandomState::new()`.
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// The SplitMix64 output function.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniformly distributed `u64` from this thread's generator.
pub(crate) fn next_u64() -> u64 {
    const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    STATE
        .try_with(|state| {
            let x = state.get().wrapping_add(GOLDEN_GAMMA);
            state.set(x);
            mix(x)
        })
        // The thread-local is gone only while this thread is being torn down; a fresh seed is
        // as good a random number as any there.
        .unwrap_or_else(|_| mix(seed()))
}

/// A number drawn uniformly from `lo..=hi` (`hi < lo` is read as `lo`), from the random word `r`.
///
/// Lemire's multiply-shift: the bias is below `(hi - lo) / 2^64`, far under anything jitter
/// could show, and there is no rejection loop.
#[inline]
pub(crate) fn uniform_inclusive(r: u64, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = u128::from(hi - lo) + 1;
    // (r * span) >> 64 < span <= 2^64, so the cast cannot truncate.
    lo + ((u128::from(r) * span) >> 64) as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn uniform_inclusive_reaches_both_ends_and_no_further() {
        assert_eq!(uniform_inclusive(0, 10, 20), 10);
        assert_eq!(uniform_inclusive(u64::MAX, 10, 20), 20);
        assert_eq!(uniform_inclusive(u64::MAX, 0, u64::MAX), u64::MAX);
        assert_eq!(uniform_inclusive(0, 0, u64::MAX), 0);
        assert_eq!(uniform_inclusive(12345, 7, 7), 7);
        assert_eq!(uniform_inclusive(12345, 9, 3), 9);
    }

    #[test]
    fn draws_differ_and_spread_over_the_range() {
        let draws: Vec<u64> = (0..1000)
            .map(|_| uniform_inclusive(next_u64(), 0, 9))
            .collect();
        for digit in 0..10 {
            let n = draws.iter().filter(|&&d| d == digit).count();
            assert!(
                (50..=150).contains(&n),
                "digit {digit} drawn {n} times in 1000"
            );
        }
    }

    #[test]
    fn threads_draw_different_sequences() {
        let here: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        let there = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect::<Vec<u64>>())
            .join()
            .unwrap();
        assert_ne!(here, there);
    }
}
