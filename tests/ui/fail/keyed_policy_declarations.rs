resilience::policy! {
    static PER_TENANT: KeyedRateLimiter = rate_limiter(100/s, key = tenant);
    static API: RateLimiter = rate_limiter(100/s, max_keys = 100);
    static HOSTS: KeyedCircuitBreaker = circuit_breaker(critical = true);
    static RETRIES: KeyedRetry = retry(attempts = 3);
}

fn main() {}