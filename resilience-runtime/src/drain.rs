//! Graceful drain: stop admitting new calls, wait for the calls in flight, report what did not
//! finish.
//!
//! On shutdown a service stops taking work and lets the work it took finish:
//!
//! ```no_run
//! # async fn shutdown() {
//! use std::time::Duration;
//! use resilience_runtime::registry;
//!
//! let report = registry::drain(Duration::from_secs(10)).await;
//! if !report.is_complete() {
//!     eprintln!("{report}"); // "2 calls still running after 10s: shop::pay (2)"
//! }
//! # }
//! ```
//!
//! From the moment [`drain`] begins, every annotated function (and every
//! [`tower` layer](https://docs.rs/resilience), and any code that asks [`InFlight::enter`])
//! refuses new calls with a [`ShuttingDown`](crate::ErrorKind::ShuttingDown) rejection that
//! names the function. The rejection is decided at the outermost layer, before any policy
//! runs, so:
//! - no circuit breaker counts it (it says nothing about a dependency), no retry repeats it,
//!   no bulkhead slot or rate permit is taken for it;
//! - an outermost `fallback` receives it like any rejection, so a function with a fallback
//!   keeps answering (from a cache, a default) while the process drains.
//!
//! Calls that were admitted before run to completion (their retries included); [`drain`]
//! waits for them until its deadline and then reports the functions that still had calls in
//! flight ([`DrainReport`]). It never cancels anything: what to do with calls that did not
//! finish (wait more, abort the tasks, exit) is the caller's decision.
//!
//! [`undrain`] admits calls again (tests that drain, then go on); so does
//! [`registry::reset_all`](crate::registry::reset_all).
//!
//! # Cost
//!
//! Admission is one relaxed load of a flag. The calls in flight are counted per function in
//! [`per_thread`](crate::per_thread) counters: a call adds one to its thread's own cell when
//! admitted and takes one away (in whatever thread it ends on) when it finishes, is dropped or
//! unwinds, without a locked instruction and without sharing a cache line with another thread.
//! [`drain`] sums the cells. While nobody drains, a finishing call reads the flag once more and
//! that is all; while a drain waits, each finishing call wakes it to sum again.
//!
//! A call that read the flag in the very instant the drain raised it is still admitted; its
//! count lands a few nanoseconds later. So that it is not missed, [`drain`] reports nothing in
//! flight only after two sums, a scheduler turn apart, both find zero.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::{Error, ErrorKind, Failure};
use crate::per_thread::Counter;

/// Set while the program drains.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// Woken by each call that ends while [`DRAINING`] is set.
static ENDED: Notify = Notify::const_new();

/// Where calls are admitted: one per annotated function (a `static` the attribute declares and
/// lists in [`CALLERS`]), or one by name ([`InFlight::named`]) for tower layers and
/// hand-written admission.
///
/// It counts the calls in flight through it and names them in a [`DrainReport`].
#[derive(Debug)]
pub struct InFlight {
    name: &'static str,
    /// Running total of admissions (+1) and exits (`u64::MAX`, that is -1): wrapping, its sum
    /// is the calls in flight.
    count: Counter,
}

