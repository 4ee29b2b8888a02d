//! Counters that a thread adds to without a locked instruction and without sharing a cache
//! line with another thread: the success path's counts.
//!
//! A locked read-modify-write (`lock xadd`) costs several nanoseconds even uncontended, and
//! when two threads add to one counter its cache line travels between their cores on every
//! call. A [`Counter`] instead has one cell per *stripe*, each on its own cache line. The first
//! [`STRIPES`] threads that count anything own one stripe each, for as long as they live: only
//! the owner writes its cell, so it adds with a plain load and store. Threads beyond that share
//! one more cell, with `fetch_add`, and take a stripe as soon as an exiting thread gives one
//! back. A read sums the cells.
//!
//! A thread's stripe is the same for every counter (one thread-local byte), and is given back
//! when the thread exits, for the next thread to take over with the cells' values as they are:
//! the cells are running totals, never reset, so whoever owns a stripe only ever adds to it.
//!
//! A sum is not a snapshot of one instant: it reads each cell once, `Relaxed`, so an add that
//! races with it may or may not be in it. Every add is counted exactly once, and a sum taken
//! after the adders are done (joined, or synchronised with by any other means) is exact.

use std::sync::atomic::Ordering::Relaxed;

use crate::sync::{AtomicU64, loom_const};

/// How many threads at once own a stripe.
pub(crate) const STRIPES: usize = 16;

/// One cell per cache line (128 bytes: adjacent lines are fetched in pairs on x86-64).
#[derive(Debug)]
#[repr(align(128))]
struct Cell(AtomicU64);

/// A running total that threads add to, each in its own cache line (see the module docs).
#[derive(Debug)]
pub(crate) struct Counter {
    /// `STRIPES` owned cells, then the shared one.
    cells: [Cell; STRIPES + 1],
}

impl Counter {
    loom_const! {
        /// A counter at zero.
        pub(crate) const fn new() -> Counter {
            #[cfg(not(resilience_loom))]
            let cells = [const { Cell(AtomicU64::new(0)) }; STRIPES + 1];
            #[cfg(resilience_loom)]
            let cells = std::array::from_fn(|_| Cell(AtomicU64::new(0)));
            Counter { cells }
        }
    }

    /// Adds `n` to the total. Always inlined: it is a few instructions on every success path.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64) {
        match stripe::current() {
            Some(i) => {
                // Only this thread writes this cell while it owns stripe `i` (see `stripe`), so a
                // load and a store cannot lose another add; readers see either value.
                let cell = &self.cells[i].0;
                cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
            }
            None => {
                self.cells[STRIPES].0.fetch_add(n, Relaxed);
            }
        }
    }

    /// The total: every add that happened before this call (see the module docs).
    pub(crate) fn sum(&self) -> u64 {
        self.cells
            .iter()
            .fold(0u64, |total, cell| total.wrapping_add(cell.0.load(Relaxed)))
    }
}

#[cfg(not(resilience_loom))]
mod stripe {
    //! Which stripe the current thread owns.

    use std::cell::Cell;
    use std::sync::atomic::AtomicU32;
    use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

    use super::STRIPES;

    /// Not asked for a stripe yet.
    const UNASKED: u8 = u8::MAX;
    /// Shares the shared cell because every stripe was taken when it last asked; asks again
    /// once one is free.
    const SHARED: u8 = u8::MAX - 1;
    /// Shares the shared cell for good: it is exiting.
    const EXITING: u8 = u8::MAX - 2;

    const _: () = assert!(STRIPES < 32 && STRIPES < EXITING as usize);

    /// Every stripe taken.
    const FULL: u32 = (1 << STRIPES) - 1;

    /// Bit `i` set: stripe `i` is owned by a live thread.
    static TAKEN: AtomicU32 = AtomicU32::new(0);

