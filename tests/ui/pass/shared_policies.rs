#![deny(warnings)]

use resilience::{bulkhead, circuit_breaker, rate_limiter, retry, timeout};

#[derive(Debug)]
pub struct ApiError(pub bool);
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError(false)
    }
}
impl ApiError {
    pub fn is_declined(&self) -> bool {
        self.0
    }
}

resilience::policy! {
    /// The payment provider.
    pub static PAYMENTS: CircuitBreaker = circuit_breaker(threshold = 50%, open = 30s, window = 60s);
    pub static PAYMENTS_RETRY: Retry = retry(attempts = 3, backoff = linear(100ms, max = 1s));
    pub static PAYMENTS_TIMEOUT: Timeout = timeout(2s);
    pub(crate) static PAYMENTS_SLOTS: Bulkhead = bulkhead(max = 10, queue = 5, wait = 1s);
    static PAYMENTS_RATE: RateLimiter = rate_limiter(6000/m, burst = 10, name = "payments-rate");
}

#[retry(PAYMENTS_RETRY, when = ApiError::is_declined)]
#[circuit_breaker(PAYMENTS, ignore = ApiError::is_declined)]
#[rate_limiter(PAYMENTS_RATE)]
#[timeout(PAYMENTS_TIMEOUT)]
#[bulkhead(PAYMENTS_SLOTS)]
pub async fn charge(cents: u64) -> Result<u64, ApiError> {
    Ok(cents)
}

fn main() {}