impl InFlight {
    /// A place of admission named `name` (a function's path, `shop::pay`), with nothing in
    /// flight. Not listed for [`drain`]: the attributes list theirs at link time; code of
    /// your own takes a listed one from [`InFlight::named`].
    pub const fn new(name: &'static str) -> Self {
        InFlight {
            name,
            count: Counter::new(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Admits a call, or refuses it while the program drains.
    ///
    /// Hold the returned [`Entered`] for as long as the call runs: dropping it ends the call.
    ///
    /// # Errors
    ///
    /// A [`ShuttingDown`](ErrorKind::ShuttingDown) rejection naming this place, while a
    /// [`drain`] is on.
    #[inline]
    pub fn enter(&self) -> Result<Entered<'_>, Error> {
        if DRAINING.load(Relaxed) {
            return Err(self.refused());
        }
        self.count.add(1);
        Ok(Entered { site: self })
    }

    #[cold]
    #[inline(never)]
    fn refused(&self) -> Error {
        Error::new(ErrorKind::ShuttingDown, self.name)
    }

    /// Calls admitted here that have not ended yet (see the [module docs](self) on a sum that
    /// races with calls).
    pub fn in_flight(&self) -> u64 {
        // A sum read while a call moves between cells may be a moment behind; never below
        // zero in value, but a racing read can see the exit before the admission.
        let n = self.count.sum();
        if n > u64::MAX / 2 { 0 } else { n }
    }

    /// The place of admission named `name` for code that is not an annotated function (a
    /// tower layer, a hand-written outermost layer): made on first use and listed for
    /// [`drain`] to wait for, then the same one for every later call with that name, for the
    /// life of the process (the attributes' own are `static`s listed at link time).
    pub fn named(name: &'static str) -> &'static InFlight {
        let mut list = DYNAMIC.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(site) = list.iter().find(|s| s.name == name) {
            return site;
        }
        let site: &'static InFlight = Box::leak(Box::new(InFlight::new(name)));
        list.push(site);
        site
    }
}

/// A call admitted by [`InFlight::enter`]: it counts as in flight until dropped.
#[derive(Debug)]
#[must_use = "the call counts as in flight only while this is held"]
pub struct Entered<'a> {
    site: &'a InFlight,
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        self.site.count.add(u64::MAX);
        if DRAINING.load(Relaxed) {
            ENDED.notify_waiters();
        }
    }
}

pin_project_lite::pin_project! {
    /// `fut`, admitted at its first poll through `site`: see [`admitted`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Admitted<'a, F> {
        site: &'a InFlight,
        #[pin]
        fut: F,
        entered: Option<Entered<'a>>,
        started: bool,
    }
}

/// `fut`, admitted through `site` when first polled: a [`ShuttingDown`](ErrorKind::ShuttingDown)
/// rejection while draining, else `fut`'s outcome, counted in flight until it ends or is
/// dropped. What an annotated function's outermost layer is wrapped in; wrap a hand-written
/// outermost layer in it with a site from [`InFlight::named`].
#[inline]
pub fn admitted<T, E, F>(site: &InFlight, fut: F) -> Admitted<'_, F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    Admitted {
        site,
        fut,
        entered: None,
        started: false,
    }
}

impl<T, E, F> Future for Admitted<'_, F>
where
    F: Future<Output = Result<T, Failure<E>>>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            match this.site.enter() {
                Ok(entered) => *this.entered = Some(entered),
                Err(rejection) => return Poll::Ready(Err(Failure::Rejected(rejection))),
            }
        }
        let outcome = ready!(this.fut.poll(cx));
        *this.entered = None;
        Poll::Ready(outcome)
    }
}

/// Every annotated function's place of admission, collected by the linker. Not a public API.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static CALLERS: [InFlight];

/// Places of admission made at run time ([`InFlight::named`]): one per name, kept.
static DYNAMIC: Mutex<Vec<&'static InFlight>> = Mutex::new(Vec::new());

/// Whether a [`drain`] is on: new calls are refused.
pub fn is_draining() -> bool {
    DRAINING.load(Relaxed)
}

/// Admits calls again after a [`drain`].
pub fn undrain() {
    DRAINING.store(false, SeqCst);
}

