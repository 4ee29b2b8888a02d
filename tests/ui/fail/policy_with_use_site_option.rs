resilience::policy! {
    static PAYMENTS: CircuitBreaker = circuit_breaker(threshold = 50%, record = is_failure);
}

fn main() {}
