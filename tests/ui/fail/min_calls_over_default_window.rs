#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

// Without a window, min_calls must fit in the default one of 100 calls.
#[resilience::circuit_breaker(min_calls = 200)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