/// Stops admitting calls and waits up to `deadline` for the calls in flight to end. See the
/// [module docs](self).
///
/// New calls are refused from the moment this is called until [`undrain`], whether the calls
/// in flight ended in time or not. Waiting runs on tokio's clock, so a test under a paused
/// clock drains in virtual time.
pub async fn drain(deadline: Duration) -> DrainReport {
    DRAINING.store(true, SeqCst);
    let started = tokio::time::Instant::now();
    let until = started + deadline;
    let mut clear_once = false;
    loop {
        // Registered before summing, so a call ending in between wakes this wait.
        let ended = ENDED.notified();
        let mut ended = std::pin::pin!(ended);
        ended.as_mut().enable();
        let running = running();
        if running.is_empty() {
            if clear_once {
                return DrainReport {
                    waited: started.elapsed(),
                    deadline,
                    running,
                };
            }
            // Sum again after a scheduler turn: a call admitted in the instant the flag rose.
            clear_once = true;
            tokio::task::yield_now().await;
            continue;
        }
        clear_once = false;
        if tokio::time::timeout_at(until, ended).await.is_err() {
            return DrainReport {
                waited: started.elapsed(),
                deadline,
                running: self::running(),
            };
        }
    }
}

/// The places with calls in flight, by name, with how many.
fn running() -> Vec<(&'static str, u64)> {
    let dynamic: Vec<&'static InFlight> = DYNAMIC
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    tally(CALLERS.iter().chain(dynamic))
}

