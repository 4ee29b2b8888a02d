//! The bulkhead's atomic core: how many calls are in flight, how many callers wait, and the
//! compare-and-swap that admits a call only while fewer than `max` are in flight.
//!
//! Plain atomics and no tokio, so it can be model-checked on its own. Waking the callers that
//! wait is the policy's job ([`super::Bulkhead`]); this core only tells it when to wake one.
//!
//! # Protocol with the waiting callers
//!
//! A waiting caller first counts itself in `queued`, then registers for a wake-up, then tries
//! [`BulkheadCore::try_acquire_slot`]. A releasing call frees its slot, then reads `queued` and
//! wakes one caller if it is not 0. Both sides do their write before their read, all `SeqCst`
//! (the store-buffer pattern), so at least one side sees the other: either the releaser sees the
//! waiter and wakes it, or the waiter's attempt sees the freed slot. No wake-up is lost.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use crate::sync::{AtomicU32, AtomicU64, loom_const};

/// Bits of the slot word that count the calls in flight; the bits above count completed calls.
const IN_USE_BITS: u32 = 20;
const IN_USE_MASK: u64 = (1 << IN_USE_BITS) - 1;
/// One completed call, in the slot word.
const COMPLETED_ONE: u64 = 1 << IN_USE_BITS;

/// The largest `max` a bulkhead accepts: the calls in flight share one atomic word with the
/// count of completed calls, so that a call's release and its count are a single atomic add.
pub const MAX_BULKHEAD_SLOTS: u32 = IN_USE_MASK as u32;

/// The counters and the admission rule of a bulkhead.
#[derive(Debug)]
pub(crate) struct BulkheadCore {
    /// Calls in flight in the low [`IN_USE_BITS`] bits; calls that completed (modulo 2^44)
    /// above them. Packing them makes the release of a completed call one atomic add, the same
    /// cost as a semaphore's release without its waiter lock.
    slots: AtomicU64,
    /// Callers waiting in the queue (counted before they register for a wake-up).
    queued: AtomicU32,
    /// The most calls in flight at once.
    max: AtomicU32,
    /// The most callers waiting at once.
    queue: AtomicU32,
}

impl BulkheadCore {
    loom_const! {
        /// A core admitting `max` calls at once (`1..=MAX_BULKHEAD_SLOTS`) with `queue` waiting.
        pub(crate) const fn new(max: u32, queue: u32) -> Self {
            BulkheadCore {
                slots: AtomicU64::new(0),
                queued: AtomicU32::new(0),
                max: AtomicU32::new(max),
                queue: AtomicU32::new(queue),
            }
        }
    }

