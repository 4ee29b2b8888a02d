// Retry counts differ: Polly counts retries, attempts counts the first call.
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

#[resilience::retry(MaxRetryAttempts = 3)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
