// A unit after a space in a named option, too.
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

#[resilience::circuit_breaker(window = 60 s)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
