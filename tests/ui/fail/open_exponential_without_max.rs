#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::circuit_breaker(open = exponential(5s))]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
