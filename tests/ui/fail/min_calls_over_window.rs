#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::circuit_breaker(window = 10, min_calls = 20)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
