//! What two benchmark binaries share that needs the peers (dev-dependencies, so not in the
//! library).

use std::time::Duration;

use resilience_benches::{UNREACHABLE_RATE, op};

/// tower-resilience's five layers in our stack's order (retry, circuit breaker, rate limiter,
/// time limiter, bulkhead) around [`op`], with the settings of our stack's benchmarks.
pub(crate) fn tower_resilience_stack()
-> impl tower::Service<u64, Response = u64, Error = impl std::fmt::Debug + Send, Future = impl Send>
+ Clone
+ Send {
    use tower::ServiceBuilder;
    use tower_resilience::bulkhead::BulkheadLayer;
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;
    use tower_resilience::ratelimiter::RateLimiterLayer;
    use tower_resilience::retry::RetryLayer;
    use tower_resilience::timelimiter::TimeLimiterLayer;

    ServiceBuilder::new()
        .layer(
            RetryLayer::<u64, u64, _>::builder()
                .max_attempts(3)
                .exponential_backoff(Duration::from_millis(100))
                .build(),
        )
        .layer(
            CircuitBreakerLayer::builder()
                .build()
                .expect("valid breaker"),
        )
        .layer(
            RateLimiterLayer::builder()
                .limit_for_period(UNREACHABLE_RATE as usize)
                .refresh_period(Duration::from_secs(1))
                .build()
                .expect("valid rate limiter"),
        )
        .layer(
            TimeLimiterLayer::builder()
                .timeout_duration(Duration::from_secs(1))
                .build(),
        )
        .layer(
            BulkheadLayer::builder()
                .max_concurrent_calls(10)
                .reject_when_full()
                .build()
                .expect("valid bulkhead"),
        )
        .service(tower::service_fn(op))
}
