#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::retry(backoff = exponental(100ms, max = 2s))]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
