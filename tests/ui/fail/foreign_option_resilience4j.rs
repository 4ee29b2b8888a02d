// resilience4j's names are answered with ours.
#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}
impl ApiError {
    #[allow(dead_code)]
    fn is_transient(&self) -> bool {
        true
    }
}

#[resilience::circuit_breaker(waitDurationInOpenState = 30s)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