/// The calls in flight at `sites`, by name: two places of one name (a function and a layer
/// named alike) are reported together.
fn tally<'a>(sites: impl Iterator<Item = &'a InFlight>) -> Vec<(&'static str, u64)> {
    let mut running: Vec<(&'static str, u64)> = Vec::new();
    for site in sites {
        let n = site.in_flight();
        if n == 0 {
            continue;
        }
        match running.iter_mut().find(|(name, _)| *name == site.name) {
            Some((_, total)) => *total += n,
            None => running.push((site.name, n)),
        }
    }
    running.sort_unstable();
    running
}

/// What [`drain`] found: whether every call in flight ended within the deadline, and which
/// functions still had calls running when it gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// How long it waited.
    pub waited: Duration,
    /// The deadline it was given.
    pub deadline: Duration,
    /// The functions (or layers) with calls still running, by name, with how many; empty when
    /// the drain completed.
    pub running: Vec<(&'static str, u64)>,
}

impl DrainReport {
    /// Whether every call in flight ended within the deadline.
    pub fn is_complete(&self) -> bool {
        self.running.is_empty()
    }

    /// How many calls were still running when the drain gave up.
    pub fn unfinished(&self) -> u64 {
        self.running.iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_complete() {
            return write!(f, "drained: every call ended within {:?}", self.waited);
        }
        let n = self.unfinished();
        let calls = if n == 1 { "call" } else { "calls" };
        write!(f, "{n} {calls} still running after {:?}: ", self.deadline)?;
        for (i, (name, n)) in self.running.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} ({n})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The flag is global: these tests take turns with each other (other unit tests of the
    // runtime never drain).
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test(start_paused = true)]
    async fn refuses_while_draining_and_waits_for_calls_in_flight() {
        let _turn = TURN.lock().await;
        let site = InFlight::named("unit::slow");
        let task = tokio::spawn(async move {
            let _entered = site.enter().expect("admitted before the drain");
            tokio::time::sleep(Duration::from_secs(3)).await;
        });
        // The task enters before the drain begins.
        tokio::task::yield_now().await;
        assert_eq!(site.in_flight(), 1);
        let report = drain(Duration::from_secs(10)).await;
        assert!(report.is_complete(), "{report}");
        assert_eq!(report.waited, Duration::from_secs(3));
        let refused = site.enter().expect_err("refused while draining");
        assert_eq!(refused.kind(), ErrorKind::ShuttingDown);
        assert_eq!(refused.policy(), "unit::slow");
        task.await.expect("the call ran to its end");
        undrain();
        assert!(site.enter().is_ok(), "admitted again after undrain");
    }

    #[tokio::test(start_paused = true)]
    async fn reports_what_did_not_finish_by_name() {
        let _turn = TURN.lock().await;
        let site = InFlight::named("unit::stuck");
        assert!(
            std::ptr::eq(site, InFlight::named("unit::stuck")),
            "one per name"
        );
        let a = site.enter().expect("admitted");
        let b = site.enter().expect("admitted");
        let report = drain(Duration::from_secs(5)).await;
        assert!(!report.is_complete());
        assert_eq!(report.running, vec![("unit::stuck", 2)]);
        assert_eq!(report.waited, Duration::from_secs(5));
        assert_eq!(
            report.to_string(),
            "2 calls still running after 5s: unit::stuck (2)"
        );
        drop((a, b));
        assert_eq!(site.in_flight(), 0);
        undrain();
    }

    #[test]
    fn places_of_one_name_are_reported_together_and_idle_ones_not_at_all() {
        let (a, b, idle) = (
            InFlight::new("unit::same"),
            InFlight::new("unit::same"),
            InFlight::new("unit::idle"),
        );
        let other = InFlight::new("unit::other");
        let _calls = (a.enter(), a.enter(), b.enter(), other.enter());
        assert_eq!(a.name(), "unit::same");
        assert_eq!(
            tally([&a, &idle, &b, &other].into_iter()),
            vec![("unit::other", 1), ("unit::same", 3)]
        );
    }

    #[test]
    fn a_report_lists_every_function_still_running_and_counts_in_words() {
        let report = DrainReport {
            waited: Duration::from_secs(5),
            deadline: Duration::from_secs(5),
            running: vec![("shop::pay", 1), ("shop::ship", 2)],
        };
        assert_eq!(
            report.to_string(),
            "3 calls still running after 5s: shop::pay (1), shop::ship (2)"
        );
        let one = DrainReport {
            running: vec![("shop::pay", 1)],
            ..report
        };
        assert_eq!(
            one.to_string(),
            "1 call still running after 5s: shop::pay (1)"
        );
    }

    #[test]
    fn a_sum_read_between_an_exit_and_its_admission_is_not_a_huge_count() {
        let site = InFlight::new("unit::racing");
        // An exit seen before its admission: -1, which must not read as 2^64 - 1 calls.
        site.count.add(u64::MAX);
        assert_eq!(site.in_flight(), 0);
        site.count.add(1);
        // Half the range and below are counts.
        site.count.add(u64::MAX / 2);
        assert_eq!(site.in_flight(), u64::MAX / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_admitted_future_enters_once_counts_until_it_ends_and_is_refused_while_draining() {
        let _turn = TURN.lock().await;
        let site = InFlight::named("unit::admitted");
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let mut call = std::pin::pin!(admitted(site, async {
            let _ = wait.await;
            Ok::<_, Failure<()>>(7)
        }));
        // Polled twice while it waits: admitted once.
        assert!(futures_poll(call.as_mut()).is_pending());
        assert!(futures_poll(call.as_mut()).is_pending());
        assert_eq!(site.in_flight(), 1);
        release.send(()).expect("the call waits");
        assert!(matches!(futures_poll(call.as_mut()), Poll::Ready(Ok(7))));
        assert_eq!(site.in_flight(), 0);

        assert!(!is_draining());
        let report = drain(Duration::from_secs(1)).await;
        assert!(is_draining() && report.is_complete());
        let mut polled = false;
        let refused = admitted(site, async {
            polled = true;
            Ok::<_, Failure<()>>(1)
        })
        .await;
        match refused {
            Err(Failure::Rejected(e)) => assert_eq!(e.kind(), ErrorKind::ShuttingDown),
            other => panic!("refused while draining, got {other:?}"),
        }
        assert!(!polled, "a refused call is not run");
        undrain();
        assert!(!is_draining());
    }

    /// One poll with a waker that does nothing.
    fn futures_poll<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn a_call_ending_on_another_thread_is_counted_out() {
        let site = InFlight::new("unit::moved");
        let entered = site.enter().expect("admitted");
        assert_eq!(site.in_flight(), 1);
        std::thread::scope(|s| {
            s.spawn(move || drop(entered));
        });
        assert_eq!(site.in_flight(), 0);
    }
}
