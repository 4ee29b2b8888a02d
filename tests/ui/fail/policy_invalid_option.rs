resilience::policy! {
    static RATE: RateLimiter = rate_limiter(100/s, burst = 0);
}

fn main() {}