    thread_local! {
        /// This thread's stripe, [`UNASKED`], [`SHARED`] or [`EXITING`]. `const` and without
        /// `Drop`, so reading it is one thread-local load, and it stays readable while the
        /// thread exits.
        static STRIPE: Cell<u8> = const { Cell::new(UNASKED) };
        /// Gives the stripe back when the thread exits. Set only when a stripe is taken, which
        /// registers its destructor; it keeps the stripe's number itself, so giving it back
        /// does not depend on reading [`STRIPE`] during the thread's teardown.
        static OWNER: Owner = const { Owner(Cell::new(UNASKED)) };
    }

    struct Owner(Cell<u8>);

    impl Drop for Owner {
        fn drop(&mut self) {
            let i = self.0.replace(EXITING);
            // Anything this thread still counts while it exits goes to the shared cell. (If
            // `STRIPE` is gone, so is every way to reach stripe `i` from this thread.)
            let _ = STRIPE.try_with(|stripe| stripe.set(EXITING));
            if (i as usize) < STRIPES {
                give_back(&TAKEN, i as usize);
            }
        }
    }

    /// The current thread's stripe, or `None` if it shares the shared cell.
    #[inline]
    pub(super) fn current() -> Option<usize> {
        // A thread being torn down past its thread-locals shares the shared cell.
        let i = STRIPE.try_with(Cell::get).unwrap_or(EXITING);
        if (i as usize) < STRIPES {
            Some(i as usize)
        } else {
            ask(i)
        }
    }

    /// A thread without a stripe: asks for one if it never did, or if it shares for want of
    /// one and one is free now (one `Relaxed` load of a word written only when a thread
    /// takes or gives back a stripe).
    #[cold]
    #[inline(never)]
    fn ask(state: u8) -> Option<usize> {
        match state {
            UNASKED => take(),
            SHARED if TAKEN.load(Relaxed) != FULL => take(),
            _ => None,
        }
    }

    #[cfg(test)]
    thread_local! {
        /// How many times this thread asked for a stripe: a thread that shares for want of one
        /// must not ask again until one is free.
        pub(super) static TAKES: Cell<u32> = const { Cell::new(0) };
    }

    /// Takes the lowest free stripe for the current thread, if any.
    fn take() -> Option<usize> {
        #[cfg(test)]
        TAKES.with(|takes| takes.set(takes.get() + 1));
        let Some(i) = claim(&TAKEN) else {
            let _ = STRIPE.try_with(|stripe| stripe.set(SHARED));
            return None;
        };
        // Registers the destructor that gives the stripe back. If the thread is already
        // exiting, that cannot happen: give it back now and share for good.
        if OWNER.try_with(|owner| owner.0.set(i as u8)).is_err() {
            give_back(&TAKEN, i);
            let _ = STRIPE.try_with(|stripe| stripe.set(EXITING));
            return None;
        }
        let _ = STRIPE.try_with(|stripe| stripe.set(i as u8));
        Some(i)
    }

    /// Marks the lowest free stripe of `taken` (a word of [`TAKEN`]'s shape) as taken, and
    /// returns it; `None` when every stripe is taken.
    pub(super) fn claim(taken: &AtomicU32) -> Option<usize> {
        let mut seen = taken.load(Relaxed);
        loop {
            let free = (!seen).trailing_zeros() as usize;
            if free >= STRIPES {
                return None;
            }
            // Acquire: the previous owner's adds (released when it exited) happen before ours.
            match taken.compare_exchange_weak(seen, seen | 1 << free, Acquire, Relaxed) {
                Ok(_) => return Some(free),
                Err(now) => seen = now,
            }
        }
    }

    /// Marks stripe `i` of `taken` free again, and only that one.
    pub(super) fn give_back(taken: &AtomicU32, i: usize) {
        // Release: this thread's last adds to stripe `i` happen before the next owner's first
        // (which takes the bit with Acquire).
        taken.fetch_and(!(1 << i), Release);
    }

    #[cfg(test)]
    pub(super) fn owned() -> u32 {
        TAKEN.load(Relaxed)
    }
}

