//! `#[chaos]` with and without the `chaos` feature: nothing at all without it; with it, a
//! layer off until enabled by name, injecting at its rates, shared or inline.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ApiError, Calls};
use resilience::{chaos, registry};

impl ApiError {
    fn injected() -> Self {
        ApiError::Down
    }
}

static ALWAYS_CALLS: Calls = Calls::new();

#[chaos(error = 100%, error_with = ApiError::injected, name = "always/chaos")]
async fn always() -> Result<u32, ApiError> {
    ALWAYS_CALLS.hit();
    Ok(1)
}

#[cfg(not(feature = "chaos"))]
#[tokio::test(start_paused = true)]
async fn without_the_feature_the_layer_is_nothing() {
    // No static, no registry entry, nothing to enable: the call as it is.
    assert!(registry::chaos("always/chaos").is_err());
    assert!(registry::set("always/chaos", "enabled", "true").is_err());
    assert_eq!(always().await, Ok(1));
    assert_eq!(ALWAYS_CALLS.get(), 1);
}

#[cfg(feature = "chaos")]
mod with_the_feature {
    use super::*;
    use resilience::{EventKind, Injection, PolicyKind};

    resilience::policy! {
        /// Shared by two functions; each says how to make its own outcome.
        static STALE_ANSWERS: Chaos = chaos(outcome = 100%, seed = 3);
    }

    static STALE_CALLS: Calls = Calls::new();

    fn stale() -> u32 {
        0
    }

    #[chaos(STALE_ANSWERS, outcome_with = stale)]
    async fn price() -> Result<u32, ApiError> {
        STALE_CALLS.hit();
        Ok(10)
    }

    #[tokio::test(start_paused = true)]
    async fn off_until_enabled_then_injects_and_says_so() {
        let mut events = registry::subscribe();
        assert_eq!(always().await, Ok(1));
        let layer = registry::chaos("always/chaos").unwrap();
        assert!(!layer.is_enabled());
        registry::set("always/chaos", "enabled", "true").unwrap();
        assert_eq!(always().await, Err(ApiError::Down));
        assert_eq!(
            ALWAYS_CALLS.get(),
            1,
            "the injected error replaced the call"
        );
        let injected = events
            .drain()
            .into_iter()
            .find(|e| e.policy == "always/chaos")
            .unwrap();
        assert_eq!(injected.kind, PolicyKind::Chaos);
        assert_eq!(
            injected.what,
            EventKind::Injected {
                injection: Injection::Error
            }
        );
        // Rates change while it runs; `off` turns one off.
        registry::set("always/chaos", "error", "off").unwrap();
        assert_eq!(always().await, Ok(1));
        let e = registry::set("always/chaos", "error", "0%").unwrap_err();
        assert!(e.to_string().contains("error"), "{e}");
        let snapshot = registry::snapshot();
        let row = snapshot.get("always/chaos").unwrap();
        assert_eq!(row.setting("enabled"), Some("true"));
        assert_eq!(row.setting("error"), Some("off"));
        assert_eq!(layer.metrics().errors, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_layer_injects_each_functions_own_outcome() {
        STALE_ANSWERS.set_enabled(true);
        assert_eq!(price().await, Ok(0));
        assert_eq!(STALE_CALLS.get(), 0);
        assert_eq!(STALE_ANSWERS.metrics().outcomes, 1);
        STALE_ANSWERS.set_enabled(false);
        assert_eq!(price().await, Ok(10));
    }
}
