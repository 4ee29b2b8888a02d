#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

resilience::policy! {
    static PAYMENTS: CircuitBreaker = circuit_breaker(threshold = 50%);
}

#[resilience::retry(attempts = 3, budget = PAYMENTS)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
