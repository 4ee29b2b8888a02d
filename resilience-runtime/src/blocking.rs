//! Plain functions: a policy's call run to its end on the calling thread, its waits parking
//! the thread in real time.
//!
//! `#[circuit_breaker]`, `#[retry]`, `#[bulkhead]`, `#[rate_limiter]` and `#[fallback]` also go
//! on a plain `fn`. Its stack is the same code as an `async fn`'s, through the same policies
//! (one state for plain and async callers of a shared policy, the same registry entries,
//! events and errors); [`run`] drives it on the calling thread:
//!
//! - a decision that needs no wait (a breaker's admission, a free bulkhead slot, a permit at
//!   hand) costs a poll, and the body runs at once on the calling thread;
//! - a wait (a retry's backoff, a bulkhead's queue, a rate limiter's wait for its permit)
//!   parks the thread until it is over: in real time, measured by tokio's clock and fired by
//!   one small background thread (`resilience-timer`, started by the first plain call that
//!   needs it, and shared by all of them) that wakes the parked caller.
//!
//! Plain functions are for code off the async runtime: threads of your own,
//! `tokio::task::spawn_blocking`, synchronous programs. Called from an async task, a plain
//! function that waits blocks the task's worker thread (and every task queued on it) for the
//! whole wait, as any blocking call would. Debug builds catch the case they can tell: a plain
//! function called while the body of an annotated `async fn` is being polled on the same
//! thread panics, naming the mistake. (A plain function called from other async code is not
//! caught: tokio gives no way to tell a worker thread from a `spawn_blocking` thread.) `#[timeout]` does not go on a plain `fn`
//! (a compile error says why): blocking code cannot be cancelled, so a timeout could only
//! report the overrun after the body ended.

#[cfg(debug_assertions)]
use std::cell::Cell;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// The background runtime whose timer fires plain calls' waits: a current-thread runtime that
/// one thread (`resilience-timer`) drives for the life of the process. `None` if it could not
/// be started (then a plain call that must wait gives up as a call outside any runtime does).
fn timer() -> Option<&'static tokio::runtime::Handle> {
    static TIMER: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .ok()?;
            let handle = runtime.handle().clone();
            thread::Builder::new()
                .name("resilience-timer".to_owned())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Whose body is being polled on this thread: an annotated `async fn`'s or a plain `fn`'s
/// (debug builds only).
#[cfg(debug_assertions)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    None,
    Async,
    Plain,
}

#[cfg(debug_assertions)]
thread_local! {
    static BODY: Cell<Body> = const { Cell::new(Body::None) };
}

/// While held, an annotated function's body is being polled on this thread (debug builds).
#[cfg(debug_assertions)]
pub(crate) struct PollingBody(Body);

#[cfg(debug_assertions)]
impl Drop for PollingBody {
    fn drop(&mut self) {
        BODY.with(|body| body.set(self.0));
    }
}

/// Marks this thread as polling a body, plain or async, until the guard is dropped.
#[cfg(debug_assertions)]
pub(crate) fn polling_body(plain: bool) -> PollingBody {
    let now = if plain { Body::Plain } else { Body::Async };
    PollingBody(BODY.with(|body| body.replace(now)))
}

/// Wakes a parked caller.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to its end on the calling thread, parking it while `fut` waits (see the
/// [module docs](self)). What a plain `fn`'s stack is run by; not a public API.
#[doc(hidden)]
pub fn run<F: Future>(fut: F) -> F::Output {
    #[cfg(debug_assertions)]
    if BODY.with(Cell::get) == Body::Async {
        panic!(
            "a plain function protected by resilience was called from the body of an annotated \
             async function: its waits would block the async runtime's thread. Make it an \
             `async fn` and `.await` it, or call it in `tokio::task::spawn_blocking` \
             (checked in debug builds only; see resilience::blocking)"
        );
    }
    let mut fut = pin!(fut);
    // Inside the timer's context, so the policies' sleeps and time reads have a runtime; a
    // plain call nested in another's body enters it again, which is allowed.
    let _context = timer().map(tokio::runtime::Handle::enter);
    // One waker per thread, made once: a plain call allocates nothing for it.
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(output) => return output,
                // A spurious wake-up polls again, and the future waits again if it must.
                Poll::Pending => thread::park(),
            }
        }
    })
}

thread_local! {
    /// Unparks this thread: the waker of every plain call made on it.
    static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_wait_parks_the_thread_in_real_time() {
        let started = Instant::now();
        let slept = run(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            7
        });
        assert_eq!(slept, 7);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_call_that_needs_no_wait_completes_in_one_poll() {
        assert_eq!(run(async { 1 + 1 }), 2);
    }

    #[test]
    fn a_wake_by_reference_from_another_thread_unparks_the_caller() {
        let mut woken = false;
        let answer = run(std::future::poll_fn(|cx| {
            if woken {
                return Poll::Ready(3);
            }
            woken = true;
            let waker = cx.waker().clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                waker.wake_by_ref();
            });
            Poll::Pending
        }));
        assert_eq!(answer, 3);
    }

    #[cfg(debug_assertions)]
    #[test]
    fn the_mark_of_an_async_body_is_taken_off_when_its_poll_ends() {
        {
            let _async_body = polling_body(false);
            let nested = std::panic::catch_unwind(|| run(async { 1 }));
            assert!(
                nested.is_err(),
                "a plain call inside an async body is caught"
            );
        }
        // The mark is off: a plain call is fine again.
        assert_eq!(run(async { 2 }), 2);
        let _plain_body = polling_body(true);
        assert_eq!(run(async { 3 }), 3, "a plain call in a plain body is fine");
    }

    #[test]
    fn plain_calls_nest() {
        let outer = run(async {
            let inner = run(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                2
            });
            tokio::time::sleep(Duration::from_millis(1)).await;
            inner + 1
        });
        assert_eq!(outer, 3);
    }
}
