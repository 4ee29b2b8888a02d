resilience::policy! {
    static LIMIT: Bulkhead = circuit_breaker(threshold = 50%);
}

fn main() {}
