// The first delay has no name, and the growth is called factor here: one error each.
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

#[resilience::retry(backoff = exponential(initial = 100ms, multiplier = 2, max = 2s))]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
