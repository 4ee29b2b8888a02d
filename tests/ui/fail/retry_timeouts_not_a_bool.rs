// retry_timeouts is true or false.
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

#[resilience::retry(retry_timeouts = 0)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
