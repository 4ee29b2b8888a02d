resilience::policy! {
    static ON_BY_DEFAULT: Toggle = toggle(on = yes);
    static POSITIONAL: Toggle = toggle(true);
    static MISSPELT: Toggle = toggle(onn = true);
    static DECLARED_AS_A_TIMEOUT: Timeout = toggle();
    static BREAKER_DEGRADED: CircuitBreaker = circuit_breaker(threshold = 50%, degraded = ON_BY_DEFAULT);
}

fn main() {}
