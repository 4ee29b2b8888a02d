#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

resilience::policy! {
    static RECOMMENDATIONS_OFF: Toggle = toggle();
    static PAYMENTS: CircuitBreaker = circuit_breaker(threshold = 50%);
}

fn popular(_: resilience::Failure<ApiError>) -> Result<u32, ApiError> {
    Ok(0)
}

#[resilience::circuit_breaker(threshold = 50%, degraded = RECOMMENDATIONS_OFF)]
async fn degraded_without_a_fallback() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::fallback(popular, degraded = 3)]
async fn degraded_not_a_toggle() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::fallback(popular, degraded = PAYMENTS)]
async fn degraded_names_a_breaker() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
