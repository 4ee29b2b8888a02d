#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::circuit_breaker(slow_threshold = 80%)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
