//! Netflix's Gradient2 (`com.netflix.concurrency.limits.limit.Gradient2Limit`), with its
//! published parameters: the limit follows the ratio of a long-term RTT (an exponential
//! average over 600 windows) to the last window's, within a tolerance of 1.5, smoothed by 0.2,
//! with a queue of 4 calls added so the limit can grow while nothing queues.
//!
//! Each window's sample is its calls' average RTT, their most calls in flight, and whether any
//! was dropped (it timed out). The update itself is Netflix's, step by step; the two additions
//! for the failure modes users report of it are in `super` (a drop backs the limit off, and a
//! ramp doubles it while nothing queues), so this file stays the published algorithm.

/// The long-term RTT's window, in samples (windows).
pub(crate) const LONG_WINDOW: u32 = 600;
/// Samples averaged plainly before the long-term RTT becomes exponential.
pub(crate) const WARMUP: u32 = 10;
/// How much the long-term RTT may exceed the short one before the limit is cut.
pub(crate) const TOLERANCE: f64 = 1.5;
/// How much of each new estimate the limit takes.
pub(crate) const SMOOTHING: f64 = 0.2;
/// Calls allowed to queue at the dependency: how fast the limit grows when nothing queues.
pub(crate) const QUEUE: f64 = 4.0;

/// An exponential average that starts as a plain one (`ExpAvgMeasurement`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExpAvg {
    value: f64,
    sum: f64,
    count: u32,
}

impl ExpAvg {
    pub(crate) const fn new() -> Self {
        ExpAvg {
            value: 0.0,
            sum: 0.0,
            count: 0,
        }
    }

    pub(crate) fn add(&mut self, sample: f64) -> f64 {
        if self.count < WARMUP {
            self.count += 1;
            self.sum += sample;
            self.value = self.sum / f64::from(self.count);
        } else {
            let factor = 2.0 / (f64::from(LONG_WINDOW) + 1.0);
            self.value = self.value * (1.0 - factor) + sample * factor;
        }
        self.value
    }

    pub(crate) fn scale(&mut self, by: f64) {
        self.value *= by;
    }

    #[cfg(test)]
    pub(crate) fn get(&self) -> f64 {
        self.value
    }
}

/// Gradient2's state: its estimate and its long-term RTT.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gradient2 {
    pub(crate) estimate: f64,
    pub(crate) long_rtt: ExpAvg,
}

/// What an update found, for the additions around it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Update {
    /// The gradient (1.0: no queueing seen), or `None` when the window was app-limited and
    /// the limit did not move.
    pub(crate) gradient: Option<f64>,
}

impl Gradient2 {
    pub(crate) const fn new(initial: f64) -> Self {
        Gradient2 {
            estimate: initial,
            long_rtt: ExpAvg::new(),
        }
    }

    /// `_update(startTime, rtt, inflight, didDrop)`, within `[min, max]`.
    pub(crate) fn update(&mut self, rtt: f64, inflight: u32, min: f64, max: f64) -> Update {
        let short = rtt.max(1.0);
        let long = self.long_rtt.add(short);
        // After a long stretch of high latency, bring the long RTT down faster than its
        // average would.
        if long / short > 2.0 {
            self.long_rtt.scale(0.95);
        }
        // Don't grow the limit if we are app limited.
        if f64::from(inflight) < self.estimate / 2.0 {
            return Update { gradient: None };
        }
        let gradient = (TOLERANCE * long / short).clamp(0.5, 1.0);
        let mut limit = self.estimate * gradient + QUEUE;
        limit = self.estimate * (1.0 - SMOOTHING) + limit * SMOOTHING;
        self.estimate = limit.clamp(min, max);
        Update {
            gradient: Some(gradient),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_rtt_averages_plainly_then_exponentially() {
        let mut avg = ExpAvg::new();
        for rtt in [10.0, 20.0, 30.0] {
            avg.add(rtt);
        }
        assert_eq!(avg.get(), 20.0);
        for _ in 3..WARMUP {
            avg.add(20.0);
        }
        let before = avg.get();
        let after = avg.add(20.0 + 601.0 / 2.0);
        // One sample moves it by 2/(600+1) of the difference.
        assert!((after - before - 1.0).abs() < 1e-9, "{before} -> {after}");
    }

    #[test]
    fn an_rtt_that_doubles_cuts_the_limit_by_the_smoothed_gradient() {
        let mut g = Gradient2::new(100.0);
        for _ in 0..WARMUP {
            g.update(100.0, 100, 1.0, 200.0);
        }
        // No queueing: the limit grows by the smoothed queue, 0.8 per window.
        let before = g.estimate;
        g.update(100.0, 100, 1.0, 200.0);
        assert!((g.estimate - (before + SMOOTHING * QUEUE)).abs() < 1e-9);
        // Twice the RTT: gradient 1.5 * 100 / 200 = 0.75 (the long RTT barely moved).
        let before = g.estimate;
        let update = g.update(200.0, 200, 1.0, 200.0);
        let gradient = update.gradient.expect("a saturated window has a gradient");
        assert!((gradient - 0.75).abs() < 0.01, "{gradient}");
        let expected = before * 0.8 + (before * gradient + QUEUE) * 0.2;
        assert!((g.estimate - expected).abs() < 1e-9);
        assert!(g.estimate < before);
    }

    #[test]
    fn an_app_limited_window_leaves_the_limit() {
        let mut g = Gradient2::new(100.0);
        assert_eq!(g.update(500.0, 49, 1.0, 200.0).gradient, None);
        assert_eq!(g.estimate, 100.0);
        // Half the limit in flight is not app-limited.
        assert!(g.update(500.0, 50, 1.0, 200.0).gradient.is_some());
    }

    #[test]
    fn the_long_rtt_is_cut_only_when_more_than_twice_the_short_one() {
        // Exactly twice (a plain average of 300 and 100 over 100): not cut.
        let mut g = Gradient2::new(50.0);
        g.update(300.0, 50, 1.0, 200.0);
        g.update(100.0, 50, 1.0, 200.0);
        assert_eq!(g.long_rtt.get(), 200.0);
        // One and a half times: not cut either.
        let mut g = Gradient2::new(50.0);
        for _ in 0..WARMUP {
            g.update(150.0, 50, 1.0, 200.0);
        }
        g.update(100.0, 50, 1.0, 200.0);
        let expected = 150.0 * (1.0 - 2.0 / 601.0) + 100.0 * 2.0 / 601.0;
        assert!(
            (g.long_rtt.get() - expected).abs() < 1e-9,
            "{}",
            g.long_rtt.get()
        );
    }

    #[test]
    fn a_long_rtt_far_above_the_short_one_decays() {
        let mut g = Gradient2::new(50.0);
        for _ in 0..WARMUP {
            g.update(1000.0, 50, 1.0, 200.0);
        }
        g.update(100.0, 50, 1.0, 200.0);
        // 1000 averaged with 100 at 2/601, then cut by 5%.
        let expected = (1000.0 * (1.0 - 2.0 / 601.0) + 100.0 * 2.0 / 601.0) * 0.95;
        assert!((g.long_rtt.get() - expected).abs() < 1e-6);
    }
}
