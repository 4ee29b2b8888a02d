// when_ok sees the Ok value, not the error: a predicate on the error is reported at its path.
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

#[resilience::retry(when_ok = ApiError::is_transient)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
