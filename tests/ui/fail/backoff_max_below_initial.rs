#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::retry(backoff = exponential(5s, max = 1s))]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
