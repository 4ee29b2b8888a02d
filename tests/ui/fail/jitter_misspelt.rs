#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::retry(jitter = fulll)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
