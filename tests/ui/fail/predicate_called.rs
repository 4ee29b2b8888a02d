// A predicate is given as the function, not a call of it.
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

#[resilience::retry(when = ApiError::is_transient())]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
