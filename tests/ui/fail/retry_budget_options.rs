#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::retry(budget = retry_budget(ratio = 0%))]
async fn ratio_zero() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::retry(budget = retry_budget(ratio = 20))]
async fn ratio_without_percent() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::retry(budget = retry_budget(window = 500ms))]
async fn window_too_short() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::retry(budget = retry_budget(min = 10))]
async fn floor_not_a_rate() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::retry(budget = retry_budget(ratoi = 20%))]
async fn option_misspelt() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::retry(budget = retry_budget(20%))]
async fn ratio_without_its_name() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::retry(budget = 3)]
async fn budget_not_a_budget() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::retry(budget = exponential(100ms))]
async fn budget_a_backoff() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
