//! Policies declared shared by a fleet (`shared = "payments"`) that no backend shares: each
//! says so once, the first time it matters (a rejection it decided alone).

use std::cell::RefCell;
use std::sync::{Mutex, PoisonError};

/// The policies that said so already.
static SAID: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

thread_local! {
    /// The policies this thread knows said so: after the first rejection on each thread, a
    /// rejection under overload takes no lock.
    static KNOWN: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Says, once for `policy`, that it was declared shared under `shared` and decides locally.
#[cold]
pub(crate) fn running_locally(policy: &'static str, shared: &'static str) {
    let known = KNOWN
        .try_with(|known| known.borrow().contains(&policy))
        .unwrap_or(false);
    if known {
        return;
    }
    let _ = KNOWN.try_with(|known| known.borrow_mut().push(policy));
    let mut said = SAID.lock().unwrap_or_else(PoisonError::into_inner);
    if said.contains(&policy) {
        return;
    }
    said.push(policy);
    tracing::warn!(
        target: "resilience",
        policy,
        shared,
        "`{policy}` is declared shared = \"{shared}\" but no fleet backend shares it: it decides \
         locally (attach one at start-up: resilience::redis::RedisStore::share_declared)"
    );
}

/// Whether `policy` said so (tests).
#[cfg(test)]
pub(crate) fn said(policy: &str) -> bool {
    SAID.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&policy)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Failure, RateLimiter};

    #[tokio::test(start_paused = true)]
    async fn a_declared_shared_limiter_without_a_backend_says_so_once_it_rejects() {
        static LIMITER: RateLimiter = match RateLimiter::builder("unit/declared-shared")
            .rate(1, Duration::from_secs(1))
            .shared("unit-api")
            .build()
        {
            Ok(l) => l,
            Err(_) => panic!("invalid limiter"),
        };
        let call = || LIMITER.call(async { Ok::<_, Failure<()>>(()) });
        assert!(call().await.is_ok());
        assert!(!super::said("unit/declared-shared"), "not while it admits");
        assert!(call().await.is_err());
        assert!(super::said("unit/declared-shared"));
    }
}
