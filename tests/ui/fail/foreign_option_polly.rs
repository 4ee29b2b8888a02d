// Polly's names too, and an unknown option does not also ask for the required one.
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

#[resilience::bulkhead(max_concurrent_calls = 10)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
