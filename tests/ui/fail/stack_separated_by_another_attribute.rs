#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::retry]
#[allow(dead_code)]
#[resilience::timeout(1s)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