#[cfg(resilience_loom)]
mod stripe {
    //! Under loom every thread shares the shared cell: loom models the atomics, not std's
    //! thread-locals.

    #[inline]
    pub(super) fn current() -> Option<usize> {
        None
    }
}

#[cfg(all(test, not(resilience_loom)))]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};

    use super::*;

    /// The first test takes every stripe at once; the others need one free.
    fn take_turn() -> MutexGuard<'static, ()> {
        static TURN: Mutex<()> = Mutex::new(());
        TURN.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[test]
    fn adds_from_many_threads_are_each_counted_once() {
        let _turn = take_turn();
        static COUNTER: Counter = Counter::new();
        // More threads than stripes, so some share the shared cell, all at once.
        let threads = STRIPES + 8;
        let barrier = Barrier::new(threads);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    for _ in 0..10_000 {
                        COUNTER.add(1);
                    }
                    COUNTER.add(t as u64);
                });
            }
        });
        let expected = threads as u64 * 10_000 + (0..threads as u64).sum::<u64>();
        assert_eq!(COUNTER.sum(), expected);
    }

    #[test]
    fn a_stripe_given_back_keeps_its_total_for_the_next_owner() {
        let _turn = take_turn();
        static COUNTER: Counter = Counter::new();
        // Threads one after another: each takes a stripe freed by an earlier one (other tests'
        // threads may hold a few, never all), so stripes change hands many times.
        let mut owned = 0;
        for _ in 0..STRIPES * 3 {
            let stripe = std::thread::spawn(|| {
                COUNTER.add(5);
                stripe::current()
            })
            .join()
            .unwrap();
            owned += usize::from(stripe.is_some());
        }
        // More owners than stripes: stripes were given back and taken again. (Not "all of
        // them": on a machine running many tests at once, others may hold every stripe for a
        // moment.)
        assert!(
            owned > STRIPES,
            "{owned} of {} threads owned a stripe",
            STRIPES * 3
        );
        assert_eq!(COUNTER.sum(), 5 * STRIPES as u64 * 3);
    }

    #[test]
    fn live_threads_never_own_the_same_stripe() {
        let _turn = take_turn();
        // Every thread asks while all are alive; those that got a stripe must have different
        // ones, each marked taken. (Other tests' threads may hold a few, so some may share.)
        let threads = STRIPES;
        let (asked, checked) = (Barrier::new(threads + 1), Barrier::new(threads + 1));
        let owned: Vec<Option<usize>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let i = stripe::current();
                        asked.wait();
                        checked.wait();
                        i
                    })
                })
                .collect();
            asked.wait();
            let taken = stripe::owned();
            checked.wait();
            let owned: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            for i in owned.iter().flatten() {
                assert_ne!(
                    taken & 1 << i,
                    0,
                    "stripe {i} is owned but not marked taken"
                );
            }
            owned
        });
        let mut stripes: Vec<usize> = owned.iter().flatten().copied().collect();
        assert!(!stripes.is_empty(), "no thread got a stripe: {owned:?}");
        let count = stripes.len();
        stripes.sort_unstable();
        stripes.dedup();
        assert_eq!(
            stripes.len(),
            count,
            "two live threads own one stripe: {owned:?}"
        );
    }

    #[test]
    fn a_thread_keeps_its_stripe_for_every_counter_and_every_add() {
        let _turn = take_turn();
        static A: Counter = Counter::new();
        static B: Counter = Counter::new();
        std::thread::spawn(|| {
            let first = stripe::current();
            A.add(1);
            B.add(2);
            assert_eq!(
                stripe::current(),
                first,
                "a thread's stripe does not change"
            );
            if let Some(i) = first {
                // Only the owner writes its cell: the adds are in cell `i`, not the shared one.
                assert_eq!(A.cells[i].0.load(Relaxed), 1);
                assert_eq!(B.cells[i].0.load(Relaxed), 2);
                assert_eq!(A.cells[STRIPES].0.load(Relaxed), 0);
            }
        })
        .join()
        .unwrap();
        assert_eq!((A.sum(), B.sum()), (1, 2));
    }

    #[test]
    fn a_thread_that_shares_asks_again_only_once_a_stripe_is_free() {
        let _turn = take_turn();
        let (taken, release) = (Barrier::new(STRIPES + 1), Barrier::new(STRIPES + 1));
        std::thread::scope(|scope| {
            // Holders take every free stripe and keep them while the late thread counts.
            for _ in 0..STRIPES {
                scope.spawn(|| {
                    let _ = stripe::current();
                    taken.wait();
                    release.wait();
                });
            }
            let late = scope.spawn(|| {
                taken.wait();
                for _ in 0..1_000 {
                    let _ = stripe::current();
                }
                let takes = stripe::TAKES.with(std::cell::Cell::get);
                release.wait();
                takes
            });
            // Its first call asks; then it asks again only if some other test's thread gave a
            // stripe back meanwhile, and then it owns that one.
            let takes = late.join().unwrap();
            assert!(takes <= 2, "asked for a stripe {takes} times in 1000 adds");
        });
    }

    #[test]
    fn stripes_are_claimed_lowest_first_and_given_back_one_at_a_time() {
        use std::sync::atomic::AtomicU32;
        let taken = AtomicU32::new(0);
        let claimed: Vec<_> = (0..STRIPES).map(|_| stripe::claim(&taken)).collect();
        assert_eq!(claimed, (0..STRIPES).map(Some).collect::<Vec<_>>());
        assert_eq!(stripe::claim(&taken), None, "every stripe is taken");
        for i in [0, 5, STRIPES - 1] {
            stripe::give_back(&taken, i);
            assert_eq!(
                taken.load(Relaxed),
                ((1u32 << STRIPES) - 1) & !(1 << i),
                "only stripe {i} is free"
            );
            assert_eq!(
                stripe::claim(&taken),
                Some(i),
                "and the next claim takes it"
            );
        }
        // A stripe held by another owner is never claimed twice.
        let taken = AtomicU32::new(0b1011);
        assert_eq!(stripe::claim(&taken), Some(2));
        assert_eq!(stripe::claim(&taken), Some(4));
        assert_eq!(taken.load(Relaxed), 0b11111);
    }

    #[test]
    fn a_thread_that_owns_a_stripe_marks_it_taken() {
        let _turn = take_turn();
        std::thread::spawn(|| {
            // Other tests' threads may hold every stripe for a moment: ask until one frees.
            let i = (0..1_000_000)
                .find_map(|_| {
                    stripe::current().or_else(|| {
                        std::thread::yield_now();
                        None
                    })
                })
                .unwrap();
            assert_ne!(stripe::owned() & 1 << i, 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_that_found_every_stripe_taken_takes_one_once_one_is_free() {
        let _turn = take_turn();
        let (taken, release) = (Barrier::new(STRIPES + 1), Barrier::new(STRIPES + 1));
        let holders_gone = Barrier::new(2);
        std::thread::scope(|scope| {
            // Holders take every stripe that is free (those other tests hold stay held).
            let holders: Vec<_> = (0..STRIPES)
                .map(|_| {
                    scope.spawn(|| {
                        let _ = stripe::current();
                        taken.wait();
                        release.wait();
                    })
                })
                .collect();
            let late = scope.spawn(|| {
                taken.wait();
                let first = stripe::current();
                release.wait();
                holders_gone.wait();
                (first, stripe::current())
            });
            for holder in holders {
                holder.join().unwrap();
            }
            // The holders have exited and given their stripes back.
            holders_gone.wait();
            // `first` is `None` unless another test's thread gave a stripe back in between;
            // either way the late thread owns one by now.
            let (_first, later) = late.join().unwrap();
            assert!(later.is_some(), "a stripe is free again, and it takes one");
        });
    }
}
