//! AIMD, the simple option (`com.netflix.concurrency.limits.limit.AIMDLimit`): a window with a
//! drop multiplies the limit by 0.9; a window that used at least half the limit adds one.

/// What a drop multiplies the limit by.
pub(crate) const BACKOFF: f64 = 0.9;

/// The next limit after a window that did (`dropped`) or did not drop a call, with `inflight`
/// at most, within `[min, max]`.
pub(crate) fn update(limit: f64, inflight: u32, dropped: bool, min: f64, max: f64) -> f64 {
    let next = if dropped {
        (limit * BACKOFF).floor()
    } else if f64::from(inflight) * 2.0 >= limit {
        limit + 1.0
    } else {
        limit
    };
    next.clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additive_increase_multiplicative_decrease() {
        assert_eq!(update(20.0, 10, false, 1.0, 100.0), 21.0);
        assert_eq!(update(20.0, 9, false, 1.0, 100.0), 20.0, "app-limited");
        assert_eq!(update(20.0, 20, true, 1.0, 100.0), 18.0);
        assert_eq!(update(1.0, 1, true, 1.0, 100.0), 1.0, "at the floor");
        assert_eq!(
            update(100.0, 100, false, 1.0, 100.0),
            100.0,
            "at the ceiling"
        );
    }
}