    /// Takes a slot for a caller that just arrived: only if one is free and nobody waits for
    /// one already, so a newcomer does not overtake the queue.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // Relaxed: only a fairness hint; a stale 0 lets a newcomer take a free slot, which is
        // still correct.
        if self.queued.load(Relaxed) != 0 {
            return false;
        }
        self.try_acquire_slot()
    }

    /// Takes a slot if fewer than `max` are in flight. The CAS only ever moves the count from
    /// below `max` to at most `max`, so it never exceeds the `max` it read; a call admitted
    /// while `max` is being lowered counts against the old value, and from then on none is
    /// admitted until the calls in flight drop below the new one.
    #[inline]
    pub(crate) fn try_acquire_slot(&self) -> bool {
        // SeqCst: this read of the slots is the waiter's read in the store-buffer pattern with
        // `release` (see the module docs).
        let mut current = self.slots.load(SeqCst);
        loop {
            // Relaxed: `max` publishes nothing; a raise reaches waiting callers through the
            // Notify lock, which orders it before their next attempt.
            let max = u64::from(self.max.load(Relaxed));
            if current & IN_USE_MASK >= max {
                return false;
            }
            // SeqCst: as above; on failure, the fresh value is the next attempt's read.
            match self
                .slots
                .compare_exchange_weak(current, current + 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Frees a slot; `completed` counts the call as completed (not cancelled or panicked).
    /// Returns whether callers are waiting, so the policy wakes one.
    #[inline]
    pub(crate) fn release(&self, completed: bool) -> bool {
        // SeqCst: the releaser's write in the store-buffer pattern (module docs). The caller
        // holds a slot, so the low bits are at least 1 and `COMPLETED_ONE - 1` cannot borrow
        // from the completed count; that count wraps harmlessly at 2^44.
        if completed {
            self.slots.fetch_add(COMPLETED_ONE - 1, SeqCst);
        } else {
            self.slots.fetch_sub(1, SeqCst);
        }
        // SeqCst: the releaser's read in the store-buffer pattern.
        self.queued.load(SeqCst) != 0
    }

    /// Counts the caller into the queue if it has room. The CAS only moves `queued` from below
    /// the bound it read, so a lowered bound never evicts anyone and a raised one admits at once.
    pub(crate) fn try_enqueue(&self) -> bool {
        // Relaxed: the limit publishes nothing.
        let limit = self.queue.load(Relaxed);
        // SeqCst: the waiter's write in the store-buffer pattern (module docs).
        let mut current = self.queued.load(SeqCst);
        loop {
            if current >= limit {
                return false;
            }
            match self
                .queued
                .compare_exchange_weak(current, current + 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes the caller out of the queue: it got a slot, gave up, or was cancelled.
    pub(crate) fn leave_queue(&self) {
        // Relaxed: a releaser that still sees this caller only wakes someone in vain.
        self.queued.fetch_sub(1, Relaxed);
    }

    /// Sets the most calls in flight at once; returns the previous value.
    pub(crate) fn set_max(&self, max: u32) -> u32 {
        // Relaxed: see `try_acquire_slot`; the policy wakes the waiting callers after a raise.
        self.max.swap(max, Relaxed)
    }

    /// Sets the most callers waiting at once. Callers already waiting stay when it is lowered
    /// below their number (they have their place); `try_enqueue` admits none until fewer
    /// than the new bound wait.
    pub(crate) fn set_queue(&self, queue: u32) {
        // Relaxed: the limit publishes nothing; a caller that read the old one queued as if it
        // had arrived a moment earlier.
        self.queue.store(queue, Relaxed);
    }

    /// Calls in flight now.
    pub(crate) fn in_use(&self) -> u32 {
        // Relaxed: a snapshot for metrics.
        (self.slots.load(Relaxed) & IN_USE_MASK) as u32
    }

    /// Calls that completed (returned, with a value or an error), modulo 2^44.
    pub(crate) fn completed(&self) -> u64 {
        // Relaxed: a snapshot for metrics.
        self.slots.load(Relaxed) >> IN_USE_BITS
    }

    /// Callers waiting now.
    pub(crate) fn queued(&self) -> u32 {
        // Relaxed: a snapshot for metrics.
        self.queued.load(Relaxed)
    }

    /// The most calls in flight at once.
    pub(crate) fn max(&self) -> u32 {
        // Relaxed: a snapshot of the configuration.
        self.max.load(Relaxed)
    }

    /// The most callers waiting at once.
    pub(crate) fn queue(&self) -> u32 {
        // Relaxed: a snapshot of the configuration.
        self.queue.load(Relaxed)
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_max_then_refuses() {
        let core = BulkheadCore::new(2, 0);
        assert!(core.try_acquire());
        assert!(core.try_acquire());
        assert!(!core.try_acquire());
        assert_eq!(core.in_use(), 2);
    }

    #[test]
    fn release_frees_a_slot_and_counts_only_completed_calls() {
        let core = BulkheadCore::new(1, 0);
        assert!(core.try_acquire());
        assert!(!core.release(true));
        assert!(core.try_acquire());
        assert!(!core.release(false));
        assert_eq!(core.in_use(), 0);
        assert_eq!(core.completed(), 1);
    }

    #[test]
    fn queue_takes_at_most_its_limit_and_a_release_reports_waiters() {
        let core = BulkheadCore::new(1, 2);
        assert!(core.try_acquire());
        assert!(core.try_enqueue());
        assert!(core.try_enqueue());
        assert!(!core.try_enqueue());
        assert_eq!(core.queued(), 2);
        assert!(core.release(true));
        core.leave_queue();
        core.leave_queue();
        assert_eq!(core.queued(), 0);
    }

    #[test]
    fn newcomer_does_not_overtake_a_waiting_caller_but_the_waiter_gets_the_slot() {
        let core = BulkheadCore::new(1, 1);
        assert!(core.try_enqueue());
        assert!(!core.try_acquire());
        assert!(core.try_acquire_slot());
    }

    #[test]
    fn lowering_max_admits_nothing_until_in_flight_calls_drop_below_it() {
        let core = BulkheadCore::new(3, 0);
        for _ in 0..3 {
            assert!(core.try_acquire());
        }
        assert_eq!(core.set_max(1), 3);
        assert!(!core.try_acquire());
        core.release(true);
        assert!(!core.try_acquire());
        core.release(true);
        assert!(!core.try_acquire());
        core.release(true);
        assert!(core.try_acquire());
        assert!(!core.try_acquire());
    }

    #[test]
    fn full_width_in_use_never_spills_into_the_completed_count() {
        let core = BulkheadCore::new(MAX_BULKHEAD_SLOTS, 0);
        core.slots.store(u64::from(MAX_BULKHEAD_SLOTS) - 1, Relaxed);
        assert!(core.try_acquire());
        assert!(!core.try_acquire());
        assert_eq!(core.in_use(), MAX_BULKHEAD_SLOTS);
        assert_eq!(core.completed(), 0);
        core.release(true);
        assert_eq!(core.in_use(), MAX_BULKHEAD_SLOTS - 1);
        assert_eq!(core.completed(), 1);
    }

    #[test]
    fn threads_racing_for_slots_never_exceed_max() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicU32;

        const MAX: u32 = 3;
        let core = Arc::new(BulkheadCore::new(MAX, 0));
        let in_flight = Arc::new(AtomicU32::new(0));
        let peak = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (core, in_flight, peak) = (core.clone(), in_flight.clone(), peak.clone());
                std::thread::spawn(move || {
                    let mut admitted = 0;
                    while admitted < 2_000 {
                        if core.try_acquire() {
                            let now = in_flight.fetch_add(1, SeqCst) + 1;
                            peak.fetch_max(now, SeqCst);
                            in_flight.fetch_sub(1, SeqCst);
                            core.release(true);
                            admitted += 1;
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a racing thread panicked");
        }
        assert!(peak.load(SeqCst) <= MAX);
        assert_eq!(core.completed(), 8_000);
        assert_eq!(core.in_use(), 0);
    }
}

/// Model checks of the slot word (`--cfg resilience_loom`; see `.ci/run`).
#[cfg(all(test, resilience_loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32;
    use loom::thread;

    use super::*;

    #[test]
    fn loom_racing_calls_never_hold_more_than_max_slots() {
        loom::model(|| {
            const MAX: u32 = 2;
            let core = Arc::new(BulkheadCore::new(MAX, 0));
            let running = Arc::new(AtomicU32::new(0));
            let threads: Vec<_> = (0..3)
                .map(|i| {
                    let (core, running) = (core.clone(), running.clone());
                    thread::spawn(move || {
                        if !core.try_acquire() {
                            return false;
                        }
                        assert!(running.fetch_add(1, SeqCst) < MAX);
                        assert!(core.in_use() <= MAX);
                        running.fetch_sub(1, SeqCst);
                        core.release(i != 0);
                        true
                    })
                })
                .collect();
            let admitted = threads
                .into_iter()
                .map(|t| t.join().expect("no panic"))
                .filter(|&ok| ok)
                .count() as u64;
            assert!(admitted >= u64::from(MAX));
            assert_eq!(core.in_use(), 0);
            // Thread 0's call counts as cancelled, not completed.
            assert!(core.completed() == admitted || core.completed() == admitted - 1);
        });
    }

    #[test]
    fn loom_lowering_max_never_lets_more_than_the_old_max_run() {
        loom::model(|| {
            let core = Arc::new(BulkheadCore::new(2, 0));
            assert!(core.try_acquire());
            let lowerer = {
                let core = core.clone();
                thread::spawn(move || core.set_max(1))
            };
            let second = core.try_acquire();
            assert_eq!(lowerer.join().expect("no panic"), 2);
            assert!(core.in_use() <= 2);
            assert_eq!(core.in_use(), 1 + u32::from(second));
            // Whatever got in, nobody more does until the calls drop below the new max.
            assert!(!core.try_acquire());
        });
    }

    /// The protocol is correct under `SeqCst` (module docs), but loom models `SeqCst`
    /// accesses as `AcqRel` (loom's README, tokio-rs/loom#180) and reports this store-buffer
    /// pattern as a lost wake-up. Kept as the statement of the property; the multi-thread test
    /// `many_tasks_on_a_multi_thread_runtime_never_exceed_max` and the soak exercise it.
    #[test]
    #[ignore = "loom treats SeqCst accesses as AcqRel, a false alarm on the store-buffer pattern"]
    fn loom_a_queued_caller_and_a_release_never_miss_each_other() {
        loom::model(|| {
            let core = Arc::new(BulkheadCore::new(1, 1));
            assert!(core.try_acquire());
            let releaser = {
                let core = core.clone();
                thread::spawn(move || core.release(true))
            };
            // The waiter's side of the protocol: count in the queue, then look for a slot.
            assert!(core.try_enqueue());
            let got_slot = core.try_acquire_slot();
            let saw_waiter = releaser.join().expect("no panic");
            assert!(
                got_slot || saw_waiter,
                "a freed slot and a waiter missed each other"
            );
        });
    }
}
